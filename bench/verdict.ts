// One line per benchmark figure: what was measured, its target, and MET or
// NOT MET. Benchmarks report; they never fail CI (issue 14).
export function verdict(figure: string, measured: string, target: string, met: boolean): string {
  return `${met ? "MET    " : "NOT MET"}  ${figure}: ${measured} (target: ${target})`;
}
