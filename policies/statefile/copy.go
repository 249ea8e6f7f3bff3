package statefile

import (
	"io"
	"os"
)

// CopyNew copies at most limit bytes of src to dst, a file it creates
// (0600; it must not exist), and syncs it. src must be a regular file, not
// a link: a copy must not turn a linked file, which the store and the
// signature checks refuse, into one they accept. It opens src as Open
// does, without following a final link: a named pipe does not block it,
// and a file swapped for a link or a pipe after a check is refused all
// the same. It returns the bytes
// copied; a caller that must see a file too large as too large passes one
// byte more than it accepts and checks n.
func CopyNew(src, dst string, limit int64) (n int64, err error) {
	in, err := open(src, false)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err = io.Copy(out, io.LimitReader(in, limit))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
