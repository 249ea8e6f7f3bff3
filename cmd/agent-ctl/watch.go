package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/cmd/internal/mcp"
	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/untrusted"
	"github.com/agent-ctl/agent-ctl/modules/watch"
)

// watchFlag is --watch of serve and mcp.
func watchFlag() cli.Flag {
	return &cli.StringFlag{Name: "watch", Usage: "keep the tools of drop-in directory `DIR` installed: each subdirectory (manifest.json and its module) is installed when it appears or changes and removed when it goes"}
}

// startWatch starts watching --watch, if given, until ctx ends. Each
// change is installed or removed by this agent-ctl binary's own install
// and remove commands, in a process of their own: the same checks as a
// local directory (manifest, module, signatures, grants), and as
// 'install' without --yes on a non-interactive stdin, nothing granted.
func startWatch(ctx context.Context, c *cli.Context, st *state, srv *mcp.Server) error {
	dir := c.String("watch")
	if dir == "" {
		return nil
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	self := func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, exe, append([]string{"--home", st.home, "--log-level", c.String("log-level")}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			msg := strings.TrimSpace(errb.String())
			if msg == "" {
				msg = err.Error()
			}
			return out.String(), errors.New(strings.ReplaceAll(msg, "agent-ctl: ", ""))
		}
		return out.String(), nil
	}
	w, err := watch.New(&watch.Options{
		Dir:    dir,
		Status: watch.StatusPath(st.home),
		Logger: log,
		Install: func(ctx context.Context, dir string) (string, error) {
			m, _, err := manifest.Load(dir)
			if err != nil {
				return "", err
			}
			out, err := self(ctx, "install", dir)
			if err != nil {
				return "", err
			}
			log.Info("install", "dir", dir, "output", strings.TrimSpace(out))
			return m.Name, nil
		},
		Remove: func(ctx context.Context, tool string) error {
			_, err := self(ctx, "remove", tool)
			return err
		},
		// Published at once, not at the next poll.
		Changed: func() { srv.Sync() },
	})
	if err != nil {
		return err
	}
	go w.Run(ctx)
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: watching %s for tools\n", dir)
	return nil
}

// printWatchErrors shows on stderr the drops of a watched directory that
// did not install (the tool, if any, keeps its installed version).
func printWatchErrors(c *cli.Context, st *state) {
	s, err := watch.ReadStatus(watch.StatusPath(st.home))
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(err))
		return
	}
	for _, l := range s.Errors() {
		// A drop's name is whatever whoever writes the directory chose,
		// and its error may quote the drop's files: shown escaped.
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", untrusted.Show(l))
	}
}
