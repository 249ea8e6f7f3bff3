// linetrap: divides by zero at a known line, built with -g (DWARF kept) so
// the trap's backtrace names the line: linetrap.c:12 in divide.
#include <stdio.h>

// volatile: the division happens at run time, not folded away.
static volatile int zero = 0;

// noinline: divide keeps a frame of its own in the backtrace.
__attribute__((noinline)) static int divide(int a, int b) {
	printf("dividing %d by %d\n", a, b);
	fflush(stdout);
	return a / b;
}

int main(int argc, char **argv) {
	(void)argv;
	return divide(argc * 7, zero);
}
