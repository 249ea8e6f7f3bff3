/* cat: copies the file named by argv[1] (or stdin) to stdout; tests stdin/preopen plumbing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[64 * 1024]; /* static: the wasm shadow stack is only 64 KiB */

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "cat: write: %s\n", strerror(errno));
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    const char *name = "stdin";
    int fd = 0;
    if (argc > 1) {
        name = argv[1];
        fd = open(name, O_RDONLY);
        if (fd < 0) {
            fprintf(stderr, "cat: %s: %s\n", name, strerror(errno));
            return 1;
        }
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "cat: %s: %s\n", name, strerror(errno));
            return 1;
        }
        write_all(buf, (size_t)r);
    }
    if (fd != 0)
        close(fd);
    return 0;
}
