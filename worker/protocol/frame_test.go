package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// body strips a frame's length prefix, checking it.
func body(t testing.TB, frame []byte) []byte {
	t.Helper()
	if n := binary.LittleEndian.Uint32(frame); int(n) != len(frame)-4 {
		t.Fatalf("length prefix %d, frame body %d bytes", n, len(frame)-4)
	}
	return frame[4:]
}

func TestRunArgs_roundTrip(t *testing.T) {
	for _, a := range []*RunArgs{
		{Timeout: time.Nanosecond},
		{Args: []string{"hello"}, Timeout: time.Minute},
		{Args: []string{"hello", "", "with space", "ünïcode"}, Env: []string{"A=1", "B="}, Timeout: 30 * time.Second, NetID: 7},
	} {
		frame, err := AppendRunArgs(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRunArgs(body(t, frame))
		if err != nil {
			t.Fatalf("decoding %+v: %v", a, err)
		}
		if !reflect.DeepEqual(a, got) {
			t.Errorf("mismatch: want %+v, got %+v", a, got)
		}
	}
}

func TestResult_roundTrip(t *testing.T) {
	for _, tc := range []struct {
		r   *Result
		err *Error
	}{
		{&Result{}, nil},
		{&Result{Outcome: Exited, ExitCode: -1, MemoryBytes: 1 << 20, InstantiateTime: 3 * time.Microsecond, RunTime: time.Millisecond}, nil},
		{&Result{Outcome: Trapped, Trap: "unreachable", Message: "wasm trap: wasm `unreachable` instruction executed",
			Frames: []string{"main @ 0x1f", "func[3] @ 0x2a (repeated 5 times)"}}, nil},
		{&Result{Outcome: MemoryLimit}, &Error{Kind: KindMemoryLimit, Msg: "too big"}},
		{&Result{}, &Error{Kind: KindInternal, Msg: "run before prepare"}},
	} {
		r, werr, err := DecodeResult(body(t, AppendResult(nil, tc.r, tc.err)))
		if err != nil {
			t.Fatalf("decoding %+v: %v", tc.r, err)
		}
		if !reflect.DeepEqual(tc.r, r) {
			t.Errorf("result mismatch: want %+v, got %+v", tc.r, r)
		}
		if !reflect.DeepEqual(tc.err, werr) {
			t.Errorf("error mismatch: want %+v, got %+v", tc.err, werr)
		}
	}
}

// TestAppendResult_caps: an honest worker's frame always fits, with long
// texts shortened at a character boundary and invalid UTF-8 replaced.
func TestAppendResult_caps(t *testing.T) {
	long := strings.Repeat("é", MaxResultFrame) // two bytes a character
	frames := make([]string, 100)
	for i := range frames {
		frames[i] = long
	}
	frame := AppendResult(nil, &Result{Outcome: Trapped, Trap: long, Message: long + "\xff", Frames: frames},
		&Error{Kind: KindModuleInvalid, Msg: "\xff" + long})
	if len(frame)-4 > MaxResultFrame {
		t.Fatalf("frame of %d bytes, cap %d", len(frame)-4, MaxResultFrame)
	}
	r, werr, err := DecodeResult(body(t, frame))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Frames) != MaxResultFrames {
		t.Errorf("%d frames, want %d", len(r.Frames), MaxResultFrames)
	}
	for name, tc := range map[string]struct {
		s   string
		max int
	}{"trap": {r.Trap, MaxTrapText}, "message": {r.Message, MaxMessageText}, "frame": {r.Frames[0], MaxFrameText}, "error": {werr.Msg, MaxMessageText}} {
		if len(tc.s) > tc.max || len(tc.s) < tc.max-4 {
			t.Errorf("%s: %d bytes, want just under %d", name, len(tc.s), tc.max)
		}
	}
	if !strings.HasPrefix(werr.Msg, "\uFFFD") {
		t.Errorf("invalid UTF-8 not replaced: %q…", werr.Msg[:8])
	}
}

func TestCheckRunArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    *RunArgs
		ok   bool
	}{
		{"small", &RunArgs{Args: []string{"x"}}, true},
		{"one string at the byte cap", &RunArgs{Args: []string{strings.Repeat("a", MaxRunArgsFrame-2-8-4-4-4-4)}}, true},
		{"one byte over", &RunArgs{Args: []string{strings.Repeat("a", MaxRunArgsFrame-2-8-4-4-4-4+1)}}, false},
		{"too many strings", &RunArgs{Env: make([]string, MaxRunArgsStrings+1)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRunArgs(tc.a)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrCallTooLarge)) {
				t.Fatalf("CheckRunArgs: %v, want ok %v", err, tc.ok)
			}
			_, aerr := AppendRunArgs(nil, tc.a)
			if (aerr == nil) != tc.ok {
				t.Fatalf("AppendRunArgs: %v, want ok %v", aerr, tc.ok)
			}
		})
	}
}

// le builds frame bodies by hand.
type le []byte

func (b le) u8(v byte) le    { return append(b, v) }
func (b le) u32(v uint32) le { return binary.LittleEndian.AppendUint32(b, v) }
func (b le) u64(v uint64) le { return binary.LittleEndian.AppendUint64(b, v) }
func (b le) str(s string) le { return append(b.u32(uint32(len(s))), s...) }
func (b le) fixed(n int) le  { return append(b, make([]byte, n)...) }
func resultHead() le         { return le{frameVersion, kindResult} }
func resultFields(outcome byte) le {
	return resultHead().u8(outcome).u32(0).u64(0).u64(0).u64(0)
}

// TestDecodeResult_hostile: what a worker taken over might write ends in
// an error that says what is wrong, keyed here by its substring.
func TestDecodeResult_hostile(t *testing.T) {
	valid := func() le { return resultFields(0).str("").str("").u32(0).u8(0) }
	for _, tc := range []struct {
		want string
		body []byte
	}{
		{"bytes needed at offset 0", nil},
		{"version 2, not 1", le{2, kindResult}},
		{"kind 1, not 2", le{frameVersion, kindRunArgs}},
		{"bytes needed", resultHead().u8(0).u32(0)},
		{"unknown outcome 4", resultFields(4).str("").str("").u32(0).u8(0)},
		{"unknown outcome 255", resultFields(255).str("").str("").u32(0).u8(0)},
		{"text of 129 bytes", resultFields(0).str(strings.Repeat("t", MaxTrapText+1)).str("").u32(0).u8(0)},
		{"text of 4294967295 bytes", resultFields(0).u32(^uint32(0))},
		{"bytes needed", resultFields(0).u32(100).fixed(10)},
		{"not UTF-8", resultFields(0).str("\xff\xfe").str("").u32(0).u8(0)},
		{"list of 33 elements", resultFields(0).str("").str("").u32(MaxResultFrames + 1).fixed(33 * 4).u8(0)},
		{"list of 4294967295 elements", resultFields(0).str("").str("").u32(^uint32(0)).u8(0)},
		{"list of 5 elements", resultFields(0).str("").str("").u32(5).u32(0).u8(0)},
		{"error flag 2", resultFields(0).str("").str("").u32(0).u8(2)},
		{"unknown error kind 3", resultFields(0).str("").str("").u32(0).u8(1).u8(3).str("")},
		{"1 bytes left over", append(valid(), 0)},
		{"negative memory size or time", resultHead().u8(0).u32(0).u64(1 << 63).u64(0).u64(0).str("").str("").u32(0).u8(0)},
		{"negative memory size or time", resultHead().u8(0).u32(0).u64(0).u64(0).u64(1 << 63).str("").str("").u32(0).u8(0)},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, _, err := DecodeResult(tc.body)
			if err == nil || !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeResult: %v, want an ErrFrame saying %q", err, tc.want)
			}
		})
	}
	if _, _, err := DecodeResult(valid()); err != nil {
		t.Fatalf("the valid body the table starts from: %v", err)
	}
}

func TestDecodeRunArgs_refuses(t *testing.T) {
	head := func() le { return le{frameVersion, kindRunArgs} }
	for _, tc := range []struct {
		want string
		body []byte
	}{
		{"kind 2, not 1", le{frameVersion, kindResult}},
		{"time limit 0 is not positive", head().u64(0).u32(0).u32(0).u32(0)},
		{"time limit -1 is not positive", head().u64(^uint64(0)).u32(0).u32(0).u32(0)},
		{"list of 65537 elements", head().u64(1).u32(0).u32(MaxRunArgsStrings + 1)},
		{"list of 1000 elements", head().u64(1).u32(0).u32(1000).fixed(100)},
		{"bytes needed", head().u64(1).u32(0).u32(1).u32(50).fixed(10)},
		{"left over", head().u64(1).u32(0).u32(0).u32(0).u8(0)},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := DecodeRunArgs(tc.body)
			if err == nil || !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("DecodeRunArgs: %v, want an ErrFrame saying %q", err, tc.want)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		in         []byte
	}{
		{"empty", "EOF", nil},
		{"short prefix", "unexpected EOF", []byte{1, 0}},
		{"length below a header", "frame of 1 bytes", le{}.u32(1).u8(1)},
		{"length above the cap", "frame of 4294967295 bytes", le{}.u32(^uint32(0))},
		{"body cut short", "unexpected EOF", le{}.u32(100).fixed(50)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in), nil, MaxResultFrame)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadFrame: %v, want %q", err, tc.want)
			}
		})
	}
	frame := AppendResult(nil, &Result{ExitCode: 3}, nil)
	got, err := ReadFrame(bytes.NewReader(append(frame, 9, 9)), nil, MaxResultFrame)
	if err != nil || !bytes.Equal(got, frame[4:]) {
		t.Fatalf("ReadFrame of a valid frame: %v, %x", err, got)
	}
}

// FuzzDecodeResult feeds the supervisor's decoder what a hostile worker
// might write: it must never panic, never read past the cap, and what it
// accepts must encode back to the same bytes.
func FuzzDecodeResult(f *testing.F) {
	f.Add(AppendResult(nil, &Result{}, nil))
	f.Add(AppendResult(nil, &Result{Outcome: Trapped, Trap: "unreachable", Message: "m", Frames: []string{"a", "b"}}, &Error{Kind: 1, Msg: "x"}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2})
	f.Add([]byte(le{}.u32(10).u8(1).u8(2).u8(0).u32(0xffffffff)))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := ReadFrame(bytes.NewReader(in), nil, MaxResultFrame)
		if err != nil {
			if errors.Is(err, ErrFrame) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			t.Fatalf("ReadFrame: unexpected error %v", err)
		}
		r, werr, err := DecodeResult(b)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("DecodeResult: error %v does not wrap ErrFrame", err)
			}
			return
		}
		again := AppendResult(nil, r, werr)
		if !bytes.Equal(again[4:], b) {
			t.Fatalf("accepted frame does not encode back:\n in %x\nout %x", b, again[4:])
		}
	})
}

// FuzzDecodeRunArgs: the worker's decoder, likewise.
func FuzzDecodeRunArgs(f *testing.F) {
	for _, a := range []*RunArgs{{Timeout: 1}, {Args: []string{"hello", "x"}, Env: []string{"A=1"}, Timeout: time.Second, NetID: 3}} {
		frame, err := AppendRunArgs(nil, a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame[4:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeRunArgs(b)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("error %v does not wrap ErrFrame", err)
			}
			return
		}
		again, err := AppendRunArgs(nil, a)
		if err != nil {
			t.Fatalf("accepted args do not encode: %v", err)
		}
		if !bytes.Equal(again[4:], b) {
			t.Fatalf("accepted frame does not encode back:\n in %x\nout %x", b, again[4:])
		}
	})
}
