/* sdk-example-c: the C SDK's example tool. Greets someone, prints its parameters as one
 * JSON document, and with --host/--port probes that TCP service, sends it the greeting
 * and prints the reply. Exit 0, 1 when the network call failed (the JSON says why), 2 for
 * a usage error. */
#include <stdlib.h>
#include <string.h>

#include "agentctl.h"

int main(int argc, char **argv) {
    agentctl_init("sdk-example-c", argc, argv, "name count:int shout:bool tag host port:int");
    const char *name = agentctl_require("name");
    long long count = agentctl_int("count", 1);
    const char *host = agentctl_str("host", NULL);
    long long port = agentctl_int("port", 0);
    if (host && (port < 1 || port > 65535))
        agentctl_usage("--host needs --port, 1 to 65535");

    char greeting[256];
    snprintf(greeting, sizeof greeting, "hello, %s", name);
    if (agentctl_bool("shout"))
        for (char *p = greeting; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p -= 'a' - 'A';

    agentctl_json j;
    agentctl_json_start(&j, stdout);
    agentctl_json_begin_object(&j);
    agentctl_json_key(&j, "greeting");
    agentctl_json_str(&j, greeting);
    agentctl_json_key(&j, "count");
    agentctl_json_int(&j, count);
    agentctl_json_key(&j, "tags");
    agentctl_json_begin_array(&j);
    for (int i = 0; i < agentctl_count("tag"); i++)
        agentctl_json_str(&j, agentctl_str_at("tag", i));
    agentctl_json_end(&j);
    agentctl_json_key(&j, "net");
    int err = AGENTCTL_OK;
    if (!host) {
        agentctl_json_null(&j);
    } else {
        char target[300];
        unsigned char state = 0;
        if (agentctl_target(target, sizeof target, host, (int)port) < 0)
            agentctl_usage("--host is too long");
        err = agentctl_probe(target, strlen(target), 2000, &state, 1);
        agentctl_json_begin_object(&j);
        agentctl_json_key(&j, "probe");
        agentctl_json_str(&j, err == AGENTCTL_OK ? agentctl_probe_state(state) : NULL);

        static char reply[4096];
        size_t have = 0;
        int h;
        if (err == AGENTCTL_OK)
            err = agentctl_connect(host, (int)port, 2000, &h);
        if (err == AGENTCTL_OK) {
            char line[260];
            snprintf(line, sizeof line, "%s\n", greeting);
            err = agentctl_send(h, line, strlen(line));
            while (err == AGENTCTL_OK && have < sizeof reply) {
                size_t n;
                err = agentctl_recv(h, reply + have, sizeof reply - have, 2000, &n);
                have += n;
            }
            if (err == AGENTCTL_EOF)
                err = AGENTCTL_OK;
            agentctl_close(h);
        }
        agentctl_json_key(&j, "reply");
        if (err == AGENTCTL_OK)
            agentctl_json_str_n(&j, reply, have);
        else
            agentctl_json_null(&j);
        agentctl_json_key(&j, "error");
        agentctl_json_str(&j, err == AGENTCTL_OK ? NULL : agentctl_errname(err));
        agentctl_json_end(&j);
    }
    agentctl_json_end(&j);
    agentctl_json_finish(&j);
    if (err != AGENTCTL_OK) {
        fprintf(stderr, "sdk-example-c: %s:%lld: %s\n", host, port, agentctl_strerror(err));
        return 1;
    }
    return 0;
}
