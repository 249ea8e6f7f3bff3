#!/bin/bash
# make test-cgroup2: proves agent-ctl's cgroup v2 path on a real kernel.
# Boots Debian's cloud kernel (downloaded with apt-get into .cache/cgroup2,
# never installed on the host) in qemu, with an initramfs of busybox, the
# two binaries, the libraries they link, the isolation package's test
# binary and a few fixtures. Its /init (init.sh) mounts only cgroup2, runs
# the checks and prints each on the serial console; this script reads the
# result line from there. No network (-nic none). KVM when /dev/kvm works,
# else TCG (slower).
#
# Needs: bin/agent-ctl, bin/agent-ctl-full and bin/agent-ctl-worker (make build), qemu-system-x86
# and busybox-static (the Makefile installs them).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CGROUP2_CACHE:-$root/.cache/cgroup2}
timeout=${CGROUP2_TIMEOUT:-900}
tags=${TAGS:-seccomp,urfave_cli_no_docs}
# Another build's binaries and isolation package (to check the checks
# against older code): CGROUP2_SRC, a source tree built like this one.
src=${CGROUP2_SRC:-$root}
start=$(date +%s)
mkdir -p "$cache"

# The kernel: Debian's cloud flavour (all it needs is built in but loop).
if ! ls "$cache"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
	find_pkg() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
	pkg=$(find_pkg)
	[ -n "$pkg" ] || { apt-get update -qq && pkg=$(find_pkg); }
	[ -n "$pkg" ] || { echo "test-cgroup2: no linux-image-cloud-amd64 in apt's lists (apt-get update?)" >&2; exit 1; }
	(cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg")
	rm -rf "$cache/kernel"
	dpkg-deb -x "$cache/${pkg}"_*.deb "$cache/kernel"
fi
vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* | head -n 1)
loop=$(find "$cache"/kernel/lib/modules -name loop.ko | head -n 1)
[ -n "$loop" ] || { echo "test-cgroup2: no loop.ko in the kernel package" >&2; exit 1; }

# The isolation package's tests, run inside the VM too.
(cd "$src" && GOFLAGS= go test -c -tags "$tags" -o "$cache/isolation.test" ./isolation)

# The initramfs: an uncompressed cpio (TCG decompresses slowly).
ird=$cache/initramfs
rm -rf "$ird"
mkdir -p "$ird"/{bin,proc,sys,dev,run,tmp,work,lib/modules,usr/local/agent-ctl/bin,usr/local/agent-ctl/testdata}
cp /bin/busybox "$ird/bin/busybox"
if ldd "$ird/bin/busybox" >/dev/null 2>&1; then
	echo "test-cgroup2: /bin/busybox is not static (install busybox-static)" >&2
	exit 1
fi
install -m 0755 "$root/tests/cgroup2/init.sh" "$ird/init"
cp "$src/bin/agent-ctl" "$src/bin/agent-ctl-full" "$src/bin/agent-ctl-worker" "$ird/usr/local/agent-ctl/bin/"
cp "$cache/isolation.test" "$ird/usr/local/agent-ctl/"
cp "$loop" "$ird/lib/modules/loop.ko"
for f in hello malloc sleep; do cp "$root/tests/testdata/$f.wasm" "$ird/usr/local/agent-ctl/testdata/"; done
for lib in $(ldd "$src/bin/agent-ctl-full" "$src/bin/agent-ctl-worker" "$cache/isolation.test" | awk '/=> \// {print $3} /^\t\// {print $1}' | sort -u); do
	mkdir -p "$ird$(dirname "$lib")"
	cp -L "$lib" "$ird$lib"
done
(cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null) >"$cache/initramfs.cpio"

accel=(-accel tcg -cpu max)
how=TCG
if [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
	accel=(-enable-kvm -cpu host)
	how=KVM
fi
echo "test-cgroup2: booting $(basename "$vmlinuz") with $how ($(du -m "$cache/initramfs.cpio" | cut -f1) MiB initramfs), prepared in $(($(date +%s) - start)) s"
console=$cache/console.log
# One VM boot, its checks read from the serial console; 0 when they passed.
vm() {
	local boot qst
	boot=$(date +%s)
	set +e
	timeout --foreground "$timeout" qemu-system-x86_64 "${accel[@]}" -m 3072 -smp 2 -nic none \
		-display none -monitor none -serial stdio -no-reboot \
		-kernel "$vmlinuz" -initrd "$cache/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init" </dev/null | tee "$console" | grep --line-buffered '^cgroup2-test:'
	qst=${PIPESTATUS[0]}
	set -e
	echo "test-cgroup2: the VM ran $(($(date +%s) - boot)) s (qemu exit $qst), $(($(date +%s) - start)) s in all"
	if grep -q '^cgroup2-test: result PASS' "$console"; then
		return 0
	fi
	if [ "$qst" = 124 ]; then
		echo "test-cgroup2: the VM did not finish within $timeout s; console in $console" >&2
	else
		echo "test-cgroup2: failed; console in $console" >&2
	fi
	return 1
}
# Once in about eight runs here (TCG, 2 cores) the VM's first call hung
# for minutes with no output, and the same tree passed on the next boot:
# a failed boot is booted once more, and both consoles are kept. A check
# that fails for a reason of the code fails both times.
if vm; then
	exit 0
fi
mv "$console" "$cache/console-1.log"
echo "test-cgroup2: booting once more (the first boot's console is in $cache/console-1.log)" >&2
vm
