// DOM helpers.  Every piece of text goes in with textContent / text nodes: nothing in the
// widget ever parses HTML (no innerHTML, outerHTML, insertAdjacentHTML, document.write).

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
type Child = Node | string | null | undefined | false;

/** Create an element.  `on*` function attributes become listeners; `true` makes an empty
 * attribute, `false`/null/undefined leave it out; string children become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const key of Object.keys(attrs)) {
    const value = attrs[key];
    if (typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else if (value !== false && value != null) {
      el.setAttribute(key, String(value));
    }
  }
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child);
    else if (typeof child === "string") el.appendChild(document.createTextNode(child));
    else if (child) el.appendChild(child);
  }
}

const SVG = "http://www.w3.org/2000/svg";

/** A 24x24 icon from path data; `fill` paints solid shapes, else the paths are stroked. */
export function icon(d: string, fill = false): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  if (fill) {
    path.setAttribute("fill", "currentColor");
  } else {
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
  }
  svg.appendChild(path);
  return svg;
}

export const ICONS = {
  chat: "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z",
  close: "M6 6l12 12M18 6L6 18",
  minimize: "M6 9l6 6 6-6",
  download: "M12 4v11m-4-4l4 4 4-4M5 20h14",
  end: "M15 17l5-5-5-5M20 12H9M12 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h7",
  send: "M3 20l18-8L3 4v6l11 2-11 2z",
  attach: "M21 11l-8.5 8.5a5 5 0 0 1-7-7L14 4a3.5 3.5 0 0 1 5 5l-8.5 8.5a2 2 0 0 1-3-3L15 7",
};

// http(s) URLs only; anything else (javascript:, data:, mailto: ...) stays plain text
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'")\]}>]$/;

function count(s: string, c: string): number {
  return s.split(c).length - 1;
}

/** Text with its http(s) links made clickable: text nodes and safe anchors only. */
export function linkify(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  URL_RE.lastIndex = 0;
  for (let m = URL_RE.exec(text); m; m = URL_RE.exec(text)) {
    let url = m[0];
    // keep closing punctuation out of the link, except a ")" that closes a "(" inside it
    while (TRAILING.test(url)) {
      if (url.endsWith(")") && count(url, "(") >= count(url, ")")) break;
      url = url.slice(0, -1);
    }
    const start = m.index;
    const href = safeHref(url);
    if (!href) continue;
    if (start > last) out.push(document.createTextNode(text.slice(last, start)));
    const a = h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, url);
    out.push(a);
    last = start + url.length;
    URL_RE.lastIndex = last;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

export function safeHref(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** 8 random bytes as hex (crypto.randomUUID needs a secure context; this does not). */
export function randomId(prefix: string): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  let s = prefix;
  for (const b of bytes) s += (b < 16 ? "0" : "") + b.toString(16);
  return s;
}
