package main

// One malloc arena for the whole worker. glibc gives each thread that
// first calls malloc an arena of its own: a 64 MiB reservation mapped,
// trimmed and made writable page by page (mmap, munmap, mprotect and the
// faults), in every fresh worker, for the few threads that allocate at all
// (wasmtime's calls from Go's threads, its WASI thread pool). A worker
// serves one call and its allocations hardly contend, so the main arena
// serves them all (docs/performance.md). Set from a constructor: before
// any thread exists.

/*
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void agentctl_one_arena(void) {
	mallopt(M_ARENA_MAX, 1);
}

// agentctl_touch_malloc allocates from the calling thread's arena.
static void agentctl_touch_malloc(void) {
	free(malloc(64));
}

// agentctl_arenas counts the arenas malloc_info reports (one <heap> each),
// or returns -1.
static int agentctl_arenas(void) {
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL)
		return -1;
	int ok = malloc_info(0, f) == 0;
	fclose(f);
	int n = 0;
	for (char *p = buf; ok && (p = strstr(p, "<heap nr=")) != NULL; p++)
		n++;
	free(buf);
	return ok ? n : -1;
}
*/
import "C"

// touchMalloc allocates with malloc from the calling thread.
func touchMalloc() { C.agentctl_touch_malloc() }

// mallocArenas is how many malloc arenas the process has.
func mallocArenas() int { return int(C.agentctl_arenas()) }
