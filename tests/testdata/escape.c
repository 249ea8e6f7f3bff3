/* escape: tries to reach host files outside the /data preopen; prints "NAME: denied" or "NAME: ALLOWED" per attempt. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static void report(const char *name, int allowed) {
    printf("%s: %s\n", name, allowed ? "ALLOWED" : "denied");
    fflush(stdout);
}

static void try_open(const char *name, const char *path) {
    int fd = open(path, O_RDONLY);
    report(name, fd >= 0);
    if (fd >= 0)
        close(fd);
}

int main(void) {
    try_open("dotdot", "/data/../etc/passwd");
    try_open("dotdot-deep", "/data/../../../../etc/passwd");
    try_open("abs-etc", "/etc/passwd");
    try_open("proc", "/proc/self/environ");
    try_open("symlink-dir", "/data/link-out/passwd");  /* link-out -> host /etc */
    try_open("symlink-file", "/data/link-file");       /* link-file -> host /etc/passwd */

    DIR *d = opendir("/");
    int listed = 0;
    if (d != NULL) {
        listed = readdir(d) != NULL;
        closedir(d);
    }
    report("root-list", listed);

    try_open("dotdot-sub", "/data/sub/../../etc/passwd");

    /* wasi-libc emulates chdir in the guest; a failed chdir counts as denied */
    if (chdir("/data") == 0)
        try_open("chdir-dotdot", "../etc/passwd");
    else
        report("chdir-dotdot", 0);
    return 0;
}
