// The web pages: server-side HTML from the views, every device string through
// the escaping template (html.ts). No script runs on these pages; the
// Content-Security-Policy set by server.ts forbids any.
import type { ReportFrame } from "../core/report.ts";
import { crashingThread } from "./crash.ts";
import { percentChart, sparkline } from "./charts.ts";
import { html, seg, type Html } from "./html.ts";
import { HISTORY_DAYS, type DeviceDetail, type GroupDetail, type GroupSummary, type VersionSummary } from "./views.ts";

/** Frames of the crashing thread shown on a group page. */
const SHOWN_FRAMES = 64;

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{background:#1a202c;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:baseline}
header a{color:#e2e8f0;text-decoration:none}header b{margin-right:16px}
main{padding:16px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px/1.35 ui-monospace,monospace}
pre{background:#fff;border:1px solid #e2e8f0;padding:8px;overflow:auto;max-height:320px;white-space:pre-wrap;word-break:break-all}
.sig{font-family:ui-monospace,monospace;font-size:12px}
.bad{color:#c53030;font-weight:600}.good{color:#2f855a}
.boot{background:#fff;border-left:4px solid #2f855a;margin:8px 0;padding:6px 10px}
.boot.crash{border-left-color:#c53030}
.inl{color:#718096;padding-left:2em}
.key{margin-right:12px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
.muted{color:#718096}
`;

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${title} · crashkeep collect</title><style>${CSS}</style></head>
<body><header><b>crashkeep collect</b><a href="/">Crash groups</a><a href="/versions">Firmware versions</a><a href="/devices">Devices</a></header>
<main>${body}</main></body></html>`.text;
}

function short(iso: string | null): string {
  return iso === null ? "" : iso.replace("T", " ").replace(/\.\d+/, "").replace(/Z$/, " UTC");
}

export function groupsPage(groups: readonly GroupSummary[]): string {
  const rows = groups.map(
    (g) => html`<tr data-group="${g.id}"><td><a class="sig" href="/groups/${seg(g.id)}">${g.signature}</a></td><td>${g.exe}</td>
<td class="n count">${g.count}</td><td class="n devices">${g.devices}</td><td>${short(g.firstSeen)}</td><td>${short(g.lastSeen)}</td>
<td>${g.firmware.join(", ")}</td><td>${sparkline(g.daily)}</td></tr>`,
  );
  return page(
    "Crash groups",
    html`<h1>Crash groups</h1>
${groups.length === 0 ? html`<p class="muted">No crash reports received yet.</p>` : html`<table id="groups"><thead><tr><th>Signature</th><th>Executable</th><th>Crashes</th><th>Devices</th><th>First seen</th><th>Last seen</th><th>Firmware</th><th>Last ${HISTORY_DAYS} days</th></tr></thead><tbody>${rows}</tbody></table>`}`,
  );
}

function str(v: unknown): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function location(o: Record<string, unknown>): string | null {
  const file = str(o.file);
  if (file === null) return null;
  const line = typeof o.line === "number" ? `:${o.line}` : "";
  return `${file}${line}`;
}

function frameRow(f: ReportFrame): Html {
  // report version 2: function/file/line from DWARF, inlined frames as frames of their own (gdb's numbering)
  const fn = str(f.function) ?? f.symbol;
  const where = location(f as unknown as Record<string, unknown>);
  const offset = f.inlined !== true && f.symbol !== null && f.symbolOffset !== null && fn === f.symbol ? `+${f.symbolOffset}` : "";
  return html`<tr class="${f.inlined === true ? "inl" : ""}"><td class="n">#${String(f.index).padStart(2, "0")}</td><td><code>${f.inlined === true ? "" : (f.moduleOffset ?? f.pc)}</code></td>
<td><code>${fn ?? "??"}${offset}</code>${f.inlined === true ? html` <span class="muted">(inlined)</span>` : f.tailCall === true ? html` <span class="muted">(tail call)</span>` : ""}</td>
<td><code>${where ?? ""}</code></td><td>${f.module ?? ""}</td></tr>`;
}

export function groupPage(g: GroupDetail): string {
  const newest = g.reports[0];
  const thread = newest ? crashingThread(newest.report) : undefined;
  const frames = (thread?.frames ?? []).slice(0, SHOWN_FRAMES);
  const r = newest?.report;
  return page(
    `Group ${g.exe}`,
    html`<h1 class="sig">${g.signature}</h1>
<p><span class="count">${g.count}</span> crashes on <span class="devices">${g.devices}</span> devices · first ${short(g.firstSeen)} · last ${short(g.lastSeen)} · ${sparkline(g.daily)}</p>
${r ? html`<p>${r.signal?.summary ?? ""} — ${r.cause?.text ?? ""}<br>comm <code>${r.comm ?? ""}</code> · exe <code>${r.exe ?? ""}</code> · cmdline <code>${r.cmdline ?? ""}</code></p>` : ""}
<h2>Backtrace (newest report, crashing thread)</h2>
<table id="frames"><thead><tr><th>#</th><th>Offset</th><th>Function</th><th>Source</th><th>Module</th></tr></thead><tbody>${frames.map(frameRow)}</tbody></table>
<h2>Devices</h2>
<table id="devices"><thead><tr><th>Device</th><th>Crashes</th><th>Firmware</th><th>Last seen</th></tr></thead><tbody>
${g.deviceList.map((d) => html`<tr><td><a href="/devices/${seg(d.deviceId)}">${d.deviceId}</a></td><td class="n">${d.count}</td><td>${d.firmware}</td><td>${short(d.lastSeen)}</td></tr>`)}</tbody></table>
<h2>Firmware versions</h2>
<table id="versions"><thead><tr><th>Firmware</th><th>Crashes</th></tr></thead><tbody>${g.versions.map((v) => html`<tr><td>${v.firmware}</td><td class="n">${v.count}</td></tr>`)}</tbody></table>
<h2>Newest reports</h2>
${g.reports.map(
  (rep) => html`<section class="report"><h3>${short(rep.time)} · <a href="/devices/${seg(rep.deviceId)}">${rep.deviceId}</a> · ${rep.firmware}</h3>
<p>${rep.summary ?? ""} · comm <code>${rep.report.comm ?? ""}</code> · cmdline <code>${rep.report.cmdline ?? ""}</code></p>
${rep.logTails.length > 0 ? rep.logTails.map((t) => html`<div>log tail <code>${t.path}</code></div><pre class="log">${t.lines.join("\n")}</pre>`) : html`<p class="muted">no log tail (the boot it happened in has not been reported yet)</p>`}</section>`,
)}`,
  );
}

export function devicePage(d: DeviceDetail): string {
  const crashLinks = (cs: DeviceDetail["otherCrashes"]): Html =>
    html`${cs.map((c) => html`<li><a href="/groups/${seg(c.groupId)}">${c.exe ?? "?"}: ${c.summary ?? ""}</a> <span class="muted">${short(c.time)}</span></li>`)}`;
  return page(
    `Device ${d.id}`,
    html`<h1>Device <span id="device-id">${d.id}</span></h1>
<p>firmware ${d.firmware} · hardware ${d.hardware ?? "?"} · kernel ${d.kernel ?? "?"} · ${d.arch ?? "?"} · crashkeep ${d.crashkeepVersion ?? "?"}<br>
first seen ${short(d.firstSeen)} · last seen ${short(d.lastSeen)}</p>
<h2>Boot timeline (newest first)</h2>
${d.otherCrashes.length > 0 ? html`<div class="boot crash current"><b>current boot</b> (or not reported yet)<ul>${crashLinks(d.otherCrashes)}</ul></div>` : ""}
${d.boots.map(
  (b) => html`<div class="boot${b.crashFree ? "" : " crash"}" data-reason="${b.reason}"><b class="${b.crashFree ? "good" : "bad"}">${b.reason}</b> · ended ${short(b.time)} · ${b.firmware}
${b.detail ? html`<div>${b.detail}</div>` : ""}${b.panicMessage ? html`<div class="bad">${b.panicMessage}</div>` : ""}
${b.crashes.length > 0 ? html`<ul>${crashLinks(b.crashes)}</ul>` : ""}
${b.panicLog ? html`<details><summary>end of the panic log</summary><pre>${b.panicLog}</pre></details>` : ""}
${b.logTails.map((t) => html`<details><summary>log tail <code>${t.path}</code> (${t.lines.length} lines)</summary><pre>${t.lines.join("\n")}</pre></details>`)}</div>`,
)}`,
  );
}

export function devicesPage(devices: ReadonlyArray<{ id: string; firmware: string; lastSeen: string; boots: number; crashes: number }>): string {
  return page(
    "Devices",
    html`<h1>Devices</h1><table id="device-list"><thead><tr><th>Device</th><th>Firmware</th><th>Boots</th><th>Crashes</th><th>Last seen</th></tr></thead><tbody>
${devices.map((d) => html`<tr><td><a href="/devices/${seg(d.id)}">${d.id}</a></td><td>${d.firmware}</td><td class="n">${d.boots}</td><td class="n">${d.crashes}</td><td>${short(d.lastSeen)}</td></tr>`)}</tbody></table>`,
  );
}

export function versionsPage(versions: readonly VersionSummary[], dayLabels: readonly string[]): string {
  const chart = percentChart(
    versions.filter((v) => v.daily.some((x) => x !== null)).map((v) => ({ label: v.firmware, values: v.daily })),
    dayLabels,
  );
  return page(
    "Firmware versions",
    html`<h1>Firmware versions</h1>
<table id="versions"><thead><tr><th>Firmware</th><th>Boots</th><th>Crash-free boots</th><th>Devices affected</th><th>Reboot reasons</th><th>Top crash groups</th></tr></thead><tbody>
${versions.map(
  (v) => html`<tr data-firmware="${v.firmware}"><td>${v.firmware}</td><td class="n boots">${v.boots}</td>
<td class="n crash-free">${v.crashFreeBootsPercent === null ? "–" : `${v.crashFreeBootsPercent}%`}</td><td class="n">${v.devicesAffected} of ${v.devices}</td>
<td>${Object.entries(v.reasons).sort((a, b) => b[1] - a[1]).map(([r, c]) => html`<div>${r}: ${c}</div>`)}</td>
<td>${v.topGroups.map((g) => html`<div><a class="sig" href="/groups/${seg(g.id)}">${g.signature}</a> (${g.count})</div>`)}</td></tr>`,
)}</tbody></table>
<h2>Crash-free boots % per day</h2>${chart}`,
  );
}

export function errorPage(status: number, message: string): string {
  return page(String(status), html`<h1>${status}</h1><p>${message}</p>`);
}
