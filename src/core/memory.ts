// The process memory a report keeps: a few ranges of the core (stacks around
// each thread's SP, the vDSO, ELF header pages), looked up by address.
import { MASK64 } from "./bytes.ts";

export interface MemoryRange {
  start: bigint;
  bytes: Uint8Array;
}

export class MemoryImage {
  private ranges: MemoryRange[] = [];
  private sorted = true;
  /** Bytes held, for the retention limit. */
  size = 0;

  add(start: bigint, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.ranges.push({ start, bytes });
    this.size += bytes.length;
    this.sorted = false;
  }

  private find(addr: bigint): MemoryRange | undefined {
    if (!this.sorted) {
      this.ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
      this.sorted = true;
    }
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid] as MemoryRange;
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.start + BigInt(r.bytes.length)) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** n bytes at addr, or undefined when any of them was not kept. */
  read(addr: bigint, n: number): Uint8Array | undefined {
    if (addr < 0n || addr > MASK64) return undefined;
    const r = this.find(addr);
    if (!r) return undefined;
    const off = Number(addr - r.start);
    if (off + n > r.bytes.length) return undefined;
    return r.bytes.subarray(off, off + n);
  }

  u64(addr: bigint): bigint | undefined {
    const b = this.read(addr, 8);
    return b ? new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true) : undefined;
  }

  has(addr: bigint): boolean {
    return this.find(addr) !== undefined;
  }
}
