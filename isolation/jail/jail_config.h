// The configuration a jail worker's constructor reads (see jail.go for the
// format), shared by the constructor and the Go tests that fuzz its parser.
#ifndef AGENT_CTL_JAIL_CONFIG_H
#define AGENT_CTL_JAIL_CONFIG_H

#include <stddef.h>
#include <sys/resource.h>

#define JAIL_ENV "_AGENT_CTL_JAIL"
#define CONFINE_ENV "_AGENT_CTL_CONFINE"
#define JAIL_MAGIC "agent-ctl-jail-1"
#define JAIL_MAX_CONFIG (256 * 1024)
#define JAIL_MAX_MOUNTS 256
#define JAIL_MAX_RLIMITS 8

enum { JAIL_RO, JAIL_RW, JAIL_SOCKETS };

struct jail_mount {
	int fd;
	const char *target;
	int dir;
	int access; // JAIL_RO, JAIL_RW or JAIL_SOCKETS
};

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

// agent_ctl_jail_parse parses the n bytes at buf into c, whose strings
// point into buf. It returns 0, or -1 with a message in err.
int agent_ctl_jail_parse(char *buf, size_t n, struct jail_config *c, char *err, size_t errlen);

#endif
