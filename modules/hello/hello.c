/* hello: greets someone; the smallest agent-ctl tool (demo and benchmarks). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *name = "world";
    int shout = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--shout") == 0)
            shout = 1;
        else {
            fprintf(stderr, "hello: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    char buf[256];
    snprintf(buf, sizeof buf, "hello, %s", name);
    if (shout)
        for (char *p = buf; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    printf("%s\n", buf);
    return 0;
}
