package isolation

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", s.Path, err)
	}
	return &childProcess{cmd: cmd, stdout: stdout, stderr: stderr}, nil
}

type childProcess struct {
	cmd            *exec.Cmd
	stdout, stderr io.ReadCloser
}

func (p *childProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *childProcess) Stderr() io.ReadCloser { return p.stderr }
func (p *childProcess) Wait() error           { return p.cmd.Wait() }
func (p *childProcess) Pid() int              { return p.cmd.Process.Pid }

func (p *childProcess) Kill() error {
	killGroup(p.cmd)
	err := p.cmd.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
