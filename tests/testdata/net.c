// net: drives the agent_ctl network host functions from the module side,
// the way a hostile or a careless tool would. Each command prints one line
// per operation with the errno's name, so a test can assert what the
// supervisor allowed and refused.
//
//   net connect HOST PORT          connect and close
//   net echo HOST PORT TEXT        connect, send TEXT, print what comes back
//   net probe TARGET...            net_probe; prints TARGET STATUS per line
//   net many HOST PORT N           open N connections without closing any
//   net hold HOST PORT MS          connect, then wait MS for data that never comes
//   net leak HOST PORT             connect and exit without closing
//   net badptr                     out-of-bounds pointers and lengths
//   net badhandle                  send, recv and close on handles never opened
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("agent_ctl"), import_name(name)))
IMPORT("net_connect") int32_t net_connect(const char *host, int32_t host_len, int32_t port, int32_t timeout_ms, int32_t *handle);
IMPORT("net_send") int32_t net_send(int32_t h, const void *buf, int32_t len, int32_t *sent);
IMPORT("net_recv") int32_t net_recv(int32_t h, void *buf, int32_t len, int32_t timeout_ms, int32_t *got);
IMPORT("net_close") int32_t net_close(int32_t h);
IMPORT("net_probe") int32_t net_probe(const char *targets, int32_t len, int32_t timeout_ms, uint8_t *results, int32_t results_len);

static const char *names[] = {"OK", "DENIED", "REFUSED", "TIMEOUT", "UNREACHABLE", "INVALID", "BADHANDLE", "LIMIT", "EOF", "IO"};

static const char *name(int32_t e) { return e >= 0 && e < 10 ? names[e] : "?"; }

static int32_t connect_to(const char *host, const char *port, int32_t ms, int32_t *h) {
	return net_connect(host, (int32_t)strlen(host), atoi(port), ms, h);
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: net connect|echo|probe|many|hold|leak|badptr|badhandle ...\n");
		return 2;
	}
	const char *cmd = argv[1];
	int32_t h = 0, e;
	if (!strcmp(cmd, "connect") && argc == 4) {
		e = connect_to(argv[2], argv[3], 2000, &h);
		printf("connect %s:%s %s\n", argv[2], argv[3], name(e));
		if (e == 0)
			printf("close %s\n", name(net_close(h)));
		return e;
	}
	if (!strcmp(cmd, "echo") && argc == 5) {
		e = connect_to(argv[2], argv[3], 2000, &h);
		printf("connect %s:%s %s\n", argv[2], argv[3], name(e));
		if (e)
			return e;
		int32_t sent = 0;
		e = net_send(h, argv[4], (int32_t)strlen(argv[4]), &sent);
		printf("send %s %d\n", name(e), sent);
		char buf[256];
		size_t total = 0;
		while (total < strlen(argv[4])) {
			int32_t got = 0;
			e = net_recv(h, buf + total, (int32_t)(sizeof buf - 1 - total), 2000, &got);
			if (e)
				break;
			total += (size_t)got;
		}
		buf[total] = 0;
		printf("recv %s %s\n", name(e), buf);
		printf("close %s\n", name(net_close(h)));
		printf("close-again %s\n", name(net_close(h)));
		return 0;
	}
	if (!strcmp(cmd, "probe") && argc >= 3) {
		static char text[1 << 16];
		size_t n = 0;
		for (int i = 2; i < argc; i++)
			n += (size_t)snprintf(text + n, sizeof text - n, "%s\n", argv[i]);
		static uint8_t res[4096];
		e = net_probe(text, (int32_t)n, 1000, res, argc - 2);
		printf("probe %s\n", name(e));
		if (e == 0)
			for (int i = 2; i < argc; i++)
				printf("%s %s\n", argv[i], name(res[i - 2]));
		return e;
	}
	if (!strcmp(cmd, "many") && argc == 5) {
		int n = atoi(argv[4]), ok = 0;
		for (int i = 0; i < n; i++) {
			e = connect_to(argv[2], argv[3], 2000, &h);
			if (e) {
				printf("connect %d %s\n", i + 1, name(e));
				continue;
			}
			ok++;
		}
		printf("opened %d\n", ok);
		return 0;
	}
	if (!strcmp(cmd, "hold") && argc == 5) {
		e = connect_to(argv[2], argv[3], 2000, &h);
		printf("connect %s\n", name(e));
		fflush(stdout);
		char buf[16];
		int32_t got = 0;
		for (;;) {
			e = net_recv(h, buf, sizeof buf, atoi(argv[4]), &got);
			printf("recv %s\n", name(e));
			fflush(stdout);
			if (e != 3)
				return 0;
		}
	}
	if (!strcmp(cmd, "leak") && argc == 4) {
		e = connect_to(argv[2], argv[3], 2000, &h);
		printf("connect %s\n", name(e));
		return 0;
	}
	if (!strcmp(cmd, "badptr")) {
		uint8_t r[4];
		printf("host-oob %s\n", name(net_connect((const char *)0x7ffffff0, 200, 80, 100, &h)));
		printf("host-huge %s\n", name(net_connect("x", 0x7fffffff, 80, 100, &h)));
		printf("host-empty %s\n", name(net_connect("x", 0, 80, 100, &h)));
		printf("out-oob %s\n", name(net_connect("127.0.0.1", 9, 80, 100, (int32_t *)0xfffffffc)));
		printf("port-zero %s\n", name(net_connect("127.0.0.1", 9, 0, 100, &h)));
		printf("port-big %s\n", name(net_connect("127.0.0.1", 9, 70000, 100, &h)));
		printf("probe-short %s\n", name(net_probe("127.0.0.1:1\n127.0.0.1:2\n", 24, 100, r, 1)));
		printf("probe-oob %s\n", name(net_probe((const char *)0xfffffff0, 100, 100, r, 4)));
		printf("probe-junk %s", name(net_probe("no-port\n[::1\n127.0.0.1:99999\n", 30, 100, r, 4)));
		printf(" %s %s %s\n", name(r[0]), name(r[1]), name(r[2]));
		return 0;
	}
	if (!strcmp(cmd, "badhandle")) {
		char buf[4];
		int32_t n;
		printf("send %s\n", name(net_send(42, "x", 1, &n)));
		printf("recv %s\n", name(net_recv(-1, buf, 4, 10, &n)));
		printf("close %s\n", name(net_close(0)));
		return 0;
	}
	fprintf(stderr, "net: bad command\n");
	return 2;
}
