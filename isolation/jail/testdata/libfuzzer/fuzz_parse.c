// libFuzzer harness for the jail constructor's configuration parser, with
// AddressSanitizer and UBSan and coverage of the C code itself (Go's
// FuzzParse reaches the same parser through cgo but sees no C coverage).
// Built and run by `make fuzz-jail`; not part of any Go build (testdata).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jail_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
	// An exact-size copy: ASan sees any read past the input.
	char *buf = malloc(n ? n : 1);
	struct jail_config *c = malloc(sizeof *c);
	char err[160];
	if (!buf || !c)
		abort();
	memcpy(buf, data, n);
	if (agent_ctl_jail_parse(buf, n, c, err, sizeof err) == 0) {
		// What it accepted points into the input.
		if (c->root < buf || c->root >= buf + n)
			abort();
		for (int i = 0; i < c->nmounts; i++)
			if (c->mounts[i].target < buf || c->mounts[i].target >= buf + n || c->mounts[i].fd < 3)
				abort();
	} else if (!memchr(err, 0, sizeof err) || !err[0]) {
		abort();
	}
	free(c);
	free(buf);
	return 0;
}
