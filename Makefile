# crashkeep — every target installs what it needs first (deps), so a fresh
# Debian 12 machine with node/npm needs nothing but `make <target>`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

BUN := node_modules/.bin/bun
TSC := node_modules/.bin/tsc
OUT := out
TARGET ?=
# KERNEL: for the QEMU images, the Debian kernel series: 6.1 (the default;
# out/qemu, out/qemu-arm64) or 6.12 (out/qemu-6.12, out/qemu-arm64-6.12;
# docs/QEMU.md "Kernel versions"). For the Buildroot image, which kernel:
# debian (the default; Debian's arm64 kernel) or buildroot (Linux 6.12 built by
# Buildroot, drivers built in: make test-buildroot-kernel; docs/FIRMWARE.md).
KERNEL ?=
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || true)

# Debian packages the tests, the QEMU image and the benchmarks use.
APT_PACKAGES := qemu-system-x86 cpio kmod e2fsprogs xz-utils gcc libc6-dev gdb elfutils shellcheck time
# arm64 image and fixtures (issue 10), debug info (11), fault injection (14), upload (12).
APT_PACKAGES += qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu device-tree-compiler gdb-multiarch
APT_PACKAGES += debuginfod zstd strace g++
# bench/inspect/debuginfo.sh names its fresh core's glibc frames from the host's libc6-dbg; no test
# reads /usr/lib/debug (test/fixtures/symbolize carries its glibc debug file: README.md there).
APT_PACKAGES += libc6-dbg
# bench/targets.ts: instruction counts (callgrind).
APT_PACKAGES += valgrind
APT_PACKAGES += mosquitto mosquitto-clients openssl rabbitmq-server
# DWARF fixtures and their references (issue 11): clang and dwz make some, llvm-symbolizer (llvm) reads them.
APT_PACKAGES += clang llvm dwz
# qemu-aarch64 runs the aarch64 programs whose cores test/fixtures/tailcall/make.sh and
# test/fixtures/cores/make.sh aarch64-qemu-user remake (issue 21); no test runs it.
APT_PACKAGES += qemu-user
# The fleet collector (13): its PostgreSQL tests (initdb in a temp dir) and its browser tests (headless Chromium).
APT_PACKAGES += postgresql-15 chromium
# The Buildroot image (issue 20, build/buildroot-image.sh): what Buildroot asks of the host
# (bison and flex, else it builds its own from sources not served here), the cross C++
# compiler of the external toolchain, the stand-ins' fakeroot and patchelf, and
# mksquashfs for the flash-cost figures (docs/FIRMWARE.md).
APT_PACKAGES += rsync bison flex bc file unzip wget g++-aarch64-linux-gnu fakeroot patchelf squashfs-tools
# Installed on the machine the image was built and tested on (the host packages' overrides
# were also built with them hidden): a fresh machine gets the same, so its build is the one tested.
APT_PACKAGES += autoconf automake libtool autopoint texinfo dpkg-dev
# Buildroot's utils/check-package (test/integration/buildroot-tree.test.ts, with BUILDROOT=...).
APT_PACKAGES += python3-magic python3-flake8
# test/fixtures/demangle/make.sh: Rust programs (legacy and v0 mangling) built by Debian's rustc (issue 21).
APT_PACKAGES += rustc
# The rollback proof (issue 23, build/rollback-image.sh): Debian's U-Boot for QEMU virt (u-boot-qemu), mkimage and
# mkenvimage for its boot script and boot state (u-boot-tools), rauc to sign bundles on the host, sfdisk (fdisk)
# for the disk's partitions, mkfs.vfat and mcopy (dosfstools, mtools) for the FAT boot partition U-Boot writes.
APT_PACKAGES += u-boot-qemu u-boot-tools rauc fdisk dosfstools mtools

# TARGET picks the Bun cross target; output out/<target>/crashkeep.
BUN_TARGET_x64 := bun-linux-x64
BUN_TARGET_x64-musl := bun-linux-x64-musl
BUN_TARGET_arm64 := bun-linux-arm64
ifeq ($(TARGET),)
BINARY := $(OUT)/crashkeep
TARGET_FLAG :=
else
ifeq ($(BUN_TARGET_$(TARGET)),)
$(error TARGET must be one of x64, x64-musl, arm64 (got "$(TARGET)"))
endif
BINARY := $(OUT)/$(TARGET)/crashkeep
TARGET_FLAG := --target $(BUN_TARGET_$(TARGET))
endif

SOURCES := $(shell find src -name '*.ts' 2>/dev/null) package.json build/compile.ts

.PHONY: deps deps-npm deps-apt build typecheck test test-unit test-integration test-qemu test-qemu-smoke qemu-image qemu-image-arm64 qemu-image-6.12 qemu-image-arm64-6.12 rollback-image test-rollback demo demo-rollback bench bench-collect fleet-demo dist clean schema buildroot-image test-buildroot test-buildroot-kernel test-buildroot-if-set mutants

# The Buildroot image (make buildroot-image, make test-buildroot): a Buildroot
# 2025.02 tarball or tree.
BUILDROOT ?=

# The QEMU image's architecture follows TARGET: arm64 → out/qemu-arm64
# (QEMU virt, docs/AARCH64.md), anything else → out/qemu (x86_64).
IMAGE_ARCH := $(if $(filter arm64,$(TARGET)),arm64,amd64)

deps: deps-npm deps-apt

deps-npm: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The arm64 image's packages (kernel, busybox-static, libc6, headers) are
# foreign-architecture ones: apt needs the arm64 architecture and its lists
# (build/fetch-debian.sh downloads them into out/cache).
deps-apt:
	@# (outputs read first: grep -q closing a pipe early fails it under pipefail)
	@archs=$$(dpkg --print-foreign-architectures); policy=$$(apt-cache policy libc6:arm64 2>/dev/null || true); \
	if ! grep -qx arm64 <<<"$$archs" || ! grep -q 'Candidate: [0-9]' <<<"$$policy"; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "adding the arm64 architecture to dpkg and reading its package lists"; \
			dpkg --add-architecture arm64; \
			DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get update -qq; \
		else \
			echo "The arm64 image needs arm64 package lists; run as root:"; \
			echo "  dpkg --add-architecture arm64 && apt-get update"; \
			exit 1; \
		fi; \
	fi
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages: $$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "Missing Debian packages; run as root:"; \
			echo "  apt-get install -y --no-install-recommends $$missing"; \
			exit 1; \
		fi; \
	fi

build: deps-npm $(BINARY)
$(BINARY): $(SOURCES)
	@mkdir -p $(dir $@)
	$(BUN) build/compile.ts --outfile $@ $(TARGET_FLAG) --commit '$(COMMIT)'

typecheck: deps-npm
	$(TSC) --noEmit -p .

schema: deps-npm
	$(BUN) build/gen-schema.ts

# Test steps run through build/hermetic.sh: a private mount namespace in which
# /opt (where fixture scripts stage programs) and /usr/lib/debug are empty, so a machine with a
# fixture script's leftovers passes or fails exactly as a fresh one does.
HERMETIC := build/hermetic.sh

test-unit: deps-npm
	$(HERMETIC) $(BUN) test test/unit

# Tests of the compiled binary (out/crashkeep) and against real servers the
# tests start themselves (fault injection, brokers, debuginfod).
test-integration: deps build
	@if ls test/integration/*.test.ts >/dev/null 2>&1; then $(HERMETIC) $(BUN) test --timeout 300000 test/integration; else echo "test/integration: no tests"; fi

# The QEMU image: Debian's kernel and BusyBox (apt-get download into
# out/cache), the module closure, out/crashkeep, rootfs-overlay/.
# TARGET=arm64: Debian's arm64 kernel, phram.ko built out of tree,
# libc6:arm64, out/arm64/crashkeep, in out/qemu-arm64.
# KERNEL=6.12: Debian's 6.12 kernel (bookworm-security), in out/qemu-6.12
# and out/qemu-arm64-6.12.
qemu-image: deps build
	ARCH=$(IMAGE_ARCH) KERNEL=$(or $(KERNEL),6.1) BINARY=$(BINARY) build/make-image.sh

qemu-image-arm64: deps-npm
	$(MAKE) --no-print-directory qemu-image TARGET=arm64

qemu-image-6.12: deps-npm
	$(MAKE) --no-print-directory qemu-image KERNEL=6.12

qemu-image-arm64-6.12: deps-npm
	$(MAKE) --no-print-directory qemu-image TARGET=arm64 KERNEL=6.12

# The rollback proof's image (docs/ROLLBACK-QEMU.md): Debian's U-Boot in pflash, a disk with a
# boot partition, slots A and B and /var, five firmware variants of the arm64 image, RAUC bundles
# signed with a test CA, in out/qemu-rollback.
rollback-image: deps
	$(MAKE) --no-print-directory build TARGET=arm64
	BINARY=$(OUT)/arm64/crashkeep build/rollback-image.sh

# x86_64 and aarch64 scenario groups side by side, on 6.1 and on 6.12, and the rollback group (build/test-qemu.sh).
test-qemu: qemu-image qemu-image-arm64 qemu-image-6.12 qemu-image-arm64-6.12 rollback-image
	$(HERMETIC) build/test-qemu.sh

# Every rollback scenario (test/qemu/rollback.test.ts; make test runs the main ones).
test-rollback: rollback-image
	ROLLBACK_SCENARIOS=all $(HERMETIC) build/test-qemu.sh aarch64-rollback

# The harness's own scenarios (modules inserted by hand, BusyBox modprobe variant).
test-qemu-smoke: qemu-image
	MODPROBE=busybox build/make-image.sh
	$(HERMETIC) build/test-qemu.sh smoke

# A Buildroot 2025.02 aarch64 QEMU virt image with the BR2_EXTERNAL package,
# built offline from Debian's archive (docs/FIRMWARE.md, "Buildroot"), in out/buildroot/.
buildroot-image: deps build
	@if [ -z '$(BUILDROOT)' ]; then echo "make buildroot-image needs BUILDROOT=<Buildroot 2025.02 tarball or tree>"; exit 2; fi
	$(BUN) build/dist.ts --targets arm64
	BUILDROOT='$(BUILDROOT)' KERNEL='$(or $(KERNEL),debian)' build/buildroot-image.sh

# Its scenarios (test/qemu/buildroot.test.ts), on the image KERNEL names.
test-buildroot: buildroot-image
	BUILDROOT_KERNEL='$(or $(KERNEL),debian)' $(HERMETIC) $(BUN) test --timeout 2400000 test/qemu/buildroot.test.ts

# The same scenarios on the image whose Linux 6.12 Buildroot builds, with MTD,
# phram and ramoops built in (KERNEL=buildroot). Not part of make test: its
# build alone takes longer than the rest of CI (docs/FIRMWARE.md, "Buildroot").
test-buildroot-kernel:
	$(MAKE) --no-print-directory test-buildroot KERNEL=buildroot

# make test builds and tests the Buildroot image only when given a Buildroot.
test-buildroot-if-set:
	@if [ -n '$(BUILDROOT)' ]; then $(MAKE) --no-print-directory test-buildroot; \
	else echo "Buildroot image not built and not tested: set BUILDROOT=<Buildroot 2025.02 tarball or tree> (make test BUILDROOT=...)"; fi

test: deps typecheck test-unit test-integration test-qemu test-buildroot-if-set

# Boot the image, panic it, reboot, show what crashkeep recovered
# (TARGET=arm64: the aarch64 image, device-tree route).
demo: deps
	TARGET=$(TARGET) build/demo.sh

# The rollback proof as a user sees it (docs/ROLLBACK-QEMU.md): an update that panics, the automatic
# return to the old firmware, the archived reason, uploaded to a mosquitto on the host.
demo-rollback: deps rollback-image
	$(BUN) build/demo-rollback.ts

bench: deps build
	$(BUN) bench/copy/run.ts
	$(BUN) bench/journal/run.ts
	build/make-image.sh
	$(BUN) bench/boot/native.ts
	$(BUN) bench/boot/run.ts
	$(MAKE) --no-print-directory qemu-image TARGET=arm64
	$(BUN) bench/boot/arm64.ts
	$(BUN) bench/guest-copy.ts
	bench/inspect/run.sh
	bench/inspect/debuginfo.sh
	$(BUN) bench/debuginfo/run.ts
	$(BUN) bench/debuginfo/fuzz.ts
	$(BUN) bench/demangle/run.ts
	$(BUN) bench/capture/run.ts
	$(BUN) bench/capture/burst.ts
	$(BUN) bench/upload/run.ts
	$(BUN) bench/targets.ts

# A local fleet: mosquitto, simulated devices (the compiled binary in fake roots), the collector,
# and a QEMU guest that crashes and panics; prints the web page's URL (PORT=8080), runs until Ctrl-C.
fleet-demo: qemu-image
	$(BUN) build/fleet-demo.ts

# The fleet collector: ingest rate (SQLite, PostgreSQL; 1 and 2 collectors) against a plain insert loop,
# symbolization cost, page render time with 10 000 reports (figures in out/bench/collect/results.json).
bench-collect: deps build
	$(BUN) bench/collect/run.ts

# A mutation run (docs/TESTING.md): the named mutants of build/mutants/$(LIST).ts (default debuginfo; fleet),
# each applied to a copy of the checkout, the tests that should notice run there. Not part of make test.
mutants: deps-npm
	$(BUN) build/mutants/run.ts $(or $(LIST),debuginfo)

# Release tarballs for every target (TARGETS=x64,arm64: only these), with
# SHA256SUMS and the Buildroot hash file crashkeep.hash beside them in
# out/dist; no tracked file is written. See docs/FIRMWARE.md.
dist: deps-npm
	$(BUN) build/dist.ts $(if $(TARGETS),--targets $(TARGETS))

clean:
	rm -rf $(OUT)
