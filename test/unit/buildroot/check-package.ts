// Our own checker for the Buildroot conventions we can state (reference/
// buildroot.md §3, after Buildroot's utils/checkpackagelib/lib_*.py, which is
// not vendored): .mk header and indentation, Config.in attribute order and
// help width, SysV init script naming and variables, .hash line format, and
// what our defconfigs must set. Each check returns "file:line: problem" lines.

/** Rules every text file gets: trailing space, runs of blank lines, final newline. */
export function checkCommon(file: string, text: string): string[] {
  const out: string[] = [];
  if (text.length > 0 && !text.endsWith("\n")) out.push(`${file}:0: missing newline at end of file`);
  const lines = splitLines(text);
  lines.forEach((line, i) => {
    if (/[ \t]$/.test(line)) out.push(`${file}:${i + 1}: line has trailing whitespace`);
    if (i > 0 && line.trim() === "" && (lines[i - 1] ?? "").trim() === "") out.push(`${file}:${i + 1}: consecutive empty lines`);
  });
  if (lines.length > 0 && (lines.at(-1) ?? "").trim() === "") out.push(`${file}:${lines.length}: remove empty lines at the end of the file`);
  return out;
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

const CONDITIONAL = /^\s*(ifdef|ifeq|ifndef|ifneq|else|endif)(\s|$)/;

/** A package .mk file; pkg is the package name ("crashkeep"). */
export function checkMk(file: string, text: string, pkg: string): string[] {
  const out = checkCommon(file, text);
  const lines = splitLines(text);
  const hashes = "#".repeat(80);
  const header: [number, string][] = [[1, hashes], [2, "#"], [3, `# ${pkg}`], [4, "#"], [5, hashes], [6, ""]];
  for (const [n, want] of header) {
    if ((lines[n - 1] ?? "").trimEnd() !== want) out.push(`${file}:${n}: header line ${n} should be ${JSON.stringify(want)}`);
  }
  const prefix = pkg.replace(/-/g, "_").toUpperCase();
  let inDefine = false;
  let continued = false;
  const setUnconditionally = new Set<string>();
  let depth = 0;
  lines.forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    const wasContinued = continued;
    continued = /^[^#].*\\$/.test(line);
    if (/^\s*define\s/.test(line)) {
      inDefine = true;
    } else if (/^\s*endef(\s|$)/.test(line)) {
      inDefine = false;
    } else if (line.trim() !== "") {
      const conditional = !wasContinued && CONDITIONAL.test(line);
      const comment = /^\s*#/.test(line);
      const expectTab = (inDefine || wasContinued) && !conditional;
      if (expectTab && !line.startsWith("\t") && !(inDefine && comment)) out.push(`${at}: expected indent with tabs`);
      if (!expectTab && line.startsWith("\t")) out.push(`${at}: unexpected indent with tabs`);
    }
    if (/^\s*(else\s+)?(ifdef|ifndef)\s/.test(line)) out.push(`${at}: use ifeq ($(VAR),y), not ifdef/ifndef`);
    if (/^[^#].*\$\(HOST_DIR\)\/usr/.test(line)) out.push(`${at}: install files to $(HOST_DIR)/ instead of $(HOST_DIR)/usr/`);
    if (/[^\x00-\x7f]/.test(line)) out.push(`${at}: non-ASCII character`);
    if (/^[^#].*[^$]\$\{\w+\}/.test(line)) out.push(`${at}: use $() to delimit variables, not \${}`);
    if (/(  |\t ?)\\$/.test(line.trimEnd())) out.push(`${at}: use only one space before backslash`);
    if (/_(INSTALL_TARGET\s*=\s*YES|INSTALL_STAGING\s*=\s*NO|INSTALL_IMAGES\s*=\s*NO|REDISTRIBUTE\s*=\s*YES)\b/.test(line) && depth === 0) {
      out.push(`${at}: useless default value`);
    }
    const v = /^(define\s+)?([A-Z0-9_]+_[A-Z0-9_]+)/.exec(line);
    if (v && v[2] && !new RegExp(`^(HOST_)?${prefix}_`).test(v[2])) out.push(`${at}: possible typo: ${v[2]} -> *${prefix}*`);
    if (/^\s*(ifdef|ifeq|ifndef|ifneq)\s/.test(line)) depth++;
    else if (/^\s*endif(\s|$)/.test(line)) depth--;
    const assign = /^([A-Z0-9_]+)\s*(\+=|:=|=)/.exec(line);
    if (assign && assign[1] && depth === 0 && !inDefine) {
      if (setUnconditionally.has(assign[1]) && assign[2] !== "+=") out.push(`${at}: unconditional override of variable ${assign[1]}`);
      setUnconditionally.add(assign[1]);
    }
  });
  if (depth !== 0) out.push(`${file}:0: unbalanced ifeq/endif`);
  if (!/^\$\(eval \$\((generic|host-generic)-package\)\)$/m.test(text)) out.push(`${file}:0: missing $(eval $(generic-package))`);
  return out;
}

const NOT_INDENTED = ["choice", "comment", "config", "endchoice", "endif", "endmenu", "if", "menu", "menuconfig", "source"];
const INDENTED = ["bool", "default", "depends", "help", "prompt", "select", "string"];
const ORDER: Record<string, number> = { bool: 1, prompt: 1, string: 1, default: 2, depends: 3, select: 4, help: 5 };

/** A Config.in file. */
export function checkConfigIn(file: string, text: string): string[] {
  const out = checkCommon(file, text);
  const lines = splitLines(text);
  let state = 0;
  let inHelp = false;
  let firstHelpLine = false;
  const defined = new Map<string, number>();
  const conditions: string[] = [];
  lines.forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    const blankOrComment = line.trim() === "" || line.trim().startsWith("#");
    if (blankOrComment) return;
    const word = line.trim().split(/\s+/)[0] ?? "";
    if (inHelp && line.startsWith("\t  ")) {
      const body = line.slice(3);
      const ok = firstHelpLine ? /^\S.{0,61}$/.test(body) : body.length <= 62;
      firstHelpLine = false;
      if (!ok && !/^(http|https|git):\/\/\S*$/.test(body.trim())) out.push(`${at}: help text: <tab><2 spaces><62 chars>`);
      return;
    }
    inHelp = false;
    if (NOT_INDENTED.includes(word)) {
      state = 0;
      if (!line.startsWith(word)) out.push(`${at}: should not be indented`);
      if (word === "if") conditions.push(line.slice(3).trim());
      if (word === "endif") conditions.pop();
      const sym = /^(menu)?config\s+(BR2_\w+)/.exec(line)?.[2];
      if (sym) {
        const key = `${sym} if ${conditions.join(" && ")}`;
        const prev = defined.get(key);
        if (prev !== undefined) out.push(`${at}: config ${sym} redeclared (previous line: ${prev})`);
        defined.set(key, i + 1);
      }
      return;
    }
    if (INDENTED.includes(word) && !line.startsWith(`\t${word}`)) out.push(`${at}: should be indented with one tab`);
    if (/^\tdefault n$/.test(line.split("#")[0]?.trimEnd() ?? "")) out.push(`${at}: boolean symbols default to 'n', so 'default n' is redundant`);
    const rank = ORDER[word];
    if (rank !== undefined) {
      if (state > rank) out.push(`${at}: attributes order: type, default, depends on, select, help`);
      state = rank;
    }
    if (line.trim() === "help") {
      inHelp = true;
      firstHelpLine = true;
    }
  });
  return out;
}

/** A SysV init script in the package directory; mode is its file mode. */
export function checkInitScript(file: string, text: string, mode: number): string[] {
  const out = checkCommon(file, text);
  const base = file.split("/").at(-1) ?? file;
  if ((mode & 0o111) !== 0) out.push(`${file}:0: should not be executable (install it with $(INSTALL) -D -m 0755)`);
  let daemon: string | undefined;
  splitLines(text).forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    if (/^[\t]* /.test(line.trimEnd())) out.push(`${at}: should be indented with tabs`);
    const d = /^DAEMON=["']?([^"']*)["']?/.exec(line.trimEnd());
    if (d) {
      if (daemon !== undefined) out.push(`${at}: DAEMON variable redefined`);
      daemon = d[1] ?? "";
      if (daemon.includes("/")) out.push(`${at}: do not include a path in DAEMON`);
    }
    const p = /^PIDFILE=["']?([^"']*)["']?/.exec(line.trimEnd());
    if (p && !/^\/var\/run\/(\$DAEMON|\$\{DAEMON\})\.pid$/.test(p[1] ?? "")) out.push(`${at}: PIDFILE should be "/var/run/$DAEMON.pid"`);
  });
  if (daemon === undefined) out.push(`${file}:0: DAEMON variable not defined`);
  else if (!new RegExp(`^S\\d\\d${daemon.split("/").at(-1)}$`).test(base)) out.push(`${file}:0: filename should be S<number><number>${daemon}`);
  return out;
}

const HASH_LENGTHS: Record<string, number> = { md5: 32, sha1: 40, sha224: 56, sha256: 64, sha384: 96, sha512: 128 };

/** A .hash file: "type  hex  file", two spaces between the fields. */
export function checkHash(file: string, text: string): string[] {
  const out = checkCommon(file, text);
  splitLines(text).forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    if (line.trim() === "" || line.startsWith("#")) return;
    const fields = line.split(/\s+/).filter((f) => f !== "");
    if (fields.length !== 3) {
      out.push(`${at}: expected three fields`);
      return;
    }
    const [type, hex, name] = fields as [string, string, string];
    const len = HASH_LENGTHS[type];
    if (len === undefined) out.push(`${at}: unexpected type of hash`);
    else if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) out.push(`${at}: hash size does not match type, expected ${len} hex digits`);
    if (line !== `${type}  ${hex}  ${name}`) out.push(`${at}: separation does not match expectation (two spaces)`);
  });
  return out;
}

/** A defconfig of ours: Buildroot's rule plus what a ~110 MB Bun executable needs. */
export function checkDefconfig(file: string, text: string): string[] {
  const out = checkCommon(file, text);
  const has = (line: string) => splitLines(text).includes(line);
  if (!has("BR2_DOWNLOAD_FORCE_CHECK_HASHES=y")) out.push(`${file}:0: missing BR2_DOWNLOAD_FORCE_CHECK_HASHES=y`);
  // The package keeps the executable out of the strip itself (crashkeep.mk):
  // a defconfig that still excludes it would hide a regression there.
  if (/^BR2_STRIP_EXCLUDE_(FILES|DIRS)=.*crashkeep|^BR2_STRIP_EXCLUDE_DIRS=.*\/usr\/bin/m.test(text)) out.push(`${file}:0: BR2_STRIP_EXCLUDE_* names crashkeep: the package keeps it out of the strip itself`);
  if (!has("BR2_PACKAGE_CRASHKEEP=y")) out.push(`${file}:0: missing BR2_PACKAGE_CRASHKEEP=y`);
  const size = /^BR2_TARGET_ROOTFS_EXT2_SIZE="(\d+)([KMG])"$/m.exec(text);
  const mib = size ? Number(size[1]) * ({ K: 1 / 1024, M: 1, G: 1024 }[size[2] as "K" | "M" | "G"]) : 0;
  if (mib < 256) out.push(`${file}:0: BR2_TARGET_ROOTFS_EXT2_SIZE must be at least "256M" (the executable is ~110 MB)`);
  splitLines(text).forEach((line, i) => {
    if (line.trim() !== "" && !line.startsWith("#") && !/^BR2_\w+=/.test(line)) out.push(`${file}:${i + 1}: not a BR2_ assignment or comment`);
  });
  return out;
}
