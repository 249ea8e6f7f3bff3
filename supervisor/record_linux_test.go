package supervisor_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/supervisor/audit"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// records reads back a home's audit log, checking its chain.
func records(t *testing.T, home string) []*audit.Record {
	t.Helper()
	rep, err := audit.Verify(supervisor.AuditDir(home))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem != nil {
		t.Fatalf("chain broken: %v", rep.Problem)
	}
	var out []*audit.Record
	if err := audit.Read(supervisor.AuditDir(home), &audit.Filter{}, func(r *audit.Record, _ []byte) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInvoke_records: every call, whatever its end, leaves one line with
// the caller, the module's digest, the arguments, the grants (env by name
// only) and the outcome; Precompile leaves none.
func TestInvoke_records(t *testing.T) {
	home := t.TempDir()
	s := openSupervisor(t, home)
	if !s.Auditing() {
		t.Fatal("auditing is off by default")
	}
	if _, err := s.Precompile(context.Background(), fixtures.Path("hello.wasm"), policies.IsolationProcess); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	call := func(c supervisor.Call) {
		c.Module = fixtures.Path(c.Module)
		c.Policy.Isolation = policies.IsolationProcess
		_, _ = s.Invoke(context.Background(), &c)
	}
	call(supervisor.Call{Module: "hello.wasm", Args: []string{"x y"}, Caller: "alice", Frontend: "run",
		Policy: policies.Policy{Dirs: []policies.Dir{{Host: dir, Guest: "/d", Writable: true}}, Env: []policies.Env{{Key: "K", Value: "envsecret"}},
			Net: []policies.NetGrant{{Host: "127.0.0.1/32", Ports: []int{80}}}}})
	call(supervisor.Call{Module: "exit.wasm", Args: []string{"3"}, Frontend: "cli", Name: "exiter", Version: "1.2.3",
		Params: map[string]any{"code": 3, "token": audit.Redacted}})
	call(supervisor.Call{Module: "loop.wasm", Policy: policies.Policy{Timeout: 200 * time.Millisecond}})
	call(supervisor.Call{Module: "missing.wasm"})

	u, _ := user.Current()
	digest := sha256File(t, fixtures.Path("hello.wasm"))
	want := []*audit.Record{
		{Seq: 1, Caller: "alice", Frontend: "run", Tool: "hello.wasm", Module: fixtures.Path("hello.wasm"), Digest: digest, Args: []string{"x y"},
			Grants:    audit.Grants{Dirs: []audit.Dir{{Host: dir, Guest: "/d", Mode: "rw"}}, Env: []string{"K"}, Net: []audit.Net{{Host: "127.0.0.1/32", Ports: []int{80}}}},
			Limits:    audit.Limits{Memory: "128MiB", Timeout: "30s", MaxOutput: "16MiB"},
			Isolation: "process", Outcome: "exited"},
		{Seq: 2, Caller: u.Username, Frontend: "cli", Tool: "exiter", Version: "1.2.3", Module: fixtures.Path("exit.wasm"), Digest: sha256File(t, fixtures.Path("exit.wasm")),
			Params: map[string]any{"code": float64(3), "token": audit.Redacted},
			Limits: audit.Limits{Memory: "128MiB", Timeout: "30s", MaxOutput: "16MiB"}, Isolation: "process", Outcome: "exited", ExitCode: 3},
		{Seq: 3, Caller: u.Username, Tool: "loop.wasm", Module: fixtures.Path("loop.wasm"), Digest: sha256File(t, fixtures.Path("loop.wasm")),
			Limits:    audit.Limits{Memory: "128MiB", Timeout: "200ms", MaxOutput: "16MiB"},
			Isolation: "process", Outcome: "timed out", ExitCode: supervisor.ExitTimeout, LimitHit: "time", Limit: "200ms"},
		{Seq: 4, Caller: u.Username, Tool: "missing.wasm", Module: fixtures.Path("missing.wasm"),
			Limits:    audit.Limits{Memory: "128MiB", Timeout: "30s", MaxOutput: "16MiB"},
			Isolation: "process", Outcome: "error", ExitCode: supervisor.ExitNotFound},
	}
	got := records(t, home)
	if len(got) == 4 && !strings.Contains(got[3].Error, "missing.wasm") {
		t.Errorf("the refused call's error %q does not name the module", got[3].Error)
	}
	for _, r := range got {
		if r.Time.IsZero() || r.DurationMS <= 0 {
			t.Errorf("seq %d: no time or duration: %+v", r.Seq, r)
		}
		r.Time, r.DurationMS, r.Prev, r.Error = time.Time{}, 0, "", ""
	}
	if w, g := jsonText(want), jsonText(got); w != g {
		t.Errorf("records mismatch\nwant %s\ngot  %s", w, g)
	}
	b, _ := os.ReadFile(filepath.Join(supervisor.AuditDir(home), audit.CurrentName))
	if strings.Contains(string(b), "envsecret") {
		t.Error("an environment value reached the audit log")
	}
}

// TestInvoke_auditOff: with auditing off nothing is written, and calls run.
func TestInvoke_auditOff(t *testing.T) {
	home := t.TempDir()
	var seen int
	s, err := supervisor.New(&supervisor.Options{Home: home, Audit: &supervisor.AuditOptions{Off: true},
		OnCall: func(*audit.Record) { seen++ }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"), Policy: policies.Policy{Isolation: policies.IsolationProcess}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("call: %v %+v", err, res)
	}
	if _, err := os.Stat(supervisor.AuditDir(home)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audit directory exists with auditing off: %v", err)
	}
	if seen != 1 {
		t.Errorf("OnCall saw %d calls, want 1 (metrics count calls with auditing off too)", seen)
	}
}

// TestInvoke_unrecordable: a read-only audit directory, or a full disk,
// refuses the call before its module runs, and says why.
func TestInvoke_unrecordable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, home string)
		want  string
	}{
		{"read-only audit directory", func(t *testing.T, home string) {
			dir := supervisor.AuditDir(home)
			mount(t, dir, dir, "", syscall.MS_BIND, "")
			mount(t, "", dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
		}, "read-only file system"},
		{"full disk", func(t *testing.T, home string) {
			// The home is on a small tmpfs: fill it.
			f, err := os.Create(filepath.Join(home, "filler"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 64<<10)
			for {
				if _, err := f.Write(buf); err != nil {
					break
				}
			}
		}, "no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			mount(t, "tmpfs", base, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=4m,mode=0700")
			home := filepath.Join(base, "home")
			s := openSupervisor(t, home)
			tc.setup(t, home)
			var out testutil.SyncBuffer
			res, err := s.Invoke(context.Background(), &supervisor.Call{Module: fixtures.Path("hello.wasm"), Args: []string{"ran"}, Stdout: &out,
				Policy: policies.Policy{Isolation: policies.IsolationProcess}})
			if !errors.Is(err, supervisor.ErrAudit) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "not run") {
				t.Fatalf("call: %v %+v; want ErrAudit saying %q and that the call was not run", err, res, tc.want)
			}
			if supervisor.ExitCode(res, err) != supervisor.ExitInternal {
				t.Errorf("exit code %d, want %d", supervisor.ExitCode(res, err), supervisor.ExitInternal)
			}
			if out.String() != "" {
				t.Errorf("the module ran: %q", out.String())
			}
		})
	}
}

func mount(t *testing.T, src, dst, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := syscall.Mount(src, dst, fstype, flags, data); err != nil {
		t.Fatalf("mounting %s on %s: %v", src, dst, err)
	}
	if flags&syscall.MS_REMOUNT == 0 {
		t.Cleanup(func() { _ = syscall.Unmount(dst, syscall.MNT_DETACH) })
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
