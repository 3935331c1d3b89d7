// The REST API (JSON).  The session is the HttpOnly cookie; the browser adds the Origin
// header to every state-changing fetch, which the server checks (CSRF).
/** An error body of the REST API: `{error, message}` (docs/protocol.md). */
export interface ErrorBody {
  error?: string;
  message?: string;
  [key: string]: unknown;
}

export class ApiError extends Error {
  status: number;
  code: string;

  constructor(status: number, body: ErrorBody | null) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || String(status);
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

/** One REST call; resolves with the parsed JSON body (the REST replies are not generated
 * types: callers name what they expect with `T`), rejects with an ApiError. */
export async function call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const init: RequestInit = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp: Response;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { error: "network", message: String(e && (e as Error).message) });
  }
  let data: any = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (!resp.ok) {
    // only the server's own, documented answer ends the session (docs/protocol.md 2.6):
    // a 401 without it (a proxy in front of a restarting server) is not about our cookie
    if (resp.status === 401 && data && data.error === "unauthorized" && path !== "/api/login") {
      onUnauthorized();
    }
    throw new ApiError(resp.status, data);
  }
  return data;
}

export const get = <T = any>(path: string) => call<T>("GET", path);
export const post = <T = any>(path: string, body?: unknown) => call<T>("POST", path, body ?? {});
export const put = <T = any>(path: string, body?: unknown) => call<T>("PUT", path, body);
export const patch = <T = any>(path: string, body?: unknown) => call<T>("PATCH", path, body);
export const del = <T = any>(path: string) => call<T>("DELETE", path);

export const qs = (params: Record<string, unknown>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
};
