// hostfile: drives the agent_ctl file functions (docs/host-functions.md)
// with whatever its arguments say, hostile calls included, and prints one
// line per operation: the operation, the errno's number, and what it got.
// Handles are numbered by the host; "$" in an argument stands for the last
// handle opened. Operations:
//   open DIR PATH       file_open for reading
//   openw DIR PATH      file_open for reading and writing
//   cat H               file_read to the end, 7 bytes a call; prints the text
//   read H N            one file_read of N bytes at the start of a buffer
//   write H TEXT        file_write
//   close H             file_close
//   many DIR PATH N     N opens of the same file; prints how many succeeded
//                       and the first errno that was not OK
//   oob-buf H           file_read into a buffer past the end of memory
//   oob-len H           file_read of a length past the end of memory
//   oob-out H           file_read with its count written past the memory
//   oob-path DIR        file_open with a path pointer past the memory
//   badflags DIR PATH   file_open with an unknown flag
//   slurp DIR PATH N    reads the file to its end with file_read, N bytes a
//                       call (at most 4 MiB); prints the errno and the total
//   wslurp PATH N       the same through WASI (open and read)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define IMPORT(name) __attribute__((import_module("agent_ctl"), import_name(name)))

IMPORT("file_open") int32_t file_open(const char *dir, int32_t dir_len, const char *path, int32_t path_len, int32_t flags, uint32_t *handle);
IMPORT("file_read") int32_t file_read(int32_t h, void *buf, int32_t len, uint32_t *n);
IMPORT("file_write") int32_t file_write(int32_t h, const void *buf, int32_t len, uint32_t *n);
IMPORT("file_close") int32_t file_close(int32_t h);

static int32_t last;

static int32_t handle(const char *s) { return strcmp(s, "$") == 0 ? last : (int32_t)atoi(s); }

static int32_t open_(const char *dir, const char *path, int32_t flags) {
	uint32_t h = 0;
	int32_t e = file_open(dir, (int32_t)strlen(dir), path, (int32_t)strlen(path), flags, &h);
	if (e == 0)
		last = (int32_t)h;
	return e;
}

// A pointer past the end of the module's memory (in pages of 64 KiB).
static void *past_memory(void) { return (void *)(__builtin_wasm_memory_size(0) * 65536); }

// big is the buffer of slurp and wslurp.
static char big[4 << 20];

int main(int argc, char **argv) {
	static char buf[1 << 16];
	for (int i = 1; i < argc; i++) {
		const char *op = argv[i];
		uint32_t n = 0;
		if ((!strcmp(op, "open") || !strcmp(op, "openw")) && i + 2 < argc) {
			int32_t e = open_(argv[i + 1], argv[i + 2], op[4] == 'w');
			printf("%s %s %s: %d\n", op, argv[i + 1], argv[i + 2], e);
			i += 2;
		} else if (!strcmp(op, "cat") && i + 1 < argc) {
			int32_t h = handle(argv[++i]), e;
			size_t got = 0;
			while ((e = file_read(h, buf + got, 7, &n)) == 0 && n > 0 && got + n < sizeof buf - 8)
				got += n;
			printf("cat: %d %.*s\n", e, (int)got, buf);
		} else if (!strcmp(op, "read") && i + 2 < argc) {
			int32_t e = file_read(handle(argv[i + 1]), buf, atoi(argv[i + 2]), &n);
			printf("read: %d %u\n", e, e == 0 ? n : 0);
			i += 2;
		} else if (!strcmp(op, "write") && i + 2 < argc) {
			int32_t e = file_write(handle(argv[i + 1]), argv[i + 2], (int32_t)strlen(argv[i + 2]), &n);
			printf("write: %d %u\n", e, e == 0 ? n : 0);
			i += 2;
		} else if (!strcmp(op, "close") && i + 1 < argc) {
			printf("close: %d\n", file_close(handle(argv[++i])));
		} else if (!strcmp(op, "many") && i + 3 < argc) {
			int k = 0, want = atoi(argv[i + 3]);
			int32_t e = 0;
			while (k < want && (e = open_(argv[i + 1], argv[i + 2], 0)) == 0)
				k++;
			printf("many: %d opened, %d\n", k, e);
			i += 3;
		} else if (!strcmp(op, "oob-buf") && i + 1 < argc) {
			printf("oob-buf: %d\n", file_read(handle(argv[++i]), past_memory(), 16, &n));
		} else if (!strcmp(op, "oob-len") && i + 1 < argc) {
			printf("oob-len: %d\n", file_read(handle(argv[++i]), buf, 0x7fffffff, &n));
		} else if (!strcmp(op, "oob-out") && i + 1 < argc) {
			printf("oob-out: %d\n", file_read(handle(argv[++i]), buf, 16, (uint32_t *)((char *)past_memory() - 2)));
		} else if (!strcmp(op, "oob-path") && i + 1 < argc) {
			uint32_t h;
			const char *dir = argv[++i];
			printf("oob-path: %d\n", file_open(dir, (int32_t)strlen(dir), (char *)past_memory() - 4, 8, 0, &h));
		} else if (!strcmp(op, "badflags") && i + 2 < argc) {
			printf("badflags: %d\n", open_(argv[i + 1], argv[i + 2], 6));
			i += 2;
		} else if (!strcmp(op, "slurp") && i + 3 < argc) {
			int32_t e = open_(argv[i + 1], argv[i + 2], 0), chunk = atoi(argv[i + 3]);
			unsigned long long total = 0;
			if (chunk < 1 || chunk > (int32_t)sizeof big)
				chunk = sizeof big;
			while (e == 0 && (e = file_read(last, big, chunk, &n)) == 0 && n > 0)
				total += n;
			printf("slurp: %d %llu\n", e, total);
			i += 3;
		} else if (!strcmp(op, "wslurp") && i + 2 < argc) {
			int fd = open(argv[i + 1], O_RDONLY), chunk = atoi(argv[i + 2]);
			unsigned long long total = 0;
			ssize_t got;
			if (chunk < 1 || chunk > (int)sizeof big)
				chunk = sizeof big;
			while (fd >= 0 && (got = read(fd, big, chunk)) > 0)
				total += got;
			printf("wslurp: %d %llu\n", fd < 0 ? -1 : 0, total);
			i += 2;
		} else {
			fprintf(stderr, "hostfile: bad operation %s\n", op);
			return 2;
		}
	}
	return 0;
}
