package manifest

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// validate checks what a tool asks for: each entry well formed, nothing
// asked for twice, and no file system root or kernel interface even as a
// suggestion.
func (c *Capabilities) validate() error {
	if len(c.Files) > maxEntries || len(c.Env) > maxEntries || len(c.Network) > maxEntries {
		return fmt.Errorf("capabilities: more than %d files, env or network entries", maxEntries)
	}
	guests := map[string]bool{}
	for i, f := range c.Files {
		field := fmt.Sprintf("capabilities.files[%d]", i)
		if err := checkHostPath(field+".host", f.Host); err != nil {
			return err
		}
		if err := checkGuestPath(field+".guest", f.Guest); err != nil {
			return err
		}
		if guests[f.Guest] {
			return fmt.Errorf("%s.guest: %s is asked for twice", field, f.Guest)
		}
		guests[f.Guest] = true
		switch f.Mode {
		case "", "ro", "rw":
		default:
			return fmt.Errorf("%s.mode %q: want ro or rw", field, printable(f.Mode))
		}
		if err := checkText(field+".description", f.Description); err != nil {
			return err
		}
	}
	envs := map[string]bool{}
	for i, e := range c.Env {
		field := fmt.Sprintf("capabilities.env[%d]", i)
		if !envRE().MatchString(e) {
			return fmt.Errorf("%s %q: want an environment variable name of letters, digits and \"_\"", field, printable(e))
		}
		if envs[e] {
			return fmt.Errorf("%s: %s is asked for twice", field, e)
		}
		envs[e] = true
	}
	for i, n := range c.Network {
		field := fmt.Sprintf("capabilities.network[%d]", i)
		if err := checkNetHost(field+".host", n.Host); err != nil {
			return err
		}
		if len(n.Ports) == 0 {
			return fmt.Errorf("%s.ports: want at least one port", field)
		}
		if len(n.Ports) > maxEntries {
			return fmt.Errorf("%s.ports: more than %d ports", field, maxEntries)
		}
		for j, p := range n.Ports {
			if p < 1 || p > 65535 {
				return fmt.Errorf("%s.ports[%d]: %d is outside 1..65535", field, j, p)
			}
		}
	}
	return nil
}

func checkPathText(field, p string) error {
	if p == "" {
		return fmt.Errorf("%s: must not be empty", field)
	}
	if len(p) > 4096 {
		return fmt.Errorf("%s: longer than 4096 bytes", field)
	}
	for _, r := range p {
		if r == 0 || unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%s %q: contains a control character or invalid UTF-8", field, printable(p))
		}
	}
	return nil
}

// checkHostPath accepts an absolute, clean path that does not expose the
// whole file system or the kernel's: "/", "/proc", "/sys", "/dev" and
// anything below the last three are refused even as a suggestion, since an
// operator might accept the suggestion without reading it.
func checkHostPath(field, p string) error {
	if err := checkPathText(field, p); err != nil {
		return err
	}
	if strings.HasPrefix(p, "/") {
		if c := path.Clean(p); c != p {
			return fmt.Errorf("%s %q: not a clean path (did you mean %s?)", field, printable(p), c)
		}
		if p == "/" {
			return fmt.Errorf("%s: \"/\" would expose the whole host file system", field)
		}
		for _, f := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				return fmt.Errorf("%s %q: %s and below are never granted", field, printable(p), f)
			}
		}
		return nil
	}
	// A Windows path, e.g. C:\logs, for a tool meant for Windows hosts.
	if vol := filepath.VolumeName(p); vol != "" || isWindowsAbs(p) {
		if strings.Contains(p, "..") || strings.Contains(p, "/") {
			return fmt.Errorf("%s %q: not a clean path", field, printable(p))
		}
		if len(p) <= 3 {
			return fmt.Errorf("%s %q: a drive root would expose the whole drive", field, p)
		}
		return nil
	}
	return fmt.Errorf("%s %q: want an absolute path", field, printable(p))
}

// isWindowsAbs reports a drive-letter path such as C:\dir on any host.
func isWindowsAbs(p string) bool {
	return len(p) >= 3 && (p[0] >= 'A' && p[0] <= 'Z' || p[0] >= 'a' && p[0] <= 'z') && p[1] == ':' && p[2] == '\\'
}

func checkGuestPath(field, p string) error {
	if err := checkPathText(field, p); err != nil {
		return err
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%s %q: want an absolute path", field, printable(p))
	}
	if c := path.Clean(p); c != p {
		return fmt.Errorf("%s %q: not a clean path (did you mean %s?)", field, printable(p), c)
	}
	return nil
}

func checkNetHost(field, h string) error {
	if h == "" {
		return fmt.Errorf("%s: must not be empty", field)
	}
	if strings.Contains(h, "/") {
		p, err := netip.ParsePrefix(h)
		if err != nil {
			return fmt.Errorf("%s %q: not a CIDR such as 10.0.0.0/24", field, printable(h))
		}
		if m := p.Masked(); m != p {
			return fmt.Errorf("%s %q: address has bits outside the mask (did you mean %s?)", field, h, m)
		}
		return nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 253 {
		return fmt.Errorf("%s: hostname longer than 253 bytes", field)
	}
	for _, l := range strings.Split(h, ".") {
		if !labelRE().MatchString(l) {
			return fmt.Errorf("%s %q: want a CIDR, an IP address or a hostname", field, printable(h))
		}
	}
	return nil
}
