/* malloc: allocates and touches 1 MiB blocks until malloc fails, then reports and aborts; tests memory limits via libc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

/* Storing every block in a volatile sink makes it escape, so the compiler
 * cannot elide the malloc/memset pair or assume malloc never fails. */
static void *volatile sink;

int main(void) {
    int n = 0;
    for (;;) {
        void *p = malloc(MIB);
        if (p == NULL) {
            fprintf(stderr, "malloc: out of memory after %d MiB\n", n);
            abort();
        }
        memset(p, 1, MIB);
        sink = p;
        n++;
    }
}
