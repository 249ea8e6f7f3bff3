/* stdout_stderr: interleaves flushed lines on stdout and stderr, then exits 7; tests stream separation and exit codes. */
#include <stdio.h>

int main(void) {
    printf("out 1\n");
    fflush(stdout);
    fprintf(stderr, "err 1\n");
    fflush(stderr);
    printf("out 2\n");
    fflush(stdout);
    fprintf(stderr, "err 2\n");
    fflush(stderr);
    return 7;
}
