//go:build linux && cgo

package isolation

import (
	"maps"
	"slices"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// The worker's seccomp filter is an allow-list: what the Go runtime, glibc,
// wasmtime (Rust std, cap-std, cranelift's JIT), go-plugin's unix-socket
// server and runc's own init (after it loads the filter, just before it
// executes the worker) were seen to call. Everything else fails with EPERM,
// and the calls below that only serve an escape kill the whole worker.
//
// The list was checked with strace against the real worker running the
// fixtures in tests/testdata and with the hostile helper of the tests.

// workerSyscalls are allowed without conditions.
var workerSyscalls = []string{
	// files and directories (the mode-taking calls are in modeSyscalls)
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
	"lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "flock",
	"fsync", "fdatasync", "sync_file_range", "fallocate", "ftruncate", "truncate",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd", "chdir", "fchdir",
	"mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"link", "linkat", "symlink", "symlinkat", "utimensat", "futimesat", "utimes", "utime",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"umask", "sendfile", "copy_file_range", "splice", "tee", "fadvise64", "readahead", "ioctl",
	// memory
	"mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync", "mincore", "membarrier", "memfd_create",
	"pkey_alloc", "pkey_free", "pkey_mprotect",
	// threads, signals, processes (clone is in conditionalSyscalls)
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "arch_prctl",
	"sched_yield", "sched_getaffinity", "getcpu", "exit", "exit_group", "wait4", "waitid", "execve", "execveat",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill", "tgkill", "tkill", "pidfd_open", "pidfd_send_signal",
	"restart_syscall", "pause", "alarm",
	"getpid", "gettid", "getppid", "getpgrp", "getpgid", "getsid", "getuid", "geteuid", "getgid", "getegid",
	"getresuid", "getresgid", "getgroups", "capget",
	"getrlimit", "setrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname",
	// time
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	"getrandom",
	// confining itself further: a libcontainer worker's constructor adds
	// Landlock and the ABI filter (package jail); both only take rights away
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp",
	// waiting
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"eventfd", "eventfd2", "poll", "ppoll", "select", "pselect6", "pipe", "pipe2",
	// sockets: socket and socketpair (unix stream sockets only) and sendto
	// (no destination) are in workerSeccomp's conditional rules. There is
	// no connect: go-plugin's server only listens.
	"bind", "listen", "accept", "accept4", "getsockname", "getpeername", "setsockopt", "getsockopt",
	"shutdown", "recvfrom", "sendmsg", "recvmsg", "recvmmsg",
}

// killSyscalls only serve an escape or an attack on the host: a worker that
// calls one is killed at once instead of being told EPERM.
var killSyscalls = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"mount", "umount2", "pivot_root", "chroot",
	"unshare", "setns",
	"bpf", "perf_event_open", "userfaultfd",
	// io_uring runs its operations (connect, sendmsg, openat …) in kernel
	// threads that this filter never sees.
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"keyctl", "add_key", "request_key",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"open_by_handle_at", "reboot", "swapon", "swapoff", "acct", "iopl", "ioperm",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
}

// enosysSyscalls take their arguments in a struct, which a seccomp filter
// cannot look into; ENOSYS makes glibc and cap-std fall back to the older
// calls whose arguments the filter does check (clone3 → clone, openat2 →
// openat).
var enosysSyscalls = []string{"clone3", "openat2"}

// modeSyscalls take a file mode at the given argument. They are allowed
// only without the set-user-ID and set-group-ID bits: the worker's writable
// mounts are ID-mapped so that it acts as the owner of the host files, and
// a set-user-ID file it made there would run as that owner on the host.
var modeSyscalls = map[string]uint{
	"open": 2, "openat": 3, "creat": 1,
	"chmod": 1, "fchmod": 1, "fchmodat": 2, "fchmodat2": 2,
}

// namespaceCloneFlags are the clone(2) flags that create namespaces; a user
// namespace needs no privilege and would hand the worker a fresh set of
// capabilities over new kernel surface.
const namespaceCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

func workerSeccomp() *configs.Seccomp {
	eperm, enosys := uint(unix.EPERM), uint(unix.ENOSYS)
	sc := &configs.Seccomp{DefaultAction: configs.Errno, DefaultErrnoRet: &eperm}
	add := func(name string, act configs.Action, errno *uint, args ...*configs.Arg) {
		sc.Syscalls = append(sc.Syscalls, &configs.Syscall{Name: name, Action: act, ErrnoRet: errno, Args: args})
	}
	for _, n := range workerSyscalls {
		add(n, configs.Allow, nil)
	}
	for _, n := range killSyscalls {
		add(n, configs.KillProcess, nil)
	}
	for _, n := range enosysSyscalls {
		add(n, configs.Errno, &enosys)
	}
	// In a fixed order: the jail caches the compiled program by profile.
	for _, n := range slices.Sorted(maps.Keys(modeSyscalls)) {
		add(n, configs.Allow, nil, &configs.Arg{Index: modeSyscalls[n], Value: unix.S_ISUID | unix.S_ISGID, ValueTwo: 0, Op: configs.MaskEqualTo})
	}
	add("clone", configs.Allow, nil, &configs.Arg{Index: 0, Value: namespaceCloneFlags, ValueTwo: 0, Op: configs.MaskEqualTo})
	// Unix stream sockets only, whatever SOCK_CLOEXEC and SOCK_NONBLOCK
	// say: go-plugin's server (strace of the worker: socket(AF_UNIX,
	// SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0), nothing else). A
	// datagram socket could send to any host socket the worker can name
	// (one in a granted directory) without connect; a stream socket
	// reaches only what connects to it. The mask covers the whole 64-bit
	// argument: stray high bits are refused, not ignored.
	for _, n := range []string{"socket", "socketpair"} {
		add(n, configs.Allow, nil,
			&configs.Arg{Index: 0, Value: unix.AF_UNIX, Op: configs.EqualTo},
			&configs.Arg{Index: 1, Value: socketTypeMask, ValueTwo: unix.SOCK_STREAM, Op: configs.MaskEqualTo})
	}
	// sendto only without a destination (its fifth argument, dest_addr,
	// NULL): a send(2). sendmsg's destination (msg_name) is in a struct the
	// filter cannot read; on a unix stream socket, the only kind the worker
	// can have, the kernel refuses one (EOPNOTSUPP, or EISCONN once
	// connected). sendmmsg is not allowed at all: nothing in the worker
	// uses it.
	add("sendto", configs.Allow, nil, &configs.Arg{Index: 4, Value: 0, Op: configs.EqualTo})
	// prctl only for the options the worker was seen to use (Rust's
	// thread names, the Go runtime's names for anonymous mappings) and a
	// few that only read. Refused among others: PR_SET_DUMPABLE (a
	// dumpable worker can be traced by a host process of its host user),
	// PR_SET_PTRACER, PR_SET_MM, PR_SET_SPECULATION_CTRL,
	// PR_SET_CHILD_SUBREAPER.
	for _, op := range prctlOptions {
		add("prctl", configs.Allow, nil, &configs.Arg{Index: 0, Value: op, Op: configs.EqualTo})
	}
	return sc
}

// socketTypeMask keeps the socket type of socket(2)'s second argument and
// drops the two flags it may carry.
const socketTypeMask = ^uint64(unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK)

// prctlOptions are the prctl(2) options the worker may use.
var prctlOptions = []uint64{
	unix.PR_SET_NAME, unix.PR_GET_NAME, unix.PR_SET_VMA,
	unix.PR_GET_DUMPABLE, unix.PR_GET_NO_NEW_PRIVS, unix.PR_GET_SECCOMP, unix.PR_CAPBSET_READ,
	unix.PR_SET_PDEATHSIG, unix.PR_GET_PDEATHSIG,
}
