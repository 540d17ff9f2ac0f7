// Signal names and si_code meanings: signal(7), sigaction(2) "The siginfo_t
// argument", include/uapi/asm-generic/siginfo.h. Numbers are the asm-generic
// ones shared by x86-64 and arm64.
const NAMES: Readonly<Record<number, string>> = {
  1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
  9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
  16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
  23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
  30: "SIGPWR", 31: "SIGSYS",
};

const GENERIC: Readonly<Record<number, [string, string]>> = {
  0: ["SI_USER", "sent by kill()"],
  0x80: ["SI_KERNEL", "sent by the kernel"],
  [-1]: ["SI_QUEUE", "sent by sigqueue()"],
  [-2]: ["SI_TIMER", "POSIX timer expired"],
  [-3]: ["SI_MESGQ", "message queue state changed"],
  [-4]: ["SI_ASYNCIO", "AIO completed"],
  [-5]: ["SI_SIGIO", "queued SIGIO"],
  [-6]: ["SI_TKILL", "sent by tkill() or tgkill()"],
};

const BY_SIGNAL: Readonly<Record<number, Readonly<Record<number, [string, string]>>>> = {
  4: {
    1: ["ILL_ILLOPC", "illegal opcode"], 2: ["ILL_ILLOPN", "illegal operand"], 3: ["ILL_ILLADR", "illegal addressing mode"],
    4: ["ILL_ILLTRP", "illegal trap"], 5: ["ILL_PRVOPC", "privileged opcode"], 6: ["ILL_PRVREG", "privileged register"],
    7: ["ILL_COPROC", "coprocessor error"], 8: ["ILL_BADSTK", "internal stack error"],
  },
  8: {
    1: ["FPE_INTDIV", "integer divide by zero"], 2: ["FPE_INTOVF", "integer overflow"], 3: ["FPE_FLTDIV", "floating-point divide by zero"],
    4: ["FPE_FLTOVF", "floating-point overflow"], 5: ["FPE_FLTUND", "floating-point underflow"], 6: ["FPE_FLTRES", "floating-point inexact result"],
    7: ["FPE_FLTINV", "floating-point invalid operation"], 8: ["FPE_FLTSUB", "subscript out of range"],
  },
  11: {
    1: ["SEGV_MAPERR", "address not mapped to object"], 2: ["SEGV_ACCERR", "invalid permissions for mapped object"],
    3: ["SEGV_BNDERR", "failed address bound checks"], 4: ["SEGV_PKUERR", "access denied by memory protection keys"],
    5: ["SEGV_ACCADI", "ADI not enabled for mapped object"], 6: ["SEGV_ADIDERR", "disrupting MCD error"],
    7: ["SEGV_ADIPERR", "precise MCD exception"], 8: ["SEGV_MTEAERR", "asynchronous MTE tag check fault"],
    9: ["SEGV_MTESERR", "synchronous MTE tag check fault"], 10: ["SEGV_CPERR", "control protection fault"],
  },
  7: {
    1: ["BUS_ADRALN", "invalid address alignment"], 2: ["BUS_ADRERR", "nonexistent physical address"],
    3: ["BUS_OBJERR", "object-specific hardware error"], 4: ["BUS_MCEERR_AR", "hardware memory error, action required"],
    5: ["BUS_MCEERR_AO", "hardware memory error, action optional"],
  },
  5: {
    1: ["TRAP_BRKPT", "process breakpoint"], 2: ["TRAP_TRACE", "process trace trap"], 3: ["TRAP_BRANCH", "process taken branch trap"],
    4: ["TRAP_HWBKPT", "hardware breakpoint/watchpoint"],
  },
};

/** Signals whose siginfo carries a fault address (si_addr). */
export const FAULT_SIGNALS: ReadonlySet<number> = new Set([4, 5, 7, 8, 11]);

export function signalName(n: number): string {
  return NAMES[n] ?? (n >= 34 && n <= 64 ? `SIGRT${n - 34}` : `SIG${n}`);
}

/** [name, meaning] of a si_code for a signal. */
export function codeName(signo: number, code: number): [string, string] {
  if (code > 0 && code < 0x80) {
    const s = BY_SIGNAL[signo]?.[code];
    if (s) return s;
  }
  return GENERIC[code] ?? [`code ${code}`, "unknown code"];
}
