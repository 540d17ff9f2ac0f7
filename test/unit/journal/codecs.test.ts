// Byte layouts of the journal's on-device structures, field by field, in hex
// (docs/FORMAT.md). The expected bytes were worked out by hand from the
// format tables; the CRC rows are computed independently with crc32().
import { describe, expect, test } from "bun:test";
import { crc32 } from "../../../src/journal/crc32.ts";
import { decodeRecordHeader, encodeRecordHeader, RECORD_MAGIC } from "../../../src/journal/record.ts";
import { decodeControlBlock, encodeControlBlock, type ControlBlock } from "../../../src/journal/control-block.ts";
import { computeLayout } from "../../../src/journal/layout.ts";
import { decodeLogHeader, decodeLogTrailer, encodeLogHeader, encodeLogTrailer, LOG_DATA_BYTES, type LogHeader } from "../../../src/journal/log-area.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const unhex = (text: string) => new Uint8Array(Buffer.from(text.replaceAll(" ", ""), "hex"));
const le32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return hex(b); };

describe("record header", () => {
  const header = {
    kindCode: 2,
    flags: 0,
    seq: 0x0102030405,
    formatId: 0xdeadbeef,
    bootCounter: 7,
    bootId: "00112233-4455-6677-8899-aabbccddeeff",
    timeMs: 1_700_000_000_000,
    storedLength: 5,
    rawLength: 5,
    payloadCrc: crc32(new TextEncoder().encode("hello")),
  };
  const bytes = encodeRecordHeader(header);

  test.each([
    ["magic 'CKJR'", 0, "434b4a52"],
    ["version 1", 4, "0100"],
    ["kind 2 (note)", 6, "02"],
    ["flags", 7, "00"],
    ["seq u64", 8, "0504030201000000"],
    ["format id", 16, "efbeadde"],
    ["boot counter", 20, "07000000"],
    ["boot id (UUID bytes in order)", 24, "00112233445566778899aabbccddeeff"],
    ["time ms u64 (1700000000000)", 40, "0068e5cf8b010000"],
    ["stored length", 48, "05000000"],
    ["raw length", 52, "05000000"],
    ["payload CRC of 'hello'", 56, "86a61036"],
  ])("%s at %i", (_name, offset, expected) => {
    expect(hex(bytes.subarray(offset, offset + expected.length / 2))).toBe(expected);
  });

  test("header CRC at 60 covers bytes 0..60", () => {
    expect(bytes.length).toBe(64);
    expect(hex(bytes.subarray(60))).toBe(le32(crc32(bytes.subarray(0, 60))));
  });

  test("round-trips", () => {
    expect(decodeRecordHeader(bytes)).toEqual({ ...header, kind: "note" });
  });

  test.each([
    ["truncated", (b: Uint8Array) => b.subarray(0, 63), RangeError],
    ["bad magic", (b: Uint8Array) => { b[0] = 0; return b; }, SyntaxError],
    ["flipped seq bit", (b: Uint8Array) => { b[8] = (b[8] as number) ^ 1; return b; }, SyntaxError],
    ["flipped CRC bit", (b: Uint8Array) => { b[63] = (b[63] as number) ^ 0x80; return b; }, SyntaxError],
  ] as const)("rejects %s", (_name, damage, error) => {
    expect(() => decodeRecordHeader(damage(bytes.slice()))).toThrow(error);
  });

  test("unknown kinds come back as unknown with their code", () => {
    const odd = encodeRecordHeader({ ...header, kindCode: 200 });
    expect(decodeRecordHeader(odd)).toMatchObject({ kind: "unknown", kindCode: 200 });
  });

  test("the magic has no zero byte, so a partly written magic never matches", () => {
    const magic = unhex(le32(RECORD_MAGIC));
    expect([...magic].includes(0)).toBe(false);
  });
});

describe("control block", () => {
  const layout = computeLayout(1 << 20, 4096, { slotBytes: 16384, logs: [{ path: "/var/log/messages", bytes: 65536 }] });
  const block: ControlBlock = {
    generation: 3,
    formatId: 0x01020304,
    layout,
    bootCounter: 9,
    currentBootId: "ffeeddcc-bbaa-9988-7766-554433221100",
    previousBootId: "00112233-4455-6677-8899-aabbccddeeff",
    bootStartMs: 1_700_000_000_000,
    cleanShutdownMs: 1_700_000_000_001,
    nextSeq: 42,
    collectedSeq: 40,
    notedReason: { text: "upgrade", timeMs: 1_700_000_000_002 },
  };
  const bytes = encodeControlBlock(block);

  test.each([
    ["magic 'CKJC'", 0, "434b4a43"],
    ["version 1, size 512", 4, "01000002"],
    ["generation u64", 8, "0300000000000000"],
    ["format id", 16, "04030201"],
    ["erase size 4096", 20, "00100000"],
    ["device size u64 1 MiB", 24, "0000100000000000"],
    ["slot bytes 16384", 32, "00400000"],
    ["ring offset 73728 (0x12000)", 36, "00200100"],
    ["slot count 59", 40, "3b000000"],
    ["log count 1", 44, "01000000"],
    ["log 0: offset 8192, 65536 bytes", 48, "0020000000000100"],
    ["log 1: unused", 56, "0000000000000000"],
    ["boot counter", 112, "09000000"],
    ["flags: clean shutdown", 116, "01000000"],
    ["current boot id", 120, "ffeeddccbbaa99887766554433221100"],
    ["previous boot id", 136, "00112233445566778899aabbccddeeff"],
    ["boot start ms", 152, "0068e5cf8b010000"],
    ["shutdown ms", 160, "0168e5cf8b010000"],
    ["next seq", 168, "2a00000000000000"],
    ["collected seq", 176, "2800000000000000"],
    ["reason ms", 184, "0268e5cf8b010000"],
    ["reason length 7", 192, "07000000"],
    ["reason text", 196, hex(new TextEncoder().encode("upgrade"))],
  ])("%s at %i", (_name, offset, expected) => {
    expect(hex(bytes.subarray(offset, offset + expected.length / 2))).toBe(expected);
  });

  test("CRC at 508 covers bytes 0..508", () => {
    expect(bytes.length).toBe(512);
    expect(hex(bytes.subarray(508))).toBe(le32(crc32(bytes.subarray(0, 508))));
  });

  test("round-trips", () => {
    expect(decodeControlBlock(bytes, 1 << 20)).toEqual(block);
  });

  test("rejects a layout made for another device size", () => {
    expect(() => decodeControlBlock(bytes, 2 << 20)).toThrow(SyntaxError);
  });

  test("rejects a short buffer and zeroed or erased memory", () => {
    expect(() => decodeControlBlock(bytes.subarray(0, 100), 1 << 20)).toThrow(RangeError);
    expect(() => decodeControlBlock(new Uint8Array(512), 1 << 20)).toThrow(SyntaxError);
    expect(() => decodeControlBlock(new Uint8Array(512).fill(0xff), 1 << 20)).toThrow(SyntaxError);
  });

  test("no clean-shutdown marker and no reason encode as zero", () => {
    const plain = encodeControlBlock({ ...block, cleanShutdownMs: null, notedReason: null });
    expect(hex(plain.subarray(116, 120))).toBe("00000000");
    expect(hex(plain.subarray(184, 196))).toBe("000000000000000000000000");
    expect(decodeControlBlock(plain, 1 << 20)).toMatchObject({ cleanShutdownMs: null, notedReason: null });
  });
});

describe("log area header and block trailer", () => {
  const header: LogHeader = {
    areaIndex: 1,
    generation: 5,
    formatId: 0xa1b2c3d4,
    head: 0x1234,
    sourceDev: 0x803n,
    sourceIno: 0x0102030405060708n,
    sourceOffset: 0x55,
    timeMs: 1_700_000_000_000,
    bootId: "00112233-4455-6677-8899-aabbccddeeff",
    rotations: 2,
    path: "/var/log/messages",
  };
  const bytes = encodeLogHeader(header);

  test.each([
    ["magic 'CKJL'", 0, "434b4a4c"],
    ["version 1, area 1", 4, "01000100"],
    ["generation", 8, "0500000000000000"],
    ["format id", 16, "d4c3b2a1"],
    ["block bytes 1024", 20, "00040000"],
    ["head u64", 24, "3412000000000000"],
    ["source st_dev (8:3)", 32, "0308000000000000"],
    ["source st_ino", 40, "0807060504030201"],
    ["source offset", 48, "5500000000000000"],
    ["time ms", 56, "0068e5cf8b010000"],
    ["boot id", 64, "00112233445566778899aabbccddeeff"],
    ["rotations", 80, "02000000"],
    ["path length 17", 84, "11000000"],
    ["path", 88, hex(new TextEncoder().encode("/var/log/messages"))],
  ])("%s at %i", (_name, offset, expected) => {
    expect(hex(bytes.subarray(offset, offset + expected.length / 2))).toBe(expected);
  });

  test("header CRC at 252 and round trip", () => {
    expect(hex(bytes.subarray(252, 256))).toBe(le32(crc32(bytes.subarray(0, 252))));
    expect(decodeLogHeader(bytes)).toEqual(header);
  });

  test("trailer: index u64, used u16, zero u16, CRC of data+trailer+format id", () => {
    const block = new Uint8Array(1024);
    block.set(new TextEncoder().encode("abc"));
    const trailer = encodeLogTrailer(block, { index: 0x10, used: 3, formatId: 0xa1b2c3d4 });
    expect(hex(trailer.subarray(0, 12))).toBe("1000000000000000" + "0300" + "0000");
    const expectedCrc = crc32(unhex("d4c3b2a1"), crc32(trailer.subarray(0, 12), crc32(block.subarray(0, 3))));
    expect(hex(trailer.subarray(12))).toBe(le32(expectedCrc));
    block.set(trailer, LOG_DATA_BYTES + 16);
    expect(decodeLogTrailer(block, { which: 1, formatId: 0xa1b2c3d4 })).toEqual({ index: 0x10, used: 3 });
    expect(decodeLogTrailer(block, { which: 0, formatId: 0xa1b2c3d4 })).toBeNull();
    expect(decodeLogTrailer(block, { which: 1, formatId: 0x11111111 })).toBeNull();
    block[1] = (block[1] as number) ^ 4;
    expect(decodeLogTrailer(block, { which: 1, formatId: 0xa1b2c3d4 })).toBeNull();
  });
});
