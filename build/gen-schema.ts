// Writes docs/config.schema.json from the zod schema (the input form: what a
// user may write). test/unit/config/schema-file.test.ts fails when it is stale.
import { z } from "zod";
import { configSchema } from "../src/config/schema.ts";

export function configJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input", target: "draft-2020-12" });
  return `${JSON.stringify({ ...schema, title: "crashkeep config", $id: "https://crashkeep.invalid/config.schema.json" }, null, 2)}\n`;
}

if (import.meta.main) {
  await Bun.write(new URL("../docs/config.schema.json", import.meta.url), configJsonSchema());
  console.log("wrote docs/config.schema.json");
}
