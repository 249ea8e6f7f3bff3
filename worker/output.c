// The C half of output.go: wasmtime calls these with the Go writer's
// cgo.Handle as its data.

#include <stddef.h>
#include <stdint.h>

#include "_cgo_export.h"

// From wasmtime's wasi.h, which wasmtime-go keeps in its own module.
void wasi_config_set_stdout_custom(wasi_config_t *config,
                                   ptrdiff_t (*callback)(void *, const unsigned char *, size_t),
                                   void *data, void (*finalizer)(void *));
void wasi_config_set_stderr_custom(wasi_config_t *config,
                                   ptrdiff_t (*callback)(void *, const unsigned char *, size_t),
                                   void *data, void (*finalizer)(void *));

static ptrdiff_t output_write(void *data, const unsigned char *buf, size_t n) {
	return agentctlOutputWrite((uintptr_t)data, (unsigned char *)buf, n);
}

static void output_release(void *data) { agentctlOutputRelease((uintptr_t)data); }

void agentctl_set_output(wasi_config_t *config, int is_stderr, uintptr_t writer) {
	if (is_stderr)
		wasi_config_set_stderr_custom(config, output_write, (void *)writer, output_release);
	else
		wasi_config_set_stdout_custom(config, output_write, (void *)writer, output_release);
}
