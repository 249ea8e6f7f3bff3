/* sleep: prints "sleeping", sleeps argv[1] ms (default 10000), prints "awake"; tests wall-clock timeouts and kill. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long ms = argc > 1 ? atol(argv[1]) : 10000;
    printf("sleeping\n");
    fflush(stdout);
    if (ms > 0) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    printf("awake\n");
    fflush(stdout);
    return 0;
}
