package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/agent-ctl/agent-ctl/modules/store"
	"github.com/agent-ctl/agent-ctl/policies/statefile"
	"github.com/agent-ctl/agent-ctl/policies/trust"
)

// maxKeyFile bounds a key file or password file read: a minisign key file
// is under 400 bytes.
const maxKeyFile = 4 << 10

func signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign a module directory with a minisign secret key",
		ArgsUsage: "DIR",
		Description: `Writes manifest.json.minisig and <module>.minisig beside the manifest and the
module it names, in minisign's format: 'minisign -V' verifies them, and
'agent-ctl install' checks them against the keys trusted with 'agent-ctl trust'.
The key is a minisign secret key file (from 'agent-ctl key generate' or
'minisign -G'); its password is asked on a terminal, or read from the first line
of --password-file (- for stdin).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "minisign secret key `FILE`", Required: true},
			&cli.StringFlag{Name: "password-file", Usage: "read the key's password from the first line of `FILE` (- for stdin)"},
		},
		Action: func(c *cli.Context) error {
			dir, err := oneArg(c, "module directory")
			if err != nil {
				return err
			}
			text, err := statefile.ReadFile(c.String("key"), maxKeyFile)
			if err != nil {
				return fmt.Errorf("reading secret key: %w", err)
			}
			var pw string
			if trust.KeyEncrypted(text) {
				if pw, err = password(c, "password for "+c.String("key"), false); err != nil {
					return err
				}
			}
			key, err := trust.ParseSecretKey(text, pw)
			if err != nil {
				return err
			}
			if err := trust.Sign(dir, key); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "signed %s with key %s\n", dir, key.ID())
			return nil
		},
	}
}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "make minisign key pairs for signing modules",
		Subcommands: []*cli.Command{{
			Name:  "generate",
			Usage: "write a new minisign key pair",
			Description: `Writes a minisign secret key and its public key, as 'minisign -G' does, by
default where minisign does (~/.minisign/minisign.key and ./minisign.pub). The
secret key is encrypted with a password (asked twice on a terminal, or the first
line of --password-file) unless --no-password is given. Existing files are kept
unless --force is given.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "secret", Usage: "secret key `FILE`", DefaultText: "~/.minisign/minisign.key, as minisign's"},
				&cli.StringFlag{Name: "public", Usage: "public key `FILE`", Value: "minisign.pub"},
				&cli.StringFlag{Name: "password-file", Usage: "read the password from the first line of `FILE` (- for stdin)"},
				&cli.BoolFlag{Name: "no-password", Usage: "leave the secret key unencrypted (minisign -W)"},
				&cli.BoolFlag{Name: "force", Usage: "replace existing key files"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return usageError{"key generate: takes no arguments (see 'agent-ctl key generate --help')"}
				}
				sec, pub := c.String("secret"), c.String("public")
				if sec == "" {
					// minisign's own default, where minisign -S looks.
					h, err := os.UserHomeDir()
					if err != nil {
						return fmt.Errorf("finding the home directory for the secret key (give --secret): %w", err)
					}
					sec = filepath.Join(h, ".minisign", "minisign.key")
				}
				if !c.Bool("force") {
					for _, f := range []string{sec, pub} {
						if _, err := os.Lstat(f); err == nil {
							return fmt.Errorf("%s exists; --force replaces it", f)
						}
					}
				}
				var pw string
				if !c.Bool("no-password") {
					var err error
					if pw, err = password(c, "password for the new key", true); err != nil {
						return err
					}
					if pw == "" {
						return usageError{"key generate: empty password; give one, or --no-password for an unencrypted key"}
					}
				}
				public, secret, err := trust.GenerateKey(pw)
				if err != nil {
					return err
				}
				k, err := trust.ParsePublicKey(string(public))
				if err != nil {
					return err
				}
				if err := writeKey(sec, secret, 0o600, c.Bool("force")); err != nil {
					return err
				}
				if err := writeKey(pub, public, 0o644, c.Bool("force")); err != nil {
					return err
				}
				w := c.App.Writer
				fmt.Fprintf(w, "wrote secret key %s and public key %s (key ID %s)\n", sec, pub, k.ID)
				fmt.Fprintf(w, "to trust it: agent-ctl trust add %s --name NAME\n", pub)
				return nil
			},
		}},
	}
}

// writeKey writes a key file, creating its directory (0700): with O_EXCL
// unless force, so that a key made meanwhile by another process is not
// lost either.
func writeKey(path string, b []byte, perm os.FileMode, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if force {
		if err := statefile.WriteFile(path, b, perm); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func trustCommand() *cli.Command {
	return &cli.Command{
		Name:  "trust",
		Usage: "manage the keys whose signatures install trusts",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "trust a minisign public key",
				ArgsUsage: "PUBKEY",
				Description: `PUBKEY is a minisign public key file (minisign.pub) or the key itself (the
base64 string 'minisign -P' takes). --name defaults to the key ID.`,
				Flags: []cli.Flag{&cli.StringFlag{Name: "name", Usage: "the key's `NAME` (shown as the signer on install)"}},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{"trust add: want exactly one public key (see 'agent-ctl trust add --help')"}
					}
					arg := c.Args().First()
					text := arg
					if fi, err := os.Stat(arg); err == nil && fi.Mode().IsRegular() {
						b, err := statefile.ReadFile(arg, maxKeyFile)
						if err != nil {
							return fmt.Errorf("reading public key: %w", err)
						}
						text = string(b)
					}
					k, err := trust.ParsePublicKey(text)
					if err != nil {
						return fmt.Errorf("%s is neither a public key file nor a public key: %w", arg, err)
					}
					k.Name = c.String("name")
					if k.Name == "" {
						k.Name = k.ID
					}
					k.Added = time.Now().UTC()
					return updateTrust(c, func(p *trust.Policy) error { return p.Add(k) }, fmt.Sprintf("trusted key %s (ID %s)", k.Name, k.ID))
				},
			},
			{
				Name:  "list",
				Usage: "list the trusted keys and whether signatures are required",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: func(c *cli.Context) error {
					home, err := trustHome(c)
					if err != nil {
						return err
					}
					p, err := trust.Load(home)
					if err != nil {
						return err
					}
					if p.Keys == nil {
						p.Keys = []trust.Key{}
					}
					if c.Bool("json") {
						return writeJSON(c, p)
					}
					fmt.Fprintf(c.App.Writer, "signatures required at install: %s\n", onOff(p.Require))
					if len(p.Keys) == 0 {
						fmt.Fprintln(c.App.Writer, "no trusted keys")
						return nil
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tKEY ID\tADDED")
					for _, k := range p.Keys {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.ID, k.Added.Format("2006-01-02 15:04"))
					}
					return tw.Flush()
				},
			},
			{
				Name:      "remove",
				Usage:     "stop trusting a key",
				ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageError{"trust remove: want exactly one key name (see 'agent-ctl trust list')"}
					}
					name := c.Args().First()
					return updateTrust(c, func(p *trust.Policy) error { return p.Remove(name) }, "removed key "+name)
				},
			},
			{
				Name:      "require",
				Usage:     "require (on) or not (off) a trusted signature on every install",
				ArgsUsage: "on|off",
				Description: `Under on, install refuses a module that is unsigned, signed by a key that is
not trusted, or whose files do not match their signatures. Under off (the
default) such a module is installed as unsigned, with a warning when it carries
signatures that do not verify; a trusted key's signature that does not match
its file is refused either way.`,
				Action: func(c *cli.Context) error {
					var on bool
					switch c.Args().First() {
					case "on":
						on = true
					case "off":
					default:
						return usageError{"trust require: want on or off"}
					}
					if c.NArg() != 1 {
						return usageError{"trust require: want on or off"}
					}
					return updateTrust(c, func(p *trust.Policy) error { p.Require = on; return nil }, "signatures required at install: "+onOff(on))
				},
			},
		},
	}
}

// updateTrust changes the trust policy of --home under its lock and says
// so (done, on stdout), with a warning when signatures are then required
// and no key is trusted: every install is refused until one is.
func updateTrust(c *cli.Context, change func(*trust.Policy) error, done string) error {
	home, err := trustHome(c)
	if err != nil {
		return err
	}
	var require bool
	var keys int
	if err := trust.Update(home, func(p *trust.Policy) error {
		if err := change(p); err != nil {
			return err
		}
		require, keys = p.Require, len(p.Keys)
		return nil
	}); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, done)
	if require && keys == 0 {
		fmt.Fprintln(c.App.ErrWriter, "agent-ctl: warning: no key is trusted: every install is refused until 'agent-ctl trust add PUBKEY'")
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// trustHome is the state directory, made if missing.
func trustHome(c *cli.Context) (string, error) {
	st, err := openState(c.String("home"))
	if err != nil {
		return "", err
	}
	return st.home, nil
}

// password is the password from --password-file (its first line; "-"
// reads the command's stdin), or asked on the terminal without echo
// (twice when confirm). Nothing else: a password never comes from a flag's
// value, which other users see in the process list.
func password(c *cli.Context, prompt string, confirm bool) (string, error) {
	if f := c.String("password-file"); f != "" {
		var line string
		var err error
		if f == "-" {
			line, err = bufio.NewReader(io.LimitReader(c.App.Reader, maxKeyFile)).ReadString('\n')
			if errors.Is(err, io.EOF) {
				err = nil
			}
		} else {
			var b []byte
			b, err = statefile.ReadFile(f, maxKeyFile)
			line, _, _ = strings.Cut(string(b), "\n")
		}
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	in, ok := c.App.Reader.(*os.File)
	if !ok || !isTerminal(in) {
		return "", usageError{"the key needs a password: give --password-file (- for stdin), or run on a terminal"}
	}
	ask := func(p string) (string, error) {
		fmt.Fprint(c.App.ErrWriter, p+": ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(c.App.ErrWriter)
		return string(b), err
	}
	pw, err := ask(prompt)
	if err != nil || !confirm {
		return pw, err
	}
	again, err := ask("again")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords differ")
	}
	return pw, nil
}

// verifiedSource prepares src for install under the trust policy in home:
// an archive is unpacked first, so that its signatures can be read; a
// module with signature files, or any module under trust require on, is
// copied to a private directory and verified there, so that what is
// installed is what was verified. It returns the directory to install
// from, what the verification found, and a cleanup to run after the
// install. A module without signatures under off is installed from src as
// it is (no copy): no signature decides anything there.
func verifiedSource(home, src string) (dir string, res *trust.Result, cleanup func(), err error) {
	cleanup = func() {}
	dir = src
	if store.IsArchive(src) {
		tmp, done, err := trust.PrivateDir(home)
		cleanup = done
		if err != nil {
			return "", nil, cleanup, fmt.Errorf("installing %s: %w", src, err)
		}
		if _, dir, err = store.Unpack(src, tmp); err != nil {
			return "", nil, cleanup, fmt.Errorf("installing %s: %w", src, err)
		}
	}
	p, err := trust.Load(home)
	if err != nil {
		return "", nil, cleanup, err
	}
	if !p.Require {
		sigs, _ := filepath.Glob(filepath.Join(dir, "*"+trust.SigSuffix))
		if len(sigs) == 0 {
			return dir, &trust.Result{}, cleanup, nil
		}
	}
	staged, res, done, err := trust.Stage(home, dir)
	prev := cleanup
	cleanup = func() { done(); prev() }
	if err != nil {
		return "", nil, cleanup, err
	}
	return staged, res, cleanup, nil
}

// reportSigner says on install who signed the module, and warns of
// signatures that did not verify where the policy let the module in.
func reportSigner(c *cli.Context, res *trust.Result) {
	if res.Problem != nil {
		fmt.Fprintf(c.App.ErrWriter, "agent-ctl: warning: %s; installed as unsigned (trust require is off)\n", res.Problem)
	}
	if res.Signer.Name != "" {
		fmt.Fprintf(c.App.Writer, "signed by %s (key %s)\n", res.Signer.Name, res.Signer.ID)
	} else {
		fmt.Fprintln(c.App.Writer, trust.Unsigned)
	}
}

// refusal is the message of an install verifiedSource refused: a
// signature's verdict names the source and the policy that refused it.
func refusal(src string, err error) string {
	var e *trust.Error
	if !errors.As(err, &e) {
		return plain(err)
	}
	why := "trust require is on"
	if errors.Is(e.Reason, trust.ErrBadSignature) {
		why = "refused whatever trust require says"
	}
	return fmt.Sprintf("not installed: %s: %s (%s)", src, plain(err), why)
}
