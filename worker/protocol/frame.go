package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// The call's own channel: a call's arguments go to its prepared worker,
// and its result comes back, as one frame each over a socket pair made for
// that worker alone (see Channel), not over go-plugin's RPC (gob over
// net/rpc over yamux: goroutine hand-offs and codecs, measured against
// the channel in docs/performance.md). go-plugin still starts the worker,
// prepares it and kills it.
//
// A frame is a 4-byte little-endian length n, then n bytes: a version
// byte (frameVersion), a kind byte (kindRunArgs or kindResult), then the
// kind's fields in a fixed order. Integers are little-endian; a string is
// a uint32 length and its bytes; a list is a uint32 count and its
// elements. Every length has a hard cap checked before anything is
// allocated, and a frame must be used up exactly: the supervisor reads
// what a worker it no longer trusts may have written (a module that broke
// out of wasmtime owns the worker), so any bytes at all end in an error
// that says what was wrong, never in a panic or an unbounded allocation.

// frameVersion is the layout of the frames below; a peer refuses any
// other.
const frameVersion = 1

const (
	kindRunArgs = 1
	kindResult  = 2
)

// Caps of the call's frames.
const (
	// MaxRunArgsFrame bounds a RunArgs frame: argv and the environment
	// with their lengths. A manifest's argv is capped at 1 MiB
	// (manifest.MaxArgv); Linux's own limit on a command line is 2 MiB.
	MaxRunArgsFrame = 4 << 20
	// MaxRunArgsStrings bounds the count of arguments plus variables.
	MaxRunArgsStrings = 1 << 16
	// MaxResultFrame bounds a Result frame; the caps below fit in it.
	MaxResultFrame = 64 << 10
	// MaxTrapText, MaxMessageText and MaxFrameText bound a Result's Trap,
	// its Message (or an Error's) and each of its Frames, in bytes;
	// MaxResultFrames bounds how many Frames it has. A worker shortens
	// longer texts (at a character boundary) and drops further frames.
	MaxTrapText     = 128
	MaxMessageText  = 8 << 10
	MaxFrameText    = 1 << 10
	MaxResultFrames = 32
)

// frameHeader is the length prefix plus the version and kind bytes.
const frameHeader = 4 + 2

// ErrFrame is wrapped by every error about the contents of a frame: what a
// peer wrote is not a frame of this version.
var ErrFrame = errors.New("malformed frame")

func frameErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFrame}, args...)...)
}

// ErrCallTooLarge is returned for a call whose arguments and environment
// exceed what a RunArgs frame may carry.
var ErrCallTooLarge = errors.New("call too large")

// CheckRunArgs returns ErrCallTooLarge, wrapped, if a's argv and
// environment exceed MaxRunArgsStrings or MaxRunArgsFrame.
func CheckRunArgs(a *RunArgs) error {
	_, err := runArgsSize(a)
	return err
}

func runArgsSize(a *RunArgs) (int, error) {
	n := 2 + 8 + 4 + 4 + 4
	for _, s := range a.Args {
		n += 4 + len(s)
	}
	for _, s := range a.Env {
		n += 4 + len(s)
	}
	if len(a.Args)+len(a.Env) > MaxRunArgsStrings {
		return 0, fmt.Errorf("%w: %d arguments and environment variables, more than the %d a call may pass", ErrCallTooLarge, len(a.Args)+len(a.Env), MaxRunArgsStrings)
	}
	if n > MaxRunArgsFrame {
		return 0, fmt.Errorf("%w: the arguments and environment take %d bytes, more than the %d a call may pass", ErrCallTooLarge, n, MaxRunArgsFrame)
	}
	return n, nil
}

// AppendRunArgs appends a's frame to buf. It refuses arguments past the
// caps (CheckRunArgs) rather than send a frame the worker would refuse.
func AppendRunArgs(buf []byte, a *RunArgs) ([]byte, error) {
	n, err := runArgsSize(a)
	if err != nil {
		return buf, err
	}
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, frameVersion, kindRunArgs)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(a.Timeout))
	buf = binary.LittleEndian.AppendUint32(buf, a.NetID)
	buf = appendStrings(buf, a.Args)
	buf = appendStrings(buf, a.Env)
	return buf, nil
}

// DecodeRunArgs decodes a RunArgs frame's body (what follows the length).
func DecodeRunArgs(body []byte) (*RunArgs, error) {
	d := decoder{b: body}
	d.head(kindRunArgs)
	a := &RunArgs{}
	a.Timeout = time.Duration(d.u64())
	a.NetID = d.u32()
	a.Args = d.strings(MaxRunArgsFrame)
	a.Env = d.strings(MaxRunArgsFrame)
	if err := d.end(); err != nil {
		return nil, err
	}
	if a.Timeout <= 0 {
		return nil, frameErr("time limit %d is not positive", int64(a.Timeout))
	}
	return a, nil
}

// AppendResult appends the frame of a run's result, or of the error that
// kept it from running (werr not nil; r may be nil then), to buf. Texts
// past their caps are shortened and frames past MaxResultFrames dropped,
// so the frame always fits MaxResultFrame.
func AppendResult(buf []byte, r *Result, werr *Error) []byte {
	if r == nil {
		r = &Result{}
	}
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, frameVersion, kindResult)
	buf = append(buf, byte(r.Outcome))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(r.ExitCode))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.MemoryBytes))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.InstantiateTime))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(r.RunTime))
	buf = appendString(buf, clip(r.Trap, MaxTrapText))
	buf = appendString(buf, clip(r.Message, MaxMessageText))
	frames := r.Frames[:min(len(r.Frames), MaxResultFrames)]
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(frames)))
	for _, f := range frames {
		buf = appendString(buf, clip(f, MaxFrameText))
	}
	if werr == nil {
		buf = append(buf, 0)
	} else {
		buf = append(buf, 1, byte(werr.Kind))
		buf = appendString(buf, clip(werr.Msg, MaxMessageText))
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
	return buf
}

// DecodeResult decodes a Result frame's body (what follows the length):
// the result, and the worker's error if it reported one.
func DecodeResult(body []byte) (*Result, *Error, error) {
	d := decoder{b: body}
	d.head(kindResult)
	r := &Result{}
	outcome := d.u8()
	r.ExitCode = int32(d.u32())
	r.MemoryBytes = int64(d.u64())
	r.InstantiateTime = time.Duration(d.u64())
	r.RunTime = time.Duration(d.u64())
	r.Trap = d.text(MaxTrapText)
	r.Message = d.text(MaxMessageText)
	if n := d.count(MaxResultFrames); n > 0 {
		r.Frames = make([]string, n)
		for i := range r.Frames {
			r.Frames[i] = d.text(MaxFrameText)
		}
	}
	var werr *Error
	switch has := d.u8(); {
	case d.err != nil:
	case has == 1:
		kind := d.u8()
		werr = &Error{Kind: ErrorKind(kind), Msg: d.text(MaxMessageText)}
		if d.err == nil && kind > byte(KindMemoryLimit) {
			d.fail("unknown error kind %d", kind)
		}
	case has != 0:
		d.fail("error flag %d is neither 0 nor 1", has)
	}
	if err := d.end(); err != nil {
		return nil, nil, err
	}
	if outcome > byte(MemoryLimit) {
		return nil, nil, frameErr("unknown outcome %d", outcome)
	}
	r.Outcome = Outcome(outcome)
	if r.MemoryBytes < 0 || r.InstantiateTime < 0 || r.RunTime < 0 {
		return nil, nil, frameErr("negative memory size or time")
	}
	return r, werr, nil
}

// ReadFrame reads one frame from rd into buf (grown as needed) and returns
// its body, refusing a length above max before reading the body.
func ReadFrame(rd io.Reader, buf []byte, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(rd, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n < frameHeader-4 || uint64(n) > uint64(max) {
		return nil, frameErr("frame of %d bytes (at least %d and at most %d allowed)", n, frameHeader-4, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(rd, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(ss)))
	for _, s := range ss {
		buf = appendString(buf, s)
	}
	return buf
}

// clip shortens s to at most max bytes, at a character boundary, and
// replaces invalid UTF-8, which the reader refuses.
func clip(s string, max int) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// decoder reads a frame's body; the first problem sticks in err and every
// later read returns zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = frameErr(format, args...)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("%d bytes needed at offset %d of a %d-byte frame", n, d.off, len(d.b))
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) head(kind byte) {
	p := d.take(2)
	if p == nil {
		return
	}
	if p[0] != frameVersion {
		d.fail("version %d, not %d", p[0], frameVersion)
	} else if p[1] != kind {
		d.fail("kind %d, not %d", p[1], kind)
	}
}

func (d *decoder) u8() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// count reads a list's length, at most max, and at most what the rest of
// the frame could hold at four bytes an element, so that a lying count
// allocates nothing.
func (d *decoder) count(max int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) || uint64(n)*4 > uint64(len(d.b)-d.off) {
		d.fail("list of %d elements at offset %d (at most %d allowed)", n, d.off, max)
		return 0
	}
	return int(n)
}

// text reads a string of at most max bytes of valid UTF-8.
func (d *decoder) text(max int) string {
	n := d.u32()
	if d.err != nil {
		return ""
	}
	if uint64(n) > uint64(max) {
		d.fail("text of %d bytes at offset %d (at most %d allowed)", n, d.off, max)
		return ""
	}
	p := d.take(int(n))
	if p == nil {
		return ""
	}
	if !utf8.Valid(p) {
		d.fail("text at offset %d is not UTF-8", d.off-int(n))
		return ""
	}
	return string(p)
}

// strings reads a list of strings of at most max bytes each.
func (d *decoder) strings(max int) []string {
	n := d.count(min(MaxRunArgsStrings, math.MaxInt32))
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		l := d.u32()
		if uint64(l) > uint64(max) {
			d.fail("string of %d bytes (at most %d allowed)", l, max)
		}
		out[i] = string(d.take(int(l)))
	}
	if d.err != nil {
		return nil
	}
	return out
}

func (d *decoder) end() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d bytes left over after the last field", len(d.b)-d.off)
	}
	return d.err
}
