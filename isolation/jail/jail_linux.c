//go:build linux

// The worker's half of a jail start (see jail.go). It runs as an ELF
// constructor, before the Go runtime starts a single thread, in a process
// that the supervisor (root) cloned into new mount, PID, network, IPC and
// UTS namespaces. Still the host's root, it builds the worker's root from
// mounts the supervisor prepared and waits until the supervisor has put the
// process in its cgroup; then it enters an unprivileged user namespace,
// gives up every privilege and loads the seccomp filter. Only then does Go
// code run.
//
// It acts only in a process that the supervisor started so: PID 1 of a
// PID namespace nobody has set up yet (its /proc is still an ancestor's),
// in a mount namespace of its own, with its configuration on a sealed
// memfd. Anywhere else (the variable set by accident or by someone else,
// agent-ctl run as a container's init) it returns at once and the program
// runs as if the constructor were not there.
//
// Once it acts, every step either succeeds or ends the process with status
// 125 and one line on stderr naming the step: a worker never runs
// half-confined.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/types.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#include "jail_config.h"

static void jail_die(const char *fmt, ...) {
	int e = errno;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(2, "agent-ctl jail: %s: %s\n", msg, e ? strerror(e) : "invalid");
	_exit(125);
}

// The configuration is a list of NUL-terminated fields: the magic, then
// records of an operation name and its arguments, then "end". The parser
// trusts nothing in it: a malformed configuration is an error, never a
// read outside buf (FuzzParse and FuzzParseRecords in jail_linux_test.go run it on
// arbitrary and on crafted configurations).
struct jail_reader {
	char *p, *end;
	jmp_buf fail;
	char err[128];
};

static void jail_bad(struct jail_reader *r, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	longjmp(r->fail, 1);
}

static const char *jail_field(struct jail_reader *r) {
	char *s = r->p;
	char *nul = r->end > s ? memchr(s, 0, r->end - s) : NULL;
	if (!nul)
		jail_bad(r, "configuration: truncated");
	r->p = nul + 1;
	return s;
}

// jail_number reads a decimal number in [min, max], written as Encode
// writes it: digits only (strtoll alone would also take leading blanks and
// a sign).
static long long jail_number(struct jail_reader *r, long long min, long long max) {
	const char *s = jail_field(r);
	char *e;
	errno = 0;
	long long v = strtoll(s, &e, 10);
	if (s[0] < '0' || s[0] > '9' || errno || e == s || *e || v < min || v > max)
		jail_bad(r, "configuration: bad number %.32s", s);
	return v;
}

static const char *jail_path(struct jail_reader *r) {
	const char *s = jail_field(r);
	if (s[0] != '/' || strlen(s) >= PATH_MAX / 2)
		jail_bad(r, "configuration: bad path %.64s", s);
	return s;
}

// jail_parse_fields parses with r->fail set; it declares no local that
// lives across a longjmp.
static void jail_parse_fields(struct jail_reader *r, struct jail_config *c) {
	if (strcmp(jail_field(r), JAIL_MAGIC) != 0)
		jail_bad(r, "configuration: not from this version of agent-ctl");
	for (;;) {
		const char *op = jail_field(r);
		if (!strcmp(op, "end"))
			break;
		if (!strcmp(op, "root")) {
			c->root = jail_path(r);
		} else if (!strcmp(op, "mount")) {
			if (c->nmounts == JAIL_MAX_MOUNTS)
				jail_bad(r, "configuration: too many mounts");
			struct jail_mount *m = &c->mounts[c->nmounts++];
			m->fd = (int)jail_number(r, 3, INT_MAX);
			m->target = jail_path(r);
			m->dir = (int)jail_number(r, 0, 1);
			m->access = (int)jail_number(r, JAIL_RO, JAIL_SOCKETS);
		} else if (!strcmp(op, "proc")) {
			c->proc = 1;
		} else if (!strcmp(op, "hostname")) {
			c->hostname = jail_field(r);
			if (strlen(c->hostname) > 64)
				jail_bad(r, "configuration: host name too long");
		} else if (!strcmp(op, "rlimit")) {
			if (c->nrlimits == JAIL_MAX_RLIMITS)
				jail_bad(r, "configuration: too many rlimits");
			struct jail_rlimit *l = &c->rlimits[c->nrlimits++];
			l->resource = (int)jail_number(r, 0, RLIM_NLIMITS - 1);
			l->lim.rlim_cur = (rlim_t)jail_number(r, 0, LLONG_MAX);
			l->lim.rlim_max = (rlim_t)jail_number(r, 0, LLONG_MAX);
		} else if (!strcmp(op, "seccomp")) {
			c->seccomp_fd = (int)jail_number(r, 3, INT_MAX);
		} else if (!strcmp(op, "status")) {
			c->status_fd = (int)jail_number(r, 3, INT_MAX);
		} else if (!strcmp(op, "landlock")) {
			c->landlock = 1;
		} else if (!strcmp(op, "userns")) {
			c->userns_fd = (int)jail_number(r, 3, INT_MAX);
		} else if (!strcmp(op, "sync")) {
			c->sync_fd = (int)jail_number(r, 3, INT_MAX);
		} else {
			jail_bad(r, "configuration: unknown operation %.32s", op);
		}
	}
	if (r->p != r->end)
		jail_bad(r, "configuration: bytes after the end");
	if (!c->root)
		jail_bad(r, "configuration: no root");
	if (c->seccomp_fd < 0)
		jail_bad(r, "configuration: no seccomp filter");
	if (c->sync_fd < 0)
		jail_bad(r, "configuration: no sync descriptor");
	if (c->userns_fd < 0)
		jail_bad(r, "configuration: no user namespace");
	if (c->status_fd < 0)
		jail_bad(r, "configuration: no status descriptor");
}

int agent_ctl_jail_parse(char *buf, size_t n, struct jail_config *c, char *err, size_t errlen) {
	struct jail_reader *r = malloc(sizeof *r);
	if (!r) {
		snprintf(err, errlen, "configuration: out of memory");
		return -1;
	}
	r->p = buf;
	r->end = buf + n;
	r->err[0] = 0;
	memset(c, 0, sizeof *c);
	c->seccomp_fd = c->sync_fd = c->userns_fd = c->status_fd = -1;
	int ok = 0;
	if (setjmp(r->fail) == 0)
		jail_parse_fields(r, c);
	else
		ok = -1;
	if (ok < 0)
		snprintf(err, errlen, "%s", r->err);
	free(r);
	return ok;
}

static char *jail_read_all(int fd, size_t max, size_t *n) {
	char *buf = malloc(max);
	if (!buf)
		jail_die("reading configuration");
	size_t got = 0;
	for (;;) {
		ssize_t k = pread(fd, buf + got, max - got, got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			jail_die("reading descriptor %d", fd);
		if (k == 0)
			break;
		got += k;
		if (got == max) {
			errno = E2BIG;
			jail_die("reading descriptor %d", fd);
		}
	}
	*n = got;
	return buf;
}

// jail_mkdirs creates the parents of path (0755); it runs once the new root
// is the process's root.
static void jail_mkdirs(char *path) {
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			jail_die("creating %s", path);
		*p = '/';
	}
}

static void jail_target(const char *root, const char *target, int dir, char *out) {
	if (snprintf(out, PATH_MAX, "%s%s", root, target) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		jail_die("mount point %s", target);
	}
	jail_mkdirs(out);
	// Below a mount moved in earlier the target may already exist (a
	// module inside a granted directory): use it as it is, even on a
	// read-only mount.
	struct stat st;
	if (lstat(out, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) || S_ISCHR(st.st_mode)))
		return;
	if (dir) {
		if (mkdir(out, 0755) < 0 && errno != EEXIST)
			jail_die("creating %s", target);
	} else {
		int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0)
			jail_die("creating %s", target);
		close(fd);
	}
}

static void jail_build_root(struct jail_config *c) {
	char path[PATH_MAX];
	// Nothing done in this mount namespace may reach the host's.
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		jail_die("making mounts private");
	if (mount("tmpfs", c->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=1024") < 0)
		jail_die("mounting the root tmpfs");
	// Into the new root first, before any mount point is made: the mounts
	// come as descriptors and need no host path, and a mount point below
	// an earlier mount (a granted directory) is reached through whatever
	// that directory holds, symbolic links a module may have left there
	// included. With the host's root detached, no path resolves outside
	// the new root, whatever it goes through. pivot_root(".", ".") stacks
	// the old root under the new one; detaching it leaves the new root
	// alone.
	if (chdir(c->root) < 0)
		jail_die("entering the root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		jail_die("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		jail_die("detaching the host's root");
	if (chdir("/") < 0)
		jail_die("entering the root");
	for (int i = 0; i < c->nmounts; i++) {
		struct jail_mount *m = &c->mounts[i];
		jail_target("", m->target, m->dir, path);
		if (syscall(SYS_move_mount, m->fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			jail_die("mounting %s", m->target);
		close(m->fd);
	}
	if (c->proc) {
		// Only the processes of this PID namespace, nothing of the host's
		// kernel state (subset=pid), and no process of another user
		// (hidepid=invisible), read-only.
		jail_target("", "/proc", 1, path);
		if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "subset=pid,hidepid=invisible") < 0)
			jail_die("mounting /proc");
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		jail_die("making the root read-only");
}

static void jail_drop_privileges(void) {
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		jail_die("no_new_privs");
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;
			jail_die("dropping capability %d from the bounding set", cap);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		jail_die("clearing ambient capabilities");
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d) < 0)
		jail_die("dropping capabilities");
}

// Landlock, where the kernel has it: the worker may open, list, create and
// remove only below its own mounts, as each allows, create unix sockets
// only in go-plugin's socket directory, and (ABI 4, 6) bind or connect no
// TCP port, reach no abstract unix socket and signal no process outside its
// own domain. The mounts allow no more than this already; Landlock is a
// third check by other kernel code, and it forbids what mounts cannot:
// sockets and FIFOs made in a writable grant, for one.
#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)	  // ABI 2
#define LL_FS_TRUNCATE (1ULL << 14)  // ABI 3
#define LL_FS_IOCTL_DEV (1ULL << 15) // ABI 5
#define LL_NET_BIND_TCP (1ULL << 0)	  // ABI 4
#define LL_NET_CONNECT_TCP (1ULL << 1) // ABI 4
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) // ABI 6
#define LL_SCOPE_SIGNAL (1ULL << 1)		  // ABI 6
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct jail_ll_ruleset {
	__u64 fs, net, scoped;
};

struct jail_ll_path_beneath {
	__u64 allowed;
	__s32 parent_fd;
} __attribute__((packed));

static void jail_ll_rule(int ruleset, __u64 handled, const char *path, int dir, __u64 allowed) {
	allowed &= handled;
	if (!dir)
		allowed &= LL_FILE_RIGHTS;
	if (!allowed)
		return;
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		jail_die("landlock: opening %s", path);
	struct jail_ll_path_beneath pb = {allowed, fd};
	if (syscall(SYS_landlock_add_rule, ruleset, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0) < 0)
		jail_die("landlock: rule for %s", path);
	close(fd);
}

static void jail_landlock(struct jail_config *c) {
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
	if (abi < 1)
		jail_die("landlock asked for but not available");
	struct jail_ll_ruleset attr = {0};
	size_t size = sizeof attr.fs;
	attr.fs = (1ULL << 13) - 1; // ABI 1: EXECUTE to MAKE_SYM
	if (abi >= 2)
		attr.fs |= LL_FS_REFER;
	if (abi >= 3)
		attr.fs |= LL_FS_TRUNCATE;
	if (abi >= 4) {
		attr.net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		size = 2 * sizeof attr.fs;
	}
	if (abi >= 5)
		attr.fs |= LL_FS_IOCTL_DEV;
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		size = sizeof attr;
	}
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0)
		jail_die("landlock: creating the ruleset");
	const __u64 ro = LL_FS_READ_FILE | LL_FS_READ_DIR;
	const __u64 rw = ro | LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_DIR | LL_FS_MAKE_REG |
			 LL_FS_MAKE_SYM | LL_FS_REFER | LL_FS_TRUNCATE;
	for (int i = 0; i < c->nmounts; i++) {
		struct jail_mount *m = &c->mounts[i];
		__u64 allowed = m->access == JAIL_RO ? ro : m->access == JAIL_RW ? rw : rw | LL_FS_MAKE_SOCK;
		jail_ll_rule(rs, attr.fs, m->target, m->dir, allowed);
	}
	if (c->proc)
		jail_ll_rule(rs, attr.fs, "/proc", 1, ro);
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		jail_die("landlock: restricting the worker");
	close(rs);
}

static void jail_seccomp(int fd) {
	size_t n;
	char *prog = jail_read_all(fd, 64 * 1024 * sizeof(struct sock_filter), &n);
	errno = 0;
	if (n == 0 || n % sizeof(struct sock_filter) != 0 || n / sizeof(struct sock_filter) > BPF_MAXINSNS)
		jail_die("seccomp filter: bad length %zu", n);
	struct sock_fprog fprog = {(unsigned short)(n / sizeof(struct sock_filter)), (struct sock_filter *)prog};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		jail_die("loading the seccomp filter");
	free(prog);
}

// jail_proc_parent returns this process's parent as the mounted /proc
// numbers it, or -1; and in self, how that /proc numbers this process.
static long jail_proc_parent(long *self) {
	char buf[512], *e;
	ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	*self = strtol(buf, &e, 10);
	if (*e || *self <= 0)
		return -1;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	// pid (comm) state ppid …; comm may hold anything but ends at the last ')'.
	char *p = strrchr(buf, ')'), state;
	long ppid;
	if (!p || sscanf(p + 1, " %c %ld", &state, &ppid) != 2 || ppid <= 0)
		return -1;
	return ppid;
}

// jail_started_by_supervisor tells whether this process is one the
// supervisor cloned to be a worker, with its configuration on descriptor
// cfd: PID 1 of a new PID namespace (its parent outside it) that nobody
// has set up (the /proc it sees is still an ancestor's, where it has
// another number), in a mount namespace other than its parent's, and a
// configuration the supervisor sealed (a memfd that takes no more writes
// or seals). A process that merely inherited the variable fails one of
// these, whoever set it: agent-ctl run by hand, as a container's init, or
// by `unshare --pid --fork` in the host's mount namespace.
static int jail_started_by_supervisor(int cfd) {
	if (getpid() != 1 || getppid() != 0)
		return 0;
	long self;
	long parent = jail_proc_parent(&self);
	if (parent < 0 || self == 1)
		return 0;
	char path[64];
	struct stat mine, theirs;
	snprintf(path, sizeof path, "/proc/%ld/ns/mnt", parent);
	if (stat("/proc/self/ns/mnt", &mine) < 0 || stat(path, &theirs) < 0)
		return 0;
	if (mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino)
		return 0;
	const int want = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	int seals = fcntl(cfd, F_GET_SEALS);
	return seals >= 0 && (seals & want) == want;
}

// jail_scrub_env removes the variable from the environment and wipes its
// bytes where execve put them (the initial stack, which
// /proc/PID/environ shows): unsetenv only drops the pointer.
static void jail_scrub_env(const char *name) {
	extern char **environ;
	size_t len = strlen(name);
	char *found[8];
	int n = 0;
	for (char **e = environ; e && *e && n < 8; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			found[n++] = *e;
	unsetenv(name); // every entry of that name
	for (int i = 0; i < n; i++)
		memset(found[i], 0, strlen(found[i]));
}

// jail_arch_filter adds a seccomp filter that kills the process on any
// call through another ABI than its own (i386's int $0x80, x32's numbers
// on x86-64). Filters stack and the strictest answer wins: where the other
// filter only kills the thread for these (libseccomp's default, which
// leaves a Go program stuck), this one kills the process.
static void jail_arch_filter(void) {
#if defined(__x86_64__)
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
#elif defined(__aarch64__)
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
#else
#error "jail: no ABI filter for this architecture"
#endif
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		jail_die("loading the ABI filter");
}

// jail_confine_self is the libcontainer engine's worker confining itself
// further, where runc has no such wall: Landlock to its mounts, and the
// ABI filter. runc's init has built the root and loaded the seccomp filter
// (which allows these calls) and no_new_privs is set. The variable lists
// what to do, one item a line: "landlock", "proc" (read /proc), then
// mounts as access (r, w or s: also sockets), kind (d or f) and path.
// Acting on it anywhere is harmless: it only ever takes rights away.
static void jail_confine_self(const char *v) {
	static struct jail_config c;
	char *list = strdup(v), *save = NULL;
	if (!list)
		jail_die("reading %s", CONFINE_ENV);
	int landlock = 0;
	for (char *l = strtok_r(list, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(l, "landlock")) {
			landlock = 1;
		} else if (!strcmp(l, "proc")) {
			c.proc = 1;
		} else if (strlen(l) > 2 && strchr("rws", l[0]) && strchr("df", l[1]) && l[2] == '/') {
			if (c.nmounts == JAIL_MAX_MOUNTS) {
				errno = 0;
				jail_die("%s: too many mounts", CONFINE_ENV);
			}
			struct jail_mount *m = &c.mounts[c.nmounts++];
			m->access = l[0] == 'r' ? JAIL_RO : l[0] == 'w' ? JAIL_RW : JAIL_SOCKETS;
			m->dir = l[1] == 'd';
			m->target = l + 2;
		} else {
			errno = 0;
			jail_die("%s: bad item %.64s", CONFINE_ENV, l);
		}
	}
	if (landlock)
		jail_landlock(&c);
	jail_arch_filter();
	jail_scrub_env(CONFINE_ENV);
	// list stays: the mount paths point into it, and this runs once.
}

__attribute__((constructor)) static void agent_ctl_jail(void) {
	const char *confine = getenv(CONFINE_ENV);
	if (confine)
		jail_confine_self(confine);
	const char *v = getenv(JAIL_ENV);
	if (!v)
		return;
	char *e;
	errno = 0;
	long cfd = strtol(v, &e, 10);
	if (errno || e == v || *e || cfd < 3 || cfd > INT_MAX)
		return;
	if (!jail_started_by_supervisor((int)cfd))
		return;
	jail_scrub_env(JAIL_ENV);

	size_t n;
	char *buf = jail_read_all((int)cfd, JAIL_MAX_CONFIG, &n);
	struct jail_config c;
	char err[160];
	if (agent_ctl_jail_parse(buf, n, &c, err, sizeof err) < 0) {
		errno = 0;
		jail_die("%s", err);
	}
	close((int)cfd);

	jail_build_root(&c);
	if (c.hostname && sethostname(c.hostname, strlen(c.hostname)) < 0)
		jail_die("setting the host name");

	// The supervisor writes one byte once this process is in its cgroup,
	// and keeps its end open while the worker lives; end of file means it
	// gave up, and so does the worker.
	char b;
	ssize_t k;
	do
		k = read(c.sync_fd, &b, 1);
	while (k < 0 && errno == EINTR);
	if (k != 1) {
		if (k == 0)
			errno = ECANCELED;
		jail_die("waiting for the supervisor");
	}
	// The cgroup it is in now becomes the root of its cgroup namespace.
	if (unshare(CLONE_NEWCGROUP) < 0)
		jail_die("cgroup namespace");
	for (int i = 0; i < c.nrlimits; i++)
		if (setrlimit(c.rlimits[i].resource, &c.rlimits[i].lim) < 0)
			jail_die("rlimit %d", c.rlimits[i].resource);
	// Everything above was done as the host's root, in namespaces the
	// host's user namespace owns, which the worker can therefore never
	// change. Now it becomes root of a user namespace that maps only that
	// one ID to an unprivileged host ID.
	if (setns(c.userns_fd, CLONE_NEWUSER) < 0)
		jail_die("entering the user namespace");
	close(c.userns_fd);
	if (setresgid(0, 0, 0) < 0)
		jail_die("setresgid");
	if (setresuid(0, 0, 0) < 0)
		jail_die("setresuid");
	// Changing IDs cleared the parent-death signal; set it again, then
	// make sure the parent did not die in between (the supervisor closes
	// its end of the sync pipe only once this worker is gone).
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		jail_die("parent-death signal");
	struct pollfd pfd = {c.sync_fd, POLLIN, 0};
	if (poll(&pfd, 1, 0) < 0)
		jail_die("checking the supervisor");
	if (pfd.revents & (POLLHUP | POLLERR | POLLIN)) {
		errno = ECANCELED;
		jail_die("supervisor gone");
	}
	close(c.sync_fd);
	jail_drop_privileges();
	if (c.landlock)
		jail_landlock(&c);
	jail_seccomp(c.seccomp_fd);
	close(c.seccomp_fd);
	// Confined: the supervisor's Start returns only now.
	char ok = 1;
	if (write(c.status_fd, &ok, 1) != 1)
		jail_die("reporting to the supervisor");
	close(c.status_fd);
	free(buf);
}
