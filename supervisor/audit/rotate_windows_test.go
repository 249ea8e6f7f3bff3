package audit

import (
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

// TestRotate_windows: the log rotates on Windows, where a file that is
// open cannot be renamed (os.OpenFile opens without FILE_SHARE_DELETE):
// had the writer renamed its own open file, every append after the first
// MaxFileSize would fail, and every call with it. make test-windows runs
// it under Wine (testutil.TempDir: the package's other tests need the
// os.RemoveAll that Wine 8.0 cannot do).
func TestRotate_windows(t *testing.T) {
	dir := testutil.TempDir(t)
	appendN(t, open(t, dir, &Options{MaxFileSize: 1024}), 30, "me")
	appendN(t, open(t, dir, &Options{MaxFileSize: 1024}), 30, "me")
	verifyOK(t, dir, 60)
	files, err := Files(dir)
	if err != nil || len(files) < 4 {
		t.Fatalf("files %v, %v: want the log rotated", files, err)
	}
}
