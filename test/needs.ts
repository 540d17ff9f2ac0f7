// Test helper: a test that needs something a machine may lack (the compiled
// binary, a tool `make deps` installs). On a developer's machine it is skipped,
// and its title says what is missing; under CI (CI set and not "0"/"false":
// .ci/run sets CI=1, as GitHub Actions and GitLab do) nothing may be missing:
// the test runs and fails on its first line, naming what is missing.
import { existsSync } from "node:fs";

export const IN_CI = !["", "0", "false"].includes((process.env.CI ?? "").toLowerCase());

export interface Need {
  /** Skip this test (outside CI, when something is missing). */
  skip: boolean;
  /** Appended to the test's title: " [skipped: …]" when skipped, else "". */
  note: string;
  /** First line of the test: throws under CI when something is missing. */
  check(): void;
}

/** What is missing from `wants` (label → present?), as a Need. */
export function needs(wants: Record<string, boolean>): Need {
  const missing = Object.entries(wants).filter(([, ok]) => !ok).map(([what]) => what);
  const why = missing.join(", ");
  return {
    skip: missing.length > 0 && !IN_CI,
    note: missing.length > 0 && !IN_CI ? ` [skipped: missing ${why}]` : "",
    check() {
      if (missing.length > 0) throw new Error(`Cannot run this test under CI: missing ${why}`);
    },
  };
}

/** A file (its label says how to make it: "out/crashkeep (make build)"). */
export function file(path: string): boolean {
  return existsSync(path);
}

/** A program on PATH. */
export function tool(name: string): boolean {
  return Bun.which(name) !== null;
}
