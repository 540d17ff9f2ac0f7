// A small argument parser shared by every command: long options with values,
// boolean flags, positionals, "--" ends options. Bad usage throws UsageError,
// which src/main.ts turns into exit code 2.
export class UsageError extends Error {
  override name = "UsageError";
}

export interface OptionSpec {
  /** Options that take a value: --name VALUE or --name=VALUE. */
  values?: readonly string[];
  /** Options that take a value and may be repeated: --name A --name B (all kept, in order, in lists). */
  lists?: readonly string[];
  /** Options that are flags. */
  flags?: readonly string[];
  /** Short aliases, e.g. { h: "help" }. */
  aliases?: Readonly<Record<string, string>>;
}

export interface ParsedArgs {
  values: Map<string, string>;
  /** Every value of each repeatable option (spec.lists), in order; absent when not given. */
  lists: Map<string, string[]>;
  flags: Set<string>;
  positionals: string[];
}

export function parseArgs(args: readonly string[], spec: OptionSpec): ParsedArgs {
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const listNames = new Set(spec.lists ?? []);
  const flags = new Set<string>();
  const positionals: string[] = [];
  const valueNames = new Set(spec.values ?? []);
  const flagNames = new Set([...(spec.flags ?? []), "help"]);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (arg.length === 2 && arg.startsWith("-") && arg !== "-") {
      name = spec.aliases?.[arg.slice(1)] ?? (arg === "-h" ? "help" : undefined);
      if (name === undefined) throw new UsageError(`Unknown option "${arg}"`);
    }
    if (name === undefined) {
      positionals.push(arg);
      continue;
    }
    if (listNames.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`Option "--${name}" needs a value`);
      lists.set(name, [...(lists.get(name) ?? []), value]);
    } else if (valueNames.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`Option "--${name}" needs a value`);
      values.set(name, value);
    } else if (flagNames.has(name)) {
      if (inline !== undefined) throw new UsageError(`Option "--${name}" takes no value`);
      flags.add(name);
    } else {
      throw new UsageError(`Unknown option "--${name}"`);
    }
  }
  return { values, lists, flags, positionals };
}

/**
 * One error line in the project's voice (STYLE.md rule 9): a library error
 * that already says "Cannot ..." is kept as it is; a bare system error
 * ("EIO: i/o error, write") gets the context of what was being done.
 */
export function failure(context: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return /^Cannot /.test(message) ? message : `${context}: ${message}`;
}
