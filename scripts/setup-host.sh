#!/usr/bin/env bash
# Installs and starts what building and testing Quantix need on a Debian host:
# Node.js and npm (the web console's build) when missing, Debian's Chromium
# and its driver (the console's browser tests), libvirt with QEMU, PostgreSQL, protoc with the well-known types (libprotobuf-dev:
# `make proto` imports google/protobuf/timestamp.proto) and rsyslog (checked, not started: the
# syslog sink tests run their own rsyslogd); Debian's kernel and a static
# busybox with kmod and cpio (scripts/build-test-guest.sh builds the test
# guest of them); the libvirt-qemu user in
# group kvm; /dev/kvm usable by that group; virtlogd and libvirtd running.
# Idempotent: when everything is in place it takes a few seconds.
set -euo pipefail

log() { printf 'setup-host: %s\n' "$*"; }
die() { printf 'setup-host: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	die "must run as root (it installs packages and starts libvirtd); try: sudo $0"
fi

PACKAGES=(
	libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system
	libvirt-clients qemu-system-x86 qemu-utils
	postgresql protobuf-compiler libprotobuf-dev rsyslog procps zsh
	# The console's browser tests (ui/e2e) drive Debian's Chromium; the
	# fonts make its screenshots readable.
	chromium chromium-driver fonts-liberation
	# The test guest (scripts/build-test-guest.sh): Debian's kernel with its
	# modules, a static busybox, and the tools that pack them.
	linux-image-amd64 busybox-static kmod cpio
)
# Node.js and npm: any installation on the PATH will do (Debian's packages,
# NodeSource's, a tarball) as long as it is recent enough for ui/package.json;
# Debian's are installed only when there is none.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null 2>&1 || die "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
		die "apt-get install ${missing[*]} failed"
fi

# The console's build tools (Vite, ESLint) need Node.js 20.19 or later.
node_min=20.19
node_ver=$(node --version 2>/dev/null | sed 's/^v//')
if ! printf '%s\n%s\n' "$node_min" "$node_ver" | sort -V -C; then
	die "Node.js ${node_ver:-(none)} found; the web console's build needs $node_min or later (Debian 13's nodejs, or NodeSource's nodejs 20/22 repository on Debian 12)"
fi
command -v npm >/dev/null 2>&1 || die "npm not found after installing it"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium not found after installing chromium; the console's browser tests need it"

# The test guest boots Debian's kernel directly; its package's install
# hooks (initramfs-tools) are not needed for that, only the kernel image
# and its modules tree.
ls /boot/vmlinuz-* >/dev/null 2>&1 || die "no kernel in /boot after installing linux-image-amd64; the test guest needs one"
ls -d /lib/modules/*/kernel >/dev/null 2>&1 || die "no kernel modules in /lib/modules after installing linux-image-amd64; the test guest needs them"
/bin/busybox --list 2>/dev/null | grep -x acpid >/dev/null || die "/bin/busybox has no acpid; install busybox-static, which the test guest needs"

# rsyslog for the syslog sink tests: each test starts an rsyslogd of its own
# (its config, loopback ports, unix socket, pid file and output in a temporary
# directory), so the system's syslog daemon is neither needed nor touched.
# Check that rsyslogd accepts such a config with the modules the tests load.
rsyslogd_bin=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$rsyslogd_bin" ] || die "rsyslogd not found after installing rsyslog"
rsyslog_check=$(mktemp -d)
cat >"$rsyslog_check/check.conf" <<EOF
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
module(load="mmpstrucdata")
input(type="imudp" address="127.0.0.1" port="0")
input(type="imtcp" address="127.0.0.1" port="0")
input(type="imuxsock" socket="$rsyslog_check/log.sock")
action(type="mmpstrucdata")
action(type="omfile" file="$rsyslog_check/out")
EOF
if ! "$rsyslogd_bin" -N1 -f "$rsyslog_check/check.conf" >"$rsyslog_check/check.log" 2>&1; then
	cat "$rsyslog_check/check.log" >&2
	rm -rf "$rsyslog_check"
	die "rsyslogd cannot load imudp, imtcp, imuxsock and mmpstrucdata, which the syslog sink tests need; reinstall rsyslog"
fi
rm -rf "$rsyslog_check"

getent group kvm >/dev/null || { log "creating group kvm"; groupadd --system kvm; }
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
if ! id libvirt-qemu >/dev/null 2>&1; then
	log "creating user libvirt-qemu"
	useradd --system --gid libvirt-qemu --groups kvm --no-create-home \
		--home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
fi
id -nG libvirt-qemu | grep -qw kvm || usermod -a -G kvm libvirt-qemu

if [ -c /dev/kvm ]; then
	if [ "$(stat -c %G /dev/kvm)" != kvm ] || [ "$(stat -c %a /dev/kvm)" != 660 ]; then
		log "giving /dev/kvm to group kvm, mode 660"
		chgrp kvm /dev/kvm && chmod 660 /dev/kvm
	fi
else
	log "no /dev/kvm: VMs run under TCG (slower, still real QEMU)"
fi

mkdir -p /var/log/libvirt/qemu /run/libvirt /var/lib/libvirt/qemu

start_daemon() { # name, pidfile
	local name=$1 pidfile=$2
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		return 0
	fi
	if pgrep -x "$name" >/dev/null; then
		return 0
	fi
	log "starting $name"
	"$name" -d || die "$name did not start; see journalctl or /var/log/libvirt"
}
start_daemon virtlogd /run/virtlogd.pid
start_daemon libvirtd /run/libvirtd.pid

for _ in $(seq 1 100); do
	if virsh -c qemu:///system version >/dev/null 2>&1; then
		break
	fi
	sleep 0.2
done
virsh -c qemu:///system version >/dev/null 2>&1 ||
	die "libvirtd does not answer on qemu:///system; check /var/log/libvirt/libvirtd.log"

# PostgreSQL for the store tests: a login role that may create throw-away
# databases, reached over loopback TCP with a password.
pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$pgver" ] || die "postgresql is not installed"
if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
	if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
		log "creating PostgreSQL $pgver cluster"
		pg_createcluster "$pgver" main >/dev/null
	fi
	log "starting PostgreSQL $pgver"
	pg_ctlcluster "$pgver" main start || die "PostgreSQL did not start; see /var/log/postgresql"
fi
for _ in $(seq 1 50); do
	su postgres -s /bin/sh -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
	sleep 0.2
done
if [ "$(su postgres -s /bin/sh -c "psql -qAtc \"select 1 from pg_roles where rolname='quantix'\"")" != 1 ]; then
	log "creating PostgreSQL role quantix"
	su postgres -s /bin/sh -c "psql -qc \"create role quantix login createdb password 'quantix'\"" >/dev/null ||
		die "could not create the PostgreSQL role quantix"
fi

log "ready: $(virsh -c qemu:///system version 2>/dev/null | grep -i 'running hypervisor' || true)"
