package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/catalog"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// Local runs a node's calls on this host: the installed tool from the
// catalog, with the operator's grants and limits, through
// supervisor.Invoke, exactly as `agent-ctl TOOL` would.
type Local struct {
	Catalog    *catalog.Catalog
	Supervisor *supervisor.Supervisor
}

// Call runs req, writing the module's output to stdout and stderr. check,
// when set, is asked first with the digest ("sha256:…") of the module the
// call would run; an error refuses the call.
func (l *Local) Call(ctx context.Context, req *CallRequest, stdout, stderr io.Writer, check func(digest string) error) *CallResult {
	t0 := time.Now()
	res := &CallResult{Tool: req.Tool}
	fail := func(code int, err error) *CallResult {
		res.ExitCode, res.Error = code, err.Error()
		res.Duration = time.Since(t0).Seconds()
		return res
	}
	t, err := l.Catalog.Tool(req.Tool)
	if err != nil {
		return fail(supervisor.ExitNotFound, err)
	}
	res.Version, res.Digest = t.Manifest().Version, "sha256:"+t.Digest
	if check != nil {
		if err := check(res.Digest); err != nil {
			return fail(supervisor.ExitInvalid, err)
		}
	}
	args := req.Arguments
	if len(req.Argv) > 0 {
		if args != nil {
			return fail(supervisor.ExitInternal, errors.New("a call gives argv or arguments, not both"))
		}
		values, err := parseArgv(t.Tool, req.Argv)
		if err == nil {
			args, err = t.ParseFlags(values)
		}
		if err != nil {
			return fail(supervisor.ExitInternal, fmt.Errorf("%s: %w", req.Tool, err))
		}
	}
	if args == nil {
		args = map[string]any{}
	}
	var stdin []byte // a tool's stdin over MCP: its "input" argument
	if req.MCP && len(req.Argv) == 0 {
		if args, stdin, err = t.SplitStdin(args); err != nil {
			return fail(supervisor.ExitInternal, fmt.Errorf("%s: %w", req.Tool, err))
		}
		if args, err = t.WithMCPArguments(args); err != nil {
			return fail(supervisor.ExitInternal, fmt.Errorf("%s: %w", req.Tool, err))
		}
	}
	p, err := l.Catalog.Call(req.Tool, args)
	if err != nil {
		return fail(supervisor.ExitInternal, err)
	}
	// What runs is the version the catalog prepared (the supervisor checks
	// the module file against its digest): the kill switch is asked again
	// for it, should the tool have been replaced since the first look.
	if d := "sha256:" + p.Digest; p.Digest != "" && d != res.Digest {
		res.Version, res.Digest = p.Version, d
		if check != nil {
			if err := check(res.Digest); err != nil {
				return fail(supervisor.ExitInvalid, err)
			}
		}
	}
	// Recorded in the node's audit log as the controller's call.
	call := &supervisor.Call{Module: p.Module, Name: p.Name, Args: p.Args, Policy: p.Policy, Digest: p.Digest,
		Caller: "controller", Frontend: "fleet", CallID: req.ID, Version: p.Version, Params: p.Params, Stdout: stdout, Stderr: stderr}
	if stdin != nil {
		call.Stdin = bytes.NewReader(stdin)
	}
	r, err := l.Supervisor.Invoke(ctx, call)
	res.ExitCode = supervisor.ExitCode(r, err)
	res.Duration = time.Since(t0).Seconds()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Outcome = r.Outcome.String()
	if msg := r.Describe(); msg != "" {
		res.Error = msg
	}
	return res
}

// Tools lists the installed tools, each with its version and digest, or
// the error that keeps it from loading.
func (l *Local) Tools() []ToolStatus {
	names, err := l.Catalog.Store().Names()
	if err != nil {
		return []ToolStatus{{Name: "*", Error: err.Error()}}
	}
	sort.Strings(names)
	out := make([]ToolStatus, 0, len(names))
	for _, n := range names {
		t, err := l.Catalog.Tool(n)
		if err != nil {
			out = append(out, ToolStatus{Name: n, Error: err.Error()})
			continue
		}
		out = append(out, ToolStatus{Name: n, Version: t.Manifest().Version, Digest: "sha256:" + t.Digest})
	}
	return out
}

// Describe returns what the controller's MCP face publishes of an
// installed tool.
func (l *Local) Describe(name string) (*ToolInfo, error) {
	t, err := l.Catalog.Tool(name)
	if err != nil {
		return nil, err
	}
	m := t.Manifest()
	return &ToolInfo{Name: m.Name, Title: m.Title, Description: m.Description, Version: m.Version,
		Digest: "sha256:" + t.Digest, InputSchema: t.MCPInputSchema()}, nil
}
