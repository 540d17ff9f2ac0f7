// sd_notify's address (src/system/sd-notify.ts): what systemd's NOTIFY_SOCKET
// values become as a struct sockaddr_un; the datagram itself is tested against
// a socket double with the compiled binary (test/integration/boot-one.test.ts).
import { describe, expect, test } from "bun:test";
import { notifyAddress, sdNotify } from "../../../src/system/sd-notify.ts";

describe("notifyAddress", () => {
  test("a path: AF_UNIX, the path, its NUL counted", () => {
    const { addr, length } = notifyAddress("/run/systemd/notify");
    expect(addr.readUInt16LE(0)).toBe(1);
    expect(addr.subarray(2, 2 + 19).toString()).toBe("/run/systemd/notify");
    expect(addr[2 + 19]).toBe(0);
    expect(length).toBe(2 + 19 + 1);
  });

  test("@name: the abstract namespace, a leading NUL and no trailing one", () => {
    const { addr, length } = notifyAddress("@sd-notify");
    expect(addr[2]).toBe(0);
    expect(addr.subarray(3, 2 + 10).toString()).toBe("sd-notify");
    expect(length).toBe(2 + 10);
  });

  test("a relative name or one longer than sun_path: one clear error", () => {
    expect(() => notifyAddress("notify")).toThrow('Cannot notify "notify": NOTIFY_SOCKET must be an absolute path or @abstract');
    expect(() => notifyAddress(`/${"x".repeat(107)}`)).toThrow(/^Cannot notify ".*": longer than 107 bytes$/);
  });

  test("unset or empty NOTIFY_SOCKET: nothing sent, false; no such socket: said", () => {
    expect(sdNotify("READY=1", {})).toBe(false);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "" })).toBe(false);
    expect(() => sdNotify("READY=1", { NOTIFY_SOCKET: "/nonexistent/crashkeep-notify" })).toThrow(/^Cannot notify "\/nonexistent\/crashkeep-notify": sendto failed/);
  });
});
