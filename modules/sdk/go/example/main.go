// sdk-example-go: the Go SDK's example tool. Greets someone, prints its
// parameters as one JSON document, and with --host/--port probes that TCP
// service, sends it the greeting and prints the reply. Exit 0, 1 when the
// network call failed (the JSON says why), 2 for a usage error.
package main

import (
	"io"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/sdk/go/agentctl"
)

func main() {
	args := agentctl.Parse("sdk-example-go", "name count:int shout:bool tag host port:int")
	greeting := "hello, " + args.Require("name")
	if len(greeting) > 255 {
		greeting = greeting[:255]
	}
	if args.Bool("shout") {
		greeting = asciiUpper(greeting)
	}
	doc := agentctl.Obj("greeting", greeting, "count", args.Int("count", 1), "tags", args.All("tag"))
	if !args.Has("host") {
		agentctl.PrintJSON(append(doc, agentctl.Member{Key: "net", Value: nil}))
		return
	}
	host, port := args.String("host", ""), args.Int("port", 0)
	if port < 1 || port > 65535 {
		args.Usage("--host needs --port, 1 to 65535")
	}
	var probe, reply any
	states, err := agentctl.Probe([]agentctl.Target{{Host: host, Port: int(port)}}, 2*time.Second)
	if err == nil {
		probe = states[0].String()
		reply, err = roundTrip(host, int(port), greeting)
	}
	var errName any
	if err != nil {
		errName = agentctl.ErrnoOf(err).Name()
	}
	agentctl.PrintJSON(append(doc, agentctl.Member{Key: "net", Value: agentctl.Obj("probe", probe, "reply", reply, "error", errName)}))
	if err != nil {
		args.Fail(1, "%s:%d: %s", host, port, err)
	}
}

// roundTrip sends line and a newline, and reads the reply until the peer
// closes (at most 4 KiB).
func roundTrip(host string, port int, line string) (any, error) {
	c, err := agentctl.Dial(host, port, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.ReadTimeout = 2 * time.Second
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// asciiUpper uppercases ASCII letters only, as the other languages' examples do.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
