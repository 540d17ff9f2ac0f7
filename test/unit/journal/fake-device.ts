// An in-memory BlockDevice for journal tests. It records every write so a
// test can rebuild the image as it was after any prefix of them, with the
// last one torn at any byte (a power cut in the middle of memcpy), without
// touching the file system thousands of times.
import type { BlockDevice } from "../../../src/copy/block-device.ts";

export interface RecordedWrite {
  position: number;
  bytes: Uint8Array;
}

export interface FakeDevice extends BlockDevice {
  image: Uint8Array;
  writes: RecordedWrite[];
  /** Start recording from the current image (clears the write log). */
  mark(): void;
  /** The image after the first `count` recorded writes plus `tornBytes` bytes of the next one. */
  replay(count: number, tornBytes?: number): Uint8Array;
}

export function fakeDevice(image: Uint8Array, eraseSize = 4096): FakeDevice {
  let base = image.slice();
  const device: FakeDevice = {
    path: "(memory)",
    kind: "file",
    size: image.length,
    eraseSize,
    writable: true,
    image,
    writes: [],
    readAt(buf, position) {
      const part = device.image.subarray(position, Math.min(device.size, position + buf.length));
      buf.set(part);
      return part.length;
    },
    writeAt(buf, position) {
      if (position + buf.length > device.size) throw new RangeError(`fake write past the end: ${position}+${buf.length}`);
      device.image.set(buf, position);
      device.writes.push({ position, bytes: buf.slice() });
    },
    sync() {},
    close() {},
    mark() {
      base = device.image.slice();
      device.writes = [];
    },
    replay(count, tornBytes = 0) {
      const out = base.slice();
      for (let i = 0; i < count; i++) {
        const w = device.writes[i] as RecordedWrite;
        out.set(w.bytes, w.position);
      }
      const torn = device.writes[count];
      if (torn !== undefined && tornBytes > 0) out.set(torn.bytes.subarray(0, tornBytes), torn.position);
      return out;
    },
  };
  return device;
}
