// Where each area of the journal lives on the phram device (docs/FORMAT.md
// "Layout"). Computed once from the device geometry and the configured
// options; the result is stored in the control block, and readers use the
// stored copy so a changed config never misreads the previous boot.

/** Bytes of one control block copy; its region is rounded up to the erase size. */
export const CONTROL_BYTES = 512;
/** Bytes of one record header at the start of each ring slot. */
export const RECORD_HEADER_BYTES = 64;
/** Bytes of one log-area block: 992 data bytes and two 16-byte trailers. */
export const LOG_BLOCK_BYTES = 1024;
/** Log areas per journal: bounded by the control block's fixed area table. */
export const MAX_LOGS = 8;
/** Slots are multiples of this so headers stay aligned for the copier. */
export const SLOT_ALIGN_BYTES = 512;
/** Smallest slot: a header plus a useful payload (a note, a short report). */
export const MIN_SLOT_BYTES = 1024;
/** Largest slot: a u32 length field, and a compact report is a few KiB anyway. */
export const MAX_SLOT_BYTES = 16 * 1024 * 1024;
/** A ring needs two slots so that writing the newest never erases the only other. */
export const MIN_SLOTS = 2;
/** A log area needs its two header blocks and three data blocks (one is the spare being rewritten). */
export const MIN_LOG_AREA_BYTES = 5 * LOG_BLOCK_BYTES;
/** Offsets are stored as u32: the journal must fit in 4 GiB (phram regions are MiBs). */
export const MAX_DEVICE_BYTES = 2 ** 32;

export const DEFAULT_SLOT_BYTES = 16 * 1024;
export const DEFAULT_LOGS: readonly LogOption[] = [{ path: "/var/log/messages", bytes: 64 * 1024 }];

export interface LogOption {
  /** The log file mirrored into this area. */
  path: string;
  /** Area size in bytes, rounded up to the erase size. */
  bytes: number;
}

export interface LayoutOptions {
  slotBytes?: number;
  logs?: readonly LogOption[];
}

export interface LogAreaLayout {
  offset: number;
  bytes: number;
}

export interface JournalLayout {
  deviceSize: number;
  eraseSize: number;
  /** Offsets of control block copies A and B (one erase block each). */
  controlOffsets: readonly [number, number];
  slotBytes: number;
  ringOffset: number;
  slotCount: number;
  logs: readonly LogAreaLayout[];
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Lay out a journal on a device of `deviceSize` bytes with erase blocks of
 * `eraseSize`: control A, control B, the log areas, then as many ring slots
 * as fit. RangeError when the options do not fit the device.
 */
export function computeLayout(deviceSize: number, eraseSize: number, options: LayoutOptions = {}): JournalLayout {
  const slotBytes = options.slotBytes ?? DEFAULT_SLOT_BYTES;
  const logs = options.logs ?? DEFAULT_LOGS;
  if (!Number.isSafeInteger(deviceSize) || deviceSize <= 0 || deviceSize > MAX_DEVICE_BYTES) {
    throw new RangeError(`Cannot lay out journal: device size ${deviceSize} is not between 1 and ${MAX_DEVICE_BYTES}`);
  }
  // phram's erasesize defaults to PAGE_SIZE and MTD erase sizes are powers of two.
  if (!isPowerOfTwo(eraseSize) || eraseSize > deviceSize) {
    throw new RangeError(`Cannot lay out journal: erase size ${eraseSize} is not a power of two within the device`);
  }
  if (!Number.isSafeInteger(slotBytes) || slotBytes < MIN_SLOT_BYTES || slotBytes > MAX_SLOT_BYTES || slotBytes % SLOT_ALIGN_BYTES !== 0) {
    throw new RangeError(`Cannot lay out journal: slot size ${slotBytes} is not a multiple of ${SLOT_ALIGN_BYTES} between ${MIN_SLOT_BYTES} and ${MAX_SLOT_BYTES}`);
  }
  if (logs.length > MAX_LOGS) throw new RangeError(`Cannot lay out journal: ${logs.length} logs, at most ${MAX_LOGS}`);
  const controlRegion = roundUp(CONTROL_BYTES, eraseSize);
  let offset = 2 * controlRegion;
  const areas: LogAreaLayout[] = [];
  for (const log of logs) {
    if (!Number.isSafeInteger(log.bytes) || log.bytes < MIN_LOG_AREA_BYTES) {
      throw new RangeError(`Cannot lay out journal: log area for "${log.path}" is ${log.bytes} bytes, at least ${MIN_LOG_AREA_BYTES}`);
    }
    const bytes = roundUp(log.bytes, Math.max(eraseSize, LOG_BLOCK_BYTES));
    areas.push({ offset, bytes });
    offset += bytes;
  }
  const ringOffset = roundUp(offset, eraseSize);
  const slotCount = ringOffset >= deviceSize ? 0 : Math.floor((deviceSize - ringOffset) / slotBytes);
  if (slotCount < MIN_SLOTS) {
    throw new RangeError(`Cannot lay out journal: ${deviceSize} bytes leave room for ${slotCount} slots of ${slotBytes} bytes, need ${MIN_SLOTS}`);
  }
  return { deviceSize, eraseSize, controlOffsets: [0, controlRegion], slotBytes, ringOffset, slotCount, logs: areas };
}

/**
 * Check a layout read back from a device; SyntaxError when it cannot be one
 * computeLayout produced for this device (a control block from other RAM).
 */
export function validateLayout(layout: JournalLayout, deviceSize: number): void {
  const bad = (why: string): never => {
    throw new SyntaxError(`Cannot use journal layout: ${why}`);
  };
  if (layout.deviceSize !== deviceSize) bad(`made for ${layout.deviceSize} bytes, device has ${deviceSize}`);
  if (!isPowerOfTwo(layout.eraseSize) || layout.eraseSize > deviceSize) bad(`erase size ${layout.eraseSize}`);
  const controlRegion = roundUp(CONTROL_BYTES, layout.eraseSize);
  if (layout.controlOffsets[0] !== 0 || layout.controlOffsets[1] !== controlRegion) bad("control blocks misplaced");
  if (layout.slotBytes < MIN_SLOT_BYTES || layout.slotBytes > MAX_SLOT_BYTES || layout.slotBytes % SLOT_ALIGN_BYTES !== 0) bad(`slot size ${layout.slotBytes}`);
  if (layout.logs.length > MAX_LOGS) bad(`${layout.logs.length} logs`);
  let offset = 2 * controlRegion;
  for (const area of layout.logs) {
    if (area.offset !== offset || area.bytes < MIN_LOG_AREA_BYTES || area.bytes % LOG_BLOCK_BYTES !== 0) bad(`log area at ${area.offset}`);
    offset += area.bytes;
  }
  if (layout.ringOffset !== roundUp(offset, layout.eraseSize)) bad(`ring at ${layout.ringOffset}`);
  if (layout.slotCount < MIN_SLOTS || layout.ringOffset + layout.slotCount * layout.slotBytes > deviceSize) bad(`${layout.slotCount} slots`);
}

/** True when two layouts place every area identically. */
export function sameLayout(a: JournalLayout, b: JournalLayout): boolean {
  return (
    a.deviceSize === b.deviceSize &&
    a.eraseSize === b.eraseSize &&
    a.slotBytes === b.slotBytes &&
    a.ringOffset === b.ringOffset &&
    a.slotCount === b.slotCount &&
    a.logs.length === b.logs.length &&
    a.logs.every((l, i) => l.offset === b.logs[i]?.offset && l.bytes === b.logs[i]?.bytes)
  );
}
