// Small SVG charts drawn by our own code: a sparkline of daily crash counts and
// a line chart of crash-free boots % per firmware version over the days. Only
// numbers go into the markup; labels go through the escaping template.
import { html, trusted, type Html } from "./html.ts";

const PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568"];

function n(v: number): string {
  return Number.isFinite(v) ? (Math.round(v * 10) / 10).toString() : "0";
}

/** Bars of daily counts, oldest first. */
export function sparkline(values: readonly number[], width = 120, height = 24): Html {
  const max = Math.max(1, ...values);
  const w = width / Math.max(1, values.length);
  const bars = values
    .map((v, i) => {
      const h = v === 0 ? 0 : Math.max(1, (v / max) * (height - 2));
      return `<rect x="${n(i * w)}" y="${n(height - h)}" width="${n(Math.max(1, w - 1))}" height="${n(h)}"/>`;
    })
    .join("");
  const total = values.reduce((a, b) => a + b, 0);
  return html`<svg class="spark" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><title>${total} crashes in the last ${values.length} days</title><g fill="#c53030">${trusted(bars)}</g><line x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" stroke="#cbd5e0"/></svg>`;
}

export interface Series {
  label: string;
  /** One value per day (0-100), null when there was no boot that day. */
  values: ReadonlyArray<number | null>;
}

/** Crash-free boots % per day, one line per firmware version. */
export function percentChart(series: readonly Series[], dayLabels: readonly string[], width = 640, height = 220): Html {
  const left = 36;
  const bottom = 20;
  const plotW = width - left - 8;
  const plotH = height - bottom - 8;
  const days = Math.max(2, dayLabels.length);
  const x = (i: number): number => left + (i / (days - 1)) * plotW;
  const y = (v: number): number => 8 + (1 - v / 100) * plotH;
  const grid = [0, 25, 50, 75, 100]
    .map((v) => `<line x1="${left}" y1="${n(y(v))}" x2="${width - 8}" y2="${n(y(v))}" stroke="#e2e8f0"/><text x="${left - 4}" y="${n(y(v) + 4)}" text-anchor="end">${v}</text>`)
    .join("");
  const lines = series.map((s, si) => {
    const color = PALETTE[si % PALETTE.length] as string;
    const points: string[] = [];
    const dots: string[] = [];
    s.values.forEach((v, i) => {
      if (v === null) return;
      points.push(`${n(x(i))},${n(y(v))}`);
      dots.push(`<circle cx="${n(x(i))}" cy="${n(y(v))}" r="2.5"/>`);
    });
    return html`<g class="series" fill="${color}" stroke="${color}"><title>${s.label}</title><polyline fill="none" stroke-width="1.5" points="${points.join(" ")}"/>${trusted(dots.join(""))}</g>`;
  });
  const first = dayLabels[0] ?? "";
  const last = dayLabels[dayLabels.length - 1] ?? "";
  const legend = series.map((s, si) => html`<span class="key"><span class="swatch" style="background:${PALETTE[si % PALETTE.length] as string}"></span>${s.label}</span>`);
  return html`<figure class="chart"><svg role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="10" fill="#4a5568"><title>crash-free boots % per day</title>${trusted(grid)}${lines}<text x="${left}" y="${height - 4}">${first}</text><text x="${width - 8}" y="${height - 4}" text-anchor="end">${last}</text></svg><figcaption>${legend}</figcaption></figure>`;
}
