// Mangled symbol names → the names people write: C++ (the Itanium ABI of gcc
// and clang) and Rust (legacy and v0), tried in binutils' order (c++filt's
// "auto": Rust first, since a legacy Rust name is also a valid C++ one).
import { demangleItanium, MAX_MANGLED_LENGTH } from "./itanium.ts";
import { demangleRustLegacy, demangleRustV0 } from "./rust.ts";

export { MAX_MANGLED_LENGTH } from "./itanium.ts";

export interface DemangleOptions {
  /**
   * Print the return type of a C++ template function. Default true, as c++filt, eu-stack, Android's tombstones
   * (__cxa_demangle) and gdb for a frame named from the symbol table print it.
   */
  returnType?: boolean;
  /** c++filt without -i: "std::basic_string<char, ...>" for std::string, Rust's hash and crate disambiguators. Default false (gdb). */
  verbose?: boolean;
}

/** The demangled name, or null when the name is not mangled (a C function) or is malformed. */
export function demangle(name: string, options: DemangleOptions = {}): string | null {
  if (name.length < 3 || name.length > MAX_MANGLED_LENGTH || name[0] !== "_") return null;
  const verbose = options.verbose ?? false;
  if (name[1] === "R") return demangleRustV0(name, { verbose });
  if (name[1] !== "Z") return null;
  return demangleRustLegacy(name, { verbose }) ?? demangleItanium(name, { verbose, returnType: options.returnType ?? true });
}

/** Names functionName() remembers: a report names a few hundred functions at most, each several times (device, symbolize). */
const MAX_REMEMBERED = 1024;
const remembered = new Map<string, string | null>();

function demangledOnce(name: string): string | null {
  let d = remembered.get(name);
  if (d !== undefined) return d;
  d = demangle(name);
  if (remembered.size >= MAX_REMEMBERED) remembered.clear();
  remembered.set(name, d);
  return d;
}

/** A frame's `function` and `mangled` for a name: demangled when it is a C++ or Rust name, else as it is. */
export function functionName(name: string | null): { function: string | null; mangled?: string } {
  const d = name === null || name[0] !== "_" ? null : demangledOnce(name);
  return d === null || name === null ? { function: name } : { function: d, mangled: name };
}
