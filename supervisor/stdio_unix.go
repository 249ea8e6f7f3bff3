//go:build !windows

package supervisor

import (
	"io"
	"os"
)

// stdioPipes carry the module's stdin, stdout and stderr between the
// supervisor and one worker: three pipes whose worker ends become its
// descriptors 3, 4 and 5 (Spec.ExtraFiles). stdio_windows.go has the
// Windows version.
type stdioPipes struct {
	parent, child [3]*os.File // stdin, stdout, stderr
}

func newStdio() (*stdioPipes, error) {
	p := &stdioPipes{}
	for i := range 3 {
		pr, pw, err := os.Pipe()
		if err != nil {
			closeAll(p.parent[:], p.child[:])
			return nil, err
		}
		if i == 0 { // stdin: the worker reads
			p.parent[i], p.child[i] = pw, pr
		} else {
			p.parent[i], p.child[i] = pr, pw
		}
	}
	return p, nil
}

// workerFiles are the worker's ends, passed as Spec.ExtraFiles.
func (p *stdioPipes) workerFiles() []*os.File { return p.child[:] }

// workerEnv is what the worker's environment needs for its stdio: nothing.
func (p *stdioPipes) workerEnv() []string { return nil }

// spawned closes the worker's ends here once the worker has started, or
// failed to: a copy left open would keep the module's output from ever
// ending.
func (p *stdioPipes) spawned() { closeAll(p.child[:]) }

// connect has nothing to check: the worker's ends were inherited.
func (p *stdioPipes) connect(pid int, exited <-chan struct{}) error { return nil }

func (p *stdioPipes) stdin() io.WriteCloser { return p.parent[0] }
func (p *stdioPipes) stdout() io.ReadCloser { return p.parent[1] }
func (p *stdioPipes) stderr() io.ReadCloser { return p.parent[2] }

// close closes the supervisor's ends, of a worker whose call never took
// them.
func (p *stdioPipes) close() { closeAll(p.parent[:]) }

func closeAll(groups ...[]*os.File) {
	for _, g := range groups {
		for _, f := range g {
			if f != nil {
				f.Close()
			}
		}
	}
}
