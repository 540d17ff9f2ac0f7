// HTML built by one tagged template that escapes every interpolated value:
// device strings (comm, cmdline, log lines, file names) can only ever become
// text. Markup passes through only as Html values made by this template (or
// by trusted() for our own constant SVG/CSS). Device text cannot rearrange the
// page around it either: control characters (bidi overrides such as U+202E,
// C0/C1 controls, line separators) are shown as \uXXXX, and text that is not
// plain ASCII is isolated in <bdi> (Unicode UAX #9), so a right-to-left
// device id cannot turn "…gnp.exe" into "…exe.png" or pull our text along.
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

/** Characters that would steer or hide text: C0 (but tab and newline), DEL, C1, bidi marks, embeddings, overrides and isolates, line and paragraph separators, zero-width joiners, BOM. */
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** TEXT with every INVISIBLE character written as \uXXXX. */
export function visible(text: string): string {
  return text.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
}

/** Where an interpolation lands: element text, inside a tag (an attribute), or the raw text of <title>/<style>/<textarea>. */
type Context = "text" | "tag" | "rawtag" | "raw";

const TOKENS = /<\/(?:title|style|textarea)\b|<(?:title|style|textarea)\b|<|>/gi;

/** The context after the static markup S (our own template text). */
function after(ctx: Context, s: string): Context {
  for (const m of s.matchAll(TOKENS)) {
    const tok = m[0].toLowerCase();
    if (ctx === "raw") {
      if (tok.startsWith("</")) ctx = "tag";
    } else if (tok === ">") ctx = ctx === "rawtag" ? "raw" : "text";
    else if (ctx === "text") ctx = tok.length > 1 && !tok.startsWith("</") ? "rawtag" : "tag";
  }
  return ctx;
}

function render(v: Part, ctx: Context): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return (v as readonly Part[]).map((x) => render(x, ctx)).join("");
  const s = String(v);
  const text = escapeHtml(visible(s));
  // only element text can hold <bdi>; plain ASCII has no right-to-left letter to isolate
  return ctx === "text" && /[^\u0000-\u007f]/.test(s) ? `<bdi>${text}</bdi>` : text;
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] ?? "";
  let ctx = after("text", out);
  for (let i = 0; i < values.length; i++) {
    const next = strings[i + 1] ?? "";
    out += render(values[i], ctx) + next;
    ctx = after(ctx, next);
  }
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
