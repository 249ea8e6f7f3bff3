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
// Every step either succeeds or ends the process with status 125 and one
// line on stderr naming the step: a worker never runs half-confined.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/types.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
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
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define JAIL_ENV "_AGENT_CTL_JAIL"
#define JAIL_MAGIC "agent-ctl-jail-1"
#define JAIL_MAX_CONFIG (256 * 1024)
#define JAIL_MAX_MOUNTS 256
#define JAIL_MAX_RLIMITS 8

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

struct jail_mount {
	int fd;
	const char *target;
	int dir;
	int access; // JAIL_RO, JAIL_RW or JAIL_SOCKETS
};

enum { JAIL_RO, JAIL_RW, JAIL_SOCKETS };

struct jail_rlimit {
	int resource;
	struct rlimit lim;
};

struct jail_config {
	const char *root;
	const char *hostname;
	int proc;
	int seccomp_fd;
	int sync_fd;
	int userns_fd;
	int status_fd;
	int landlock;
	int nmounts, nrlimits;
	struct jail_mount mounts[JAIL_MAX_MOUNTS];
	struct jail_rlimit rlimits[JAIL_MAX_RLIMITS];
};

// The configuration is a list of NUL-terminated fields: the magic, then
// records of an operation name and its arguments, then "end".
struct jail_reader {
	char *p, *end;
};

static const char *jail_field(struct jail_reader *r) {
	char *s = r->p;
	char *nul = memchr(s, 0, r->end - s);
	if (!nul) {
		errno = 0;
		jail_die("configuration: truncated");
	}
	r->p = nul + 1;
	return s;
}

static long long jail_number(struct jail_reader *r, long long min, long long max) {
	const char *s = jail_field(r);
	char *e;
	errno = 0;
	long long v = strtoll(s, &e, 10);
	if (errno || e == s || *e || v < min || v > max) {
		errno = 0;
		jail_die("configuration: bad number %.32s", s);
	}
	return v;
}

static const char *jail_path(struct jail_reader *r) {
	const char *s = jail_field(r);
	if (s[0] != '/' || strlen(s) >= PATH_MAX / 2) {
		errno = 0;
		jail_die("configuration: bad path %.64s", s);
	}
	return s;
}

static void jail_parse(char *buf, size_t n, struct jail_config *c) {
	struct jail_reader r = {buf, buf + n};
	memset(c, 0, sizeof *c);
	c->seccomp_fd = c->sync_fd = c->userns_fd = c->status_fd = -1;
	if (strcmp(jail_field(&r), JAIL_MAGIC) != 0) {
		errno = 0;
		jail_die("configuration: not from this version of agent-ctl");
	}
	for (;;) {
		const char *op = jail_field(&r);
		if (!strcmp(op, "end"))
			break;
		errno = 0;
		if (!strcmp(op, "root")) {
			c->root = jail_path(&r);
		} else if (!strcmp(op, "mount")) {
			if (c->nmounts == JAIL_MAX_MOUNTS)
				jail_die("configuration: too many mounts");
			struct jail_mount *m = &c->mounts[c->nmounts++];
			m->fd = (int)jail_number(&r, 3, INT_MAX);
			m->target = jail_path(&r);
			m->dir = (int)jail_number(&r, 0, 1);
			m->access = (int)jail_number(&r, JAIL_RO, JAIL_SOCKETS);
		} else if (!strcmp(op, "proc")) {
			c->proc = 1;
		} else if (!strcmp(op, "hostname")) {
			c->hostname = jail_field(&r);
		} else if (!strcmp(op, "rlimit")) {
			if (c->nrlimits == JAIL_MAX_RLIMITS)
				jail_die("configuration: too many rlimits");
			struct jail_rlimit *l = &c->rlimits[c->nrlimits++];
			l->resource = (int)jail_number(&r, 0, RLIM_NLIMITS - 1);
			l->lim.rlim_cur = (rlim_t)jail_number(&r, 0, LLONG_MAX);
			l->lim.rlim_max = (rlim_t)jail_number(&r, 0, LLONG_MAX);
		} else if (!strcmp(op, "seccomp")) {
			c->seccomp_fd = (int)jail_number(&r, 3, INT_MAX);
		} else if (!strcmp(op, "status")) {
			c->status_fd = (int)jail_number(&r, 3, INT_MAX);
		} else if (!strcmp(op, "landlock")) {
			c->landlock = 1;
		} else if (!strcmp(op, "userns")) {
			c->userns_fd = (int)jail_number(&r, 3, INT_MAX);
		} else if (!strcmp(op, "sync")) {
			c->sync_fd = (int)jail_number(&r, 3, INT_MAX);
		} else {
			jail_die("configuration: unknown operation %.32s", op);
		}
	}
	errno = 0;
	if (!c->root)
		jail_die("configuration: no root");
	if (c->seccomp_fd < 0)
		jail_die("configuration: no seccomp filter");
	if (c->sync_fd < 0)
		jail_die("configuration: no sync descriptor");
	if (c->userns_fd < 0)
		jail_die("configuration: no user namespace");
	if (c->status_fd < 0)
		jail_die("configuration: no status descriptor");
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

__attribute__((constructor)) static void agent_ctl_jail(void) {
	const char *v = getenv(JAIL_ENV);
	if (!v)
		return;
	char *e;
	errno = 0;
	long cfd = strtol(v, &e, 10);
	if (errno || e == v || *e || cfd < 3 || cfd > INT_MAX)
		jail_die("%s=%.16s: not a descriptor", JAIL_ENV, v);

	size_t n;
	char *buf = jail_read_all((int)cfd, JAIL_MAX_CONFIG, &n);
	struct jail_config c;
	jail_parse(buf, n, &c);
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
	unsetenv(JAIL_ENV);
}
