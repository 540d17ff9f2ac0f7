# U-Boot boot script of the rollback image (build/rollback-image.sh makes
# boot.scr of it with mkimage; U-Boot's distro boot finds it on the bootable
# first partition). RAUC's documented U-Boot A/B logic
# (https://rauc.readthedocs.io/en/latest/integration.html#u-boot): BOOT_ORDER
# names the slots to try in turn, BOOT_<slot>_LEFT the attempts left for each,
# decremented and saved before the slot boots; `rauc status mark-good` puts it
# back to 3, mark-bad sets it to 0, an install makes the new slot first.
#
# One change: the three variables are kept in /uboot.env on this FAT partition
# (binary, with CRC: what fw_printenv/fw_setenv read and write in Linux), imported
# here and saved with fatwrite, instead of saveenv to the pflash, whose
# buffered writes QEMU 7.2 drops (docs/ROLLBACK-QEMU.md).

setenv bootstate_addr ${pxefile_addr_r}
if load virtio 0:1 ${bootstate_addr} /uboot.env; then
  env import -c ${bootstate_addr} ${filesize} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT
fi
# Each slot holds /boot/Image and /boot/initrd.img (the firmware's whole userland).
# rauc.slot=<bootname> tells RAUC which slot booted; mem=496M keeps the top
# 16 MiB of the first 512 MiB (crashkeep's ramoops and phram) out of Linux's
# memory (docs/AARCH64.md, mem= route); the machine has more RAM above, so
# U-Boot's own relocation stays clear of that range.
# Slot A is partition 2, slot B partition 3.

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv bootargs
setenv slot_part
for BOOT_SLOT in "${BOOT_ORDER}"; do
  if test "x${bootargs}" != "x"; then
    # a slot was chosen already: skip the rest
  elif test "x${BOOT_SLOT}" = "xA"; then
    if test ${BOOT_A_LEFT} -gt 0; then
      setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
      echo "Found valid slot A, ${BOOT_A_LEFT} attempts remaining"
      setenv slot_part 2
      setenv bootargs "rauc.slot=A"
    fi
  elif test "x${BOOT_SLOT}" = "xB"; then
    if test ${BOOT_B_LEFT} -gt 0; then
      setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
      echo "Found valid slot B, ${BOOT_B_LEFT} attempts remaining"
      setenv slot_part 3
      setenv bootargs "rauc.slot=B"
    fi
  fi
done

# saveenv: the boot state, as fw_setenv writes it (0x4000 bytes, /etc/fw_env.config).
setenv save_bootstate "env export -c -s 0x4000 ${bootstate_addr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT; fatwrite virtio 0:1 ${bootstate_addr} /uboot.env 0x4000"
if test -n "${bootargs}"; then
  run save_bootstate
else
  echo "No valid slot found, resetting tries to 3"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  run save_bootstate
  reset
fi

# The harness's console options: "Linux version" (loglevel 6) marks each boot,
# rcS quiets the console afterwards. extra_bootargs: a scenario's own, set
# with fw_setenv.
setenv bootargs "console=ttyAMA0 mem=496M panic=1 quiet loglevel=6 crashkeep_test.loglevel=4 ${bootargs} ${extra_bootargs}"
# Load where they are: no relocation of the initrd or the device tree.
setenv initrd_high 0xffffffffffffffff
setenv fdt_high 0xffffffffffffffff
load virtio 0:${slot_part} ${kernel_addr_r} /boot/Image
load virtio 0:${slot_part} ${ramdisk_addr_r} /boot/initrd.img
booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
echo "Cannot boot slot ${BOOT_SLOT} from partition ${slot_part}"
reset
