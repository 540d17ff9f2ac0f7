// The crash signature: what makes two crashes "the same crash". Executable
// name + the first SIGNATURE_FRAMES frames of the crashing thread that are in
// the program's own code, by function name without offset; a frame without a
// known function counts as module + offset. Same signature, same group. C++
// and Rust functions count by their demangled names (with parameter types).
import { createHash } from "node:crypto";
import type { Report, ReportFrame } from "../core/report.ts";
import { demangle } from "../demangle/demangle.ts";
import { crashingThread } from "./crash.ts";

/** Frames of the program's own code a signature keeps. */
export const SIGNATURE_FRAMES = 5;

/**
 * The C and C++ runtime, the dynamic loader and the vDSO: frames there say
 * how the program died (abort, raise, memcpy), not where its bug is.
 */
const RUNTIME_MODULE = /(^|\/)(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libc\+\+|libc\+\+abi|libunwind|ld-linux[^/]*|ld-musl[^/]*|libasan|libubsan)([-.][^/]*)?$|^\[vdso\]$/;

export interface Signature {
  /** Stable group id: the first 16 hex digits of SHA-256 of the text. */
  id: string;
  /** "exe: f1 < f2 < ...", innermost first. */
  text: string;
  exe: string;
  frames: string[];
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * "parse_record", "ns::Klass<int>::method() const", or "app+0x1290" when no function name is known. A mangled
 * name (a report of a device older than the demangler) is demangled, so it groups with the same crash's newer reports.
 */
export function frameKey(f: ReportFrame): string {
  const fn = (f as ReportFrame & { function?: unknown }).function;
  if (typeof fn === "string" && fn !== "") return demangle(fn) ?? fn;
  if (typeof f.symbol === "string" && f.symbol !== "") return demangle(f.symbol) ?? f.symbol;
  const module = f.module ? basename(f.module) : "?";
  const offset = String(f.moduleOffset ?? f.pc).replace(/^0x0*(?=[0-9a-f])/, "0x");
  return `${module}+${offset}`;
}

export function isRuntimeFrame(f: ReportFrame): boolean {
  return f.module !== null && RUNTIME_MODULE.test(f.module);
}

/**
 * Inlined and tail-call frames (report.ts `inlined`, `tailCall`) count like the others: gdb shows them, they are the
 * program's own code on the way to the crash, and they come from the same build's DWARF, so the same crash symbolized
 * with the same debug files always gets them; where tail calls are ambiguous none is added (debuginfo/tail-calls.ts),
 * so no signature depends on which path ran. Like inlined frames, they appear once a report is symbolized:
 * `collect --resymbolize` regroups what was stored before.
 */
export function signatureOf(report: Report): Signature {
  const exe = basename(report.exe ?? report.comm ?? "?") || "?";
  const frames = crashingThread(report)?.frames ?? [];
  let own = frames.filter((f) => !isRuntimeFrame(f));
  // A crash entirely inside the runtime (or with no module known) still needs a signature: keep its own frames.
  if (own.length === 0) own = frames;
  const keys = own.slice(0, SIGNATURE_FRAMES).map(frameKey);
  const text = `${exe}: ${keys.length > 0 ? keys.join(" < ") : "(no frames)"}`;
  return { id: groupIdOf(text), text, exe, frames: keys };
}

/** The group id of a signature text: the first 16 hex digits of its SHA-256 (a rollback's crash signature names its group so). */
export function groupIdOf(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
