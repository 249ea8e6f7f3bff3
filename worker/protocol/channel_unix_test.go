//go:build unix

package protocol

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// peer plays a worker on the worker's end of a real call channel: it reads
// the call's frame, then writes reply and, if hang, keeps its end open.
func peer(t *testing.T, w *os.File, reply []byte, hang bool) <-chan *RunArgs {
	got := make(chan *RunArgs, 1)
	go func() {
		defer func() {
			if !hang {
				w.Close()
			}
		}()
		body, err := ReadFrame(w, nil, MaxRunArgsFrame)
		if err != nil {
			t.Errorf("worker side: reading the call: %v", err)
			close(got)
			return
		}
		a, err := DecodeRunArgs(body)
		if err != nil {
			t.Errorf("worker side: decoding the call: %v", err)
		}
		got <- a
		if len(reply) > 0 {
			_, _ = w.Write(reply)
		}
	}()
	return got
}

// TestChannel_hostileWorker: whatever the worker's end writes, run returns
// with an error saying what went wrong, without reading or allocating
// past the cap.
func TestChannel_hostileWorker(t *testing.T) {
	args := &RunArgs{Args: []string{"hello", "x"}, Env: []string{"A=1"}, Timeout: time.Second, NetID: 9}
	big := make([]byte, MaxResultFrame+1000)
	copy(big, le{}.u32(MaxResultFrame+1))
	for _, tc := range []struct {
		name, want string
		reply      []byte
	}{
		{"hangs up", "worker process ended unexpectedly", nil},
		{"half a length", "worker process ended unexpectedly", []byte{1, 0}},
		{"a 4 GiB length", "frame of 4294967295 bytes", le{}.u32(^uint32(0))},
		{"one byte over the cap", "frame of 65537 bytes", big},
		{"body cut short", "worker process ended unexpectedly", le{}.u32(100).fixed(20)},
		{"another version", "version 9, not 1", le{}.u32(2).u8(9).u8(kindResult)},
		{"a call frame back", "kind 1, not 2", func() []byte { f, _ := AppendRunArgs(nil, args); return f }()},
		{"an unknown outcome", "unknown outcome 7", append(le{}.u32(uint32(len(resultFields(7).str("").str("").u32(0).u8(0)))), resultFields(7).str("").str("").u32(0).u8(0)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, w, err := NewChannel()
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			got := peer(t, w, tc.reply, false)
			_, err = ch.run(args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error saying %q", err, tc.want)
			}
			if a := <-got; a == nil || a.NetID != 9 || len(a.Args) != 2 {
				t.Errorf("the worker side read %+v", a)
			}
		})
	}
}

func TestChannel_reply(t *testing.T) {
	ch, w, err := NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	want := &Result{Outcome: Trapped, ExitCode: 0, Trap: "unreachable", Frames: []string{"f"}, RunTime: time.Millisecond}
	peer(t, w, AppendResult(nil, want, &Error{Kind: KindModuleInvalid, Msg: "no"}), false)
	r, err := ch.run(&RunArgs{Timeout: time.Second})
	var werr *Error
	if !errors.As(err, &werr) || werr.Kind != KindModuleInvalid || r == nil || r.Trap != "unreachable" || r.RunTime != time.Millisecond {
		t.Fatalf("run: %+v, %v", r, err)
	}
}

// TestChannel_closeWakesRun: a worker that takes the call and answers
// nothing holds run only until the supervisor closes its end (Kill).
func TestChannel_closeWakesRun(t *testing.T) {
	ch, w, err := NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	peer(t, w, le{}.u32(50).fixed(10), true)
	done := make(chan error, 1)
	go func() { _, err := ch.run(&RunArgs{Timeout: time.Second}); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("run returned before the close: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	ch.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("run after close: %v, want os.ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run still waiting 30s after the close")
	}
}
