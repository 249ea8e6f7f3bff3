#include <errno.h>
/* agentctl_test.c: native unit tests of agentctl.c (gcc; `make -C modules/sdk test`).
 * The network calls need agent-ctl's host and are tested end to end by
 * cmd/agent-ctl/sdk_test.go; here only what needs no host. */
#define _GNU_SOURCE
#include "agentctl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
            failures++;                                               \
        }                                                             \
    } while (0)

#define SPEC "name count:int ratio:num shout:bool tag"

/* usage runs agentctl_init on args in a child and checks that it exits 2 with want in
 * its stderr. */
static void usage(const char *want, int argc, char **argv) {
    int fds[2];
    if (pipe(fds) != 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        agentctl_init("t", argc, argv, SPEC);
        _exit(0);
    }
    close(fds[1]);
    char buf[512] = {0};
    ssize_t n, at = 0;
    while ((n = read(fds[0], buf + at, sizeof buf - 1 - (size_t)at)) > 0)
        at += n;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: exit status %d, want 2", want, WEXITSTATUS(st));
    CHECK(strstr(buf, want) != NULL, "stderr %s, want %s", buf, want);
}

static char *json_of(void (*write)(agentctl_json *)) {
    char *buf;
    size_t n;
    FILE *f = open_memstream(&buf, &n);
    agentctl_json j;
    agentctl_json_start(&j, f);
    write(&j);
    agentctl_json_finish(&j);
    fclose(f);
    return buf;
}

static void doc(agentctl_json *j) {
    agentctl_json_begin_object(j);
    agentctl_json_key(j, "s");
    agentctl_json_str(j, "q\" b\\ nl\n tab\t cr\r bs\b ff\f nul-less \x01\x1f del\x7f e\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80");
    agentctl_json_key(j, "bad");
    agentctl_json_str(j, "\xff\xc3(\xe2\x82 \xed\xa0\x80");
    agentctl_json_key(j, "a");
    agentctl_json_begin_array(j);
    agentctl_json_int(j, -42);
    agentctl_json_num(j, 0.5);
    agentctl_json_bool(j, 1);
    agentctl_json_bool(j, 0);
    agentctl_json_null(j);
    agentctl_json_str(j, NULL);
    agentctl_json_begin_object(j);
    agentctl_json_end(j);
    agentctl_json_begin_array(j);
    agentctl_json_end(j);
    agentctl_json_end(j);
    agentctl_json_key(j, "k\"");
    agentctl_json_str_n(j, "ab\0c", 4);
    agentctl_json_end(j);
}

int main(void) {
    {
        char *argv[] = {"t", "--name", "--op", "--count=-3", "--tag", "a", "--shout", "--tag", "b",
                        "--ratio", "1.5", "pos1", "--", "--pos2", NULL};
        agentctl_init("t", 14, argv, SPEC);
        CHECK(strcmp(agentctl_str("name", "x"), "--op") == 0, "name %s", agentctl_str("name", "x"));
        CHECK(agentctl_int("count", 0) == -3, "count %lld", agentctl_int("count", 0));
        CHECK(agentctl_num("ratio", 0) == 1.5, "ratio");
        CHECK(agentctl_bool("shout") && agentctl_has("shout"), "shout");
        CHECK(agentctl_count("tag") == 2, "tags %d", agentctl_count("tag"));
        CHECK(strcmp(agentctl_str_at("tag", 1), "b") == 0, "tag 1");
        CHECK(agentctl_str_at("tag", 2) == NULL, "tag 2");
        CHECK(strcmp(agentctl_str("tag", ""), "b") == 0, "last tag");
        CHECK(agentctl_npos() == 2 && strcmp(agentctl_pos(0), "pos1") == 0 && strcmp(agentctl_pos(1), "--pos2") == 0,
              "positional %d", agentctl_npos());
    }
    {
        char *argv[] = {"t", "--shout=false", NULL};
        agentctl_init("t", 2, argv, SPEC);
        CHECK(!agentctl_bool("shout") && !agentctl_has("shout"), "shout=false");
        CHECK(!agentctl_has("name") && strcmp(agentctl_str("name", "def"), "def") == 0, "default");
        CHECK(agentctl_int("count", 7) == 7, "int default");
    }
    {
        char *a1[] = {"t", "--nope", "x"};
        usage("t: unknown flag --nope", 3, a1);
        char *a2[] = {"t", "--name"};
        usage("t: --name needs a value", 2, a2);
        char *a3[] = {"t", "--count", "12x"};
        usage("t: --count: want an integer, got \"12x\"", 3, a3);
        char *a4[] = {"t", "--count", "99999999999999999999"};
        usage("--count: want an integer", 3, a4);
        char *a5[] = {"t", "--ratio", "nan"};
        usage("--ratio: want a number", 3, a5);
        char *a6[] = {"t", "--shout=yes"};
        usage("--shout: want true or false", 2, a6);
    }
    {
        char *got = json_of(doc);
        const char *want =
            "{\"s\":\"q\\\" b\\\\ nl\\n tab\\t cr\\r bs\\b ff\\f nul-less \\u0001\\u001f del\\u007f e\xc3\xa9 \\u2028 \xf0\x9f\x98\x80\","
            "\"bad\":\"\\ufffd\\ufffd(\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\","
            "\"a\":[-42,0.5,true,false,null,null,{},[]],"
            "\"k\\\"\":\"ab\\u0000c\"}\n";
        CHECK(strcmp(got, want) == 0, "json\n got %s\nwant %s", got, want);
        free(got);
    }
    {
        char buf[64];
        CHECK(agentctl_target(buf, sizeof buf, "10.0.0.1", 22) == 12 && strcmp(buf, "10.0.0.1:22\n") == 0, "v4 %s", buf);
        CHECK(agentctl_target(buf, sizeof buf, "::1", 443) == 10 && strcmp(buf, "[::1]:443\n") == 0, "v6 %s", buf);
        CHECK(agentctl_target(buf, 5, "10.0.0.1", 22) == -1, "short buffer");
        CHECK(strcmp(agentctl_errname(AGENTCTL_DENIED), "DENIED") == 0, "errname");
        CHECK(strcmp(agentctl_errname(99), "UNKNOWN") == 0, "errname 99");
        CHECK(strcmp(agentctl_strerror(AGENTCTL_REFUSED), "connection refused") == 0, "strerror");
        CHECK(strcmp(agentctl_probe_state(AGENTCTL_PROBE_FILTERED), "filtered") == 0, "state");
        int h = 0;
        CHECK(agentctl_connect("127.0.0.1", 80, 0, &h) == AGENTCTL_DENIED && h == 0, "native connect is denied");
        unsigned char r[2] = {9, 9};
        CHECK(agentctl_probe("a:1\nb:2\n", 8, 0, r, 2) == AGENTCTL_OK && r[0] == AGENTCTL_PROBE_DENIED && r[1] == AGENTCTL_PROBE_DENIED,
              "native probe is denied");
    }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    {
        /* The spec from a manifest: names and types from inputSchema, in order; a malformed
         * manifest or one without a name is refused. */
        const char *m = "{\"name\": \"t-x\", \"version\": \"1.0.0\", \"inputSchema\": {\"type\": \"object\", \"properties\": {\n  \"na\\u006de\": {\"type\": \"string\", \"enum\": [\"a\", {\"b\": [1, -2.5e3, true, null]}]},\n  \"count\": {\"type\": \"integer\"}, \"ratio\": {\"type\": \"number\"}, \"shout\": {\"type\": \"boolean\"},\n  \"tag\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}}, \"any\": {}}}, \"x\": [[], {}]}";
        char tool[32], spec[128];
        CHECK(agentctl_spec_from_manifest(m, tool, sizeof tool, spec, sizeof spec) == 0, "manifest");
        CHECK(strcmp(tool, "t-x") == 0, "tool %s", tool);
        CHECK(strcmp(spec, "name count:int ratio:num shout:bool tag:int any") == 0, "spec %s", spec);
        const char *bad[] = {"", "{", "{\"name\": \"x\",}", "{\"version\": \"1\"}", "{\"name\": \"x\"} x",
                             "{\"name\": \"x\", \"inputSchema\": {\"properties\": {\"a b\": {}}}}", "[1, 2"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
            CHECK(agentctl_spec_from_manifest(bad[i], tool, sizeof tool, spec, sizeof spec) == -1, "bad manifest %s", bad[i]);
        CHECK(agentctl_spec_from_manifest(m, tool, sizeof tool, spec, 10) == -1, "short spec buffer");
        char *argv[] = {"t", "--count", "4", "--shout", "--tag", "7", NULL};
        agentctl_init_manifest(6, argv, m);
        CHECK(strcmp(agentctl_tool(), "t-x") == 0 && agentctl_int("count", 0) == 4 && agentctl_bool("shout") &&
                  agentctl_int("tag", 0) == 7, "init from manifest");
        /* Not granted: EBADF (and wasi-libc's ENOTCAPABLE) on a path names the grant. */
        CHECK(strcmp(agentctl_path_error("/data/in.txt", EBADF),
                     "not granted: /data/in.txt (agent-ctl grant t-x --dir HOST_DIR:/data)") == 0,
              "path error %s", agentctl_path_error("/data/in.txt", EBADF));
        CHECK(strstr(agentctl_path_error("/data/in.txt", ENOENT), "not granted") == NULL, "ENOENT");
        CHECK(agentctl_read_file("/nonexistent/agentctl-test", 10, NULL) == NULL && errno == ENOENT, "read missing");
    }
    printf("ok: c sdk\n");
    return 0;
}
