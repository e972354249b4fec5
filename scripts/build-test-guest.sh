#!/usr/bin/env bash
# Builds the test guest: a Linux kernel and a small initramfs that boot in a
# few seconds under QEMU with direct kernel boot, for tests and demos.
#
#   scripts/build-test-guest.sh OUTDIR
#
# writes OUTDIR/vmlinuz (Debian's kernel, as installed by `make deps`) and
# OUTDIR/initrd.img: busybox, the kernel modules the guest needs (virtio
# PCI, net and block; the ACPI power button and evdev, for acpid) with their
# dependencies, and an init that mounts /proc, /sys and /dev, loads them,
# starts acpid (the ACPI power button powers the guest off), prints the
# ready line `quantix-test-guest ready` on the console and runs a root shell
# on ttyS0 with the prompt `/ # `. Boot it with the kernel command line
# `console=ttyS0 quiet`:
#
#   quantix vm create guest-1 -memory 256 -kernel OUTDIR/vmlinuz \
#       -initrd OUTDIR/initrd.img -cmdline 'console=ttyS0 quiet'
#
# Both files are world-readable (QEMU runs as another user). Needs the
# packages linux-image-amd64, busybox-static, kmod and cpio (`make deps`).
# KERNEL_VERSION picks another installed kernel than the newest.
set -euo pipefail

die() { printf 'build-test-guest: error: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1

# The ready line tests wait for; keep in step with internal/testguest.
READY='quantix-test-guest ready'

busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found: install busybox-static (make deps)"
"$busybox" --list | grep -x acpid >/dev/null || die "$busybox has no acpid applet: install busybox-static (make deps)"
command -v cpio >/dev/null || die "cpio not found: install cpio (make deps)"
command -v modprobe >/dev/null || die "modprobe not found: install kmod (make deps)"

kver=${KERNEL_VERSION:-}
if [ -z "$kver" ]; then
	kver=$(ls /lib/modules 2>/dev/null | sort -V | while read -r v; do
		[ -r "/boot/vmlinuz-$v" ] && echo "$v"
	done | tail -1)
fi
[ -n "$kver" ] || die "no kernel found in /boot with modules in /lib/modules: install linux-image-amd64 (make deps)"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel not found or not readable"
[ -d "/lib/modules/$kver" ] || die "/lib/modules/$kver not found"

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root,etc/acpi/PWRF,lib/modules,var/log,var/run}
chmod 1777 "$root/tmp"

cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
ln -sf ../bin/busybox "$root/sbin/init"

# Kernel modules, each once, dependencies first (modprobe --show-depends
# lists what a module needs in load order). Built-in ones list nothing
# (or a "builtin" line) and need no loading.
: >"$work/modules"
for m in virtio_pci virtio_blk virtio_net button evdev; do
	deps=$(modprobe -S "$kver" --show-depends "$m" 2>&1) ||
		die "module $m of kernel $kver: $deps"
	printf '%s\n' "$deps" | awk '$1 == "insmod" {print $2}' >>"$work/modules"
done
n=0
: >"$root/etc/modules"
while read -r ko; do
	base=$(basename "$ko")
	base=${base%.xz}
	base=${base%.zst}
	base=${base%.gz}
	grep -qx "$base" "$root/etc/modules" && continue
	case $ko in
	*.xz) xz -dc "$ko" >"$root/lib/modules/$base" ;;
	*.zst) zstd -qdc "$ko" >"$root/lib/modules/$base" ;;
	*.gz) gzip -dc "$ko" >"$root/lib/modules/$base" ;;
	*) cp "$ko" "$root/lib/modules/$base" ;;
	esac
	printf '%s\n' "$base" >>"$root/etc/modules"
	n=$((n + 1))
done <"$work/modules"

cat >"$root/etc/inittab" <<'EOF'
::sysinit:/etc/rcS
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/bin/reboot
::shutdown:/bin/umount -a -r
EOF

cat >"$root/etc/rcS" <<EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
while read -r m; do
	insmod /lib/modules/\$m || echo "quantix-test-guest: loading \$m failed" >/dev/console
done </etc/modules
hostname quantix-test-guest
ip link set lo up 2>/dev/null
# acpid logs to /var/log/acpid.log and keeps its pid in /var/run.
acpid -c /etc/acpi
echo '$READY' >/dev/console
EOF
chmod 755 "$root/etc/rcS"

# busybox acpid runs /etc/acpi/PWRF/00000080 on a power button press.
cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
exec poweroff
EOF
chmod 755 "$root/etc/acpi/PWRF/00000080"

cat >"$root/etc/profile" <<'EOF'
export PATH=/bin:/sbin
export HOME=/root
export PS1='\w # '
cd /
EOF
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# The kernel runs /init from an initramfs.
ln -sf bin/busybox "$root/init"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) >"$work/initrd.img"
install -m 644 "$work/initrd.img" "$out/initrd.img"
install -m 644 "$kernel" "$out/vmlinuz"
printf 'build-test-guest: %s/vmlinuz (kernel %s) and %s/initrd.img (%d modules)\n' "$out" "$kver" "$out" "$n"
