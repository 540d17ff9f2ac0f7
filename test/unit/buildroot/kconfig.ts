// A tiny evaluator of the Kconfig subset package/crashkeep/Config.in uses
// (bool symbols, "depends on", "default y if", "if ... endif", !, &&, ||,
// parentheses), so the test can ask: for this toolchain and CPU, can the
// package be selected? Not a Kconfig implementation: anything else throws.

export interface KSymbol {
  name: string;
  depends: string[];
  defaults: string[];
}

/** The config entries of a Config.in text, with enclosing "if" conditions added to depends. */
export function parseConfigIn(text: string): Map<string, KSymbol> {
  const symbols = new Map<string, KSymbol>();
  const ifs: string[] = [];
  let current: KSymbol | undefined;
  let inHelp = false;
  for (const raw of text.split("\n")) {
    if (inHelp && (raw.startsWith("\t  ") || raw.trim() === "")) continue;
    inHelp = false;
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const [word = "", ...rest] = line.split(/\s+/);
    const arg = rest.join(" ");
    if (word === "if") ifs.push(arg);
    else if (word === "endif") ifs.pop();
    else if (word === "config") {
      current = { name: arg, depends: [...ifs], defaults: [] };
      symbols.set(arg, current);
    } else if (word === "comment" || word === "source") current = undefined;
    else if (word === "depends" && rest[0] === "on") current?.depends.push(rest.slice(1).join(" "));
    else if (word === "default") {
      const m = /^y(?:\s+if\s+(.+))?$/.exec(arg);
      if (!m) throw new Error(`Cannot evaluate default "${arg}"`);
      current?.defaults.push(m[1] ?? "y");
    } else if (word === "help") inHelp = true;
  }
  return symbols;
}

/** Evaluates expr with the symbols in `on` set to y (everything else n), resolving symbols defined in `symbols`. */
export function evaluate(expr: string, on: ReadonlySet<string>, symbols: Map<string, KSymbol>): boolean {
  const tokens = expr.match(/\(|\)|!|&&|\|\||[A-Za-z0-9_]+/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const value = (name: string): boolean => {
    if (name === "y") return true;
    if (name === "n") return false;
    const sym = symbols.get(name);
    if (sym && !on.has(name) && sym.defaults.length > 0) return isSelectable(name, on, symbols) && sym.defaults.some((d) => evaluate(d, on, symbols));
    return on.has(name);
  };
  const primary = (): boolean => {
    const t = tokens[pos++];
    if (t === "!") return !primary();
    if (t === "(") {
      const v = or();
      if (tokens[pos++] !== ")") throw new Error(`Cannot parse "${expr}": missing )`);
      return v;
    }
    if (t === undefined || !/^[A-Za-z0-9_]+$/.test(t)) throw new Error(`Cannot parse "${expr}" at token ${t}`);
    return value(t);
  };
  const and = (): boolean => {
    let v = primary();
    while (peek() === "&&") {
      pos++;
      v = primary() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (peek() === "||") {
      pos++;
      v = and() || v;
    }
    return v;
  };
  const result = or();
  if (pos !== tokens.length) throw new Error(`Cannot parse "${expr}": trailing ${tokens[pos]}`);
  return result;
}

/** Whether every "depends on" (and enclosing "if") of name holds. */
export function isSelectable(name: string, on: ReadonlySet<string>, symbols: Map<string, KSymbol>): boolean {
  const sym = symbols.get(name);
  if (!sym) throw new Error(`Cannot find config "${name}"`);
  return sym.depends.every((d) => evaluate(d, on, symbols));
}
