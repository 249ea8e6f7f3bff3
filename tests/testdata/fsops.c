/* fsops: tries every kind of change to the /data mount; prints "OP: ok" or "OP: denied (strerror)" per operation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void report(const char *op, int ok) {
    if (ok)
        printf("%s: ok\n", op);
    else
        printf("%s: denied (%s)\n", op, strerror(errno));
    fflush(stdout);
}

/* open path with flags, then write "x" (if do_write); reports one result */
static void open_write(const char *op, const char *path, int flags, int do_write) {
    int fd = open(path, flags, 0644);
    int ok = fd >= 0;
    if (ok && do_write)
        ok = write(fd, "x", 1) == 1;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    errno = saved;
    report(op, ok);
}

int main(void) {
    /* read first: must work in read-only and read-write mode */
    {
        char buf[64];
        int fd = open("/data/existing.txt", O_RDONLY);
        int ok = fd >= 0 && read(fd, buf, sizeof buf) >= 0;
        int saved = errno;
        if (fd >= 0)
            close(fd);
        errno = saved;
        report("read", ok);
    }

    /* changes to existing.txt's contents (each works on its own in rw mode) */
    open_write("write", "/data/existing.txt", O_WRONLY, 1);
    open_write("append", "/data/existing.txt", O_WRONLY | O_APPEND, 1);
    {
        int fd = open("/data/existing.txt", O_RDWR);
        int ok = fd >= 0 && ftruncate(fd, 0) == 0;
        int saved = errno;
        if (fd >= 0)
            close(fd);
        errno = saved;
        report("ftruncate", ok);
    }
    open_write("truncate", "/data/existing.txt", O_WRONLY | O_TRUNC, 0);

    /* changes to the directory */
    open_write("create", "/data/created.txt", O_WRONLY | O_CREAT | O_EXCL, 0);
    report("unlink", unlink("/data/victim.txt") == 0);
    report("mkdir", mkdir("/data/newdir", 0755) == 0);
    report("rmdir", rmdir("/data/subdir") == 0);
    report("symlink", symlink("existing.txt", "/data/link") == 0);
    {
        /* 2009-02-13T23:31:30Z, so the test can see the change */
        struct timespec ts[2] = { { .tv_sec = 1234567890 }, { .tv_sec = 1234567890 } };
        report("utimes", utimensat(AT_FDCWD, "/data/existing.txt", ts, 0) == 0);
    }
    report("rename", rename("/data/existing.txt", "/data/renamed.txt") == 0);
    return 0;
}
