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
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq", "arch_prctl", "prctl",
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
	// waiting
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"eventfd", "eventfd2", "poll", "ppoll", "select", "pselect6", "pipe", "pipe2",
	// sockets (socket and socketpair are in conditionalSyscalls: AF_UNIX only)
	"bind", "listen", "accept", "accept4", "getsockname", "getpeername", "setsockopt", "getsockopt",
	"shutdown", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
}

// killSyscalls only serve an escape or an attack on the host: a worker that
// calls one is killed at once instead of being told EPERM.
var killSyscalls = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"mount", "umount2", "pivot_root", "chroot",
	"unshare", "setns",
	"bpf", "perf_event_open", "userfaultfd",
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
	add("socket", configs.Allow, nil, &configs.Arg{Index: 0, Value: unix.AF_UNIX, Op: configs.EqualTo})
	add("socketpair", configs.Allow, nil, &configs.Arg{Index: 0, Value: unix.AF_UNIX, Op: configs.EqualTo})
	return sc
}
