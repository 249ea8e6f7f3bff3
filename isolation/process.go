package isolation

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// killTimeout bounds how long Kill waits for a killed worker to be gone. A
// SIGKILLed process only lingers while stuck in the kernel.
const killTimeout = 10 * time.Second

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
	return &childProcess{cmd: cmd, stdout: stdout, stderr: stderr, exit: watchExit(cmd.Process.Pid)}, nil
}

type childProcess struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser

	mu     sync.Mutex
	reaped bool // once set, the process group ID may belong to another
	exit   exitWatch
}

func (p *childProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *childProcess) Stderr() io.ReadCloser { return p.stderr }
func (p *childProcess) Wait() error {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.reaped = true
	p.exit.close()
	p.mu.Unlock()
	return err
}
func (p *childProcess) Pid() int { return p.cmd.Process.Pid }

// Kill kills the worker and its process group and returns once the worker
// has exited (reaped or not), at most killTimeout later: a caller that
// removes what the worker used, or exits, right after leaves no process
// behind.
func (p *childProcess) Kill() error {
	p.mu.Lock()
	var exited func(time.Duration) error
	if !p.reaped {
		killGroup(p.cmd.Process.Pid)
		exited = p.exit.waiter()
	}
	p.mu.Unlock()
	err := p.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		err = nil
	}
	if err == nil && exited != nil {
		err = exited(killTimeout)
	}
	return err
}
