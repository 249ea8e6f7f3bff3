#!/bin/busybox sh
# /init of the cgroup2 test VM (see run.sh): mounts only cgroup2, runs
# agent-ctl's checks on it, prints each and a result line that run.sh
# reads from the serial console, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/local/agent-ctl/bin
if [ ! -e /.stage2 ]; then
	# Stage 1: the initramfs is rootfs, which pivot_root (both engines
	# build a worker's root with it) cannot leave. And idmapped mounts
	# (grants, the module file, go-plugin's socket directory) need a file
	# system that supports them: Linux 6.1's tmpfs does not, ext4 does. So
	# the real root is an ext4 file system in a loop file, and this init
	# switches to it.
	mount -t proc proc /proc
	mount -t devtmpfs devtmpfs /dev
	insmod /lib/modules/loop.ko
	truncate -s 1G /scratch.img
	dev=$(losetup -f) && losetup "$dev" /scratch.img && mke2fs -q "$dev" >/dev/null &&
		mkdir /newroot && mount -t ext4 "$dev" /newroot || echo "cgroup2-test: result FAIL (no ext4 root)"
	cp -a /bin /lib /lib64 /usr /init /newroot/
	mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/run /newroot/tmp /newroot/work
	chmod 1777 /newroot/tmp
	touch /newroot/.stage2
	umount /proc
	umount /dev
	exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
CG=/sys/fs/cgroup
T=/usr/local/agent-ctl/testdata
# The isolation tests expect only /tmp, /usr and the library directories
# of a host in a worker's root: the test binary is in /usr, TMPDIR is /tmp.
mkdir -p /work/home
export TMPDIR=/tmp AGENTCTL_HOME=/work/home HOME=/work/home

failed=0
say() { echo "cgroup2-test: $*"; }
ok() { say "ok   $1"; }
fail() { say "FAIL $1: $2"; failed=$((failed + 1)); }
# check NAME CMD...: CMD's exit status decides.
check() {
	name=$1
	shift
	if out=$("$@" 2>&1); then ok "$name"; else fail "$name" "$(echo "$out" | tail -n 15)"; fi
}
# waitfor SECONDS CMD...: until CMD succeeds (TCG is slow: generous).
waitfor() {
	n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
# workers PARENT: the worker cgroups below PARENT.
workers() { ls -d "$1"/agent-ctl-[0-9a-f]* 2>/dev/null; }
has_worker() { [ -n "$(workers "$1")" ] && [ -n "$(cat "$(workers "$1" | head -n 1)/cgroup.procs")" ]; }

say "kernel $(uname -r)"
if ! grep -q "^/dev/loop0 / ext4 " /proc/mounts; then
	say "FAIL no ext4 root: $(grep ' / ' /proc/mounts)"
	say "result FAIL (setup)"
	poweroff -f
fi
check "only cgroup2 is mounted" sh -c '[ "$(grep -c " cgroup " /proc/mounts)" = 0 ] && grep -q " cgroup2 " /proc/mounts && [ "$(cat /proc/self/cgroup)" = "0::/" ]'
agent-ctl doctor >/work/doctor.txt 2>&1
st=$?
sed 's/^/cgroup2-test: doctor: /' /work/doctor.txt
check "doctor says the host can run containers" [ $st = 0 ]

# Both engines: the jail (default), then libcontainer.
for engine in jail libcontainer; do
	export AGENT_CTL_CONTAINER_ENGINE=$engine
	t0=$(date +%s)
	# Bounded: a call that hangs fails here, with what it printed, instead
	# of holding the VM until run.sh's timeout.
	if timeout 300 agent-ctl --log-level info run $T/hello.wasm -- vm >/work/hello.out 2>&1 && grep -q 'hello, vm' /work/hello.out; then
		ok "$engine: a call works"
	else
		fail "$engine: a call works" "$(cat /work/hello.out)"
		continue
	fi
	say "$engine: first call took $(($(date +%s) - t0)) s"

	# A unit with limits, as systemd makes one for a service (Delegate=yes):
	# the supervisor must put its workers below itself.
	unit=$CG/$engine.scope
	echo "+memory +pids +cpu" >$CG/cgroup.subtree_control
	mkdir $unit
	echo 512M >$unit/memory.max
	echo 400 >$unit/pids.max
	sh -c "echo \$\$ >$unit/cgroup.procs && exec agent-ctl run --timeout 10m $T/sleep.wasm -- 600000" >/work/sleep.out 2>&1 &
	sup=$!
	# Once the module runs, the worker is up: its start is over.
	if waitfor 300 grep -q sleeping /work/sleep.out && has_worker $unit/workers; then
		w=$(workers $unit/workers | head -n 1)
		wpid=$(head -n 1 $w/cgroup.procs)
		say "$engine: supervisor $sup in $(cut -d: -f3 /proc/$sup/cgroup), worker $wpid in $(cut -d: -f3 /proc/$wpid/cgroup)"
		check "$engine: the supervisor moved into a leaf of its unit" [ "$(cat /proc/$sup/cgroup)" = "0::/$engine.scope/supervisor" ]
		check "$engine: the worker's cgroup is below the supervisor's unit" [ "$(cat /proc/$wpid/cgroup)" = "0::/$engine.scope/workers/${w##*/}" ]
		check "$engine: the unit's controllers reach the worker" sh -c "grep -qw memory $w/cgroup.controllers && grep -qw pids $w/cgroup.controllers && grep -qw cpu $w/cgroup.controllers"
		check "$engine: the unit counts the worker's tasks" [ "$(cat $unit/pids.current)" -ge "$(cat $w/pids.current)" -a "$(cat $w/pids.current)" -gt 0 ]
		check "$engine: the worker has its own limits" sh -c "[ \$(cat $w/memory.max) != max ] && [ \$(cat $w/pids.max) != max ]"
		check "$engine: the worker's oom_score_adj is 1000" [ "$(cat /proc/$wpid/oom_score_adj)" = 1000 ]
		check "$engine: the supervisor's oom_score_adj is unchanged" [ "$(cat /proc/$sup/oom_score_adj)" = 0 ]
	else
		fail "$engine: a worker below the unit" "none within 300 s: $(cat /work/sleep.out; find $unit)"
	fi
	kill -TERM $sup
	wait $sup
	check "$engine: the interrupted call's worker is gone" waitfor 60 sh -c "[ -z \"\$(workers $unit/workers)\" ]"

	# The unit's MemoryMax covers its workers: a call whose own cap
	# (1 GiB + the worker's overhead) is above the unit's 512 MiB is
	# stopped by the unit's limit, and the OOM killer takes the worker
	# (oom_score_adj 1000), not the supervisor. A generous time limit: under
	# TCG on a loaded host, filling 512 MiB once took more than 30 s.
	# A fresh unit: the first one is split now, and a cgroup that gives
	# controllers to its children takes no process.
	unit=$CG/$engine-bomb.scope
	mkdir $unit
	echo 512M >$unit/memory.max
	dmesg -c >/dev/null
	sh -c "echo \$\$ >$unit/cgroup.procs && exec agent-ctl run --timeout 10m --memory 1GiB $T/malloc.wasm" >/work/bomb.out 2>&1
	st=$?
	say "$engine: memory bomb in the unit: exit $st, $(tr '\n' ' ' </work/bomb.out | cut -c1-200)"
	check "$engine: the unit's memory limit stopped the bomb" sh -c "grep -q 'oom_kill [1-9]' $unit/memory.events"
	check "$engine: the OOM killer took the worker" sh -c "dmesg | grep 'Killed process' | grep -q agent-ctl-work"
	# A worker killed by the kernel ends the call as a worker failure (125)
	# or, where the worker's own cgroup counted the kill, the memory limit
	# (137); either way the supervisor lived to say so.
	check "$engine: the supervisor survived the OOM kill and reported it" sh -c "[ $st = 125 -o $st = 137 ] && grep -q . /work/bomb.out && ! dmesg | grep 'Killed process' | grep -qE '\\(agent-ctl(-full)?\\)'"
	check "$engine: nothing of the unit's workers is left" sh -c "[ -z \"\$(workers $unit/workers)\" ]"

	# A supervisor sharing its cgroup with another process cannot split it:
	# its workers go beside it, and doctor says so.
	shared=$CG/$engine-shared.scope
	mkdir $shared
	sh -c "echo \$\$ >$shared/cgroup.procs && exec sleep 600" &
	other=$!
	waitfor 10 grep -q . $shared/cgroup.procs
	check "$engine: a call works from a shared cgroup" sh -c "echo \$\$ >$shared/cgroup.procs && agent-ctl --log-level info run $T/hello.wasm -- vm 2>/work/shared.err | grep -q vm"
	check "$engine: the supervisor says its workers go beside (Info)" grep -q "worker cgroups go beside the supervisor's cgroup.*other processes" /work/shared.err
	check "$engine: doctor says workers go beside a shared cgroup" sh -c "echo \$\$ >$shared/cgroup.procs && agent-ctl doctor 2>&1 | grep 'worker cgroups' | grep -q 'beside the supervisor.s cgroup.*other processes'"
	kill $other
	wait $other 2>/dev/null
done
unset AGENT_CTL_CONTAINER_ENGINE

# The per-worker walls and limits, by the isolation package's own tests
# (the pids limit needs native code: a WebAssembly module cannot fork).
if [ -x /usr/local/agent-ctl/isolation.test ]; then
	for engine in jail libcontainer; do
		cd /usr/local/agent-ctl
		AGENT_CTL_CONTAINER_ENGINE=$engine ./isolation.test -test.v -test.count=1 -test.timeout=20m \
			-test.run 'TestContainer_(walls|pidsLimit|memoryLimit|killTakesAll)$|TestCgroup_|TestPlaceWorkers|TestOwnCgroup' >/work/gotest.out 2>&1
		st=$?
		grep -E '^ *--- |^(ok|FAIL|PASS)$' /work/gotest.out | sed "s/^/cgroup2-test: $engine go test: /"
		if [ $st = 0 ]; then ok "$engine: isolation tests (walls, pids and memory limits, kill, oom_score_adj)"; else fail "$engine: isolation tests" "$(tail -n 30 /work/gotest.out)"; fi
	done
fi

left=$(find $CG -type d -name 'agent-ctl-[0-9a-f]*')
check "no worker cgroup is left" [ -z "$left" ]
check "no worker process is left" sh -c '! ps -o comm | grep -q agent-ctl'
check "no container state is left" sh -c '[ -z "$(ls /run/agent-ctl/containers 2>/dev/null | grep -v "^seccomp-.*\.bpf$")" ]'

if [ $failed = 0 ]; then say "result PASS"; else say "result FAIL ($failed)"; fi
sync
poweroff -f
