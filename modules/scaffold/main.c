/* __NAME__: joins --text (or the contents of --file) --repeat times, upper-cases it with
 * --upper, and prints the result and its size as one JSON document. Its parameters are
 * declared once, in manifest.json, which the Makefile builds into the module for the SDK
 * (agentctl/) to read. Exit 0, 1 when the file cannot be read, 2 for a usage error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agentctl.h"

static const char manifest[] =
#include "manifest.inc"
    ;

int main(int argc, char **argv) {
    agentctl_init_manifest(argc, argv, manifest);
    const char *text = agentctl_str("text", NULL);
    const char *file = agentctl_str("file", NULL);
    long long repeat = agentctl_int("repeat", 1);
    if ((text == NULL) == (file == NULL))
        agentctl_usage("give --text or --file (one of them)");
    if (repeat < 1 || repeat > 100)
        agentctl_usage("--repeat: want 1 to 100, got %lld", repeat);

    size_t n = text ? strlen(text) : 0;
    char *content = NULL;
    if (file) {
        content = agentctl_read_file(file, 1 << 20, &n);
        if (!content)
            agentctl_fail(1, "%s", agentctl_path_error(file, errno));
        text = content;
    }

    size_t total = n * (size_t)repeat + (size_t)repeat - 1;
    char *out = malloc(total + 1);
    if (!out)
        agentctl_fail(1, "out of memory");
    for (long long i = 0; i < repeat; i++) {
        char *at = out + (size_t)i * (n + 1);
        memcpy(at, text, n);
        if (i + 1 < repeat)
            at[n] = ' ';
    }
    out[total] = '\0';
    size_t words = 0;
    for (size_t i = 0; i < total; i++) {
        if (agentctl_bool("upper") && out[i] >= 'a' && out[i] <= 'z')
            out[i] -= 'a' - 'A';
        int space = out[i] == ' ' || out[i] == '\t' || out[i] == '\n' || out[i] == '\r';
        int prev = i == 0 || out[i - 1] == ' ' || out[i - 1] == '\t' || out[i - 1] == '\n' || out[i - 1] == '\r';
        if (!space && prev)
            words++;
    }

    agentctl_json j;
    agentctl_json_start(&j, stdout);
    agentctl_json_begin_object(&j);
    agentctl_json_key(&j, "text");
    agentctl_json_str_n(&j, out, total);
    agentctl_json_key(&j, "bytes");
    agentctl_json_int(&j, (long long)total);
    agentctl_json_key(&j, "words");
    agentctl_json_int(&j, (long long)words);
    agentctl_json_end(&j);
    agentctl_json_finish(&j);
    free(out);
    free(content);
    return 0;
}
