import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { configJsonSchema, readmeWithReference, uploadJsonSchema } from "../../../build/gen-schema.ts";

const top = join(import.meta.dir, "../../..");

test("docs/config.schema.json is generated from the zod schema (run: make schema)", () => {
  expect(readFileSync(join(top, "docs/config.schema.json"), "utf8")).toBe(configJsonSchema());
});

test("README.md's config reference is generated from the zod schema (run: make schema)", () => {
  const readme = readFileSync(join(top, "README.md"), "utf8");
  expect(readme).toBe(readmeWithReference(readme));
});

test("docs/upload.schema.json is generated from src/upload/payload.ts (run: make schema)", () => {
  expect(readFileSync(join(top, "docs/upload.schema.json"), "utf8")).toBe(uploadJsonSchema());
});
