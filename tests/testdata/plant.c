/* plant: makes a symbolic link, as a module with a writable grant can:
   plant TARGET LINKPATH. Prints "planted" or the error. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: plant TARGET LINKPATH\n");
        return 2;
    }
    if (symlink(argv[1], argv[2]) != 0) {
        printf("denied (%s)\n", strerror(errno));
        return 1;
    }
    printf("planted\n");
    return 0;
}
