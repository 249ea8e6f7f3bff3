/* agentctl.h: helpers for agent-ctl tools written in C (WASI preview 1, clang + wasi-libc).
 *
 * Parameters: agent-ctl turns a tool's manifest parameters into argv as `--name value`
 * pairs (or `--name=value`), a true boolean as a bare `--name`, an array as one flag per
 * item, then the positional values (after `--` when one starts with '-'). agentctl_init
 * parses that once; the getters read it. A bad command line prints "TOOL: why" to stderr
 * and exits 2.
 *
 * JSON output: a small streaming writer that places the commas and escapes strings
 * (invalid UTF-8 becomes U+FFFD, so the output is always valid JSON).
 *
 * Network: the agent_ctl host functions of docs/host-functions.md. Every call returns an
 * errno (AGENTCTL_OK, AGENTCTL_DENIED, ...); agentctl_errname and agentctl_strerror say
 * it in words. Outside WebAssembly (native unit tests) the network calls answer
 * AGENTCTL_DENIED, as a host that granted nothing would.
 *
 * Build: clang --target=wasm32-wasi --sysroot=/usr -O2 -I SDK main.c SDK/agentctl.c -o x.wasm
 */
#ifndef AGENTCTL_H
#define AGENTCTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AGENTCTL_NORETURN __attribute__((noreturn))
#define AGENTCTL_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- parameters ---------------------------------------------------------------------- */

/* agentctl_init parses argv (argv[0] is skipped) against spec, a space-separated list of
 * the flags the tool takes, each `name` or `name:TYPE` with TYPE one of str (the default),
 * int, num or bool. A bool is a switch (`--name`, or `--name=true|false`); the others take
 * a value, which may repeat (array parameters). int and num values are checked here. An
 * unknown flag, a missing value or a bad number is a usage error (exit 2). tool names the
 * program in messages. */
void agentctl_init(const char *tool, int argc, char **argv, const char *spec);

/* agentctl_init_manifest does what agentctl_init does with the flags the tool's manifest
 * declares: manifest is the text of manifest.json (built into the module, e.g. by the
 * Makefile of `agent-ctl new`), whose "name" names the tool and whose
 * inputSchema.properties give the flags and their types (boolean: bool, integer: int,
 * number: num, an array: its items' type, anything else: str). So the manifest is the one
 * place parameters are declared. A manifest it cannot read aborts with exit 2. */
void agentctl_init_manifest(int argc, char **argv, const char *manifest);
/* agentctl_spec_from_manifest writes that spec ("name count:int shout:bool") and the
 * tool's name into the given buffers; it returns 0, or -1 for a manifest it cannot read or
 * buffers too small. */
int agentctl_spec_from_manifest(const char *manifest, char *tool, size_t tool_size, char *spec,
                                size_t spec_size);

const char *agentctl_tool(void);
/* agentctl_has reports whether the flag was given (a false switch counts as not given). */
int agentctl_has(const char *name);
/* agentctl_str returns the flag's last value, or def when it was not given. */
const char *agentctl_str(const char *name, const char *def);
/* agentctl_require returns the flag's last value; a missing flag is a usage error. */
const char *agentctl_require(const char *name);
long long agentctl_int(const char *name, long long def);
double agentctl_num(const char *name, double def);
int agentctl_bool(const char *name);
/* agentctl_count and agentctl_str_at read every value of a repeated flag, in order. */
int agentctl_count(const char *name);
const char *agentctl_str_at(const char *name, int i);
/* Positional arguments, in order. */
int agentctl_npos(void);
const char *agentctl_pos(int i);

/* agentctl_usage prints "TOOL: message" to stderr and exits 2 (a usage error). */
AGENTCTL_NORETURN AGENTCTL_PRINTF(1, 2) void agentctl_usage(const char *fmt, ...);
/* agentctl_fail prints "TOOL: message" to stderr and exits with code. */
AGENTCTL_NORETURN AGENTCTL_PRINTF(2, 3) void agentctl_fail(int code, const char *fmt, ...);

/* ---- files --------------------------------------------------------------------------- */

/* agentctl_fopen opens path as fopen does. A path the operator has not granted is not
 * there at all for the tool: WASI answers EBADF ("Bad file number"), which says nothing
 * useful, so these helpers say "TOOL: not granted: /data (agent-ctl grant TOOL --dir
 * HOST_DIR:/data)" on stderr and exit 1 instead. Other errors return NULL with errno set. */
FILE *agentctl_fopen(const char *path, const char *mode);
/* agentctl_read_file reads all of path (at most max bytes; more is an error, EFBIG) into a
 * malloc'd, NUL-terminated buffer and sets *len; NULL with errno set on failure (and the
 * not-granted exit as agentctl_fopen). */
char *agentctl_read_file(const char *path, size_t max, size_t *len);
/* agentctl_not_granted reports whether err (an errno of a path operation) means the path
 * is outside the operator's grants, and agentctl_path_error says why a path operation
 * failed, as "not granted: /data (agent-ctl grant TOOL --dir HOST_DIR:/data)" or the C
 * library's text. The result is in a static buffer. */
int agentctl_not_granted(int err);
const char *agentctl_path_error(const char *path, int err);

/* ---- JSON output --------------------------------------------------------------------- */

#define AGENTCTL_JSON_MAX_DEPTH 64

typedef struct agentctl_json {
    FILE *out;
    int depth;
    int after_key;
    unsigned char kind[AGENTCTL_JSON_MAX_DEPTH];  /* '{' or '[' */
    unsigned char count[AGENTCTL_JSON_MAX_DEPTH]; /* 0 until the first member */
} agentctl_json;

/* A compact document: {"a":1,"b":["x"]}. Keys and values go in the order written; the
 * writer adds the commas and colons. Nesting deeper than AGENTCTL_JSON_MAX_DEPTH aborts. */
void agentctl_json_start(agentctl_json *j, FILE *out);
void agentctl_json_begin_object(agentctl_json *j);
void agentctl_json_begin_array(agentctl_json *j);
void agentctl_json_end(agentctl_json *j); /* closes the innermost object or array */
void agentctl_json_key(agentctl_json *j, const char *key);
void agentctl_json_str(agentctl_json *j, const char *s); /* NULL writes null */
void agentctl_json_str_n(agentctl_json *j, const char *s, size_t n);
void agentctl_json_int(agentctl_json *j, long long v);
void agentctl_json_num(agentctl_json *j, double v); /* NaN and infinities write null */
void agentctl_json_bool(agentctl_json *j, int v);
void agentctl_json_null(agentctl_json *j);
/* agentctl_json_finish ends the document with a newline and flushes. */
void agentctl_json_finish(agentctl_json *j);
/* agentctl_json_quote writes s[0..n) as a quoted, escaped JSON string. */
void agentctl_json_quote(FILE *out, const char *s, size_t n);

/* ---- network ------------------------------------------------------------------------- */

/* BEGIN GENERATED errnos: by worker/protocol/errnogen from its table; do not edit */
enum {
    /* success */
    AGENTCTL_OK = 0,
    /* the operator's grants do not allow it: that host and port (or no network at all), a directory not granted, writing below a read-only grant */
    AGENTCTL_DENIED = 1,
    /* the port is closed */
    AGENTCTL_REFUSED = 2,
    /* no answer in time (filtered), or no data within a read's timeout */
    AGENTCTL_TIMEOUT = 3,
    /* no route, name not found, another network error */
    AGENTCTL_UNREACHABLE = 4,
    /* a malformed argument */
    AGENTCTL_INVALID = 5,
    /* not an open connection or file */
    AGENTCTL_BADHANDLE = 6,
    /* a per-call limit (open connections, probes, bytes) */
    AGENTCTL_LIMIT = 7,
    /* the peer closed and no data is left */
    AGENTCTL_EOF = 8,
    /* the connection failed while sending or receiving */
    AGENTCTL_IO = 9,
    /* no such file or directory below the granted directory */
    AGENTCTL_NOENT = 10,
    /* a component of the path is a symbolic link, which file_open never follows */
    AGENTCTL_SYMLINK = 11,
    /* the path names a directory, a device, a pipe or a socket, not a regular file */
    AGENTCTL_NOTFILE = 12,
    /* the host does not provide this function on this platform */
    AGENTCTL_NOTSUP = 13,
};
/* END GENERATED errnos */

/* Probe states, one byte per target of agentctl_probe. */
enum {
    AGENTCTL_PROBE_OPEN = 0,
    AGENTCTL_PROBE_DENIED = 1,
    AGENTCTL_PROBE_CLOSED = 2,
    AGENTCTL_PROBE_FILTERED = 3,
    AGENTCTL_PROBE_UNREACHABLE = 4,
    AGENTCTL_PROBE_INVALID = 5,
};

/* The most bytes one net_send or net_recv moves. */
#define AGENTCTL_MAX_IO (64 * 1024)

/* agentctl_errname: "OK", "DENIED", ... as docs/host-functions.md names them. */
const char *agentctl_errname(int err);
/* agentctl_strerror: a lower-case phrase, e.g. "not granted by the operator's network grants". */
const char *agentctl_strerror(int err);
/* agentctl_probe_state: "open", "denied", "closed", "filtered", "unreachable", "invalid". */
const char *agentctl_probe_state(int state);

/* Timeouts are in milliseconds; 0 means the host's default (5 s). */
int agentctl_connect(const char *host, int port, int timeout_ms, int *handle);
/* agentctl_send sends all len bytes, in pieces of at most AGENTCTL_MAX_IO. */
int agentctl_send(int handle, const void *buf, size_t len);
/* agentctl_recv waits for data and reads at most len bytes (AGENTCTL_MAX_IO at most) into
 * buf; *got is the count. AGENTCTL_EOF once the peer has closed and nothing is left. */
int agentctl_recv(int handle, void *buf, size_t len, int timeout_ms, size_t *got);
int agentctl_close(int handle);
/* agentctl_probe runs the host's TCP connect scan: targets is newline-separated
 * HOST:PORT text ("[v6addr]:port" for IPv6), results gets one AGENTCTL_PROBE_* byte per
 * target, in order. */
int agentctl_probe(const char *targets, size_t targets_len, int timeout_ms,
                   unsigned char *results, size_t results_len);
/* agentctl_target formats one probe target line, "host:port\n" or "[host]:port\n" when host
 * holds a ':', into buf; it returns the length, or -1 when it does not fit. */
int agentctl_target(char *buf, size_t size, const char *host, int port);

#ifdef __cplusplus
}
#endif
#endif
