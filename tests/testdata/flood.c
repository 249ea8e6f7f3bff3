/* flood: writes endless 64 KiB chunks of "AAAA...\n" lines to stdout; tests output caps and back-pressure. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE 64 /* 63 'A' + '\n' */
static char buf[64 * 1024];

int main(void) {
    memset(buf, 'A', sizeof buf);
    for (size_t i = LINE - 1; i < sizeof buf; i += LINE)
        buf[i] = '\n';
    for (;;) {
        /* short writes are ignored; a failed or zero-length write ends the run */
        if (write(1, buf, sizeof buf) <= 0)
            exit(3);
    }
}
