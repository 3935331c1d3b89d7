import { useState } from "preact/hooks";
import * as api from "../api";
import { fmtNum, isRtl, t } from "../i18n";
import { download, num, pct, secs, toCsv } from "../util";
import { periodOf } from "./Reports";
import type { ApiError } from "../api";
import type { CurvePoint, Plan, PlanGoal, PlanRow } from "../rest";

const DAY = 86400000;
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** Hour of the week (0 = Monday 00:00 UTC) -> "Monday 09:00". */
export function hourName(hour: number): string {
  return `${t(`day.${DAYS[Math.floor(hour / 24)]}`)} ${String(hour % 24).padStart(2, "0")}:00`;
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

type Column = keyof PlanRow & ("arrivals_per_hour" | "handle_s" | "erlang_agents" | "erlang_service_level" | "erlang_abandon_rate"
  | "sim_agents" | "sim_service_level" | "sim_abandon_rate" | "staffed");

const COLUMNS: [Column, string, (v: number | null) => string | number][] = [
  ["arrivals_per_hour", "plan.arrivals", (v) => num(v, 1)],
  ["handle_s", "plan.handle", secs],
  ["erlang_agents", "plan.erlang_agents", (v) => v ?? "—"],
  ["erlang_service_level", "plan.erlang_sl", pct],
  ["erlang_abandon_rate", "plan.erlang_abandon", pct],
  ["sim_agents", "plan.sim_agents", (v) => v ?? "—"],
  ["sim_service_level", "plan.sim_sl", pct],
  ["sim_abandon_rate", "plan.sim_abandon", pct],
  ["staffed", "plan.staffed", (v) => num(v, 1)],
];

export function Planning() {
  const now = Date.now();
  const [form, setForm] = useState({
    preset: "30d", from: isoDay(now - 27 * DAY), to: isoDay(now),
    sl: "80", within: "20", abandon: "5", hours: "Mon 9-17", topic: "", simulate: true,
  });
  const [data, setData] = useState<Plan | null>(null);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(false);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).type === "checkbox" ? (e.currentTarget as HTMLInputElement).checked : (e.currentTarget as HTMLInputElement).value });

  function run(e: Event) {
    e.preventDefault();
    const p = periodOf(form.preset, Date.now(), { from: form.from, to: form.to });
    if (!(p.from < p.to)) {
      setError(t("reports.bad_period"));
      return;
    }
    setLoading(true);
    setError("");
    api.get<Plan>(`/api/planning${api.qs({
      from: p.from, to: p.to, sl: form.sl, within_s: form.within, max_abandon: form.abandon,
      hours: form.hours, topic: form.topic, simulate: form.simulate ? "1" : "0",
    })}`).then((body) => setData(body), (err: ApiError) => {
      setError(err.code === "busy" ? t("plan.busy") : err.message);
    }).finally(() => setLoading(false));
  }

  function csv() {
    const header = ["hour", "topics", "skills", ...COLUMNS.map(([k]) => k)];
    const lines = data!.rows.map((r) => [r.label, r.topics.join(" "),
      Object.entries(r.skills || {}).map(([s, l]) => `${s}:${l}`).join(" "), ...COLUMNS.map(([k]) => r[k] ?? "")]);
    download(`plan-${isoDay(data!.from)}-${isoDay(data!.to - 1)}.csv`, toCsv([header, ...lines]));
  }

  return (
    <div class="reports planning" data-testid="planning">
      <form class="toolbar" onSubmit={run}>
        <label>{t("plan.records")}
          <select data-testid="plan-period" value={form.preset} onChange={set("preset")}>
            {["7d", "30d", "custom"].map((p) => <option key={p} value={p}>{t(`period.${p}`)}</option>)}
          </select>
        </label>
        {form.preset === "custom" && (
          <>
            <label>{t("reports.from")} <input type="date" value={form.from} onChange={set("from")} /></label>
            <label>{t("reports.to")} <input type="date" value={form.to} onChange={set("to")} /></label>
          </>
        )}
        <label>{t("plan.sl")} <input class="num-input" type="number" min="0" max="100" step="1" required data-testid="plan-sl" value={form.sl} onInput={set("sl")} /> %</label>
        <label>{t("plan.within")} <input class="num-input" type="number" min="0" max="86400" step="1" required data-testid="plan-within" value={form.within} onInput={set("within")} /> {t("plan.seconds")}</label>
        <label>{t("plan.abandon")} <input class="num-input" type="number" min="0" max="100" step="0.5" data-testid="plan-abandon" value={form.abandon} onInput={set("abandon")} /> %</label>
        <label>{t("plan.hours")} <input dir="ltr" size={12} data-testid="plan-hours" value={form.hours} onInput={set("hours")} placeholder="Mon 9-17" /></label>
        <label>{t("live.topic")} <input size={10} data-testid="plan-topic" value={form.topic} onInput={set("topic")} placeholder={t("plan.all_topics")} /></label>
        <label><input type="checkbox" data-testid="plan-simulate" checked={form.simulate} onChange={set("simulate")} /> {t("plan.simulate")}</label>
        <button class="primary" type="submit" data-testid="plan-run" disabled={loading}>{loading ? t("plan.working") : t("plan.run")}</button>
        <span class="muted small">{t("plan.hours_help")}</span>
      </form>
      {error && <p class="error" role="alert" data-testid="plan-error">{error}</p>}
      {data && (
        <>
          <p class="muted small" data-testid="plan-summary">{t("plan.summary", {
            goal: pct(data.goal.service_level), s: fmtNum(data.goal.target_s, 1),
            abandon: data.goal.max_abandon === null ? "—" : pct(data.goal.max_abandon),
            c: fmtNum(data.concurrency, 1), declined: pct(data.offers.decline_rate), lapsed: pct(data.offers.lapse_rate),
          })}</p>
          {data.curve && (
            <section class="panel">
              <h3>{t("plan.curve", { topic: data.curve.topics.join(", "), hour: hourName(data.curve.hour) })}</h3>
              <CurveChart curve={data.curve} goal={data.goal} />
              <div class="legend">
                <span class="sw s-erlang" /> {t("plan.erlang")} <span class="sw s-sim" /> {t("plan.simulation")}
                <span class="sw s-goal" /> {t("plan.goal")}
              </div>
            </section>
          )}
          <section class="panel">
            <div class="panel-head">
              <h2 class="pane-title">{t("plan.table")}</h2>
              <button type="button" data-testid="plan-csv" onClick={csv}>{t("reports.csv")}</button>
            </div>
            {!data.rows.length ? <p class="muted">{t("reports.empty")}</p> : (
              <div class="scroll-x table-scroll" tabIndex={0} role="region" data-testid="plan-table-scroll"
                aria-label={t("reports.table_region", { title: t("plan.table") })}>
                <table class="grid" data-testid="plan-table">
                  <thead><tr><th>{t("plan.hour")}</th><th>{t("plan.topics")}</th><th>{t("plan.skills")}</th>
                    {COLUMNS.map(([k, label]) => <th key={k}>{t(label)}</th>)}</tr></thead>
                  <tbody>
                    {data.rows.map((r) => (
                      <tr key={`${r.hour}-${r.topic}`} data-row={`${r.label}|${r.topic}`}>
                        <td>{hourName(r.hour)}</td>
                        <td><bdi>{r.topics.join(", ")}</bdi></td>
                        <td><bdi dir="ltr">{Object.entries(r.skills || {}).map(([s, l]) => `${s}:${l}`).join(", ") || "—"}</bdi></td>
                        {COLUMNS.map(([k, , fmt]) => <td key={k} class="num" data-col={k}><bdi>{fmt(r[k])}</bdi></td>)}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </div>
  );
}

const W = 640;
const H = 220;
const PAD = { l: 36, r: 8, t: 10, b: 30 };

/** Service level against the number of agents: Erlang C and the simulation as lines,
 * the goal as a dashed line (the reports' hand-drawn SVG style, no chart library). */
export function CurveChart({ curve, goal }: { curve: NonNullable<Plan["curve"]>; goal: PlanGoal }) {
  const rtl = isRtl();
  const pts = curve.points;
  const n = Math.max(pts.length, 1);
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const slot = iw / n;
  const xs = (i: number) => PAD.l + slot * (rtl ? n - 1 - i : i) + slot / 2;
  const y = (v: number) => PAD.t + ih - ih * v;
  const line = (field: "erlang_service_level" | "sim_service_level") => pts
    .map((p: CurvePoint, i): [number, number | null | undefined] => [i, p[field]])
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([i, v]) => `${xs(i).toFixed(1)},${y(v!).toFixed(1)}`).join(" ");
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" data-testid="plan-chart" aria-label={t("plan.curve", { topic: curve.topics.join(", "), hour: hourName(curve.hour) })}>
      {[0, 0.5, 1].map((f) => (
        <g key={f}>
          <line x1={PAD.l} x2={W - PAD.r} y1={y(f)} y2={y(f)} class="gridline" />
          <text x={PAD.l - 4} y={y(f) + 4} class="axis" text-anchor="end">{`${f * 100}%`}</text>
        </g>
      ))}
      <line x1={PAD.l} x2={W - PAD.r} y1={y(goal.service_level)} y2={y(goal.service_level)} class="goal" />
      <polyline class="line s-erlang" points={line("erlang_service_level")} />
      <polyline class="line s-sim" points={line("sim_service_level")} />
      {pts.map((p, i) => (
        <g key={p.agents} data-agents={p.agents}>
          <circle cx={xs(i)} cy={y(p.erlang_service_level)} r="3" class="pt s-erlang">
            <title>{`${p.agents} ${t("plan.agents")}: ${t("plan.erlang")} ${pct(p.erlang_service_level)}`}</title>
          </circle>
          {p.sim_service_level !== null && p.sim_service_level !== undefined && (
            <rect x={xs(i) - 3} y={y(p.sim_service_level) - 3} width="6" height="6" class="pt s-sim">
              <title>{`${p.agents} ${t("plan.agents")}: ${t("plan.simulation")} ${pct(p.sim_service_level)}`}</title>
            </rect>
          )}
          <text x={xs(i)} y={H - 14} class="axis" text-anchor="middle">{p.agents}</text>
        </g>
      ))}
      <text x={PAD.l + iw / 2} y={H - 2} class="axis" text-anchor="middle">{t("plan.agents")}</text>
    </svg>
  );
}
