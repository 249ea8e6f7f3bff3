/* env: prints every environment variable, one per line, then "env: N variables"; tests env isolation. */
#include <stdio.h>

extern char **environ;

int main(void) {
    int n = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++, n++)
        printf("%s\n", *e);
    printf("env: %d variables\n", n);
    return 0;
}
