package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
	"github.com/agent-ctl/agent-ctl/modules/oci"
	"github.com/agent-ctl/agent-ctl/supervisor"
)

// plainHTTPFlag lets publish and install talk to a registry without TLS.
func plainHTTPFlag() cli.Flag {
	return &cli.BoolFlag{Name: "plain-http", Usage: "talk to the OCI registry over HTTP, without TLS (a loopback registry)"}
}

func publishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "publish a module directory to an OCI registry and print its digest",
		ArgsUsage: "DIR oci://HOST[:PORT]/REPO:TAG",
		Description: `Pushes manifest.json, the module it names and their minisign signatures
(manifest.json.minisig, MODULE.minisig) when present, as one OCI artifact of
type ` + oci.ArtifactType + `, tags it and prints its digest.
The manifest and the module are checked as install checks them. Credentials
come from the Docker config file ($DOCKER_CONFIG/config.json or
~/.docker/config.json) when there is one.`,
		Flags: []cli.Flag{plainHTTPFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usageError{"publish: want a module directory and an oci:// reference (see 'agent-ctl publish --help')"}
			}
			if _, err := oci.ParseReference(c.Args().Get(1)); err != nil {
				return usageError{"publish: " + err.Error()}
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			d, err := oci.Push(c.Context, c.Args().First(), c.Args().Get(1), &oci.Options{PlainHTTP: c.Bool("plain-http"), Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, d)
			return nil
		},
	}
}

// installSource returns the directory install reads: src itself, or for
// an oci:// reference a private directory under the home that the
// artifact was fetched into, and a function that removes it. Whatever
// install checks for a local directory (manifest, module, signatures,
// grants) it then checks for the fetched one, in the same way.
func installSource(c *cli.Context, st *state, src string) (string, func(), error) {
	if !oci.IsReference(src) {
		if c.Bool("plain-http") {
			return "", nil, usageError{"install: --plain-http goes with an oci:// reference"}
		}
		return src, func() {}, nil
	}
	if _, err := oci.ParseReference(src); err != nil {
		return "", nil, usageError{"install: " + err.Error()}
	}
	tmp := filepath.Join(st.home, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return "", nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	dir, err := os.MkdirTemp(tmp, "oci-")
	if err != nil {
		return "", nil, fmt.Errorf("creating a directory for %s: %w", src, err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	log, err := newLogger(c)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	p, err := oci.Pull(c.Context, src, dir, &oci.Options{PlainHTTP: c.Bool("plain-http"), Logger: log})
	if err != nil {
		cleanup()
		if errors.Is(err, oci.ErrRefused) || errors.Is(err, manifest.ErrInvalid) {
			// Refused as a bad module directory is: exit 126.
			fmt.Fprintf(c.App.ErrWriter, "agent-ctl: %s\n", plain(err))
			return "", nil, exitError{supervisor.ExitInvalid}
		}
		return "", nil, err
	}
	fmt.Fprintf(c.App.ErrWriter, "agent-ctl: fetched %s (%s)\n", src, p.Digest)
	return dir, cleanup, nil
}
