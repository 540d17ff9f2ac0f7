import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheKey, CONFIG_CACHE_PATH, readConfigCache, writeConfigCache } from "../../../src/config/cache.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { makePaths } from "../../../src/system/paths.ts";

test("a validated config comes back only for the same binary, file and text", () => {
  const paths = makePaths(mkdtempSync(join(tmpdir(), "crashkeep-cache-")));
  const config = parseConfig({ phram: { name: "cached" } });
  const key = cacheKey("/etc/crashkeep/config.json", '{"phram":{"name":"cached"}}', "/usr/bin/crashkeep:1:2:3");
  writeConfigCache(key, config, paths);
  expect(readConfigCache(key, paths)).toEqual(config);
  expect(readConfigCache(cacheKey("/etc/crashkeep/config.json", '{"phram":{"name":"cached"} }', "/usr/bin/crashkeep:1:2:3"), paths)).toBeUndefined();
  expect(readConfigCache(cacheKey("/etc/crashkeep/config.json", '{"phram":{"name":"cached"}}', "/usr/bin/crashkeep:1:2:4"), paths)).toBeUndefined();
  expect(readConfigCache(cacheKey("/etc/other.json", '{"phram":{"name":"cached"}}', "/usr/bin/crashkeep:1:2:3"), paths)).toBeUndefined();
  writeFileSync(paths.sys(CONFIG_CACHE_PATH), "{ damaged");
  expect(readConfigCache(key, paths)).toBeUndefined();
});

test("running from source (not the compiled binary) never caches", () => {
  expect(cacheKey("/etc/crashkeep/config.json", "{}")).toBeUndefined();
});
