import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { configJsonSchema } from "../../../build/gen-schema.ts";

test("docs/config.schema.json is generated from the zod schema (run: bun build/gen-schema.ts)", () => {
  const committed = readFileSync(join(import.meta.dir, "../../../docs/config.schema.json"), "utf8");
  expect(committed).toBe(configJsonSchema());
});
