//go:build unix

package supervisor_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
	"github.com/agent-ctl/agent-ctl/tests/fixtures"
)

// goModule is a module whose compile takes about a second: long enough to
// end a call while its worker is still loading it.
func goModule() string {
	return filepath.Join(fixtures.Dir(), "..", "..", "modules", "hello", "hello-go.wasm")
}

// TestInvoke_endsWhileLoading: a call's worker is killed when its load
// runs past the compile timeout (an error that says so) or when the
// call's context ends (a Cancelled result, no error), and nothing is
// cached from the compile that was cut short.
func TestInvoke_endsWhileLoading(t *testing.T) {
	for _, tc := range []struct {
		name           string
		compileTimeout time.Duration
		ctxTimeout     time.Duration
		wantErr        string // substring; empty means a Cancelled result
	}{
		{"compile timeout", 50 * time.Millisecond, time.Minute, "loading the module took longer than 50ms"},
		{"cancelled", time.Minute, 200 * time.Millisecond, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			s, err := supervisor.New(&supervisor.Options{Home: home, CompileTimeout: tc.compileTimeout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctxTimeout)
			defer cancel()
			call := &supervisor.Call{Module: goModule()}
			call.Policy.Isolation = policies.IsolationProcess
			t0 := time.Now()
			res, err := s.Invoke(ctx, call)
			if d := time.Since(t0); d > 30*time.Second {
				t.Errorf("Invoke returned after %s", d)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, supervisor.ErrModuleInvalid) {
					t.Fatalf("Invoke = %+v, %v; want ErrModuleInvalid containing %q", res, err, tc.wantErr)
				}
			} else if err != nil || res.Outcome != supervisor.Cancelled {
				t.Fatalf("Invoke = %+v, %v; want a Cancelled result", res, err)
			}
			s.Close()
			if entries, _ := filepath.Glob(filepath.Join(home, "cache", "*.cwasm")); len(entries) != 0 {
				t.Errorf("a cut-short compile left cache entries %v", entries)
			}
		})
	}
}
