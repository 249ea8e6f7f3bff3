package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agent-ctl/agent-ctl/modules/watch"
)

// TestList_hostileDrop: whoever writes a watched drop-in directory names
// its subdirectories; a drop that fails to install is listed by `list`
// with its name and its error escaped, not raw.
func TestList_hostileDrop(t *testing.T) {
	home, drops := t.TempDir(), t.TempDir()
	drop := filepath.Join(drops, "\x1b]0;t\x07drop\r\u202e")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "manifest.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENTCTL_HOME", home)
	w, err := watch.New(&watch.Options{
		Dir:    drops,
		Status: watch.StatusPath(home),
		Install: func(ctx context.Context, dir string) (string, error) {
			var out, errb bytes.Buffer
			if code := run(ctx, []string{"agent-ctl", "install", dir}, strings.NewReader(""), &out, &errb); code != 0 {
				return "", errors.New(strings.TrimSpace(errb.String()))
			}
			return "", nil
		},
		Remove:   func(context.Context, string) error { return nil },
		Debounce: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx)
	defer cancel()
	deadline := time.Now().Add(time.Minute)
	for {
		if st, err := watch.ReadStatus(watch.StatusPath(home)); err == nil && len(st.Errors()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher recorded no failed drop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, _, errs := runIn(t, home, "", "list")
	checkShown(t, "list", errs, `\x1b]0;t\adrop\r\u202e did not install`)
}
