################################################################################
#
# crashkeep
#
################################################################################

# A prebuilt, self-contained Bun executable: one release tarball per target
# (make dist in the crashkeep repository writes them into out/dist, with
# their crashkeep.hash). The version is package.json's: make dist checks it.
CRASHKEEP_VERSION = 0.1.0
ifeq ($(BR2_aarch64),y)
CRASHKEEP_DIST_TARGET = arm64
else ifeq ($(BR2_TOOLCHAIN_USES_MUSL),y)
CRASHKEEP_DIST_TARGET = x64-musl
else
CRASHKEEP_DIST_TARGET = x64
endif
CRASHKEEP_SOURCE = crashkeep-$(CRASHKEEP_VERSION)-linux-$(CRASHKEEP_DIST_TARGET).tar.gz
# The release tarballs of a crashkeep checkout (make dist) unless
# BR2_PACKAGE_CRASHKEEP_SITE names a download location.
ifeq ($(call qstrip,$(BR2_PACKAGE_CRASHKEEP_SITE)),)
CRASHKEEP_SITE = file://$(BR2_EXTERNAL_CRASHKEEP_PATH)/../../out/dist
else
CRASHKEEP_SITE = $(call qstrip,$(BR2_PACKAGE_CRASHKEEP_SITE))
endif
# The executable is the Bun runtime with crashkeep's bundled program: the
# licenses of both (build/licenses/bun-runtime.md, build/licenses.ts).
CRASHKEEP_LICENSE = MIT (crashkeep, Bun), \
	MIT, ISC, BSD-3-Clause (bundled npm modules), \
	LGPL-2.0+, BSD-2-Clause (JavaScriptCore and WebCore in Bun), \
	LGPL-2.1 (tinycc in Bun), \
	Apache-2.0, BSD-3-Clause, BSD-2-Clause, Zlib, ICU (other libraries in Bun)
CRASHKEEP_LICENSE_FILES = LICENSE licenses/bun-runtime.md \
	licenses/LGPL-2 licenses/LGPL-2.1 licenses/Apache-2.0 \
	licenses/npm-modules.txt

# The release tarball is the one source of what goes on the device: the
# executable, the init script, the systemd unit and the default config for
# its architecture (build/dist.ts packs them from the repository's
# rootfs-overlay/ and, for arm64, the QEMU virt board's config).
# BR2_PACKAGE_CRASHKEEP_CONFIG names the board's own config instead.
ifeq ($(call qstrip,$(BR2_PACKAGE_CRASHKEEP_CONFIG)),)
CRASHKEEP_CONFIG_FILE = $(@D)/config.json
else
CRASHKEEP_CONFIG_FILE = $(call qstrip,$(BR2_PACKAGE_CRASHKEEP_CONFIG))
endif

# target-finalize strips every executable file in TARGET_DIR (Buildroot's
# STRIP_FIND_CMD: -perm /111 or *.so*), and stripping a Bun executable
# removes the embedded program (what is left is plain Bun). So it goes into
# TARGET_DIR without execute permission, and CRASHKEEP_PERMISSIONS gives it
# 0755 in every filesystem image (makedevs, run after the strip).
define CRASHKEEP_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0644 $(@D)/crashkeep $(TARGET_DIR)/usr/bin/crashkeep
	$(INSTALL) -D -m 0644 $(CRASHKEEP_CONFIG_FILE) \
		$(TARGET_DIR)/etc/crashkeep/config.json
endef

define CRASHKEEP_PERMISSIONS
	/usr/bin/crashkeep f 755 0 0 - - - - -
endef

define CRASHKEEP_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/S03crashkeep \
		$(TARGET_DIR)/etc/init.d/S03crashkeep
endef

define CRASHKEEP_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/crashkeep.service \
		$(TARGET_DIR)/usr/lib/systemd/system/crashkeep.service
endef

# phram and ramoops as modules, for "crashkeep init" to insert with the
# config's regions, unless the kernel config builds them in (=y: their
# parameters then come from the kernel command line or the device tree).
# KCONFIG_SET_OPT would turn a built-in driver into a module.
define CRASHKEEP_KCONFIG_MODULE_OPT
	$(Q)if ! grep -q '^$(strip $(1))=[my]' $(call KCONFIG_DOT_CONFIG); then \
		$(call KCONFIG_MUNGE_DOT_CONFIG,$(1),$(1)=m); \
	fi
endef

# KCONFIG_*_OPT resolve no dependencies: MTD and PSTORE are enabled here or
# olddefconfig drops the modules. MTD_PHRAM and PSTORE_RAM also need
# HAS_IOMEM (selected by x86 and arm64); PSTORE_RAM selects REED_SOLOMON.
# MTD_CHAR is its own option only before mtdchar moved into the MTD core
# (Linux 6.1 has no such symbol, and olddefconfig then drops it). Used only
# when Buildroot builds the kernel.
define CRASHKEEP_LINUX_CONFIG_FIXUPS
	$(call KCONFIG_ENABLE_OPT,CONFIG_MTD)
	$(call KCONFIG_ENABLE_OPT,CONFIG_MTD_CHAR)
	$(call CRASHKEEP_KCONFIG_MODULE_OPT,CONFIG_MTD_PHRAM)
	$(call KCONFIG_ENABLE_OPT,CONFIG_PSTORE)
	$(call CRASHKEEP_KCONFIG_MODULE_OPT,CONFIG_PSTORE_RAM)
endef

$(eval $(generic-package))

# A tarball's hash exists only once make dist has built it, so
# package/crashkeep/crashkeep.hash holds none. A folder site (file://) is
# checked against the crashkeep.hash make dist wrote beside the tarballs;
# a download site against <BR2_GLOBAL_PATCH_DIR>/crashkeep/<version>/
# crashkeep.hash, the one published with the release (docs/FIRMWARE.md).
# Appended after generic-package, which sets CRASHKEEP_HASH_FILES.
CRASHKEEP_HASH_FILES += $(patsubst file://%,%/crashkeep.hash,$(filter file://%,$(CRASHKEEP_SITE)))
