import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { t } from "../i18n";
import { parseSkills, skillsText } from "../util";
import type { StoreProps } from "./App";
import type { Canned, DirectoryAgent, Store, Topic } from "../store";
import type { WidgetSettings } from "../rest";

const ROLES = ["agent", "supervisor", "admin"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FIELDS = ["name", "email", "topic"];

function useList<T>(path: string): [T[] | null, () => Promise<void>, string] {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState("");
  const load = () => api.get<T[]>(path).then(setItems, (e: Error) => setError(e.message));
  useEffect(() => {
    load();
  }, [path]);
  return [items, load, error];
}

export function Admin({ store }: StoreProps) {
  const [sub, setSub] = useState("agents");
  return (
    <div class="admin" data-testid="admin">
      <nav class="subtabs" role="tablist">
        {["agents", "topics", "tags", "canned", "widget"].map((k) => (
          <button key={k} role="tab" aria-selected={sub === k} class={sub === k ? "tab active" : "tab"}
            data-testid={`admin-${k}`} onClick={() => setSub(k)}>{t(`admin.${k}`)}</button>
        ))}
      </nav>
      {sub === "agents" && <Agents store={store} />}
      {sub === "topics" && <Topics store={store} />}
      {sub === "tags" && <TagsAdmin store={store} />}
      {sub === "canned" && <CannedAdmin store={store} />}
      {sub === "widget" && <Widget store={store} />}
    </div>
  );
}

/** Run an API change, toast success or the server's error. */
async function act<T>(store: Store, fn: () => Promise<T>, okText?: string): Promise<T> {
  try {
    const r = await fn();
    if (okText) store.toast(okText);
    return r;
  } catch (e) {
    store.toast(t("error.server", { message: (e as Error).message }), "error");
    throw e;
  }
}

function Agents({ store }: StoreProps) {
  const [items, reload, error] = useList<DirectoryAgent>("/api/agents");
  const [form, setForm] = useState<{ id: string; name: string; password: string; role: string; capacity: number | string; skills: string }>({ id: "", name: "", password: "", role: "agent", capacity: 3, skills: "" });
  async function create(e: Event) {
    e.preventDefault();
    await act(store, () => api.post("/api/agents", {
      id: form.id.trim(), name: form.name.trim() || undefined, password: form.password, role: form.role,
      capacity: Number(form.capacity), skills: parseSkills(form.skills),
    }), t("admin.saved")).catch(() => null);
    setForm({ ...form, id: "", name: "", password: "", skills: "" });
    reload();
    store.loadDirectory();
  }
  return (
    <section class="panel">
      {error && <p class="error">{error}</p>}
      <div class="scroll-x">
        <table class="grid" data-testid="admin-agents">
          <thead><tr><th>{t("admin.id")}</th><th>{t("admin.name")}</th><th>{t("admin.role")}</th><th>{t("admin.capacity")}</th><th>{t("admin.skills")}</th><th>{t("live.status")}</th><th /></tr></thead>
          <tbody>{(items || []).map((a) => <AgentRow key={a.id} store={store} agent={a} reload={reload} />)}</tbody>
        </table>
      </div>
      <form class="inline-form" onSubmit={create} data-testid="new-agent">
        <h3>{t("admin.new_agent")}</h3>
        <input placeholder={t("admin.id")} aria-label={t("admin.id")} required value={form.id} onInput={(e) => setForm({ ...form, id: e.currentTarget.value })} />
        <input placeholder={t("admin.name")} aria-label={t("admin.name")} value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        <input placeholder={t("admin.password")} aria-label={t("admin.password")} type="password" minLength={8} required value={form.password} onInput={(e) => setForm({ ...form, password: e.currentTarget.value })} />
        <select aria-label={t("admin.role")} value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value })}>
          {ROLES.map((r) => <option key={r} value={r}>{t(`role.${r}`)}</option>)}
        </select>
        <input type="number" min="0" max="100" aria-label={t("admin.capacity")} value={form.capacity} onInput={(e) => setForm({ ...form, capacity: e.currentTarget.value })} />
        <input placeholder="billing:7, sales" aria-label={t("admin.skills")} value={form.skills} onInput={(e) => setForm({ ...form, skills: e.currentTarget.value })} />
        <button type="submit" class="primary">{t("admin.create")}</button>
      </form>
    </section>
  );
}

function AgentRow({ store, agent, reload }: { store: Store; agent: DirectoryAgent; reload: () => void }) {
  const [row, setRow] = useState<{ name: string; role: string; capacity: number | string; skills: string }>({ name: agent.name, role: agent.role, capacity: agent.capacity, skills: skillsText(agent.skills) });
  // only what changed: a role change (like a new password) ends the agent's sessions
  const save = () => {
    const body: Record<string, unknown> = {};
    if (row.name.trim() && row.name.trim() !== agent.name) body.name = row.name.trim();
    if (row.role !== agent.role) body.role = row.role;
    if (Number(row.capacity) !== agent.capacity) body.capacity = Number(row.capacity);
    const skills = parseSkills(row.skills);
    const had = agent.skills || {};
    const same = Object.keys(skills).length === Object.keys(had).length
      && Object.entries(skills).every(([k, v]) => had[k] === v);
    if (!same) body.skills = skills;
    if (!Object.keys(body).length) return Promise.resolve();
    return act(store, () => api.patch(`/api/agents/${encodeURIComponent(agent.id)}`, body), t("admin.saved"))
      .then(reload, () => {});
  };
  const toggle = () => act(store, () => api.patch(`/api/agents/${encodeURIComponent(agent.id)}`, { disabled: !agent.disabled }),
    agent.disabled ? t("admin.enabled_done") : t("admin.disabled_done")).then(reload, () => {});
  const password = () => {
    const pw = window.prompt(t("admin.new_password"));
    if (pw) act(store, () => api.patch(`/api/agents/${encodeURIComponent(agent.id)}`, { password: pw }), t("admin.saved")).then(reload, () => {});
  };
  const self = store.me && store.me.id === agent.id;
  return (
    <tr data-testid="admin-agent-row" data-agent={agent.id} class={agent.disabled ? "disabled" : ""}>
      <td><bdi>{agent.id}</bdi></td>
      <td><input value={row.name} aria-label={t("admin.name")} onInput={(e) => setRow({ ...row, name: e.currentTarget.value })} /></td>
      <td><select value={row.role} aria-label={t("admin.role")} disabled={!!self} onChange={(e) => setRow({ ...row, role: e.currentTarget.value })}>
        {ROLES.map((r) => <option key={r} value={r}>{t(`role.${r}`)}</option>)}</select></td>
      <td><input type="number" min="0" max="100" class="narrow" data-testid="capacity" aria-label={t("admin.capacity")} value={row.capacity} onInput={(e) => setRow({ ...row, capacity: e.currentTarget.value })} /></td>
      <td><input value={row.skills} data-testid="skills" aria-label={t("admin.skills")} onInput={(e) => setRow({ ...row, skills: e.currentTarget.value })} /></td>
      <td>{agent.disabled ? t("admin.disabled") : t(`status.${agent.status}`, {}, agent.status)}</td>
      <td class="actions">
        <button data-testid="save-agent" onClick={save}>{t("admin.save")}</button>
        <button onClick={password}>{t("admin.password")}</button>
        {!self && <button data-testid="toggle-disabled" class={agent.disabled ? "" : "danger"} onClick={toggle}>
          {agent.disabled ? t("admin.enable") : t("admin.disable")}</button>}
      </td>
    </tr>
  );
}

/** A topic as its form holds it (skills as text; labels by language). */
interface TopicForm {
  required: string;
  optional: string;
  priority: number | string;
  labels: Record<string, string>;
}

/** The languages the console edits topic names in (the API takes any others too). */
const LABEL_LANGS = ["en", "ar", "uk"];

/** The list of tags agents may use, one per line (PUT /api/tags replaces it). */
function TagsAdmin({ store }: StoreProps) {
  const [text, setText] = useState<string | null>(null);
  const [free, setFree] = useState(false);
  const load = () => api.get<{ tags: string[]; free: boolean }>("/api/tags").then((r) => {
    setText(r.tags.join("\n"));
    setFree(r.free);
  }, () => setText(""));
  useEffect(() => {
    load();
  }, []);
  async function save(e: Event) {
    e.preventDefault();
    const tags = (text || "").split("\n").map((x) => x.trim()).filter(Boolean);
    await act(store, () => api.put("/api/tags", { tags }), t("admin.saved")).catch(() => null);
    await load();
    store.loadTags();
  }
  return (
    <section class="panel" data-testid="admin-tag-list">
      <form onSubmit={save}>
        <label for="tag-list-text">{t("admin.tags_hint")}</label>
        <textarea id="tag-list-text" data-testid="tag-list-text" rows={10} dir="auto" value={text ?? ""}
          onInput={(e) => setText(e.currentTarget.value)} />
        <p class="muted small" data-testid="tag-list-mode">{t(free ? "admin.tags_free" : "admin.tags_only")}</p>
        <button type="submit" class="primary" data-testid="save-tags">{t("admin.save")}</button>
      </form>
    </section>
  );
}

function Topics({ store }: StoreProps) {
  const [items, reload, error] = useList<Topic>("/api/topics");
  const [form, setForm] = useState<TopicForm & { name: string }>({ name: "", required: "", optional: "", priority: 5, labels: {} });
  async function save(name: string, v: TopicForm) {
    await act(store, () => api.put(`/api/topics/${encodeURIComponent(name)}`, {
      required: parseSkills(v.required), optional: parseSkills(v.optional), priority: Number(v.priority),
      labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, x.trim()]).filter(([, x]) => x)),
    }), t("admin.saved")).catch(() => null);
    reload();
    store.loadTopics();
  }
  async function remove(name: string) {
    if (!window.confirm(t("admin.confirm_delete", { name }))) return;
    await act(store, () => api.del(`/api/topics/${encodeURIComponent(name)}`), t("admin.deleted")).catch(() => null);
    reload();
    store.loadTopics();
  }
  return (
    <section class="panel">
      {error && <p class="error">{error}</p>}
      <table class="grid" data-testid="admin-topics">
        <thead><tr><th>{t("admin.topic")}</th><th>{t("admin.labels")}</th><th>{t("admin.required")}</th><th>{t("admin.optional")}</th><th>{t("admin.priority")}</th><th /></tr></thead>
        <tbody>{(items || []).map((x) => <TopicRow key={x.name} topic={x} onSave={save} onDelete={remove} />)}</tbody>
      </table>
      <form class="inline-form" data-testid="new-topic" onSubmit={(e) => { e.preventDefault(); save(form.name.trim().toLowerCase(), form); setForm({ name: "", required: "", optional: "", priority: 5, labels: {} }); }}>
        <h3>{t("admin.new_topic")}</h3>
        <input placeholder={t("admin.topic")} aria-label={t("admin.topic")} required pattern="[A-Za-z0-9._\-]{1,64}" value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        <input placeholder={t("admin.required")} aria-label={t("admin.required")} value={form.required} onInput={(e) => setForm({ ...form, required: e.currentTarget.value })} />
        <input placeholder={t("admin.optional")} aria-label={t("admin.optional")} value={form.optional} onInput={(e) => setForm({ ...form, optional: e.currentTarget.value })} />
        <input type="number" min="0" max="9" aria-label={t("admin.priority")} value={form.priority} onInput={(e) => setForm({ ...form, priority: e.currentTarget.value })} />
        <button type="submit" class="primary">{t("admin.create")}</button>
      </form>
    </section>
  );
}

interface TopicRowProps {
  topic: Topic;
  onSave: (name: string, v: TopicForm) => void;
  onDelete: (name: string) => void;
}

function TopicRow({ topic, onSave, onDelete }: TopicRowProps) {
  const [v, setV] = useState<TopicForm>({ required: skillsText(topic.required), optional: skillsText(topic.optional), priority: topic.priority, labels: { ...(topic.labels || {}) } });
  return (
    <tr data-topic={topic.name}>
      <td><bdi>{topic.name}</bdi></td>
      <td class="topic-labels">
        {LABEL_LANGS.map((lang) => (
          <label key={lang} class="inline">
            <span class="muted small">{lang}</span>
            <input dir="auto" maxLength={64} data-testid={`topic-label-${lang}`} value={v.labels[lang] || ""}
              aria-label={t("admin.label_in", { lang: t(`lang.${lang}`) })}
              onInput={(e) => setV({ ...v, labels: { ...v.labels, [lang]: e.currentTarget.value } })} />
          </label>
        ))}
      </td>
      <td><input value={v.required} aria-label={t("admin.required")} onInput={(e) => setV({ ...v, required: e.currentTarget.value })} /></td>
      <td><input value={v.optional} aria-label={t("admin.optional")} onInput={(e) => setV({ ...v, optional: e.currentTarget.value })} /></td>
      <td><input type="number" class="narrow" min="0" max="9" aria-label={t("admin.priority")} value={v.priority} onInput={(e) => setV({ ...v, priority: e.currentTarget.value })} /></td>
      <td class="actions">
        <button onClick={() => onSave(topic.name, v)}>{t("admin.save")}</button>
        <button class="danger" onClick={() => onDelete(topic.name)}>{t("admin.delete")}</button>
      </td>
    </tr>
  );
}

function CannedAdmin({ store }: StoreProps) {
  const [items, reload, error] = useList<Canned>("/api/canned");
  const [form, setForm] = useState({ shortcut: "", language: "", text: "" });
  const refresh = () => {
    reload();
    store.loadCanned();
  };
  async function create(e: Event) {
    e.preventDefault();
    await act(store, () => api.post("/api/canned", form), t("admin.saved")).catch(() => null);
    setForm({ shortcut: "", language: "", text: "" });
    refresh();
  }
  return (
    <section class="panel">
      {error && <p class="error">{error}</p>}
      <table class="grid" data-testid="admin-canned">
        <thead><tr><th>{t("admin.shortcut")}</th><th>{t("admin.language")}</th><th>{t("admin.text")}</th><th /></tr></thead>
        <tbody>{(items || []).map((c) => <CannedRow key={c.id} store={store} item={c} refresh={refresh} />)}</tbody>
      </table>
      <form class="inline-form" data-testid="new-canned" onSubmit={create}>
        <h3>{t("admin.new_canned")}</h3>
        <input placeholder={t("admin.shortcut")} aria-label={t("admin.shortcut")} required pattern="[\p{L}\p{N}_\-]{1,64}" value={form.shortcut} onInput={(e) => setForm({ ...form, shortcut: e.currentTarget.value })} />
        <select aria-label={t("admin.language")} value={form.language} onChange={(e) => setForm({ ...form, language: e.currentTarget.value })}>
          <option value="">{t("admin.any_language")}</option><option value="en">English</option><option value="ar">العربية</option><option value="uk">Українська</option>
        </select>
        <textarea placeholder={t("admin.text")} aria-label={t("admin.text")} required maxLength={4000} rows={2} value={form.text} onInput={(e) => setForm({ ...form, text: e.currentTarget.value })} />
        <button type="submit" class="primary">{t("admin.create")}</button>
      </form>
      <p class="muted small">{t("admin.canned_hint")}</p>
    </section>
  );
}

function CannedRow({ store, item, refresh }: { store: Store; item: Canned; refresh: () => void }) {
  const [v, setV] = useState({ shortcut: item.shortcut, language: item.language || "", text: item.text });
  const save = () => act(store, () => api.put(`/api/canned/${encodeURIComponent(item.id)}`, v), t("admin.saved")).then(refresh, () => {});
  const remove = () => act(store, () => api.del(`/api/canned/${encodeURIComponent(item.id)}`), t("admin.deleted")).then(refresh, () => {});
  return (
    <tr>
      <td><input value={v.shortcut} aria-label={t("admin.shortcut")} onInput={(e) => setV({ ...v, shortcut: e.currentTarget.value })} /></td>
      <td><select value={v.language} aria-label={t("admin.language")} onChange={(e) => setV({ ...v, language: e.currentTarget.value })}>
        <option value="">{t("admin.any_language")}</option><option value="en">English</option><option value="ar">العربية</option><option value="uk">Українська</option>
      </select></td>
      <td><textarea rows={2} dir="auto" value={v.text} aria-label={t("admin.text")} onInput={(e) => setV({ ...v, text: e.currentTarget.value })} /></td>
      <td class="actions"><button onClick={save}>{t("admin.save")}</button><button class="danger" onClick={remove}>{t("admin.delete")}</button></td>
    </tr>
  );
}

function Widget({ store }: StoreProps) {
  const [s, setS] = useState<WidgetSettings | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api.get<WidgetSettings>("/api/widget/settings").then(setS, (e: Error) => setError(e.message));
  }, []);
  if (error) return <p class="error">{error}</p>;
  if (!s) return <p class="muted">{t("loading")}</p>;
  const set = (patch: Partial<WidgetSettings>) => setS({ ...s!, ...patch });
  const toggleIn = (list: string[], v: string, on: boolean) => (on ? [...new Set([...list, v])] : list.filter((x) => x !== v));
  async function save(e: Event) {
    e.preventDefault();
    const body = { ...s!, allowed_origins: s!.allowed_origins.map((x) => x.trim()).filter(Boolean) };
    const saved = await act(store, () => api.put<WidgetSettings>("/api/widget/settings", body), t("admin.saved")).catch(() => null);
    if (saved) setS(saved);
  }
  const langs = ["en", "ar", "uk"];
  return (
    <form class="panel form widget-form" onSubmit={save} data-testid="widget-form">
      <label>{t("widget.origins")}
        <textarea rows={3} class="ltr-text" data-testid="origins" value={s.allowed_origins.join("\n")}
          placeholder="https://shop.example" onInput={(e) => set({ allowed_origins: e.currentTarget.value.split("\n") })} />
        <span class="muted small">{t("widget.origins_hint")}</span>
      </label>
      <fieldset>
        <legend>{t("widget.languages")}</legend>
        {langs.map((l) => (
          <label key={l} class="inline"><input type="checkbox" checked={s.languages.includes(l)}
            onChange={(e) => set({ languages: toggleIn(s.languages, l, e.currentTarget.checked) })} /> {t(`lang.${l}`)}</label>
        ))}
        <label class="inline">{t("widget.default_language")}
          <select value={s.default_language} onChange={(e) => set({ default_language: e.currentTarget.value })}>
            {langs.map((l) => <option key={l} value={l}>{t(`lang.${l}`)}</option>)}
          </select>
        </label>
      </fieldset>
      <fieldset data-testid="hours">
        <legend>{t("widget.hours")}</legend>
        <p class="muted small">{t("widget.hours_hint")}</p>
        <label class="inline">{t("widget.utc_offset")}
          <input type="number" class="narrow" min="-840" max="840" value={s.utc_offset_minutes}
            onInput={(e) => set({ utc_offset_minutes: Number(e.currentTarget.value) || 0 })} />
        </label>
        <table class="grid compact">
          <tbody>
            {DAYS.map((d) => {
              const h = s.business_hours[d];
              return (
                <tr key={d}>
                  <td><label class="inline"><input type="checkbox" checked={!!h} onChange={(e) => {
                    const next = { ...s.business_hours };
                    if (e.currentTarget.checked) next[d] = { open: "09:00", close: "17:00" };
                    else delete next[d];
                    set({ business_hours: next });
                  }} /> {t(`day.${d}`)}</label></td>
                  <td>{h && <input type="time" value={h.open} aria-label={t("widget.open")} onInput={(e) => set({ business_hours: { ...s.business_hours, [d]: { ...h, open: e.currentTarget.value } } })} />}</td>
                  <td>{h && <input type="time" value={h.close} aria-label={t("widget.close")} onInput={(e) => set({ business_hours: { ...s.business_hours, [d]: { ...h, close: e.currentTarget.value } } })} />}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </fieldset>
      <fieldset>
        <legend>{t("widget.offline_message")}</legend>
        {langs.map((l) => (
          <label key={l}>{t(`lang.${l}`)}
            <textarea rows={2} dir="auto" value={s.offline_message[l] || ""} onInput={(e) => {
              const next = { ...s.offline_message, [l]: e.currentTarget.value };
              if (!next[l]) delete next[l];
              set({ offline_message: next });
            }} />
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>{t("widget.title")}</legend>
        {langs.map((l) => (
          <label key={l} class="inline">{t(`lang.${l}`)}
            <input dir="auto" value={s.title[l] || ""} onInput={(e) => {
              const next = { ...s.title, [l]: e.currentTarget.value };
              if (!next[l]) delete next[l];
              set({ title: next });
            }} />
          </label>
        ))}
        <label class="inline">{t("widget.color")}
          <input type="color" value={s.color.length === 7 ? s.color : "#1f6feb"} onInput={(e) => set({ color: e.currentTarget.value })} />
        </label>
      </fieldset>
      <fieldset>
        <legend>{t("widget.prechat")}</legend>
        {FIELDS.map((f) => (
          <div key={f} class="inline-row">
            <label class="inline"><input type="checkbox" checked={s.prechat_fields.includes(f)}
              onChange={(e) => set({ prechat_fields: toggleIn(s.prechat_fields, f, e.currentTarget.checked),
                required_fields: e.currentTarget.checked ? s.required_fields : s.required_fields.filter((x) => x !== f) })} /> {t(`widget.field_${f}`)}</label>
            <label class="inline muted"><input type="checkbox" disabled={!s.prechat_fields.includes(f)} checked={s.required_fields.includes(f)}
              onChange={(e) => set({ required_fields: toggleIn(s.required_fields, f, e.currentTarget.checked) })} /> {t("widget.required")}</label>
          </div>
        ))}
      </fieldset>
      <fieldset>
        <legend>{t("widget.survey")}</legend>
        <label class="inline"><input type="checkbox" data-testid="nps-question" checked={!!s.nps_question}
          onChange={(e) => set({ nps_question: e.currentTarget.checked })} /> {t("widget.nps_question")}</label>
      </fieldset>
      <div class="buttons"><button type="submit" class="primary" data-testid="save-widget">{t("admin.save")}</button></div>
    </form>
  );
}
