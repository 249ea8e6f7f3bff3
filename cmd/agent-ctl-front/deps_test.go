package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// heavy are the packages whose init the front exists to skip, each with
// what pulls it in: if the front's dependencies ever hold one, its start
// is the full CLI's again.
var heavy = []struct{ path, why string }{
	{"oras.land/", "OCI registries (publish, install oci://)"},
	{"google.golang.org/grpc", "gRPC, pulled in by go-plugin"},
	{"google.golang.org/protobuf", "protobuf, pulled in by go-plugin"},
	{"github.com/golang/protobuf", "protobuf, pulled in by go-plugin"},
	{"github.com/nats-io/", "the fleet"},
	{"github.com/prometheus/", "serve's /metrics"},
	{"github.com/bytecodealliance/wasmtime-go", "the worker"},
	{"github.com/opencontainers/runc", "libcontainer, the other container engine"},
	{"github.com/hashicorp/go-plugin", "the worker's wire"},
	{"github.com/modelcontextprotocol/", "the MCP SDK"},
	{"github.com/agent-ctl/agent-ctl/supervisor", "the supervisor: it links the worker's wire"},
	{"github.com/agent-ctl/agent-ctl/isolation", "the walls: libcontainer, libseccomp"},
	{"github.com/agent-ctl/agent-ctl/worker", "the worker"},
}

// TestFront_deps fails when the front links a heavy package, and names
// the import chain to cut.
func TestFront_deps(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command("go", "list", "-deps", "-tags", "seccomp,urfave_cli_no_docs", "-f", "{{.ImportPath}}", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (%s): %v", goos, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list (%s) named only %v", goos, deps)
		}
		for _, d := range deps {
			for _, h := range heavy {
				if strings.HasPrefix(d, h.path) {
					t.Errorf("%s: the front links %s (%s); see 'go mod why -m' or 'go list -deps' for the chain", goos, d, h.why)
				}
			}
		}
	}
}
