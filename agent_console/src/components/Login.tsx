import { useState } from "preact/hooks";
import { t } from "../i18n";
import { LanguagePicker, type StoreProps } from "./App";
import type { ApiError } from "../api";

export function Login({ store }: StoreProps) {
  const [id, setId] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await store.login(id.trim(), password);
      setPassword("");
    } catch (e) {
      const err = e as ApiError;
      setError(err.status === 429 ? t("login.rate_limited")
        : err.status === 401 ? t("login.wrong") : t("login.failed", { message: err.message }));
    } finally {
      setBusy(false);
    }
  }

  const reason = store.loggedOutReason;
  return (
    <div class="login-page">
      <form class="login card" onSubmit={submit} data-testid="login-form">
        <div class="login-top">
          <h1>{t("app.title")}</h1>
          <LanguagePicker />
        </div>
        {reason && reason !== "logout" && (
          <p class="notice" data-testid="logged-out">{t(`login.ended.${reason}`, {}, t("login.ended.closed"))}</p>
        )}
        <label>
          {t("login.id")}
          <input name="id" autocomplete="username" value={id} required
            onInput={(e) => setId(e.currentTarget.value)} />
        </label>
        <label>
          {t("login.password")}
          <input name="password" type="password" autocomplete="current-password" value={password} required
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error && <p class="error" role="alert" data-testid="login-error">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{t("login.submit")}</button>
      </form>
    </div>
  );
}
