package daemon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxFDs is the most descriptors a request may carry: stdin, stdout,
// stderr.
const maxFDs = 3

// cancelFrame asks the server to cancel the call as the signal would.
type cancelFrame struct {
	Signal int `json:"signal"`
}

// errClientGone is the cause of a call whose client closed the connection.
var errClientGone = errors.New("client went away")

// writeFrame writes v as one frame.
func writeFrame(w io.Writer, v any) error {
	b, err := encodeFrame(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func encodeFrame(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFrame, len(body), MaxFrame)
	}
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	return append(b, body...), nil
}

// readFrame reads one frame of at most limit bytes into v. The length is
// checked before the body is read: a peer cannot make the reader allocate
// more than limit.
func readFrame(r io.Reader, limit uint32, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > limit {
		return fmt.Errorf("%w: length %d, more than %d", ErrFrame, n, limit)
	}
	return readBody(r, n, v)
}

func readBody(r io.Reader, n uint32, v any) error {
	if n > MaxFrame {
		return fmt.Errorf("%w: length %d, more than %d", ErrFrame, n, MaxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", ErrFrame, err)
	}
	return nil
}

// smallFrame bounds the frames that carry no call (replies, cancels).
const smallFrame = 4 << 10
