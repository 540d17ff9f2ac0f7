// Rust symbol names, printed as binutils' c++filt (libiberty's rust-demangle.c)
// and gdb print them: the legacy mangling (`_ZN...17h<hash>E`, rustc's default
// through 1.9x) and v0 (`_R...`, -C symbol-mangling-version=v0), after
// https://doc.rust-lang.org/rustc/symbol-mangling/v0.html.

/** Nesting of v0 paths and types followed at most (rust-demangle.c's RUST_MAX_RECURSION_COUNT is 1024). */
const MAX_DEPTH = 256;
/** A demangled name longer than this is refused (back references can repeat long types). */
const MAX_OUTPUT_LENGTH = 16384;

export interface RustOptions {
  /** Keep the legacy hash ("::h0123...") and v0's crate disambiguators and const types, as c++filt without -i. Default false (gdb). */
  verbose?: boolean;
}

class Fail extends Error {}

const LEGACY_ESCAPES: Record<string, string> = { SP: "@", BP: "*", RF: "&", LT: "<", GT: ">", LP: "(", RP: ")", C: "," };

/** The legacy mangling: `_ZN` <len><ident>... `17h` <16 hex digits> `E` [.suffix]. */
export function demangleRustLegacy(mangled: string, options: RustOptions = {}): string | null {
  if (!mangled.startsWith("_ZN")) return null;
  let body = mangled.slice(3);
  if (!/^[_0-9a-zA-Z.:$@]*$/.test(body)) return null;
  // a trailing ".llvm.123" (any .suffix after the final E) is not part of the name
  let end = body.length;
  let dotSuffix = true;
  while (end > 0 && !(dotSuffix && body[end - 1] === "E")) {
    dotSuffix = body[end - 1] === ".";
    end--;
  }
  if (end === 0) return null;
  body = body.slice(0, end - 1);
  if (!(body.length > 19 && body.slice(-19, -16) === "17h")) return null;
  const idents: string[] = [];
  let p = 0;
  while (p < body.length) {
    const m = /^[0-9]+/.exec(body.slice(p));
    if (!m) return null;
    const len = Number(m[0]);
    p += m[0].length;
    if (len === 0 || p + len > body.length) return null;
    idents.push(body.slice(p, p + len));
    p += len;
  }
  const hash = idents[idents.length - 1] ?? "";
  if (!/^h[0-9a-f]{16}$/.test(hash) || new Set(hash.slice(1)).size < 5) return null;
  const shown = options.verbose ? idents : idents.slice(0, -1);
  return shown.map(legacyIdent).join("::");
}

function legacyIdent(id: string): string {
  let s = id.length >= 2 && id.startsWith("_$") ? id.slice(1) : id;
  let out = "";
  while (s.length > 0) {
    if (s[0] === "$") {
      const close = s.indexOf("$", 1);
      const code = close > 0 ? s.slice(1, close) : "";
      let ch = LEGACY_ESCAPES[code];
      if (ch === undefined && /^u[0-9a-f]{1,6}$/.test(code)) {
        const cp = parseInt(code.slice(1), 16);
        ch = cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) && cp >= 0x20 && cp !== 0x7f ? String.fromCodePoint(cp) : undefined;
      }
      if (ch === undefined) return out + s; // unknown escape: the rest verbatim, as rust-demangle.c does
      out += ch;
      s = s.slice(close + 1);
    } else if (s[0] === ".") {
      if (s[1] === ".") {
        out += "::";
        s = s.slice(2);
      } else {
        out += ".";
        s = s.slice(1);
      }
    } else {
      const m = /^[^$.]+/.exec(s)![0];
      out += m;
      s = s.slice(m.length);
    }
  }
  return out;
}

const BASIC_TYPES: Record<string, string> = {
  a: "i8", b: "bool", c: "char", d: "f64", e: "str", f: "f32", h: "u8", i: "isize", j: "usize", l: "i32", m: "u32",
  n: "i128", o: "u128", s: "i16", t: "u16", u: "()", v: "...", x: "i64", y: "u64", z: "!", p: "_",
};

class V0 {
  private p = 0;
  private out = "";
  private skipping = 0;
  private depth = 0;
  private boundLifetimes = 0;

  constructor(private readonly s: string, private readonly verbose: boolean) {}

  run(): string {
    this.path(true);
    // the instantiating crate, not printed
    if (this.p < this.s.length) {
      this.skipping++;
      this.path(false);
      this.skipping--;
    }
    if (this.p !== this.s.length) throw new Fail();
    return this.out;
  }

  private print(t: string): void {
    if (this.skipping > 0) return;
    this.out += t;
    if (this.out.length > MAX_OUTPUT_LENGTH) throw new Fail();
  }
  private peek(): string {
    return this.s[this.p] ?? "";
  }
  private next(): string {
    const c = this.s[this.p];
    if (c === undefined) throw new Fail();
    this.p++;
    return c;
  }
  private eat(c: string): boolean {
    if (this.s[this.p] !== c) return false;
    this.p++;
    return true;
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new Fail();
  }

  private integer62(): bigint {
    if (this.eat("_")) return 0n;
    let x = 0n;
    for (;;) {
      const c = this.next();
      if (c === "_") break;
      let d: number;
      if (c >= "0" && c <= "9") d = c.charCodeAt(0) - 48;
      else if (c >= "a" && c <= "z") d = c.charCodeAt(0) - 87;
      else if (c >= "A" && c <= "Z") d = c.charCodeAt(0) - 29;
      else throw new Fail();
      x = x * 62n + BigInt(d);
      if (x > 0xffffffffffffffffn) throw new Fail();
    }
    return x + 1n;
  }
  private optInteger62(tag: string): bigint {
    return this.eat(tag) ? this.integer62() + 1n : 0n;
  }

  private ident(): { dis: bigint; name: string } {
    const dis = this.optInteger62("s");
    if (this.eat("u")) throw new Fail(); // Punycode (non-ASCII identifiers): left mangled
    const m = /^(0|[1-9][0-9]*)/.exec(this.s.slice(this.p));
    if (!m) throw new Fail();
    this.p += m[0].length;
    const len = Number(m[0]);
    this.eat("_");
    if (this.p + len > this.s.length) throw new Fail();
    const name = this.s.slice(this.p, this.p + len);
    this.p += len;
    return { dis, name };
  }

  private backref(fn: () => void): void {
    const start = this.p - 1;
    const at = this.integer62();
    if (at >= BigInt(start)) throw new Fail();
    const hold = this.p;
    this.p = Number(at);
    fn();
    this.p = hold;
  }

  private path(inValue: boolean): void {
    this.enter();
    const tag = this.next();
    switch (tag) {
      case "C": {
        const { dis, name } = this.ident();
        this.print(name);
        if (this.verbose) this.print(`[${dis.toString(16)}]`);
        break;
      }
      case "N": {
        const ns = this.next();
        if (!/^[a-zA-Z]$/.test(ns)) throw new Fail();
        this.path(inValue);
        const { dis, name } = this.ident();
        if (ns >= "A" && ns <= "Z") {
          this.print("::{");
          this.print(ns === "C" ? "closure" : ns === "S" ? "shim" : ns);
          if (name !== "") this.print(`:${name}`);
          this.print(`#${dis}}`);
        } else if (name !== "") this.print(`::${name}`);
        break;
      }
      case "M": case "X": {
        this.optInteger62("s");
        this.skipping++;
        this.path(inValue);
        this.skipping--;
        this.print("<");
        this.type();
        if (tag === "X") {
          this.print(" as ");
          this.path(false);
        }
        this.print(">");
        break;
      }
      case "Y": {
        this.print("<");
        this.type();
        this.print(" as ");
        this.path(false);
        this.print(">");
        break;
      }
      case "I": {
        this.path(inValue);
        if (inValue) this.print("::");
        this.print("<");
        for (let i = 0; !this.eat("E"); i++) {
          if (i > 0) this.print(", ");
          this.genericArg();
        }
        this.print(">");
        break;
      }
      case "B": this.backref(() => this.path(inValue)); break;
      default: throw new Fail();
    }
    this.depth--;
  }

  private genericArg(): void {
    if (this.eat("L")) this.lifetime(this.integer62());
    else if (this.eat("K")) this.constant();
    else this.type();
  }

  private lifetime(lt: bigint): void {
    this.print("'");
    if (lt === 0n) {
      this.print("_");
      return;
    }
    const depth = BigInt(this.boundLifetimes) - lt;
    if (depth < 0n) throw new Fail();
    this.print(depth < 26n ? String.fromCharCode(97 + Number(depth)) : `_${depth}`);
  }

  private binder(): void {
    const bound = this.optInteger62("G");
    if (bound === 0n) return;
    if (bound > 1000n) throw new Fail();
    this.print("for<");
    for (let i = 0n; i < bound; i++) {
      if (i > 0n) this.print(", ");
      this.boundLifetimes++;
      this.lifetime(1n);
    }
    this.print("> ");
  }

  private type(): void {
    this.enter();
    const tag = this.next();
    const basic = BASIC_TYPES[tag];
    if (basic !== undefined) this.print(basic);
    else switch (tag) {
      case "R": case "Q": {
        this.print("&");
        if (this.eat("L")) {
          const lt = this.integer62();
          if (lt !== 0n) {
            this.lifetime(lt);
            this.print(" ");
          }
        }
        if (tag === "Q") this.print("mut ");
        this.type();
        break;
      }
      case "P": this.print("*const "); this.type(); break;
      case "O": this.print("*mut "); this.type(); break;
      case "A": this.print("["); this.type(); this.print("; "); this.constant(); this.print("]"); break;
      case "S": this.print("["); this.type(); this.print("]"); break;
      case "T": {
        this.print("(");
        let i = 0;
        for (; !this.eat("E"); i++) {
          if (i > 0) this.print(", ");
          this.type();
        }
        if (i === 1) this.print(",");
        this.print(")");
        break;
      }
      case "F": {
        const hold = this.boundLifetimes;
        this.binder();
        if (this.eat("U")) this.print("unsafe ");
        if (this.eat("K")) {
          let abi: string;
          if (this.eat("C")) abi = "C";
          else {
            const { dis, name } = this.ident();
            if (dis !== 0n) throw new Fail();
            abi = name.replace(/_/g, "-");
          }
          this.print(`extern "${abi}" `);
        }
        this.print("fn(");
        for (let i = 0; !this.eat("E"); i++) {
          if (i > 0) this.print(", ");
          this.type();
        }
        this.print(")");
        if (this.eat("u")) {
          // returns (): not printed
        } else {
          this.print(" -> ");
          this.type();
        }
        this.boundLifetimes = hold;
        break;
      }
      case "D": {
        this.print("dyn ");
        const hold = this.boundLifetimes;
        this.binder();
        for (let i = 0; !this.eat("E"); i++) {
          if (i > 0) this.print(" + ");
          this.dynTrait();
        }
        this.boundLifetimes = hold;
        if (!this.eat("L")) throw new Fail();
        const lt = this.integer62();
        if (lt !== 0n) {
          this.print(" + ");
          this.lifetime(lt);
        }
        break;
      }
      case "B": this.backref(() => this.type()); break;
      default:
        this.p--;
        this.path(false);
    }
    this.depth--;
  }

  private dynTrait(): void {
    let open = this.pathMaybeOpenGenerics();
    while (this.eat("p")) {
      this.print(open ? ", " : "<");
      open = true;
      this.print(this.ident().name);
      this.print(" = ");
      this.type();
    }
    if (open) this.print(">");
  }

  private pathMaybeOpenGenerics(): boolean {
    let open = false;
    if (this.eat("B")) {
      this.backref(() => {
        open = this.pathMaybeOpenGenerics();
      });
    } else if (this.eat("I")) {
      this.path(false);
      this.print("<");
      open = true;
      for (let i = 0; !this.eat("E"); i++) {
        if (i > 0) this.print(", ");
        this.genericArg();
      }
    } else this.path(false);
    return open;
  }

  private constant(): void {
    if (this.eat("B")) {
      this.backref(() => this.constant());
      return;
    }
    const ty = this.next();
    switch (ty) {
      case "p": this.print("_"); return;
      case "h": case "t": case "m": case "y": case "o": case "j": this.constUint(); break;
      case "a": case "s": case "l": case "x": case "n": case "i":
        if (this.eat("n")) this.print("-");
        this.constUint();
        break;
      case "b": {
        const v = this.hexValue();
        if (v.value === 0n) this.print("false");
        else if (v.value === 1n) this.print("true");
        else throw new Fail();
        break;
      }
      case "c": {
        const v = this.hexValue();
        if (v.value > 0x10ffffn) throw new Fail();
        this.print(charLiteral(Number(v.value)));
        break;
      }
      default: throw new Fail();
    }
    if (this.verbose) this.print(`: ${BASIC_TYPES[ty]}`);
  }

  private hexValue(): { value: bigint; digits: string } {
    const start = this.p;
    while (/[0-9a-f]/.test(this.peek())) this.p++;
    const digits = this.s.slice(start, this.p);
    if (!this.eat("_")) throw new Fail();
    return { value: digits === "" ? 0n : BigInt(`0x${digits}`), digits };
  }

  private constUint(): void {
    const v = this.hexValue();
    if (v.digits.length > 16) this.print(`0x${v.digits}`);
    else this.print(v.value.toString());
  }
}

function charLiteral(cp: number): string {
  const esc: Record<number, string> = { 9: "\\t", 13: "\\r", 10: "\\n", 92: "\\\\", 39: "\\'" };
  const e = esc[cp];
  if (e) return `'${e}'`;
  if (cp >= 0x20 && cp < 0x7f) return `'${String.fromCharCode(cp)}'`;
  return `'\\u{${cp.toString(16)}}'`;
}

/** The v0 mangling: `_R` [<decimal>] <path> [<instantiating-crate>] [.suffix]. */
export function demangleRustV0(mangled: string, options: RustOptions = {}): string | null {
  if (!mangled.startsWith("_R")) return null;
  let body = mangled.slice(2);
  const dot = body.indexOf(".");
  if (dot >= 0) body = body.slice(0, dot);
  if (!/^[A-Z][_0-9a-zA-Z]*$/.test(body)) return null;
  try {
    return new V0(body, options.verbose ?? false).run();
  } catch (err) {
    if (err instanceof Fail) return null;
    throw err;
  }
}
