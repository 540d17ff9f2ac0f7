// bench/boot/arm64: what crashkeep costs at boot in the aarch64 QEMU guest
// (virt, cortex-a57, TCG, device-tree route); the same figures and targets as
// the x86_64 bench (bench/boot/guest.ts).
// Run: make qemu-image TARGET=arm64 && BOOT_RUNS=1 node_modules/.bin/bun bench/boot/arm64.ts
import { bootBench } from "./guest.ts";

await bootBench("aarch64");
