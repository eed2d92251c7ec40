#!/usr/bin/env bash
# Builds the tiny bootable VM guest used by the agent's vm driver and its tests, from Debian
# packages only (no other network access): Debian's cloud kernel plus an initramfs made of
# busybox-static, and a small qcow2 disk as the template's base image.
#
#   deploy/images/vm-guest.sh [--force] [outdir]     (default: .gureum/images/vm/tiny)
#
# The outdir becomes a VM template: vmlinuz, initrd.gz, disk.qcow2 and template.json.
# Idempotent: when the template is complete it prints the outdir and exits 0; --force rebuilds.
#
# The guest's init (PID 1, busybox sh):
#   - mounts proc/sys/dev, loads the virtio/button/evdev modules, starts acpid so the ACPI
#     power button (QMP system_powerdown) powers the guest off;
#   - prints `gureum-disk <text>` with the start of /dev/vda when a disk is attached, and with
#     `gureum.write=<word>` on the kernel command line writes <word> there first;
#   - prints the marker `GUREUM-GUEST-READY` on the serial console, then `gureum-heartbeat <n>`
#     every 0.5 s; `gureum.burn=1` additionally burns CPU on every vCPU (quota tests).
set -euo pipefail

usage() {
  echo "usage: $0 [--force] [outdir]" >&2
  exit 2
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
force=false
outdir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    -h | --help) usage ;;
    -*) echo "unknown option: $arg" >&2; usage ;;
    *)
      [[ -z "$outdir" ]] || usage
      outdir="$arg"
      ;;
  esac
done
outdir="${outdir:-$root/.gureum/images/vm/tiny}"

if [[ "$force" == false && -s "$outdir/template.json" && -s "$outdir/vmlinuz" && -s "$outdir/initrd.gz" && -s "$outdir/disk.qcow2" ]]; then
  echo "$outdir"
  exit 0
fi

missing=()
for pkg in busybox-static qemu-system-x86 qemu-utils cpio; do
  dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The kernel package the installed release's meta-package points at (e.g. 6.1.0-56-cloud-amd64).
kernel_pkg="$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }')"
[[ -n "$kernel_pkg" ]] || { echo "cannot resolve the cloud kernel package (apt-get update?)" >&2; exit 1; }
echo "downloading $kernel_pkg" >&2
(cd "$work" && apt-get download "$kernel_pkg" >&2 2>/dev/null) || (cd "$work" && apt-get download "$kernel_pkg" >&2)
dpkg-deb -x "$work"/"$kernel_pkg"_*.deb "$work/kernel"
kver="${kernel_pkg#linux-image-}"
moddir="$work/kernel/lib/modules/$kver/kernel"

rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,dev,proc,sys,tmp,etc/acpi/PWRF,lib/modules}
cp /bin/busybox "$rootfs/bin/busybox"
# Load order matters: each module after the ones it depends on.
modules=(
  drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_modern_dev.ko
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko
  drivers/acpi/button.ko drivers/input/evdev.ko
)
for module in "${modules[@]}"; do
  cp "$moddir/$module" "$rootfs/lib/modules/"
done

cat >"$rootfs/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/busybox sh
echo GUREUM-GUEST-POWEROFF > /dev/console
sync
/bin/busybox poweroff -f
EOF
chmod +x "$rootfs/etc/acpi/PWRF/00000080"

cat >"$rootfs/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk button evdev; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
exec </dev/console >/dev/console 2>&1
# acpid only watches the input devices present when it starts: wait for the power button's.
i=0
while [ -z "$(ls /dev/input 2>/dev/null)" ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
acpid -f -c /etc/acpi -l /dev/null &
write=""
burn=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    gureum.write=*) write="${arg#gureum.write=}" ;;
    gureum.burn=1) burn=1 ;;
  esac
done
# virtio devices are probed asynchronously; give /dev/vda a moment to appear.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 30 ] && [ -n "$(ls /sys/bus/virtio/devices 2>/dev/null)" ]; do
  sleep 0.1; i=$((i + 1))
done
if [ -b /dev/vda ]; then
  if [ -n "$write" ]; then
    printf '%s\n' "$write" | dd of=/dev/vda bs=512 count=1 conv=notrunc,fsync 2>/dev/null
    echo "GUREUM-DISK-WROTE $write"
  fi
  echo "gureum-disk $(head -c 64 /dev/vda | tr -dc 'a-zA-Z0-9_.-')"
fi
if [ "$burn" = 1 ]; then
  n=$(grep -c ^processor /proc/cpuinfo)
  while [ "$n" -gt 0 ]; do (while :; do :; done) & n=$((n - 1)); done
fi
echo GUREUM-GUEST-READY
n=0
while :; do
  n=$((n + 1))
  echo "gureum-heartbeat $n"
  sleep 0.5
done
EOF
chmod +x "$rootfs/init"

mkdir -p "$outdir"
(cd "$rootfs" && find . -print0 | cpio --null -o -H newc --quiet | gzip -9) >"$work/initrd.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
# The base disk starts with a marker word so guests can show what the template holds.
truncate -s 64M "$work/disk.raw"
printf 'gureum-template-base\n' | dd of="$work/disk.raw" conv=notrunc 2>/dev/null
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
cat >"$work/template.json" <<EOF
{"name":"tiny","kernel":"vmlinuz","initrd":"initrd.gz","disk":"disk.qcow2","kernelPackage":"$kernel_pkg","cmdline":"console=ttyS0 quiet"}
EOF
for file in vmlinuz initrd.gz disk.qcow2 template.json; do
  mv -f "$work/$file" "$outdir/$file"
done
echo "$outdir"
