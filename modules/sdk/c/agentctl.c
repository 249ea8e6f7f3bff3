/* agentctl.c: see agentctl.h. */
#include "agentctl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---------------------------------------------------------------------- */

enum { T_STR, T_INT, T_NUM, T_BOOL };

struct spec {
    char *name;
    int type;
};

struct value {
    int spec;
    const char *v;
};

static struct {
    const char *tool;
    struct spec *specs;
    int nspecs;
    struct value *values;
    int nvalues;
    const char **pos;
    int npos;
} A = {"tool", NULL, 0, NULL, 0, NULL, 0};

static void vsay(const char *fmt, va_list ap) {
    fprintf(stderr, "%s: ", A.tool);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void agentctl_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    exit(2);
}

void agentctl_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    exit(code);
}

static void *xalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p)
        agentctl_fail(1, "out of memory");
    return p;
}

const char *agentctl_tool(void) { return A.tool; }

/* spec_of returns the index of the flag called name (n bytes), or -1. */
static int spec_of(const char *name, size_t n) {
    for (int i = 0; i < A.nspecs; i++)
        if (strlen(A.specs[i].name) == n && memcmp(A.specs[i].name, name, n) == 0)
            return i;
    return -1;
}

static int parse_int(const char *s, long long *out) {
    if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')))
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int parse_num(const char *s, double *out) {
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.'))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return 0;
    *out = v;
    return 1;
}

static void check_value(int si, const char *v) {
    long long i;
    double d;
    if (A.specs[si].type == T_INT && !parse_int(v, &i))
        agentctl_usage("--%s: want an integer, got \"%s\"", A.specs[si].name, v);
    if (A.specs[si].type == T_NUM && !parse_num(v, &d))
        agentctl_usage("--%s: want a number, got \"%s\"", A.specs[si].name, v);
}

void agentctl_init(const char *tool, int argc, char **argv, const char *spec) {
    for (int i = 0; i < A.nspecs; i++) /* a second call starts afresh (tests) */
        free(A.specs[i].name);
    free(A.specs), free(A.values), free(A.pos);
    A.nspecs = A.nvalues = A.npos = 0;
    A.tool = tool;
    /* The spec: count the words, then read each "name[:type]". */
    int words = 0;
    for (const char *p = spec; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        words++;
        while (*p && *p != ' ')
            p++;
    }
    A.specs = xalloc(sizeof *A.specs * (size_t)words);
    for (const char *p = spec; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        const char *colon = memchr(start, ':', n);
        size_t nlen = colon ? (size_t)(colon - start) : n;
        int type = T_STR;
        if (colon) {
            const char *t = colon + 1;
            size_t tl = n - nlen - 1;
            if (tl == 3 && !memcmp(t, "str", 3))
                type = T_STR;
            else if (tl == 3 && !memcmp(t, "int", 3))
                type = T_INT;
            else if (tl == 3 && !memcmp(t, "num", 3))
                type = T_NUM;
            else if (tl == 4 && !memcmp(t, "bool", 4))
                type = T_BOOL;
            else
                agentctl_fail(1, "agentctl_init: spec \"%.*s\": type is not str, int, num or bool", (int)n, start);
        }
        struct spec *s = &A.specs[A.nspecs++];
        s->name = xalloc(nlen + 1);
        memcpy(s->name, start, nlen);
        s->type = type;
    }

    A.values = xalloc(sizeof *A.values * (size_t)(argc > 0 ? argc : 1));
    A.pos = xalloc(sizeof *A.pos * (size_t)(argc > 0 ? argc : 1));
    int flags = 1; /* until "--" */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (flags && strcmp(a, "--") == 0) {
            flags = 0;
            continue;
        }
        if (!flags || strncmp(a, "--", 2) != 0) {
            A.pos[A.npos++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        int si = spec_of(name, n);
        if (si < 0)
            agentctl_usage("unknown flag --%.*s", (int)n, name);
        const char *v;
        if (A.specs[si].type == T_BOOL) {
            v = "true";
            if (eq) {
                v = eq + 1;
                if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
                    agentctl_usage("--%s: want true or false, got \"%s\"", A.specs[si].name, v);
            }
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            agentctl_usage("--%s needs a value", A.specs[si].name);
        }
        check_value(si, v);
        A.values[A.nvalues].spec = si;
        A.values[A.nvalues].v = v;
        A.nvalues++;
    }
}

/* find returns the last value of the flag, or NULL; an undeclared name is a bug. */
static const char *find(const char *name) {
    int si = spec_of(name, strlen(name));
    if (si < 0)
        agentctl_fail(1, "agentctl: --%s is not in the spec given to agentctl_init", name);
    const char *v = NULL;
    for (int i = 0; i < A.nvalues; i++)
        if (A.values[i].spec == si)
            v = A.values[i].v;
    return v;
}

int agentctl_has(const char *name) {
    const char *v = find(name);
    int is_bool = A.specs[spec_of(name, strlen(name))].type == T_BOOL;
    return v && !(is_bool && strcmp(v, "false") == 0);
}

const char *agentctl_str(const char *name, const char *def) {
    const char *v = find(name);
    return v ? v : def;
}

const char *agentctl_require(const char *name) {
    const char *v = find(name);
    if (!v)
        agentctl_usage("--%s is required", name);
    return v;
}

long long agentctl_int(const char *name, long long def) {
    const char *v = find(name);
    long long out;
    if (!v)
        return def;
    if (!parse_int(v, &out))
        agentctl_usage("--%s: want an integer, got \"%s\"", name, v);
    return out;
}

double agentctl_num(const char *name, double def) {
    const char *v = find(name);
    double out;
    if (!v)
        return def;
    if (!parse_num(v, &out))
        agentctl_usage("--%s: want a number, got \"%s\"", name, v);
    return out;
}

int agentctl_bool(const char *name) {
    const char *v = find(name);
    return v && strcmp(v, "false") != 0;
}

int agentctl_count(const char *name) {
    find(name); /* checks the name */
    int si = spec_of(name, strlen(name)), n = 0;
    for (int i = 0; i < A.nvalues; i++)
        n += A.values[i].spec == si;
    return n;
}

const char *agentctl_str_at(const char *name, int at) {
    find(name);
    int si = spec_of(name, strlen(name)), n = 0;
    for (int i = 0; i < A.nvalues; i++)
        if (A.values[i].spec == si && n++ == at)
            return A.values[i].v;
    return NULL;
}

int agentctl_npos(void) { return A.npos; }

const char *agentctl_pos(int i) { return i >= 0 && i < A.npos ? A.pos[i] : NULL; }

/* ---- JSON output --------------------------------------------------------------------- */

/* utf8_len returns the length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

void agentctl_json_quote(FILE *out, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t l = utf8_len(s + i, n - i, &cp);
        if (l == 0) { /* one invalid byte: the replacement character, as Go's encoding/json */
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        switch (cp) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029)
                fprintf(out, "\\u%04x", cp);
            else
                fwrite(s + i, 1, l, out);
        }
        i += l;
    }
    fputc('"', out);
}

void agentctl_json_start(agentctl_json *j, FILE *out) {
    memset(j, 0, sizeof *j);
    j->out = out;
}

/* before writes the comma a value needs, if any. */
static void before(agentctl_json *j) {
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0 && j->count[j->depth - 1]++)
        fputc(',', j->out);
}

static void begin(agentctl_json *j, unsigned char kind) {
    before(j);
    if (j->depth == AGENTCTL_JSON_MAX_DEPTH)
        agentctl_fail(1, "agentctl_json: nested deeper than %d", AGENTCTL_JSON_MAX_DEPTH);
    j->kind[j->depth] = kind;
    j->count[j->depth] = 0;
    j->depth++;
    fputc(kind, j->out);
}

void agentctl_json_begin_object(agentctl_json *j) { begin(j, '{'); }

void agentctl_json_begin_array(agentctl_json *j) { begin(j, '['); }

void agentctl_json_end(agentctl_json *j) {
    if (j->depth == 0)
        agentctl_fail(1, "agentctl_json_end: nothing to end");
    j->depth--;
    fputc(j->kind[j->depth] == '{' ? '}' : ']', j->out);
}

void agentctl_json_key(agentctl_json *j, const char *key) {
    before(j);
    agentctl_json_quote(j->out, key, strlen(key));
    fputc(':', j->out);
    j->after_key = 1;
}

void agentctl_json_str(agentctl_json *j, const char *s) {
    if (!s) {
        agentctl_json_null(j);
        return;
    }
    agentctl_json_str_n(j, s, strlen(s));
}

void agentctl_json_str_n(agentctl_json *j, const char *s, size_t n) {
    before(j);
    agentctl_json_quote(j->out, s, n);
}

void agentctl_json_int(agentctl_json *j, long long v) {
    before(j);
    fprintf(j->out, "%lld", v);
}

void agentctl_json_num(agentctl_json *j, double v) {
    if (!isfinite(v)) {
        agentctl_json_null(j);
        return;
    }
    before(j);
    fprintf(j->out, "%.17g", v);
}

void agentctl_json_bool(agentctl_json *j, int v) {
    before(j);
    fputs(v ? "true" : "false", j->out);
}

void agentctl_json_null(agentctl_json *j) {
    before(j);
    fputs("null", j->out);
}

void agentctl_json_finish(agentctl_json *j) {
    fputc('\n', j->out);
    fflush(j->out);
}

/* ---- network ------------------------------------------------------------------------- */

#ifdef __wasm__
#define IMPORT(n) __attribute__((import_module("agent_ctl"), import_name(n)))
IMPORT("net_connect") int32_t agentctl__net_connect(const char *host, size_t host_len, int32_t port, int32_t timeout_ms, uint32_t *handle_out);
IMPORT("net_send") int32_t agentctl__net_send(int32_t handle, const void *buf, size_t len, uint32_t *sent_out);
IMPORT("net_recv") int32_t agentctl__net_recv(int32_t handle, void *buf, size_t len, int32_t timeout_ms, uint32_t *recv_out);
IMPORT("net_close") int32_t agentctl__net_close(int32_t handle);
IMPORT("net_probe") int32_t agentctl__net_probe(const char *targets, size_t targets_len, int32_t timeout_ms, unsigned char *results, size_t results_len);
#else
/* Natively (unit tests) there is no agent-ctl host: everything is denied, as it would be
 * for a tool granted no network. */
static int32_t agentctl__net_connect(const char *h, size_t hl, int32_t p, int32_t t, uint32_t *o) {
    (void)h, (void)hl, (void)p, (void)t, (void)o;
    return AGENTCTL_DENIED;
}
static int32_t agentctl__net_send(int32_t h, const void *b, size_t l, uint32_t *o) {
    (void)h, (void)b, (void)l, (void)o;
    return AGENTCTL_BADHANDLE;
}
static int32_t agentctl__net_recv(int32_t h, void *b, size_t l, int32_t t, uint32_t *o) {
    (void)h, (void)b, (void)l, (void)t, (void)o;
    return AGENTCTL_BADHANDLE;
}
static int32_t agentctl__net_close(int32_t h) {
    (void)h;
    return AGENTCTL_BADHANDLE;
}
static int32_t agentctl__net_probe(const char *t, size_t tl, int32_t to, unsigned char *r, size_t rl) {
    (void)to;
    size_t n = 0;
    for (size_t i = 0; i < tl; i++)
        if (t[i] == '\n' || i == tl - 1)
            n++;
    if (rl < n)
        return AGENTCTL_INVALID;
    memset(r, AGENTCTL_PROBE_DENIED, n);
    return AGENTCTL_OK;
}
#endif

/* BEGIN GENERATED errnos: by worker/protocol/errnogen from its table; do not edit */
static const char *const errnames[] = {"OK", "DENIED", "REFUSED", "TIMEOUT", "UNREACHABLE", "INVALID", "BADHANDLE", "LIMIT", "EOF", "IO", "NOENT", "SYMLINK", "NOTFILE", "NOTSUP"};
static const char *const errtexts[] = {
    "success",
    "not granted by the operator's grants",
    "connection refused",
    "timed out",
    "host unreachable",
    "invalid argument",
    "not an open connection or file",
    "a per-call network limit was reached",
    "connection closed by the peer",
    "connection failed while sending or receiving",
    "no such file or directory in the grants",
    "the path goes through a symbolic link",
    "not a regular file",
    "not supported on this host",
};
/* END GENERATED errnos */
static const char *const states[] = {"open", "denied", "closed", "filtered", "unreachable", "invalid"};

const char *agentctl_errname(int err) {
    return err >= 0 && err < (int)(sizeof errnames / sizeof *errnames) ? errnames[err] : "UNKNOWN";
}

const char *agentctl_strerror(int err) {
    return err >= 0 && err < (int)(sizeof errtexts / sizeof *errtexts) ? errtexts[err] : "unknown network error";
}

const char *agentctl_probe_state(int s) {
    return s >= 0 && s < (int)(sizeof states / sizeof *states) ? states[s] : "unknown";
}

int agentctl_connect(const char *host, int port, int timeout_ms, int *handle) {
    uint32_t h = 0;
    int err = agentctl__net_connect(host, strlen(host), port, timeout_ms, &h);
    if (err == AGENTCTL_OK)
        *handle = (int)h;
    return err;
}

int agentctl_send(int handle, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        uint32_t sent = 0;
        size_t n = len < AGENTCTL_MAX_IO ? len : AGENTCTL_MAX_IO;
        int err = agentctl__net_send(handle, p, n, &sent);
        if (err != AGENTCTL_OK)
            return err;
        if (sent == 0 || sent > n)
            return AGENTCTL_IO;
        p += sent;
        len -= sent;
    }
    return AGENTCTL_OK;
}

int agentctl_recv(int handle, void *buf, size_t len, int timeout_ms, size_t *got) {
    uint32_t n = 0;
    int err = agentctl__net_recv(handle, buf, len < AGENTCTL_MAX_IO ? len : AGENTCTL_MAX_IO, timeout_ms, &n);
    *got = err == AGENTCTL_OK ? n : 0;
    return err;
}

int agentctl_close(int handle) { return agentctl__net_close(handle); }

int agentctl_probe(const char *targets, size_t targets_len, int timeout_ms,
                   unsigned char *results, size_t results_len) {
    return agentctl__net_probe(targets, targets_len, timeout_ms, results, results_len);
}

int agentctl_target(char *buf, size_t size, const char *host, int port) {
    int n = snprintf(buf, size, strchr(host, ':') ? "[%s]:%d\n" : "%s:%d\n", host, port);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* ---- the manifest's parameters --------------------------------------------------------- */

/* A small JSON reader, enough to walk manifest.json: it skips what it does not need and
 * checks the syntax of what it walks. Each function takes the position and returns the
 * position after the value, or NULL for malformed text. */

static const char *js_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* js_str reads a string at p (which must be at '"'); its text, escapes decoded (\u
 * escapes of non-ASCII characters become '?': parameter names are ASCII), goes into out
 * when out is not NULL, truncated to size. */
static const char *js_str(const char *p, char *out, size_t size) {
    size_t n = 0;
    if (*p++ != '"')
        return NULL;
    for (;;) {
        char c = *p++;
        if (c == '\0' || (unsigned char)c < 0x20)
            return NULL;
        if (c == '"')
            break;
        if (c == '\\') {
            char e = *p++;
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++, p++) {
                    char h = *p;
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else return NULL;
                }
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                return NULL;
            }
        }
        if (out && n + 1 < size)
            out[n++] = c;
    }
    if (out && size)
        out[n] = '\0';
    return p;
}

static const char *js_value(const char *p, int depth);

/* js_next skips the value at p (an object member's or an array element's)
 * and what follows it in the container that close ends: a ',' sets *more
 * and returns where the next one starts; close returns the position after
 * it with *more clear; anything else is malformed (NULL). */
static const char *js_next(const char *p, int depth, char close, int *more) {
    p = js_value(p, depth + 1);
    if (!p)
        return NULL;
    p = js_ws(p);
    *more = *p == ',';
    if (*more)
        return p + 1;
    return *p == close ? p + 1 : NULL;
}

/* js_members calls each(key, value position) for an object's members; each may be NULL. */
typedef void (*js_member_fn)(const char *key, const char *value, void *ctx);

static const char *js_object(const char *p, int depth, js_member_fn each, void *ctx) {
    if (*p++ != '{' || depth > 64)
        return NULL;
    p = js_ws(p);
    if (*p == '}')
        return p + 1;
    for (;;) {
        char key[128];
        p = js_str(js_ws(p), key, sizeof key);
        if (!p)
            return NULL;
        p = js_ws(p);
        if (*p++ != ':')
            return NULL;
        p = js_ws(p);
        if (each)
            each(key, p, ctx);
        int more;
        p = js_next(p, depth, '}', &more);
        if (!p || !more)
            return p;
    }
}

static const char *js_value(const char *p, int depth) {
    p = js_ws(p);
    if (depth > 64)
        return NULL;
    switch (*p) {
    case '{':
        return js_object(p, depth, NULL, NULL);
    case '[':
        p = js_ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            int more;
            p = js_next(p, depth, ']', &more);
            if (!p || !more)
                return p;
        }
    case '"':
        return js_str(p, NULL, 0);
    default:
        if (!strncmp(p, "true", 4)) return p + 4;
        if (!strncmp(p, "false", 5)) return p + 5;
        if (!strncmp(p, "null", 4)) return p + 4;
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            char *end;
            strtod(p, &end);
            return end == p ? NULL : end;
        }
        return NULL;
    }
}

struct js_find {
    const char *key;
    const char *at;
};

static void js_find_member(const char *key, const char *value, void *ctx) {
    struct js_find *f = ctx;
    if (!f->at && !strcmp(key, f->key))
        f->at = value;
}

/* js_get returns the position of member key of the object at p, or NULL. */
static const char *js_get(const char *p, const char *key) {
    struct js_find f = {key, NULL};
    if (!p || *p != '{' || !js_object(p, 0, js_find_member, &f))
        return NULL;
    return f.at;
}

struct js_spec {
    char *spec;
    size_t size, n;
    int bad;
};

static const char *js_type_word(const char *prop) {
    const char *t = js_get(prop, "type");
    char type[16] = "";
    if (t && *t == '"')
        js_str(t, type, sizeof type);
    if (!strcmp(type, "array")) {
        const char *items = js_get(prop, "items");
        t = items ? js_get(items, "type") : NULL;
        type[0] = '\0';
        if (t && *t == '"')
            js_str(t, type, sizeof type);
    }
    if (!strcmp(type, "boolean")) return ":bool";
    if (!strcmp(type, "integer")) return ":int";
    if (!strcmp(type, "number")) return ":num";
    return "";
}

static void js_spec_member(const char *key, const char *value, void *ctx) {
    struct js_spec *s = ctx;
    const char *type = js_type_word(value);
    int w = snprintf(s->spec + s->n, s->size - s->n, "%s%s%s", s->n ? " " : "", key, type);
    if (w < 0 || (size_t)w >= s->size - s->n || strchr(key, ' ') || strchr(key, ':') || !*key)
        s->bad = 1;
    else
        s->n += (size_t)w;
}

int agentctl_spec_from_manifest(const char *manifest, char *tool, size_t tool_size, char *spec,
                                size_t spec_size) {
    const char *root = js_ws(manifest);
    if (!spec_size || !tool_size || js_value(root, 0) == NULL || *js_ws(js_value(root, 0)) != '\0')
        return -1;
    const char *name = js_get(root, "name");
    if (!name || *name != '"' || !js_str(name, tool, tool_size) || !*tool)
        return -1;
    spec[0] = '\0';
    const char *schema = js_get(root, "inputSchema");
    const char *props = schema ? js_get(schema, "properties") : NULL;
    if (!props)
        return 0;
    struct js_spec s = {spec, spec_size, 0, 0};
    if (!js_object(props, 0, js_spec_member, &s) || s.bad)
        return -1;
    return 0;
}

void agentctl_init_manifest(int argc, char **argv, const char *manifest) {
    static char tool[128];
    static char spec[4096];
    if (agentctl_spec_from_manifest(manifest, tool, sizeof tool, spec, sizeof spec) < 0) {
        A.tool = "agentctl";
        agentctl_usage("agentctl_init_manifest: the built-in manifest.json is not a manifest this SDK can read");
    }
    agentctl_init(tool, argc, argv, spec);
}

/* ---- files ----------------------------------------------------------------------------- */

int agentctl_not_granted(int err) {
    /* A path outside every preopened directory: the runtime answers EBADF ("Bad file
     * number") for a directory it does not hold, and wasi-libc ENOTCAPABLE
     * ("Capabilities insufficient") when it finds no preopen to resolve the path against. */
#ifdef ENOTCAPABLE
    if (err == ENOTCAPABLE)
        return 1;
#endif
    return err == EBADF;
}

const char *agentctl_path_error(const char *path, int err) {
    static char buf[512];
    if (agentctl_not_granted(err) && path && path[0] == '/') {
        /* The grant names the top directory the path would be under. */
        size_t top = strcspn(path + 1, "/") + 1;
        snprintf(buf, sizeof buf, "not granted: %s (agent-ctl grant %s --dir HOST_DIR:%.*s)", path, A.tool,
                 (int)top, path);
    } else if (agentctl_not_granted(err)) {
        snprintf(buf, sizeof buf, "not granted: %s (agent-ctl grant %s --dir HOST_DIR:/DIR)", path, A.tool);
    } else {
        snprintf(buf, sizeof buf, "%s: %s", path, strerror(err));
    }
    return buf;
}

FILE *agentctl_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f && agentctl_not_granted(errno))
        agentctl_fail(1, "%s", agentctl_path_error(path, errno));
    return f;
}

char *agentctl_read_file(const char *path, size_t max, size_t *len) {
    FILE *f = agentctl_fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            fclose(f);
            errno = ENOMEM;
            return NULL;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            free(buf);
            fclose(f);
            errno = EFBIG;
            return NULL;
        }
        if (got == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                fclose(f);
                if (agentctl_not_granted(e))
                    agentctl_fail(1, "%s", agentctl_path_error(path, e));
                errno = e;
                return NULL;
            }
            break;
        }
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
