// What the API answers is built from stored JSON a device once sent: any size,
// any nesting (rows stored before ingest rebuilt reports from known keys still
// hold it). boundJson() copies such a value within a byte budget, a depth and a
// string length, so that JSON.stringify of the copy is never larger than the
// budget and never recurses deeper than the depth (a 100 000-deep value made
// JSON.stringify throw "Maximum call stack size exceeded": a 500 for good).

/** What stands in for a value nested deeper than the depth allowed. */
export const TOO_DEEP = "…(nested too deep)";
/** Appended to a string that was cut. */
const CUT = "…";

export interface Bounds {
  /** JSON.stringify(value) of the copy is at most this many UTF-8 bytes. */
  maxBytes: number;
  /** Arrays and objects nested deeper than this become TOO_DEEP. */
  maxDepth: number;
  /** Strings longer than this (UTF-16 units) are cut, with "…". */
  maxStringChars: number;
}

interface State {
  left: number;
  truncated: boolean;
  bounds: Bounds;
}

const OMIT = Symbol("omit");

function bytesOf(s: string): number {
  return Buffer.byteLength(JSON.stringify(s));
}

/** S cut (with "…") so that it and its JSON quoting fit in LEFT bytes; OMIT when not even "…" fits. */
function fitString(s: string, st: State): string | typeof OMIT {
  let text = s.length > st.bounds.maxStringChars ? s.slice(0, st.bounds.maxStringChars) + CUT : s;
  // every UTF-16 unit is at least one byte: a prefix of `left` units is the longest that can fit
  if (text.length > st.left) text = text.slice(0, Math.max(0, st.left)) + CUT;
  let cost = bytesOf(text);
  while (cost > st.left && text.length > CUT.length) {
    const keep = Math.max(0, Math.floor((text.length - CUT.length) * (st.left / cost)) - 1);
    // never split a surrogate pair: JSON.stringify would write the lone half as \udXXX
    const end = keep > 0 && /[\ud800-\udbff]/.test(text.charAt(keep - 1)) ? keep - 1 : keep;
    text = text.slice(0, end) + CUT;
    cost = bytesOf(text);
  }
  if (cost > st.left) return OMIT;
  if (text !== s) st.truncated = true;
  st.left -= cost;
  return text;
}

function walk(v: unknown, depth: number, st: State): unknown {
  if (typeof v === "string") return fitString(v, st);
  if (v === null || typeof v === "number" || typeof v === "boolean") {
    const cost = JSON.stringify(v).length;
    if (cost > st.left) return OMIT;
    st.left -= cost;
    return v;
  }
  if (typeof v !== "object") return OMIT; // undefined, functions, symbols, bigints: not JSON
  if (depth >= st.bounds.maxDepth) {
    st.truncated = true;
    return fitString(TOO_DEEP, st);
  }
  if (st.left < 2) return OMIT;
  st.left -= 2;
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const item of v as unknown[]) {
      const comma = out.length > 0 ? 1 : 0;
      if (st.left < comma + 1) {
        st.truncated = true;
        break;
      }
      st.left -= comma;
      const r = walk(item === undefined ? null : item, depth + 1, st);
      if (r === OMIT) {
        st.left += comma;
        st.truncated = true;
        break;
      }
      out.push(r);
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  let first = true;
  for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
    if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
    const keyCost = bytesOf(k) + 1 + (first ? 0 : 1);
    if (keyCost + 1 > st.left) {
      st.truncated = true;
      break;
    }
    st.left -= keyCost;
    const r = walk(item, depth + 1, st);
    if (r === OMIT) {
      st.left += keyCost;
      st.truncated = true;
      break;
    }
    out[k] = r;
    first = false;
  }
  return out;
}

/** A copy of VALUE whose JSON is at most bounds.maxBytes bytes; `truncated` when anything was cut or left out. */
export function boundJson<T>(value: T, bounds: Bounds): { value: T; truncated: boolean } {
  const st: State = { left: bounds.maxBytes, truncated: false, bounds };
  const r = walk(value, 0, st);
  return { value: (r === OMIT ? null : r) as T, truncated: st.truncated || r === OMIT };
}

/** JSON.parse of stored text, or FALLBACK when it is not JSON. */
export function parseStored<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
