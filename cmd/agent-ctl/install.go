package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

func installCommand() *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "install a tool from a module directory (manifest.json and its .wasm), a .tar.gz of one, or an OCI registry",
		ArgsUsage: "DIR|oci://HOST[:PORT]/REPO:TAG|oci://HOST[:PORT]/REPO@sha256:DIGEST",
		Description: `Validates the manifest and the module and installs them; an installed version
of the same name is replaced only if everything checks out. Prints the
capabilities the tool asks for. --yes grants them all; otherwise agent-ctl asks
on a terminal, and on a non-interactive stdin grants nothing and prints the
grant commands that would.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "grant every capability the manifest asks for"},
			&cli.StringFlag{Name: "isolation", Usage: "walls around the worker that precompiles the module (`KIND`): container or process", DefaultText: "container"},
			&cli.StringFlag{Name: "compile-timeout", Usage: "limit on precompiling the module (`DURATION`); past it the tool stays installed, not precompiled, and its first call compiles it", Value: "2m"},
			keepFlag(),
			plainHTTPFlag(),
		},
		Action: func(c *cli.Context) error {
			orig, err := oneArg(c, "module directory")
			if err != nil {
				return err
			}
			// Checked before anything is installed: a bad value must not
			// leave a tool installed and only warn.
			iso, err := policies.ParseIsolation(c.String("isolation"))
			if err != nil {
				return usageError{"install: " + plain(err)}
			}
			compileTimeout, err := time.ParseDuration(c.String("compile-timeout"))
			if err != nil || compileTimeout <= 0 {
				return usageError{fmt.Sprintf("install: --compile-timeout %q: want a positive duration such as 30s or 5m", c.String("compile-timeout"))}
			}
			st, err := openState(c.String("home"))
			if err != nil {
				return err
			}
			src, cleanupSrc, err := installSource(c, st, orig)
			if err != nil {
				return err
			}
			defer cleanupSrc()
			dir, signed, cleanup, err := verifiedSource(st.home, src)
			defer cleanup()
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", refusal(orig, err))
				return exitError{installExit(c.App.ErrWriter, st.home, err)}
			}
			ch, err := installWith(st, dir, &store.InstallOptions{Keep: c.Int("keep"), Signer: signed.Signer.Name})
			if err != nil {
				// Name the operator's path, not the private copy's.
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", strings.ReplaceAll(plain(err), dir, orig))
				return exitError{installExit(c.App.ErrWriter, st.home, err)}
			}
			t := ch.Tool
			m := t.Manifest()
			w := c.App.Writer
			printReplacing(w, ch)
			fmt.Fprintf(w, "installed %s %s (%s)\n", m.Name, m.Version, short(t.Digest))
			reportSigner(c, signed)
			// The question comes before the compile (seconds, for a Go
			// module), so that the operator answers and can walk away.
			cmds := grantCommands(m)
			grant := c.Bool("yes")
			if len(cmds) == 0 {
				fmt.Fprintln(w, "it asks for no capabilities")
			} else {
				fmt.Fprintln(w, "it asks for:")
				for _, l := range describeCaps(m) {
					fmt.Fprintln(w, "  "+l)
				}
			}
			printGrantsChange(w, ch)
			if !grant && (len(cmds) > 0 || ch.Held) && isTerminal(c.App.Reader) {
				fmt.Fprint(w, grantQuestion(len(cmds) > 0, ch.Held))
				line, _ := bufio.NewReader(c.App.Reader).ReadString('\n')
				grant = strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
			}
			done := progress(c.App.ErrWriter, "compiling "+m.Name)
			err = precompile(c, t.Module, t.Digest, iso, compileTimeout)
			done()
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: warning: %s: not precompiled, the first call will compile it: %s\n", m.Name, plain(err))
			}
			if len(cmds) == 0 && !ch.Held {
				return nil
			}
			if !grant {
				if len(cmds) > 0 {
					fmt.Fprintln(w, "nothing granted; to grant, run:")
					for _, cmd := range cmds {
						fmt.Fprintln(w, "  "+cmd)
					}
				}
				if ch.Held {
					fmt.Fprintf(w, "grants held; to confirm them for %s %s, run:\n  agent-ctl grant %s --confirm\n", m.Name, m.Version, m.Name)
				}
				return nil
			}
			// Granted under the policy file's lock, after the precompile
			// and the question: nobody waits for a worker or a person.
			var refused []error
			err = st.updateGrants(t, func(tg *policies.ToolGrants) error {
				refused = tg.GrantAll(m.Asks(), st.home)
				// What the operator said yes to is this version: held
				// grants are confirmed for it, new ones pinned to it.
				tg.Digest, tg.Signer = t.Digest, t.Signer
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s installed, nothing granted: %w", m.Name, err)
			}
			for _, r := range refused {
				fmt.Fprintf(c.App.ErrWriter, "agent-ctl: not granted: %s\n", plain(r))
			}
			fmt.Fprintln(w, "granted")
			return nil
		},
	}
}

// progress shows on w that what is under way: on a terminal a spinner and
// the elapsed time, redrawn in place; elsewhere (a log, a pipe) one line
// when it starts and one with the time it took. The function it returns
// ends it.
func progress(w io.Writer, what string) (done func()) {
	start := time.Now()
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		fmt.Fprintf(w, "agent-ctl: %s...\n", what)
		return func() {
			fmt.Fprintf(w, "agent-ctl: %s: done in %s\n", what, time.Since(start).Round(100*time.Millisecond))
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%c %s %s ", `|/-\`[i%4], what, time.Since(start).Truncate(time.Second))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
		fmt.Fprintf(w, "\r\x1b[K%s: done in %s\n", what, time.Since(start).Round(100*time.Millisecond))
	}
}

// precompile fills the compiled-module cache at install, in a worker behind
// the walls iso names, so no call of the tool compiles; the compile may take
// up to limit.
func precompile(c *cli.Context, module, digest string, iso policies.Isolation, limit time.Duration) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	sup, err := supervisor.New(&supervisor.Options{Home: c.String("home"), Logger: log, Audit: auditOptions(c), CompileTimeout: limit})
	if err != nil {
		return err
	}
	defer sup.Close() // the worker's teardown ends before agent-ctl does
	_, err = sup.PrecompileDigest(c.Context, module, digest, iso)
	return err
}
