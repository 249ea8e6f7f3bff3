/* stream: prints "tick 0".."tick N-1" (N=argv[1], default 5), flushed, argv[2] ms apart (default 200); tests live output streaming. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void sleep_ms(long ms) {
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5;
    long ms = argc > 2 ? atol(argv[2]) : 200;
    for (int i = 0; i < n; i++) {
        if (i > 0 && ms > 0)
            sleep_ms(ms); /* only between lines, not before the first or after the last */
        printf("tick %d\n", i);
        fflush(stdout);
    }
    return 0;
}
