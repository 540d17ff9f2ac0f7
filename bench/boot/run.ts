// bench/boot (x86_64): what crashkeep costs at boot in the x86_64 QEMU guest
// (TCG, one vCPU, memmap= route); the figures and targets are bench/boot/guest.ts's.
// Run: make qemu-image && BOOT_RUNS=3 node_modules/.bin/bun bench/boot/run.ts
import { bootBench } from "./guest.ts";

await bootBench("x86_64");
