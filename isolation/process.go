package isolation

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
)

// NewProcess returns the spawner for process isolation: the worker is a plain
// child process with an empty environment apart from what Spec gives it,
// stdin on /dev/null, its own process group (so a terminal's Ctrl-C reaches
// only the supervisor, which stops workers itself) and, on Linux, SIGKILL
// when the supervisor dies.
func NewProcess() Spawner { return processSpawner{} }

type processSpawner struct{}

func (processSpawner) Name() string { return "process" }

func (processSpawner) Start(s *Spec) (Process, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = s.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.ExtraFiles = s.ExtraFiles
	cmd.SysProcAttr = processAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("creating worker stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("creating worker stderr: %w", err)
	}
	// Forked from a thread that never exits, so the parent-death signal
	// comes only when the supervisor dies (see onSpawnThread).
	var err2 error
	onSpawnThread(func() { err2 = cmd.Start() })
	if err2 != nil {
		return nil, fmt.Errorf("starting worker %s: %w", s.Path, err2)
	}
	return &childProcess{cmd: cmd, stdout: stdout, stderr: stderr}, nil
}

type childProcess struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser

	mu     sync.Mutex
	reaped bool // once set, the process group ID may belong to another
}

func (p *childProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *childProcess) Stderr() io.ReadCloser { return p.stderr }
func (p *childProcess) Wait() error {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
	return err
}
func (p *childProcess) Pid() int { return p.cmd.Process.Pid }

func (p *childProcess) Kill() error {
	p.mu.Lock()
	if !p.reaped {
		killGroup(p.cmd.Process.Pid)
	}
	p.mu.Unlock()
	err := p.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
