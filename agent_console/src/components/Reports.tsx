import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { fmtBucket, isRtl, t } from "../i18n";
import { download, num, pct, secs, toCsv } from "../util";
import type { StoreProps } from "./App";
import type { MetricKey, Metrics, MetricsOut } from "../rest";

/** A row of a table or chart: [label or bucket key, figures]. */
type Row = [string, Metrics];

const DAY = 86400000;

function utcMidnight(ms: number): number {
  return ms - (ms % DAY);
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function periodOf(preset: string, now: number, custom: { from: string; to: string }): { from: number; to: number } {
  const today = utcMidnight(now);
  switch (preset) {
    case "today": return { from: today, to: now };
    case "yesterday": return { from: today - DAY, to: today };
    case "24h": return { from: now - DAY, to: now };
    case "7d": return { from: today - 6 * DAY, to: now };
    case "30d": return { from: today - 29 * DAY, to: now };
    default: {
      const from = Date.parse(`${custom.from}T00:00:00Z`);
      const to = Date.parse(`${custom.to}T00:00:00Z`) + DAY;
      return { from, to };
    }
  }
}

// columns of the tables and CSV files: [metric key, label key, formatter]
type Fmt = (v: number | null) => string | number | null;

const COLUMNS: [MetricKey, string, Fmt][] = [
  ["offered", "metric.offered", (v) => v],
  ["answered", "metric.answered", (v) => v],
  ["abandoned", "metric.abandoned", (v) => v],
  ["missed", "metric.missed", (v) => v],
  ["abandon_rate", "metric.abandon_rate", pct],
  ["service_level", "metric.service_level", pct],
  ["avg_speed_of_answer_s", "metric.asa", secs],
  ["wait_p90_s", "metric.wait_p90", secs],
  ["avg_first_response_s", "metric.first_response", secs],
  ["avg_handle_s", "metric.handle", secs],
  ["csat", "metric.csat", pct],
  ["avg_rating", "metric.avg_rating", (v) => num(v, 2)],
  ["nps", "metric.nps", (v) => num(v, 1)],
  ["promoters", "metric.promoters", (v) => v],
  ["passives", "metric.passives", (v) => v],
  ["detractors", "metric.detractors", (v) => v],
  ["occupancy", "metric.occupancy", pct],
];

export function Reports({ store }: StoreProps) {
  const [preset, setPreset] = useState("today");
  const now = Date.now();
  const [custom, setCustom] = useState({ from: isoDay(now - 6 * DAY), to: isoDay(now) });
  const [data, setData] = useState<{ whole: MetricsOut; buckets: MetricsOut; agents: MetricsOut; topics: MetricsOut; from: number; to: number } | null>(null);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(false);
  const [reload, setReload] = useState(0);

  const period = periodOf(preset, now, custom);
  const span = period.to - period.from;
  const bucket = span <= 2 * DAY ? "hour" : "day";
  const key = `${preset}|${preset === "custom" ? custom.from + custom.to : ""}|${reload}`;

  useEffect(() => {
    let gone = false;
    const p = periodOf(preset, Date.now(), custom);
    if (!(p.from < p.to)) {
      setError(t("reports.bad_period"));
      return undefined;
    }
    setLoading(true);
    setError("");
    const base = { from: p.from, to: p.to };
    const b = p.to - p.from <= 2 * DAY ? "hour" : "day";
    Promise.all([
      api.get<MetricsOut>(`/api/metrics${api.qs(base)}`),
      api.get<MetricsOut>(`/api/metrics${api.qs({ ...base, group: b })}`),
      api.get<MetricsOut>(`/api/metrics${api.qs({ ...base, group: "agent" })}`),
      api.get<MetricsOut>(`/api/metrics${api.qs({ ...base, group: "topic" })}`),
    ]).then(([whole, buckets, agents, topics]) => {
      if (!gone) setData({ whole, buckets, agents, topics, from: p.from, to: p.to });
    }, (e: Error) => {
      if (!gone) setError(e.message);
    }).finally(() => {
      if (!gone) setLoading(false);
    });
    return () => {
      gone = true;
    };
  }, [key]);

  const m = data && data.whole.metrics;
  const names: Record<string, string> = Object.fromEntries(((store.live && store.live.agents) || store.directory || []).map((a: { id: string; name: string }) => [a.id, a.name]));
  const rows = (groups: Record<string, Metrics> | null, labelOf: (k: string) => string): Row[] => Object.entries(groups || {}).map(([k, v]) => [labelOf(k), v]);
  const bucketRows = data ? rows(data.buckets.groups, (k) => k) : [];

  function csv(name: string, firstLabel: string, list: Row[]) {
    const header = [firstLabel, ...COLUMNS.map(([k]) => k)];
    const lines = list.map(([label, v]) => [label, ...COLUMNS.map(([k]) => v[k] ?? "")]);
    download(`${name}-${isoDay(period.from)}-${isoDay(period.to - 1)}.csv`, toCsv([header, ...lines]));
  }

  return (
    <div class="reports" data-testid="reports">
      <div class="toolbar">
        <label>{t("reports.period")}
          <select data-testid="period" value={preset} onChange={(e) => setPreset(e.currentTarget.value)}>
            {["today", "yesterday", "24h", "7d", "30d", "custom"].map((p) => <option key={p} value={p}>{t(`period.${p}`)}</option>)}
          </select>
        </label>
        {preset === "custom" && (
          <>
            <label>{t("reports.from")} <input type="date" data-testid="from" value={custom.from} onChange={(e) => setCustom({ ...custom, from: e.currentTarget.value })} /></label>
            <label>{t("reports.to")} <input type="date" data-testid="to" value={custom.to} onChange={(e) => setCustom({ ...custom, to: e.currentTarget.value })} /></label>
          </>
        )}
        <button onClick={() => setReload(reload + 1)} data-testid="refresh">{t("reports.refresh")}</button>
        <span class="muted small">{t("reports.utc")}</span>
        <span class="spacer" />
        <a class="button" data-testid="export-records" href={`/api/records/export.csv${api.qs({ from: period.from, to: period.to })}`} download>{t("reports.export_records")}</a>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {loading && !data && <p class="muted">{t("loading")}</p>}
      {m && (
        <>
          <div class="figures" data-testid="summary">
            <Fig k="offered" label={t("metric.offered")} v={m.offered} />
            <Fig k="answered" label={t("metric.answered")} v={m.answered} />
            <Fig k="abandon_rate" label={t("metric.abandon_rate")} v={pct(m.abandon_rate)} />
            <Fig k="service_level" label={t("metric.service_level_goal", { s: num(m.service_level_target_s, 1), goal: pct(m.service_level_goal) })}
              v={pct(m.service_level)} warn={m.service_level_met === false} />
            <Fig k="asa" label={t("metric.asa")} v={secs(m.avg_speed_of_answer_s)} />
            <Fig k="handle" label={t("metric.handle")} v={secs(m.avg_handle_s)} />
            <Fig k="csat" label={t("metric.csat")} v={pct(m.csat)} />
            <Fig k="nps" label={t("metric.nps_of", { n: m.nps_responses })} v={num(m.nps, 1)} />
            <Fig k="offline" label={t("metric.offline")} v={m.offline_messages} />
          </div>
          <section class="panel charts">
            <div class="chart-box">
              <h3>{t("reports.volume", { bucket: t(`reports.per_${bucket}`) })}</h3>
              <BarChart rows={bucketRows} bucket={bucket} />
              <div class="legend"><span class="sw s-offered" /> {t("metric.offered")} <span class="sw s-answered" /> {t("metric.answered")}</div>
            </div>
            <div class="chart-box">
              <h3>{t("reports.sl_chart", { bucket: t(`reports.per_${bucket}`) })}</h3>
              <LineChart rows={bucketRows} bucket={bucket} field="service_level" />
            </div>
            <div class="buttons"><button data-testid="csv-buckets" onClick={() => csv(bucket, bucket, bucketRows)}>{t("reports.csv")}</button></div>
          </section>
          <MetricTable title={t("reports.per_agent")} first={t("live.agent")} testid="agent-table"
            rows={rows(data!.agents.groups, (k) => names[k] || k)} onCsv={() => csv("agents", "agent", rows(data!.agents.groups, (k) => k))} />
          <MetricTable title={t("reports.per_topic")} first={t("live.topic")} testid="topic-table"
            rows={rows(data!.topics.groups, (k) => k)} onCsv={(list) => csv("topics", "topic", list)} />
        </>
      )}
    </div>
  );
}

function Fig({ k, label, v, warn }: { k: string; label: string; v: string | number | null; warn?: boolean }) {
  return (
    <div class={`figure${warn ? " warn" : ""}`}>
      <div class="figure-value" data-testid={`sum-${k}`}><bdi>{v}</bdi></div>
      <div class="figure-label">{label}</div>
    </div>
  );
}

interface MetricTableProps {
  title: string;
  first: string;
  rows: Row[];
  onCsv: (rows: Row[]) => void;
  testid: string;
}

function MetricTable({ title, first, rows, onCsv, testid }: MetricTableProps) {
  return (
    <section class="panel">
      <div class="panel-head">
        <h2 class="pane-title">{title}</h2>
        <button data-testid={`${testid}-csv`} onClick={() => onCsv(rows)}>{t("reports.csv")}</button>
      </div>
      {!rows.length ? <p class="muted">{t("reports.empty")}</p> : (
        <div class="scroll-x table-scroll" tabIndex={0} role="region" data-testid={`${testid}-scroll`}
          aria-label={t("reports.table_region", { title })}>
          <table class="grid" data-testid={testid}>
            <thead><tr><th>{first}</th>{COLUMNS.map(([k, label]) => <th key={k}>{t(label)}</th>)}</tr></thead>
            <tbody>
              {rows.map(([label, v]) => (
                <tr key={label} data-row={label}>
                  <td><bdi>{label}</bdi></td>
                  {COLUMNS.map(([k, , fmt]) => <td key={k} class="num" data-col={k}><bdi>{fmt(v[k])}</bdi></td>)}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const W = 640;
const H = 200;
const PAD = { l: 36, r: 8, t: 10, b: 26 };

/** An axis maximum whose half is a whole number too: 2, 4, 6, 8, 10, 20, 50, 100, … */
function niceMax(v: number): number {
  if (v <= 10) return Math.max(2, Math.ceil(v / 2) * 2);
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return v;
}

function xLabels(rows: Row[], bucket: string): string[] {
  const every = Math.max(1, Math.ceil(rows.length / 12));
  return rows.map(([k], i) => (i % every === 0 ? fmtBucket(k, bucket) : ""));
}

/** Offered and answered per bucket: grouped bars, drawn by hand (no chart library). */
export function BarChart({ rows, bucket }: { rows: Row[]; bucket: string }) {
  const rtl = isRtl();
  const n = Math.max(rows.length, 1);
  const max = niceMax(Math.max(1, ...rows.map(([, v]) => v.offered as number)));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const slot = iw / n;
  const bw = Math.max(1, Math.min(18, slot / 2.6));
  const y = (v: number | null) => PAD.t + ih - (ih * (v as number)) / max;
  const labels = xLabels(rows, bucket);
  const xs = (i: number) => PAD.l + slot * (rtl ? n - 1 - i : i) + slot / 2;
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" data-testid="bar-chart"
      aria-label={t("reports.volume", { bucket: t(`reports.per_${bucket}`) })}>
      {[0, 0.5, 1].map((f) => (
        <g key={f}>
          <line x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} class="gridline" />
          <text x={PAD.l - 4} y={y(max * f) + 4} class="axis" text-anchor="end">{Math.round(max * f)}</text>
        </g>
      ))}
      {rows.map(([k, v], i) => (
        <g key={k} data-bucket={k}>
          <rect class="s-offered" x={xs(i) - bw} y={y(v.offered)} width={bw} height={Math.max(0, PAD.t + ih - y(v.offered))}>
            <title>{`${fmtBucket(k, bucket)}: ${t("metric.offered")} ${v.offered}`}</title>
          </rect>
          <rect class="s-answered" x={xs(i)} y={y(v.answered)} width={bw} height={Math.max(0, PAD.t + ih - y(v.answered))}>
            <title>{`${fmtBucket(k, bucket)}: ${t("metric.answered")} ${v.answered}`}</title>
          </rect>
          {labels[i] && <text x={xs(i)} y={H - 8} class="axis" text-anchor="middle">{labels[i]}</text>}
        </g>
      ))}
    </svg>
  );
}

/** A 0-100% figure per bucket as a line; buckets with no sample are gaps. */
export function LineChart({ rows, bucket, field }: { rows: Row[]; bucket: string; field: MetricKey }) {
  const rtl = isRtl();
  const n = Math.max(rows.length, 1);
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const slot = iw / n;
  const xs = (i: number) => PAD.l + slot * (rtl ? n - 1 - i : i) + slot / 2;
  const y = (v: number) => PAD.t + ih - ih * v;
  const labels = xLabels(rows, bucket);
  const segments: [number, number][][] = [];
  let cur: [number, number][] = [];
  rows.forEach(([, v], i) => {
    if (v[field] === null || v[field] === undefined) {
      if (cur.length) segments.push(cur);
      cur = [];
    } else cur.push([xs(i), y(v[field]!)]);
  });
  if (cur.length) segments.push(cur);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" data-testid="line-chart" aria-label={t(`metric.${field}`)}>
      {[0, 0.5, 1].map((f) => (
        <g key={f}>
          <line x1={PAD.l} x2={W - PAD.r} y1={y(f)} y2={y(f)} class="gridline" />
          <text x={PAD.l - 4} y={y(f) + 4} class="axis" text-anchor="end">{`${f * 100}%`}</text>
        </g>
      ))}
      {segments.map((pts, i) => (
        <polyline key={i} class="line" points={pts.map(([x, yy]) => `${x.toFixed(1)},${yy.toFixed(1)}`).join(" ")} />
      ))}
      {rows.map(([k, v], i) => (
        <g key={k}>
          {v[field] !== null && v[field] !== undefined && (
            <circle cx={xs(i)} cy={y(v[field]!)} r="3" class="pt"><title>{`${fmtBucket(k, bucket)}: ${pct(v[field])}`}</title></circle>
          )}
          {labels[i] && <text x={xs(i)} y={H - 8} class="axis" text-anchor="middle">{labels[i]}</text>}
        </g>
      ))}
    </svg>
  );
}
