// The Itanium C++ ABI demangler (gcc's and clang's `_Z` names), printing as
// binutils' c++filt, gdb and libstdc++'s __cxa_demangle do: it follows the
// grammar of https://itanium-cxx-abi.github.io/cxx-abi/abi.html#mangling and
// the spelling of libiberty's cp-demangle.c ("char const*", "> >", "{lambda()#1}",
// " [clone .cold]"). Written here because the one npm demangler (cpp_demangle in
// gecko-profiler-demangle) prints 690 of libstdc++'s 5864 names otherwise than
// c++filt -i, 358 of them beyond spelling, some wrongly (dropped parameters,
// "string()" for basic_string's constructor): test/fixtures/demangle/README.md.

/** Input longer than this is not demangled (gdb's own limit is the same order; libstdc++'s longest is 300). */
export const MAX_MANGLED_LENGTH = 4096;
/** Nesting depth of the grammar: a deeper name is refused, not overflowed. */
const MAX_DEPTH = 256;
/** A demangled name longer than this is refused (LLVM's longest is 5 kB). */
const MAX_OUTPUT_LENGTH = 16384;
/** Characters printed in all, intermediate strings included: bounds a substitution bomb (S_ naming S_ twice, ...). */
const MAX_PRINT_WORK = 1 << 20;

export interface ItaniumOptions {
  /** Print the return type of template functions, as c++filt does. Default true. */
  returnType?: boolean;
  /** Print Ss/Si/So/Sd in full ("std::basic_string<char, ...>"), as c++filt without -i does. Default false (gdb, __cxa_demangle). */
  verbose?: boolean;
}

type Node =
  | { k: "name"; s: string }
  | { k: "sub"; s: string } // a standard substitution's expansion
  | { k: "qual"; scope: Node; name: Node }
  | { k: "template"; name: Node; args: Node[] }
  | { k: "ctor"; name: Node }
  | { k: "dtor"; name: Node }
  | { k: "op"; name: string; arity: number }
  | { k: "cast"; type: Node }
  | { k: "literalop"; name: Node }
  | { k: "fnqual"; q: string; inner: Node } // " const", " volatile", " restrict", " &", " &&" on `this`
  | { k: "typed"; name: Node; type: FnType }
  | { k: "local"; fn: Node; entity: Node }
  | { k: "special"; prefix: string; inner: Node }
  | { k: "ctorvtable"; base: Node; derived: Node }
  | { k: "reftemp"; name: Node; n: string }
  | { k: "clone"; inner: Node; suffix: string }
  | { k: "abitag"; inner: Node; tag: string }
  | { k: "lambda"; params: Node[]; n: number }
  | { k: "unnamed"; n: number }
  | { k: "defarg"; n: number; inner: Node }
  | { k: "builtin"; s: string; code: string }
  | { k: "vendor"; name: Node }
  | FnType
  | { k: "mod"; m: "*" | "&" | "&&" | " const" | " volatile" | " restrict" | " _Complex" | " _Imaginary"; inner: Node }
  | { k: "vendorqual"; q: Node; inner: Node }
  | { k: "array"; dim: string | Node | null; elem: Node }
  | { k: "ptrmem"; cls: Node; member: Node }
  | { k: "tparam"; index: number }
  | { k: "args"; args: Node[] } // an argument pack
  | { k: "expansion"; inner: Node }
  | { k: "decltype"; expr: Node }
  | { k: "literal"; type: Node; value: string; neg: boolean }
  | { k: "fparam"; n: number }
  | { k: "unary"; op: Node; arg: Node }
  | { k: "binary"; op: Node; left: Node; right: Node }
  | { k: "trinary"; op: Node; a: Node; b: Node; c: Node }
  | { k: "nullary"; op: Node }
  | { k: "raw"; s: string };

interface FnType {
  k: "fn";
  ret: Node | null;
  params: Node[];
  /** " &" / " &&" after the parameters (a ref-qualified function type). */
  refq: string;
}

class Fail extends Error {}

/** [code, printed, arity] — cp-demangle.c's cplus_demangle_operators. */
const OPERATORS: Record<string, [string, number]> = {
  aN: ["&=", 2], aS: ["=", 2], aa: ["&&", 2], ad: ["&", 1], an: ["&", 2], at: ["alignof ", 1], aw: ["co_await ", 1],
  az: ["alignof ", 1], cc: ["const_cast", 2], cl: ["()", 2], cm: [",", 2], co: ["~", 1], dV: ["/=", 2],
  da: ["delete[] ", 1], dc: ["dynamic_cast", 2], de: ["*", 1], dl: ["delete ", 1], ds: [".*", 2], dt: [".", 2],
  dv: ["/", 2], eO: ["^=", 2], eo: ["^", 2], eq: ["==", 2], fL: ["...", 3], fR: ["...", 3], fl: ["...", 2],
  fr: ["...", 2], ge: [">=", 2], gs: ["::", 1], gt: [">", 2], ix: ["[]", 2], lS: ["<<=", 2], le: ["<=", 2],
  li: ['operator"" ', 1], ls: ["<<", 2], lt: ["<", 2], mI: ["-=", 2], mL: ["*=", 2], mi: ["-", 2], ml: ["*", 2],
  mm: ["--", 1], na: ["new[]", 3], ne: ["!=", 2], ng: ["-", 1], nt: ["!", 1], nw: ["new", 3], nx: ["noexcept", 1],
  oR: ["|=", 2], oo: ["||", 2], or: ["|", 2], pL: ["+=", 2], pl: ["+", 2], pm: ["->*", 2], pp: ["++", 1],
  ps: ["+", 1], pt: ["->", 2], qu: ["?", 3], rM: ["%=", 2], rS: [">>=", 2], rc: ["reinterpret_cast", 2],
  rm: ["%", 2], rs: [">>", 2], sP: ["sizeof...", 1], sZ: ["sizeof...", 1], sc: ["static_cast", 2],
  ss: ["<=>", 2], st: ["sizeof ", 1], sz: ["sizeof ", 1], tr: ["throw", 0], tw: ["throw ", 1],
};

/** <builtin-type> letters; the literal suffix printed after an integer of that type ("" none, null: "(type)value"). */
const BUILTINS: Record<string, [string, string | null]> = {
  a: ["signed char", null], b: ["bool", null], c: ["char", null], d: ["double", null], e: ["long double", null],
  f: ["float", null], g: ["__float128", null], h: ["unsigned char", null], i: ["int", ""], j: ["unsigned int", "u"],
  l: ["long", "l"], m: ["unsigned long", "ul"], n: ["__int128", null], o: ["unsigned __int128", null],
  s: ["short", null], t: ["unsigned short", null], v: ["void", null], w: ["wchar_t", null],
  x: ["long long", "ll"], y: ["unsigned long long", "ull"], z: ["...", null],
};

const D_BUILTINS: Record<string, string> = {
  a: "auto", c: "decltype(auto)", d: "decimal64", e: "decimal128", f: "decimal32", h: "half", i: "char32_t",
  n: "decltype(nullptr)", s: "char16_t", u: "char8_t",
};

/** [code, simple, full, last name] — cp-demangle.c's standard_subs. */
const STD_SUBS: Record<string, [string, string, string | null]> = {
  t: ["std", "std", null],
  a: ["std::allocator", "std::allocator", "allocator"],
  b: ["std::basic_string", "std::basic_string", "basic_string"],
  s: ["std::string", "std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "basic_string"],
  i: ["std::istream", "std::basic_istream<char, std::char_traits<char> >", "basic_istream"],
  o: ["std::ostream", "std::basic_ostream<char, std::char_traits<char> >", "basic_ostream"],
  d: ["std::iostream", "std::basic_iostream<char, std::char_traits<char> >", "basic_iostream"],
};

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isUpper = (c: string): boolean => c >= "A" && c <= "Z";
const isLower = (c: string): boolean => c >= "a" && c <= "z";

class Parser {
  private p = 0;
  private depth = 0;
  readonly subs: Node[] = [];
  private lastName: Node | null = null;

  constructor(private readonly s: string, private readonly verbose: boolean) {}

  peek(o = 0): string {
    return this.s[this.p + o] ?? "";
  }
  private next(): string {
    const c = this.s[this.p] ?? "";
    if (c === "") throw new Fail();
    this.p++;
    return c;
  }
  private expect(c: string): void {
    if (this.s[this.p] !== c) throw new Fail();
    this.p++;
  }
  private eat(c: string): boolean {
    if (this.s[this.p] !== c) return false;
    this.p++;
    return true;
  }
  atEnd(): boolean {
    return this.p >= this.s.length;
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new Fail();
  }

  mangledName(top: boolean): Node {
    this.expect("_");
    this.expect("Z");
    let n = this.encoding();
    if (top) {
      while (this.peek() === "." && (isLower(this.peek(1)) || this.peek(1) === "_" || isDigit(this.peek(1)))) n = this.cloneSuffix(n);
    }
    return n;
  }

  private cloneSuffix(inner: Node): Node {
    const start = this.p;
    let e = this.p;
    const s = this.s;
    const word = (c: string | undefined): boolean => c !== undefined && (isLower(c) || isDigit(c) || c === "_");
    if (s[e] === "." && word(s[e + 1])) {
      e += 2;
      while (word(s[e])) e++;
    }
    while (s[e] === "." && isDigit(s[e + 1] ?? "")) {
      e += 2;
      while (isDigit(s[e] ?? "")) e++;
    }
    this.p = e;
    return { k: "clone", inner, suffix: s.slice(start, e) };
  }

  encoding(): Node {
    this.enter();
    const c = this.peek();
    let r: Node;
    if (c === "G" || c === "T") r = this.specialName();
    else {
      const name = this.name(false);
      const pc = this.peek();
      if (pc !== "" && pc !== "E" && pc !== ".") {
        const type = this.bareFunctionType(hasReturnType(name));
        r = { k: "typed", name, type };
      } else r = name;
    }
    this.depth--;
    return r;
  }

  private specialName(): Node {
    if (this.eat("T")) {
      const c = this.next();
      switch (c) {
        case "V": return { k: "special", prefix: "vtable for ", inner: this.type() };
        case "T": return { k: "special", prefix: "VTT for ", inner: this.type() };
        case "I": return { k: "special", prefix: "typeinfo for ", inner: this.type() };
        case "S": return { k: "special", prefix: "typeinfo name for ", inner: this.type() };
        case "F": return { k: "special", prefix: "typeinfo fn for ", inner: this.type() };
        case "h": this.callOffset("h"); return { k: "special", prefix: "non-virtual thunk to ", inner: this.encoding() };
        case "v": this.callOffset("v"); return { k: "special", prefix: "virtual thunk to ", inner: this.encoding() };
        case "c": this.callOffset(""); this.callOffset(""); return { k: "special", prefix: "covariant return thunk to ", inner: this.encoding() };
        case "C": {
          const derived = this.type();
          this.number();
          this.expect("_");
          const base = this.type();
          return { k: "ctorvtable", base, derived };
        }
        case "H": return { k: "special", prefix: "TLS init function for ", inner: this.name(false) };
        case "W": return { k: "special", prefix: "TLS wrapper function for ", inner: this.name(false) };
        case "A": return { k: "special", prefix: "template parameter object for ", inner: this.templateArg() };
        default: throw new Fail();
      }
    }
    this.expect("G");
    const c = this.next();
    switch (c) {
      case "V": return { k: "special", prefix: "guard variable for ", inner: this.name(false) };
      case "R": {
        const name = this.name(false);
        const start = this.p;
        while (isDigit(this.peek()) || isUpper(this.peek())) this.p++;
        const n = this.s.slice(start, this.p);
        this.expect("_");
        return { k: "reftemp", name, n: n === "" ? "0" : String(parseInt(n, 36) + 1) };
      }
      case "A": return { k: "special", prefix: "hidden alias for ", inner: this.encoding() };
      case "T": {
        const t = this.next();
        return { k: "special", prefix: t === "n" ? "non-transaction clone for " : "transaction clone for ", inner: this.encoding() };
      }
      default: throw new Fail();
    }
  }

  private callOffset(c: string): void {
    if (c === "") c = this.next();
    if (c === "h") this.number();
    else if (c === "v") {
      this.number();
      this.expect("_");
      this.number();
    } else throw new Fail();
    this.expect("_");
  }

  private number(): number {
    const neg = this.eat("n");
    const start = this.p;
    while (isDigit(this.peek())) this.p++;
    if (start === this.p) throw new Fail();
    const v = parseInt(this.s.slice(start, this.p), 10);
    return neg ? -v : v;
  }

  /** <name>; substable: add the whole name as a substitution candidate (a class-enum-type). */
  name(substable: boolean): Node {
    this.enter();
    const c = this.peek();
    let dc: Node;
    let subst = false;
    if (c === "N") dc = this.nestedName();
    else if (c === "Z") dc = this.localName();
    else if (c === "U") dc = this.unqualifiedName(null);
    else {
      let scope: Node | null = null;
      if (c === "S") {
        if (this.peek(1) === "t") {
          this.p += 2;
          scope = { k: "name", s: "std" };
        }
        if (this.peek() === "S") {
          if (scope) throw new Fail();
          dc = this.substitution(false);
          subst = true;
        }
      }
      if (!subst) dc = this.unqualifiedName(scope);
      if (this.peek() === "I") {
        if (!subst) this.subs.push(dc!);
        dc = { k: "template", name: dc!, args: this.templateArgs() };
        subst = false;
      }
    }
    if (substable && !subst) this.subs.push(dc!);
    this.depth--;
    return dc!;
  }

  /** Z <encoding> E <entity> [<discriminator>], or Z <encoding> E s: "f(int)::x", "f()::string literal". */
  private localName(): Node {
    this.expect("Z");
    const fn = this.encoding();
    this.expect("E");
    let entity: Node;
    if (this.eat("s")) {
      this.discriminator();
      entity = { k: "name", s: "string literal" };
    } else {
      let num = -1;
      if (this.eat("d")) num = this.compactNumber();
      entity = this.name(false);
      if (entity.k !== "lambda" && entity.k !== "unnamed") this.discriminator();
      if (num >= 0) entity = { k: "defarg", n: num + 1, inner: entity };
    }
    return { k: "local", fn, entity };
  }

  private nestedName(): Node {
    this.expect("N");
    const quals: string[] = [];
    for (;;) {
      const c = this.peek();
      if (c === "r") quals.push(" restrict");
      else if (c === "V") quals.push(" volatile");
      else if (c === "K") quals.push(" const");
      else break;
      this.p++;
    }
    let refq = "";
    if (this.peek() === "R") { this.p++; refq = " &"; } else if (this.peek() === "O") { this.p++; refq = " &&"; }
    let r = this.prefix();
    this.expect("E");
    // printed innermost first: "A::f() const volatile &"
    for (const q of quals.reverse()) r = { k: "fnqual", q, inner: r };
    if (refq) r = { k: "fnqual", q: refq, inner: r };
    return r;
  }

  private prefix(): Node {
    let ret: Node | null = null;
    for (;;) {
      const c = this.peek();
      if (c === "") throw new Fail();
      if (c === "D" && (this.peek(1) === "T" || this.peek(1) === "t")) {
        if (ret) throw new Fail();
        ret = this.type();
      } else if (c === "I") {
        if (!ret) throw new Fail();
        ret = { k: "template", name: ret, args: this.templateArgs() };
      } else if (c === "T") {
        if (ret) throw new Fail();
        ret = this.templateParam();
      } else if (c === "M") {
        this.p++;
        continue;
      } else if (c === "S") {
        if (ret) throw new Fail();
        ret = this.substitution(true);
        continue;
      } else ret = this.unqualifiedName(ret);
      if (this.peek() === "E") break;
      this.subs.push(ret);
    }
    return ret;
  }

  private unqualifiedName(scope: Node | null): Node {
    const c = this.peek();
    let r: Node;
    if (isDigit(c)) r = this.sourceName();
    else if (isLower(c)) {
      if (c === "o" && this.peek(1) === "n") this.p += 2;
      r = this.operatorName();
      if (r.k === "op" && r.name === 'operator"" ') r = { k: "literalop", name: this.sourceName() };
    } else if (c === "C" || c === "D") r = this.ctorDtorName();
    else if (c === "L") {
      this.p++;
      r = this.sourceName();
      this.discriminator();
    } else if (c === "U") {
      if (this.peek(1) === "t") {
        this.p += 2;
        r = { k: "unnamed", n: this.compactNumber() + 1 };
        this.subs.push(r);
      } else if (this.peek(1) === "l") {
        this.p += 2;
        const params = this.paramList();
        this.expect("E");
        r = { k: "lambda", params, n: this.compactNumber() + 1 };
      } else throw new Fail();
    } else throw new Fail();
    r = this.abiTags(r);
    return scope ? { k: "qual", scope, name: r } : r;
  }

  /** `B <source-name>`*: "name[abi:cxx11]"; a tag is not the name a constructor takes. */
  private abiTags(r: Node): Node {
    const hold = this.lastName;
    while (this.eat("B")) r = { k: "abitag", inner: r, tag: nodeText(this.sourceName()) };
    this.lastName = hold;
    return r;
  }

  /** `[<number>] _` as 0 for "_", n+1 for "n_". */
  private compactNumber(): number {
    if (this.eat("_")) return 0;
    const n = this.number();
    if (n < 0) throw new Fail();
    this.expect("_");
    return n + 1;
  }

  private discriminator(): void {
    if (this.peek() !== "_") return;
    this.p++;
    if (this.eat("_")) {
      this.number();
      this.expect("_");
    } else this.number();
  }

  private sourceName(): Node {
    const start = this.p;
    while (isDigit(this.peek())) this.p++;
    const len = parseInt(this.s.slice(start, this.p), 10);
    if (!(len > 0) || this.p + len > this.s.length) throw new Fail();
    const id = this.s.slice(this.p, this.p + len);
    this.p += len;
    // gcc's names of anonymous namespaces: _GLOBAL_[._$]N...
    const anon = id.length >= 10 && id.startsWith("_GLOBAL_") && ".$_".includes(id[8] ?? "") && id[9] === "N";
    const r: Node = { k: "name", s: anon ? "(anonymous namespace)" : id };
    this.lastName = r;
    return r;
  }

  private operatorName(): Node {
    const c1 = this.next();
    const c2 = this.next();
    if (c1 === "v" && isDigit(c2)) return { k: "op", name: nodeText(this.sourceName()), arity: Number(c2) };
    if (c1 === "c" && c2 === "v") return { k: "cast", type: this.type() };
    const op = OPERATORS[c1 + c2];
    if (!op) throw new Fail();
    return { k: "op", name: op[0], arity: op[1] };
  }

  private ctorDtorName(): Node {
    const name = this.lastName;
    if (!name) throw new Fail();
    if (this.peek() === "C") {
      let inheriting = false;
      if (this.peek(1) === "I") {
        inheriting = true;
        this.p++;
      }
      if (!"12345".includes(this.peek(1)) || this.peek(1) === "") throw new Fail();
      this.p += 2;
      if (inheriting) this.type();
      return { k: "ctor", name };
    }
    if (!"01245".includes(this.peek(1)) || this.peek(1) === "") throw new Fail();
    this.p += 2;
    return { k: "dtor", name };
  }

  private substitution(prefix: boolean): Node {
    this.expect("S");
    const c = this.next();
    if (c === "_" || isDigit(c) || isUpper(c)) {
      let id = 0;
      if (c !== "_") {
        let d = c;
        for (;;) {
          if (isDigit(d)) id = id * 36 + d.charCodeAt(0) - 48;
          else if (isUpper(d)) id = id * 36 + d.charCodeAt(0) - 55;
          else throw new Fail();
          d = this.next();
          if (d === "_") break;
        }
        id++;
      }
      const sub = this.subs[id];
      if (!sub) throw new Fail();
      return sub;
    }
    const std = STD_SUBS[c];
    if (!std) throw new Fail();
    let verbose = this.verbose;
    if (!verbose && prefix && (this.peek() === "C" || this.peek() === "D")) verbose = true;
    if (std[2] !== null) this.lastName = { k: "sub", s: std[2] };
    let r: Node = { k: "sub", s: verbose ? std[1] : std[0] };
    if (this.peek() === "B") {
      r = this.abiTags(r);
      this.subs.push(r);
    }
    return r;
  }

  private templateArgs(): Node[] {
    const hold = this.lastName;
    if (this.peek() !== "I" && this.peek() !== "J") throw new Fail();
    this.p++;
    const args: Node[] = [];
    while (!this.eat("E")) args.push(this.templateArg());
    this.lastName = hold;
    return args;
  }

  private templateArg(): Node {
    const c = this.peek();
    if (c === "X") {
      this.p++;
      const e = this.expression();
      this.expect("E");
      return e;
    }
    if (c === "L") return this.exprPrimary();
    if (c === "I" || c === "J") return { k: "args", args: this.templateArgs() };
    return this.type();
  }

  private templateParam(): Node {
    this.expect("T");
    return { k: "tparam", index: this.compactNumber() };
  }

  type(): Node {
    this.enter();
    const r = this.typeInner();
    this.depth--;
    return r;
  }

  private typeInner(): Node {
    const c = this.peek();
    if (c === "r" || c === "V" || c === "K") {
      const quals: Array<" const" | " volatile" | " restrict"> = [];
      for (;;) {
        const q = this.peek();
        if (q === "r") quals.push(" restrict");
        else if (q === "V") quals.push(" volatile");
        else if (q === "K") quals.push(" const");
        else break;
        this.p++;
      }
      let r: Node;
      if (this.peek() === "F") {
        // qualifiers of a function type apply to `this` (a pointer-to-member-function's type)
        r = this.functionType();
        for (const q of quals.reverse()) r = { k: "fnqual", q, inner: r };
      } else {
        r = this.type();
        for (const q of quals.reverse()) r = { k: "mod", m: q, inner: r };
      }
      this.subs.push(r);
      return r;
    }
    let r: Node;
    let sub = true;
    const b = BUILTINS[c];
    if (b) {
      this.p++;
      return { k: "builtin", s: b[0], code: c };
    }
    switch (c) {
      case "u": this.p++; r = { k: "vendor", name: this.sourceName() }; break;
      case "F": r = this.functionType(); break;
      case "N": case "Z": r = this.name(false); break;
      case "A": r = this.arrayType(); break;
      case "M": {
        this.p++;
        const cls = this.type();
        const member = this.type();
        r = { k: "ptrmem", cls, member };
        break;
      }
      case "T": {
        r = this.templateParam();
        if (this.peek() === "I") {
          this.subs.push(r);
          r = { k: "template", name: r, args: this.templateArgs() };
        }
        break;
      }
      case "O": this.p++; r = { k: "mod", m: "&&", inner: this.type() }; break;
      case "P": this.p++; r = { k: "mod", m: "*", inner: this.type() }; break;
      case "R": this.p++; r = { k: "mod", m: "&", inner: this.type() }; break;
      case "C": this.p++; r = { k: "mod", m: " _Complex", inner: this.type() }; break;
      case "G": this.p++; r = { k: "mod", m: " _Imaginary", inner: this.type() }; break;
      case "U": {
        this.p++;
        let q: Node = this.sourceName();
        if (this.peek() === "I") q = { k: "template", name: q, args: this.templateArgs() };
        r = { k: "vendorqual", q, inner: this.type() };
        break;
      }
      case "S": {
        const n = this.peek(1);
        if (isDigit(n) || n === "_" || isUpper(n)) {
          r = this.substitution(false);
          if (this.peek() === "I") r = { k: "template", name: r, args: this.templateArgs() };
          else sub = false;
        } else {
          r = this.name(false);
          if (r.k === "sub") sub = false;
        }
        break;
      }
      case "D": {
        this.p++;
        const d = this.next();
        sub = false;
        if (d === "T" || d === "t") {
          r = { k: "decltype", expr: this.expression() };
          this.expect("E");
          sub = true;
        } else if (d === "p") {
          r = { k: "expansion", inner: this.type() };
          sub = true;
        } else if (d === "F") {
          const start = this.p;
          while (isDigit(this.peek())) this.p++;
          const bits = this.s.slice(start, this.p);
          const x = this.eat("x");
          this.expect("_");
          return { k: "builtin", s: `_Float${bits}${x ? "x" : ""}`, code: "DF" };
        } else {
          const name = D_BUILTINS[d];
          if (!name) throw new Fail();
          return { k: "builtin", s: name, code: `D${d}` };
        }
        break;
      }
      default:
        if (isDigit(c)) {
          r = this.name(false);
          break;
        }
        throw new Fail();
    }
    if (sub) this.subs.push(r);
    return r;
  }

  private functionType(): FnType {
    this.expect("F");
    this.eat("Y");
    const t = this.bareFunctionType(true);
    if (this.eat("R")) t.refq = " &";
    else if (this.eat("O")) t.refq = " &&";
    this.expect("E");
    return t;
  }

  private bareFunctionType(hasReturn: boolean): FnType {
    if (this.eat("J")) hasReturn = true;
    const ret = hasReturn ? this.type() : null;
    return { k: "fn", ret, params: this.paramList(), refq: "" };
  }

  private paramList(): Node[] {
    const params: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === "" || c === "E" || c === ".") break;
      if ((c === "R" || c === "O") && this.peek(1) === "E") break;
      params.push(this.type());
    }
    if (params.length === 0) throw new Fail();
    const only = params[0];
    if (params.length === 1 && only?.k === "builtin" && only.code === "v") return [];
    return params;
  }

  private arrayType(): Node {
    this.expect("A");
    let dim: string | Node | null = null;
    if (this.peek() !== "_") {
      if (isDigit(this.peek())) {
        const start = this.p;
        while (isDigit(this.peek())) this.p++;
        dim = this.s.slice(start, this.p);
      } else dim = this.expression();
    }
    this.expect("_");
    return { k: "array", dim, elem: this.type() };
  }

  /** <source-name> [<template-args>] */
  private simpleId(): Node {
    const n = this.sourceName();
    return this.peek() === "I" ? { k: "template", name: n, args: this.templateArgs() } : n;
  }

  /** <simple-id>, on <operator-name> [<template-args>], dn <destructor-name> */
  private baseUnresolvedName(): Node {
    if (this.peek() === "o" && this.peek(1) === "n") {
      this.p += 2;
      const op = this.operatorName();
      return this.peek() === "I" ? { k: "template", name: op, args: this.templateArgs() } : op;
    }
    if (this.peek() === "d" && this.peek(1) === "n") {
      this.p += 2;
      const t = isDigit(this.peek()) ? this.simpleId() : this.type();
      return { k: "dtor", name: t };
    }
    if (isDigit(this.peek())) return this.simpleId();
    return this.unqualifiedName(null);
  }

  private exprPrimary(): Node {
    this.expect("L");
    let r: Node;
    if (this.peek() === "_" || this.peek() === "Z") {
      if (this.peek() === "Z") r = this.mangledNameNoUnderscore();
      else r = this.mangledName(false);
    } else {
      const type = this.type();
      const neg = this.eat("n");
      const start = this.p;
      while (this.peek() !== "E") {
        if (this.peek() === "") throw new Fail();
        this.p++;
      }
      if (type.k === "builtin" && type.code === "Dn" && start === this.p) r = type;
      else r = { k: "literal", type, value: this.s.slice(start, this.p), neg };
    }
    this.expect("E");
    return r;
  }

  private mangledNameNoUnderscore(): Node {
    this.expect("Z");
    return this.encoding();
  }

  private expression(): Node {
    this.enter();
    const r = this.expressionInner();
    this.depth--;
    return r;
  }

  private expressionInner(): Node {
    const c = this.peek();
    const c1 = this.peek(1);
    if (c === "L") return this.exprPrimary();
    if (c === "T") return this.templateParam();
    if (c === "s" && c1 === "r") {
      // sr <unresolved-type> <base>, srN <unresolved-type> <level>+ E <base>, sr <level>+ E <base>
      this.p += 2;
      let scope: Node;
      if (isDigit(this.peek())) {
        scope = this.simpleId();
        while (!this.eat("E")) scope = { k: "qual", scope, name: this.simpleId() };
      } else if (this.eat("N")) {
        scope = this.type();
        while (!this.eat("E")) scope = { k: "qual", scope, name: this.simpleId() };
      } else scope = this.type();
      const base = this.baseUnresolvedName();
      // cp-demangle.c's shape: the template arguments apply to the qualified name ("(std::declval<T>)()")
      return base.k === "template" ? { k: "template", name: { k: "qual", scope, name: base.name }, args: base.args } : { k: "qual", scope, name: base };
    }
    if (c === "g" && c1 === "s") {
      this.p += 2;
      const e = this.expression();
      return e.k === "qual" ? e : { k: "qual", scope: { k: "name", s: "" }, name: e };
    }
    if (c === "s" && c1 === "p") {
      this.p += 2;
      return { k: "expansion", inner: this.expression() };
    }
    if (c === "f" && c1 === "p") {
      this.p += 2;
      while ("rVK".includes(this.peek()) && this.peek() !== "") this.p++;
      const n = this.peek() === "T" ? (this.p++, 0) : this.compactNumber() + 1;
      return { k: "fparam", n };
    }
    if (isDigit(c) || (c === "o" && c1 === "n")) {
      if (c === "o") this.p += 2;
      const n = this.unqualifiedName(null);
      return this.peek() === "I" ? { k: "template", name: n, args: this.templateArgs() } : n;
    }
    const op = this.operatorName();
    if (op.k === "cast") {
      // cv <type> ( _ <expr>* E | <expr> )
      if (this.eat("_")) {
        const args: Node[] = [];
        while (!this.eat("E")) args.push(this.expression());
        return { k: "unary", op, arg: { k: "args", args } };
      }
      return { k: "unary", op, arg: this.expression() };
    }
    if (op.k !== "op") throw new Fail();
    const code = this.s.slice(this.p - 2, this.p);
    switch (op.arity) {
      case 0: return { k: "nullary", op };
      case 1: {
        if (code === "st" || code === "at") return { k: "unary", op, arg: this.type() };
        if (code === "sZ") return { k: "unary", op, arg: this.peek() === "T" ? this.templateParam() : this.expression() };
        return { k: "unary", op, arg: this.expression() };
      }
      case 2: {
        if (code === "cl") {
          const fn = this.expression();
          const args: Node[] = [];
          while (!this.eat("E")) args.push(this.expression());
          return { k: "binary", op, left: fn, right: { k: "args", args } };
        }
        const left = code === "sc" || code === "dc" || code === "cc" || code === "rc" ? this.type() : this.expression();
        const right = code === "dt" || code === "pt" ? this.unqualifiedName(null) : this.expression();
        return { k: "binary", op, left, right };
      }
      case 3: {
        if (code === "qu") return { k: "trinary", op, a: this.expression(), b: this.expression(), c: this.expression() };
        throw new Fail();
      }
      default: throw new Fail();
    }
  }
}

function nodeText(n: Node): string {
  return n.k === "name" || n.k === "sub" ? n.s : "";
}

function isCtorDtorConv(n: Node): boolean {
  switch (n.k) {
    case "qual": return isCtorDtorConv(n.name);
    case "local": return isCtorDtorConv(n.entity);
    case "ctor": case "dtor": case "cast": return true;
    case "abitag": return isCtorDtorConv(n.inner);
    default: return false;
  }
}

function hasReturnType(n: Node): boolean {
  switch (n.k) {
    case "local": return hasReturnType(n.entity);
    case "template": return !isCtorDtorConv(n.name);
    case "fnqual": return hasReturnType(n.inner);
    default: return false;
  }
}

class Printer {
  /** Template argument lists in scope, innermost last (cp-demangle.c's dpi->templates). */
  private templates: Node[][] = [];
  private packIndex = -1;
  private size = 0;
  private trailingBlank = false;

  constructor(private readonly returnType: boolean) {}

  private grow(s: string): string {
    this.size += s.length;
    if (s.length > MAX_OUTPUT_LENGTH || this.size > MAX_PRINT_WORK) throw new Fail();
    return s;
  }

  top(n: Node): string {
    return this.node(n, true);
  }

  node(n: Node, top = false): string {
    switch (n.k) {
      case "name": case "sub": case "raw": return this.grow(n.s);
      case "qual": return this.grow(`${this.node(n.scope)}::${this.node(n.name)}`);
      case "template": {
        const name = this.node(n.name);
        let args = this.argList(n.args);
        const blank = this.trailingBlank;
        if (name.endsWith("<")) args = ` <${args}`;
        else args = `<${args}`;
        return this.grow(`${name}${args}${args.endsWith(">") && !blank ? " " : ""}>`);
      }
      case "ctor": return this.node(n.name);
      case "dtor": return `~${this.node(n.name)}`;
      case "op": return `operator${isLower(n.name[0] ?? "") ? " " : ""}${n.name.endsWith(" ") ? n.name.slice(0, -1) : n.name}`;
      case "cast": return `operator ${this.type(n.type)}`;
      case "literalop": return `operator"" ${this.node(n.name)}`;
      case "fnqual": return `${this.node(n.inner)}${n.q}`;
      case "typed": return this.typed(n, top);
      case "local": {
        const fn = n.fn.k === "typed" ? this.typed(n.fn, false, true) : this.node(n.fn);
        return this.grow(`${fn}::${this.node(n.entity)}`);
      }
      case "special": return this.grow(`${n.prefix}${this.node(n.inner)}`);
      case "ctorvtable": return this.grow(`construction vtable for ${this.type(n.base)}-in-${this.type(n.derived)}`);
      case "reftemp": return this.grow(`reference temporary #${n.n} for ${this.node(n.name)}`);
      case "clone": return this.grow(`${this.node(n.inner, top)} [clone ${n.suffix}]`);
      case "abitag": return `${this.node(n.inner)}[abi:${n.tag}]`;
      case "lambda": return this.grow(`{lambda(${this.paramList(n.params)})#${n.n}}`);
      case "unnamed": return `{unnamed type#${n.n}}`;
      case "defarg": return `{default arg#${n.n}}::${this.node(n.inner)}`;
      default: return this.type(n);
    }
  }

  /** A function: [return type ]name(params) qualifiers; the name's template arguments are in scope for all of it. */
  private typed(n: { name: Node; type: FnType }, top: boolean, noReturn = false): string {
    let name = n.name;
    const quals: string[] = [];
    while (name.k === "fnqual") {
      quals.push(name.q);
      name = name.inner;
    }
    // a member function of a local class or closure: its qualifiers sit on the local entity ("main::{lambda()#1}::operator()() const")
    if (name.k === "local" && name.entity.k === "fnqual") {
      let entity: Node = name.entity;
      while (entity.k === "fnqual") {
        quals.push(entity.q);
        entity = entity.inner;
      }
      name = { k: "local", fn: name.fn, entity };
    }
    const tmpl = name.k === "template" ? name : name.k === "local" && name.entity.k === "template" ? name.entity : null;
    if (tmpl) this.templates.push(tmpl.args);
    try {
      const ret = n.type.ret && !noReturn && (this.returnType || !top) ? this.type(n.type.ret) : "";
      const body = `${this.node(name)}(${this.paramList(n.type.params)})${quals.reverse().join("")}`;
      return this.grow(ret ? `${ret} ${body}` : body);
    } finally {
      if (tmpl) this.templates.pop();
    }
  }

  private argList(args: Node[]): string {
    return this.list(args, (a) => (a.k === "args" ? this.argList(a.args) : this.arg(a)));
  }

  private arg(a: Node): string {
    return this.type(a);
  }

  private paramList(params: Node[]): string {
    return this.list(params, (p) => this.type(p));
  }

  /**
   * Comma-separated items, as cp-demangle.c prints its argument lists: an item that prints nothing (an empty
   * argument pack) loses its comma only when nothing follows it ("f(int, , char)" but "A<int>"), and
   * then the last character seen stays the comma's space ("A<B<int>>").
   */
  private list(items: Node[], one: (n: Node) => string): string {
    const parts = items.map((it) => {
      if (it.k !== "expansion") return one(it);
      const pack = this.findPack(it.inner);
      if (pack === null) return `${one(it.inner)}...`;
      const hold = this.packIndex;
      const out: string[] = [];
      for (let i = 0; i < pack.length; i++) {
        this.packIndex = i;
        out.push(one(it.inner));
      }
      this.packIndex = hold;
      return out.join(", ");
    });
    let end = parts.length;
    while (end > 1 && parts[end - 1] === "") end--;
    this.trailingBlank = end < parts.length;
    return this.grow(parts.slice(0, end).join(", "));
  }

  /** The argument pack a pack expansion's pattern refers to (cp-demangle.c's d_find_pack). */
  private findPack(n: Node): Node[] | null {
    switch (n.k) {
      case "tparam": {
        const a = this.lookup(n.index);
        return a?.k === "args" ? a.args : null;
      }
      case "mod": case "fnqual": case "vendorqual": case "expansion": return this.findPack(n.inner);
      case "template": return this.findPack(n.name) ?? this.firstPack(n.args);
      case "fn": return (n.ret ? this.findPack(n.ret) : null) ?? this.firstPack(n.params);
      case "qual": return this.findPack(n.scope) ?? this.findPack(n.name);
      case "ptrmem": return this.findPack(n.cls) ?? this.findPack(n.member);
      case "array": return this.findPack(n.elem);
      case "decltype": return this.findPack(n.expr);
      case "unary": return this.findPack(n.arg);
      case "binary": return this.findPack(n.left) ?? this.findPack(n.right);
      case "args": return this.firstPack(n.args);
      default: return null;
    }
  }

  private firstPack(ns: Node[]): Node[] | null {
    for (const x of ns) {
      const p = this.findPack(x);
      if (p) return p;
    }
    return null;
  }

  private lookup(index: number): Node | undefined {
    const t = this.templates[this.templates.length - 1];
    if (!t) throw new Fail();
    return t[index];
  }

  /** A template parameter's argument, printed in the scope it was given in. */
  private resolve(n: { index: number }): Node {
    let a = this.lookup(n.index);
    if (!a) throw new Fail();
    if (a.k === "args") {
      if (this.packIndex < 0) return a;
      a = a.args[this.packIndex];
      if (!a) throw new Fail();
    }
    return a;
  }

  /** Runs fn with the innermost template scope removed: an argument is printed where it was written. */
  private outer<T>(fn: () => T): T {
    const t = this.templates.pop();
    try {
      return fn();
    } finally {
      if (t) this.templates.push(t);
    }
  }

  type(n: Node): string {
    // the declarator: pointer/reference/cv/member-pointer modifiers, outermost first, down to the core type
    const mods: Node[] = [];
    let core = n;
    let scopes = 0;
    for (;;) {
      if (core.k === "mod" || core.k === "ptrmem" || core.k === "vendorqual") {
        mods.push(core);
        core = core.k === "ptrmem" ? core.member : core.inner;
      } else if (core.k === "fnqual" && mods.length > 0) {
        mods.push(core);
        core = core.inner;
      } else if (core.k === "tparam") {
        const a = this.resolve(core);
        if (a.k === "args") break;
        core = a;
        this.templates.push(this.templates.pop() ?? []);
        scopes++;
      } else break;
    }
    void scopes;
    // a qualifier given twice (const T where T is itself const) is printed once
    for (let i = 0; i < mods.length; i++) {
      const a = mods[i]!;
      if (a.k !== "mod" || !(a.m === " const" || a.m === " volatile" || a.m === " restrict")) continue;
      for (let j = i + 1; j < mods.length; j++) {
        const b = mods[j]!;
        if (b.k !== "mod" || !(b.m === " const" || b.m === " volatile" || b.m === " restrict")) break;
        if (b.m === a.m) {
          mods.splice(j, 1);
          j--;
        }
      }
    }
    // reference collapsing (a template argument that is itself a reference): & & → &, && & → &, & && → &, && && → &&
    for (let i = 0; i + 1 < mods.length; i++) {
      const a = mods[i]!;
      const b = mods[i + 1]!;
      if (a.k === "mod" && b.k === "mod" && (a.m === "&" || a.m === "&&") && (b.m === "&" || b.m === "&&")) {
        const m = a.m === "&&" && b.m === "&&" ? "&&" : "&";
        mods.splice(i, 2, { k: "mod", m, inner: b.inner });
        i--;
      }
    }
    const modText = (inner: boolean): string => {
      let s = "";
      for (let i = mods.length - 1; i >= 0; i--) {
        const m = mods[i]!;
        if (m.k === "mod") s += m.m;
        else if (m.k === "fnqual") s += m.q;
        else if (m.k === "vendorqual") s += ` ${this.node(m.q)}`;
        else if (m.k === "ptrmem") s += `${inner && s === "" ? "" : " "}${this.type(m.cls)}::*`;
        if (inner && i === mods.length - 1 && s.startsWith(" ") && m.k !== "ptrmem") s = s.slice(1);
      }
      return s;
    };
    if (core.k === "fn") {
      // qualifiers of `this` (a pointer to member function's) follow the parameters: "void (A::*)() const"
      let thisQuals = "";
      while (mods.length > 0 && mods[mods.length - 1]!.k === "fnqual") thisQuals = (mods.pop() as { q: string }).q + thisQuals;
      const ret = core.ret ? this.type(core.ret) : "";
      const m = mods.length > 0 ? `(${modText(true)})` : "";
      const head = ret === "" ? m : `${ret} ${m}`;
      return this.grow(`${head}(${this.paramList(core.params)})${thisQuals}${core.refq}`);
    }
    if (core.k === "fnqual" && core.inner.k === "fn") {
      // a qualified function type without declarator ("void () const")
      const f = core.inner;
      const ret = f.ret ? this.type(f.ret) : "";
      return this.grow(`${ret} (${this.paramList(f.params)})${f.refq}${core.q}`);
    }
    if (core.k === "array") {
      // cv-qualifiers of the array itself are printed as the element's ("char const (&) [17]")
      let cv = "";
      while (mods.length > 0) {
        const m = mods[mods.length - 1]!;
        if (m.k !== "mod" || (m.m !== " const" && m.m !== " volatile" && m.m !== " restrict")) break;
        cv = m.m + cv;
        mods.pop();
      }
      // an array of arrays: "int (*) [12][8]"
      let dims = "";
      let elemType: Node = core;
      while (elemType.k === "array") {
        const d = elemType.dim;
        dims += `[${d === null ? "" : typeof d === "string" ? d : this.expr(d)}]`;
        elemType = elemType.elem;
      }
      const elem = this.type(elemType) + cv;
      const m = mods.length > 0 ? ` (${modText(true)})` : "";
      return this.grow(`${elem}${m} ${dims}`);
    }
    const base = this.coreType(core);
    let s = base;
    for (let i = mods.length - 1; i >= 0; i--) {
      const m = mods[i]!;
      if (m.k === "mod") s += m.m;
      else if (m.k === "fnqual") s += m.q;
      else if (m.k === "vendorqual") s += ` ${this.node(m.q)}`;
      else if (m.k === "ptrmem") s += ` ${this.type(m.cls)}::*`;
    }
    return this.grow(s);
  }

  private coreType(n: Node): string {
    switch (n.k) {
      case "builtin": return n.s;
      case "vendor": return this.node(n.name);
      case "args": return this.argList(n.args);
      case "expansion": {
        const pack = this.findPack(n.inner);
        if (pack === null) return `${this.type(n.inner)}...`;
        const hold = this.packIndex;
        const out: string[] = [];
        for (let i = 0; i < pack.length; i++) {
          this.packIndex = i;
          out.push(this.type(n.inner));
        }
        this.packIndex = hold;
        return out.join(", ");
      }
      case "decltype": return `decltype (${this.expr(n.expr)})`;
      case "literal": case "unary": case "binary": case "trinary": case "nullary": case "fparam": return this.expr(n);
      default: return this.node(n);
    }
  }

  private expr(n: Node): string {
    switch (n.k) {
      case "literal": {
        const b = n.type.k === "builtin" ? BUILTINS[n.type.code] : undefined;
        if (b && b[1] !== null) return `${n.neg ? "-" : ""}${n.value}${b[1]}`;
        if (n.type.k === "builtin" && n.type.code === "b" && !n.neg && (n.value === "0" || n.value === "1")) return n.value === "0" ? "false" : "true";
        const fl = n.type.k === "builtin" && "fde".includes(n.type.code);
        return `(${this.type(n.type)})${n.neg ? "-" : ""}${fl ? `[${n.value}]` : n.value}`;
      }
      case "fparam": return `{parm#${n.n}}`;
      case "nullary": return this.opText(n.op);
      case "unary": {
        const op = n.op;
        if (op.k === "cast") {
          if (n.arg.k === "args") return `${this.type(op.type)}(${n.arg.args.map((a) => this.expr(a)).join(", ")})`;
          return `(${this.type(op.type)})${this.sub(n.arg)}`;
        }
        const name = this.opText(op);
        // the address of a function: its name without the parameter list ("&ns::f")
        if (op.k === "op" && op.name === "&" && op.arity === 1 && n.arg.k === "typed" && n.arg.name.k === "qual") return `&${this.node(n.arg.name)}`;
        if (op.k === "op" && (op.name === "sizeof " || op.name === "alignof ") && isTypeNode(n.arg)) return `${name}(${this.type(n.arg)})`;
        if (op.k === "op" && op.name === "sizeof...") return `sizeof...(${this.packText(n.arg)})`;
        return `${name}${this.sub(n.arg)}`;
      }
      case "binary": {
        const op = n.op;
        const name = this.opText(op);
        if (op.k === "op" && op.name === "()") {
          const args = n.right.k === "args" ? n.right.args.map((a) => this.expr(a)).join(", ") : this.expr(n.right);
          return `${this.sub(n.left)}(${args})`;
        }
        if (op.k === "op" && /_cast$/.test(op.name)) return `${op.name}<${this.type(n.left)}>(${this.expr(n.right)})`;
        const s = `${this.sub(n.left)}${name}${this.sub(n.right)}`;
        return op.k === "op" && op.name === ">" ? `(${s})` : s;
      }
      case "trinary": return `${this.sub(n.a)}?${this.sub(n.b)} : ${this.sub(n.c)}`;
      case "tparam": {
        const a = this.resolve(n);
        return this.outer(() => (a.k === "args" ? this.argList(a.args) : isTypeNode(a) ? this.type(a) : this.expr(a)));
      }
      case "expansion": return `${this.expr(n.inner)}...`;
      default: return isTypeNode(n) ? this.type(n) : this.node(n);
    }
  }

  private packText(n: Node): string {
    if (n.k === "tparam") {
      const a = this.lookup(n.index);
      if (a?.k === "args") return String(a.args.length);
    }
    return this.expr(n);
  }

  private sub(n: Node): string {
    const s = this.expr(n);
    if (n.k === "name" || n.k === "qual" || n.k === "fparam") return s;
    return `(${s})`;
  }

  private opText(op: Node): string {
    if (op.k === "op") return op.name;
    if (op.k === "cast") return `(${this.type(op.type)})`;
    return this.node(op);
  }
}

function isTypeNode(n: Node): boolean {
  return !["literal", "unary", "binary", "trinary", "nullary", "fparam", "expansion"].includes(n.k);
}

/**
 * The demangled form of an Itanium C++ ABI name ("_Z..."), or null when it is
 * not one (or is malformed: a name c++filt also leaves as it is).
 */
export function demangleItanium(mangled: string, options: ItaniumOptions = {}): string | null {
  if (!mangled.startsWith("_Z") || mangled.length > MAX_MANGLED_LENGTH) return null;
  try {
    const p = new Parser(mangled, options.verbose ?? false);
    const n = p.mangledName(true);
    if (!p.atEnd()) return null;
    return new Printer(options.returnType ?? true).top(n);
  } catch (err) {
    if (err instanceof Fail || err instanceof RangeError) return null;
    throw err;
  }
}
