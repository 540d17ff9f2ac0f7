import { UsageError } from "./args.ts";
import { journalDevice, loadConfig } from "../config/load.ts";

/** DEVICE from a positional or --device, else the configured journal device. */
export function deviceArg(positional: string | undefined, values: Map<string, string>): string {
  const option = values.get("device");
  if (positional !== undefined && option !== undefined) throw new UsageError("Give DEVICE or --device, not both");
  return positional ?? option ?? journalDevice(loadConfig(values.get("config")).config);
}
