// The web pages: server-side HTML from the views, every device string through
// the escaping template (html.ts). No script runs on these pages; the
// Content-Security-Policy set by server.ts forbids any.
import type { ReportFrame } from "../core/report.ts";
import { crashingThread } from "./crash.ts";
import { percentChart, sparkline } from "./charts.ts";
import { html, seg, type Html } from "./html.ts";
import {
  DEVICE_BOOTS,
  GROUP_REPORTS,
  HISTORY_DAYS,
  MAX_PAGE_ITEMS,
  ROLLBACKS_PAGE_ITEMS,
  type DeviceDetail,
  type DeviceListItem,
  type GroupDetail,
  type GroupSummary,
  type Page,
  type Paged,
  type Rollback,
  type RollbackFilter,
  type VersionSummary,
} from "./views.ts";

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
.rollback{background:#fff;border-left:4px solid #dd6b20;margin:8px 0;padding:6px 10px}
nav.pager{margin:12px 0;display:flex;gap:16px}
`;

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${title} · crashkeep collect</title><style>${CSS}</style></head>
<body><header><b>crashkeep collect</b><a href="/">Crash groups</a><a href="/versions">Firmware versions</a><a href="/devices">Devices</a><a href="/rollbacks">Rollbacks</a></header>
<main>${body}</main></body></html>`.text;
}

/** PATH (which may carry a filter query of its own) with the page's query: offset and limit when not the defaults (the token left out). */
export function pageLink(path: string, p: Page, maxLimit: number): string {
  const at = path.indexOf("?");
  const q = new URLSearchParams(at < 0 ? "" : path.slice(at + 1));
  path = at < 0 ? path : path.slice(0, at);
  if (p.offset > 0) q.set("offset", String(p.offset));
  if (p.limit !== maxLimit) q.set("limit", String(p.limit));
  const query = q.toString();
  return query === "" ? path : `${path}?${query}`;
}

/** Links to the pages before and after P of the list at PATH. */
function pager(path: string, p: { offset: number; limit: number; more: boolean }, maxLimit: number, what: string): Html {
  if (p.offset === 0 && !p.more) return html``;
  const prev = p.offset > 0 ? html`<a rel="prev" href="${pageLink(path, { offset: Math.max(0, p.offset - p.limit), limit: p.limit }, maxLimit)}">← newer ${what}</a>` : "";
  const next = p.more ? html`<a rel="next" href="${pageLink(path, { offset: p.offset + p.limit, limit: p.limit }, maxLimit)}">older ${what} →</a>` : "";
  return html`<nav class="pager">${prev}<span class="muted">${what} ${p.offset + 1}–${p.offset + p.limit}</span>${next}</nav>`;
}

function short(iso: string | null): string {
  return iso === null ? "" : iso.replace("T", " ").replace(/\.\d+/, "").replace(/Z$/, " UTC");
}

export function groupsPage(list: Paged<GroupSummary>): string {
  const groups = list.items;
  const rows = groups.map(
    (g) => html`<tr data-group="${g.id}"><td><a class="sig" href="/groups/${seg(g.id)}">${g.signature}</a></td><td>${g.exe}</td>
<td class="n count">${g.count}</td><td class="n devices">${g.devices}</td><td>${short(g.firstSeen)}</td><td>${short(g.lastSeen)}</td>
<td>${g.firmware.join(", ")}</td><td>${sparkline(g.daily)}</td></tr>`,
  );
  return page(
    "Crash groups",
    html`<h1>Crash groups</h1>
${groups.length === 0 && list.offset === 0 ? html`<p class="muted">No crash reports received yet.</p>` : html`${pager("/", list, MAX_PAGE_ITEMS, "groups")}<table id="groups"><thead><tr><th>Signature</th><th>Executable</th><th>Crashes</th><th>Devices</th><th>First seen</th><th>Last seen</th><th>Firmware</th><th>Last ${HISTORY_DAYS} days</th></tr></thead><tbody>${rows}</tbody></table>${pager("/", list, MAX_PAGE_ITEMS, "groups")}`}`,
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
  const offset = f.inlined !== true && f.symbol !== null && f.symbolOffset !== null && (fn === f.symbol || f.mangled === f.symbol) ? `+${f.symbolOffset}` : "";
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
${pager(`/groups/${seg(g.id)}`, g.reportPage, GROUP_REPORTS, "reports")}
${g.reports.map(
  (rep) => html`<section class="report"><h3>${short(rep.time)} · <a href="/devices/${seg(rep.deviceId)}">${rep.deviceId}</a> · ${rep.firmware}</h3>
<p>${rep.summary ?? ""} · comm <code>${rep.report.comm ?? ""}</code> · cmdline <code>${rep.report.cmdline ?? ""}</code></p>
${rep.storedChars !== undefined
  ? html`<p class="muted">(the stored report, ${rep.storedChars} characters, is too large to show: the upload as received is at <a href="/api/messages/${seg(rep.id)}">/api/messages/…</a>)</p>`
  : rep.truncated ? html`<p class="muted">(cut to fit the page: the upload as received is at <a href="/api/messages/${seg(rep.id)}">/api/messages/…</a>)</p>` : ""}
${rep.logTails.length > 0 ? rep.logTails.map((t) => html`<div>log tail <code>${t.path}</code></div><pre class="log">${t.lines.join("\n")}</pre>`) : html`<p class="muted">no log tail (the boot it happened in has not been reported yet)</p>`}</section>`,
)}
${pager(`/groups/${seg(g.id)}`, g.reportPage, GROUP_REPORTS, "reports")}`,
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
${d.rollbacks.length > 0
  ? html`<h2>Rollbacks (newest first)</h2><div id="rollbacks">${d.rollbacks.map((r) => rollbackBlock(r, false))}</div>${d.rollbackCount > d.rollbacks.length ? html`<p><a href="${rollbacksLink("/rollbacks", { device: d.id })}">all ${d.rollbackCount} rollbacks →</a></p>` : ""}`
  : ""}
<h2>Boot timeline (newest first)</h2>
${pager(`/devices/${seg(d.id)}`, d.bootPage, DEVICE_BOOTS, "boots")}
${d.bootPage.crashesMore ? html`<p class="muted">more crashes fell in these boots than one page shows; the newest are listed</p>` : ""}
${d.otherCrashes.length > 0 ? html`<div class="boot crash current"><b>current boot</b> (or not reported yet)<ul>${crashLinks(d.otherCrashes)}</ul></div>` : ""}
${d.boots.map(
  (b) => html`<div class="boot${b.crashFree ? "" : " crash"}" data-reason="${b.reason}"><b class="${b.crashFree ? "good" : "bad"}">${b.reason}</b> · ended ${short(b.time)} · ${b.firmware}
${b.detail ? html`<div>${b.detail}</div>` : ""}${b.panicMessage ? html`<div class="bad">${b.panicMessage}</div>` : ""}
${b.crashes.length > 0 ? html`<ul>${crashLinks(b.crashes)}</ul>` : ""}
${b.panicLog ? html`<details><summary>end of the panic log</summary><pre>${b.panicLog}</pre></details>` : ""}
${b.logTails.map((t) => html`<details><summary>log tail <code>${t.path}</code> (${t.lines.length} lines)</summary><pre>${t.lines.join("\n")}</pre></details>`)}${b.truncated ? html`<div class="muted">(log cut to fit the page)</div>` : ""}</div>`,
)}
${pager(`/devices/${seg(d.id)}`, d.bootPage, DEVICE_BOOTS, "boots")}`,
  );
}

/** BASE (/rollbacks or /api/rollbacks) with FILTER as its query. */
export function rollbacksLink(base: string, filter: RollbackFilter): string {
  const q = new URLSearchParams();
  if (filter.device !== undefined) q.set("device", filter.device);
  if (filter.firmware !== undefined) q.set("firmware", filter.firmware);
  const query = q.toString();
  return query === "" ? base : `${base}?${query}`;
}

/** One rollback: from which slot and firmware to which, why, and each bad boot with its reason, detail and crash signature (linked to its group when there is one). */
function rollbackBlock(r: Rollback, withDevice: boolean): Html {
  const by = r.trigger === "bootloader" ? "the bootloader's boot counter (the slot never reached crashkeep)" : r.trigger === "crashkeep" ? "crashkeep" : r.trigger;
  return html`<div class="rollback" data-rollback="${r.id}" data-trigger="${r.trigger}" data-from-firmware="${r.fromFirmware}">
<b class="bad">rolled back</b> from slot <code class="from-slot">${r.fromSlot}</code> (firmware <span class="from-firmware">${r.fromFirmware}</span>) to slot <code class="to-slot">${r.toSlot ?? "?"}</code> (firmware <span class="to-firmware">${r.toFirmware}</span>)${withDevice ? html` on <a href="/devices/${seg(r.deviceId)}">${r.deviceId}</a>` : ""}
<br><span class="muted">decided ${short(r.decidedAt)} by ${by} · ${r.badBootCount} bad boot${r.badBootCount === 1 ? "" : "s"}</span>
<ol class="bad-boots">${r.badBoots.map(
    (b) => html`<li data-reason="${b.reason}"><b>${b.reason}</b> · slot <code>${b.slot}</code>${b.bootId !== null ? html` · boot <code>${b.bootId}</code>` : ""}${b.endedAt !== null ? html` · ended ${short(b.endedAt)}` : ""}
${b.detail !== null ? html`<div class="detail">${b.detail}</div>` : ""}${b.executable !== null ? html`<div>executable <code>${b.executable}</code></div>` : ""}${
      b.signature === null ? "" : b.groupId !== null ? html`<div>crash <a class="sig" href="/groups/${seg(b.groupId)}">${b.signature}</a></div>` : html`<div>crash <span class="sig">${b.signature}</span> <span class="muted">(no crash group by this signature here)</span></div>`
    }</li>`,
  )}</ol></div>`;
}

export function rollbacksPage(list: Paged<Rollback>, filter: RollbackFilter): string {
  const what = filter.device !== undefined ? html` of device <a href="/devices/${seg(filter.device)}">${filter.device}</a>` : filter.firmware !== undefined ? html` from firmware ${filter.firmware}` : "";
  const path = rollbacksLink("/rollbacks", filter);
  return page(
    "Rollbacks",
    html`<h1>Rollbacks${what}</h1>
${list.items.length === 0 && list.offset === 0 ? html`<p class="muted">No rollbacks received.</p>` : html`${pager(path, list, ROLLBACKS_PAGE_ITEMS, "rollbacks")}<div id="rollbacks">${list.items.map((r) => rollbackBlock(r, true))}</div>${pager(path, list, ROLLBACKS_PAGE_ITEMS, "rollbacks")}`}`,
  );
}

export function devicesPage(list: Paged<DeviceListItem>): string {
  const devices = list.items;
  return page(
    "Devices",
    html`<h1>Devices</h1>${pager("/devices", list, MAX_PAGE_ITEMS, "devices")}<table id="device-list"><thead><tr><th>Device</th><th>Firmware</th><th>Boots</th><th>Crashes</th><th>Last seen</th></tr></thead><tbody>
${devices.map((d) => html`<tr><td><a href="/devices/${seg(d.id)}">${d.id}</a></td><td>${d.firmware}</td><td class="n">${d.boots}</td><td class="n">${d.crashes}</td><td>${short(d.lastSeen)}</td></tr>`)}</tbody></table>${pager("/devices", list, MAX_PAGE_ITEMS, "devices")}`,
  );
}

export function versionsPage(list: Paged<VersionSummary>, dayLabels: readonly string[]): string {
  const versions = list.items;
  const chart = percentChart(
    versions.filter((v) => v.daily.some((x) => x !== null)).map((v) => ({ label: v.firmware, values: v.daily })),
    dayLabels,
  );
  return page(
    "Firmware versions",
    html`<h1>Firmware versions</h1>
<table id="versions"><thead><tr><th>Firmware</th><th>Boots</th><th>Crash-free boots</th><th>Rolled back from</th><th>Devices affected</th><th>Reboot reasons</th><th>Top crash groups</th></tr></thead><tbody>
${versions.map(
  (v) => html`<tr data-firmware="${v.firmware}"><td>${v.firmware}</td><td class="n boots">${v.boots}</td>
<td class="n crash-free">${v.crashFreeBootsPercent === null ? "–" : `${v.crashFreeBootsPercent}%`}</td>
<td class="n rollbacks">${v.rollbacks === 0 ? "0" : html`<a href="${rollbacksLink("/rollbacks", { firmware: v.firmware })}"><span class="rollback-count">${v.rollbacks}</span> on <span class="rollback-devices">${v.rollbackDevices}</span> device${v.rollbackDevices === 1 ? "" : "s"}</a>`}</td><td class="n">${v.devicesAffected} of ${v.devices}</td>
<td>${Object.entries(v.reasons).sort((a, b) => b[1] - a[1]).map(([r, c]) => html`<div>${r}: ${c}</div>`)}</td>
<td>${v.topGroups.map((g) => html`<div><a class="sig" href="/groups/${seg(g.id)}">${g.signature}</a> (${g.count})</div>`)}</td></tr>`,
)}</tbody></table>
${pager("/versions", list, MAX_PAGE_ITEMS, "versions")}
<h2>Crash-free boots % per day</h2>${chart}`,
  );
}

export function errorPage(status: number, message: string): string {
  return page(String(status), html`<h1>${status}</h1><p>${message}</p>`);
}
