// HTML built by one tagged template that escapes every interpolated value:
// device strings (comm, cmdline, log lines, file names) can only ever become
// text. Markup passes through only as Html values made by this template (or
// by trusted() for our own constant SVG/CSS).
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** Text as HTML text or attribute value (always quoted by the templates). */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(v: Part): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return (v as readonly Part[]).map(render).join("");
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "");
  return new Html(out);
}

/** Markup of our own making (constants, numbers we formatted): never device text. */
export function trusted(text: string): Html {
  return new Html(text);
}

/** A URL path segment from untrusted text (device ids, group ids). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
