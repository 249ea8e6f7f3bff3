package policies

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGrants_roundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	g, err := LoadGrants(path)
	if err != nil || len(g.Tools) != 0 {
		t.Fatalf("missing file: %v %v, want an empty policy", g, err)
	}
	logs := t.TempDir()
	tg := g.Tool("logs")
	if err := tg.GrantDir(Dir{Host: logs, Guest: "/logs"}); err != nil {
		t.Fatal(err)
	}
	if err := tg.GrantEnv("TZ=UTC"); err != nil {
		t.Fatal(err)
	}
	if err := tg.GrantEnv("LANG"); err != nil {
		t.Fatal(err)
	}
	n, err := ParseNetGrant("10.0.0.0/24:22,443")
	if err != nil {
		t.Fatal(err)
	}
	tg.GrantNet(n)
	tg.GrantNet(NetGrant{Host: "10.0.0.0/24", Ports: []int{80, 22}})
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("policy file mode %v, want 0600", fi.Mode().Perm())
	}
	g2, err := LoadGrants(path)
	if err != nil {
		t.Fatal(err)
	}
	got := g2.Tools["logs"]
	if len(got.Dirs) != 1 || got.Dirs[0].Guest != "/logs" || got.Dirs[0].Writable ||
		len(got.Env) != 2 || len(got.Net) != 1 || len(got.Net[0].Ports) != 3 {
		t.Fatalf("round trip: %+v", got)
	}
	p, err := got.Policy(Requested{Memory: 64 << 20}, func(k string) (string, bool) {
		if k == "LANG" {
			return "C.UTF-8", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Dirs) != 1 || len(p.Env) != 2 || p.Env[0] != (Env{"LANG", "C.UTF-8"}) || p.Env[1] != (Env{"TZ", "UTC"}) || p.Memory != 64<<20 {
		t.Errorf("policy %+v", p)
	}
	if !got.RevokeDir("/logs") || got.RevokeDir("/logs") || !got.RevokeEnv("TZ") || !got.RevokeNet("10.0.0.0/24") {
		t.Error("revoke did not report what it removed")
	}
}

func TestGrants_refused(t *testing.T) {
	home := t.TempDir()
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	tg := &ToolGrants{}
	for _, tc := range []struct {
		dir  Dir
		want string
	}{
		{Dir{Host: "/", Guest: "/host"}, "hand over the host"},
		{Dir{Host: "/proc", Guest: "/p"}, "hand over the host"},
		{Dir{Host: "/sys/fs", Guest: "/s"}, "hand over the host"},
		{Dir{Host: home, Guest: "/h"}, "own state"},
		{Dir{Host: filepath.Join(home, ".."), Guest: "/h"}, "own state"},
		{Dir{Host: "/no/such", Guest: "/x"}, "does not exist"},
		{Dir{Host: file, Guest: "/x"}, "not a directory"},
		{Dir{Host: t.TempDir(), Guest: "relative"}, "must be absolute"},
	} {
		err := tg.GrantDir(tc.dir, home)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("GrantDir(%+v) = %v, want %q", tc.dir, err, tc.want)
		}
	}
	if len(tg.Dirs) != 0 {
		t.Errorf("refused grants were recorded: %+v", tg.Dirs)
	}
	for in, want := range map[string]string{
		"10.0.0.0/24":       "want HOST:PORT",
		"10.0.0.0/33:22":    "not a CIDR",
		"host:0":            "outside 1..65535",
		"host:http":         "not a number",
		"bad_host!:22":      "neither a CIDR",
		"127.0.0.1:8080,99": "",
	} {
		_, err := ParseNetGrant(in)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseNetGrant(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestGrants_limitsOnlyLower(t *testing.T) {
	tg := &ToolGrants{Limits: LimitGrants{Memory: "32MiB", Timeout: "1m"}}
	p, err := tg.Policy(Requested{Memory: 64 << 20, Timeout: 10 * time.Second, MaxOutput: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Memory != 32<<20 || p.Timeout != 10*time.Second || p.MaxOutput != 1<<20 {
		t.Errorf("limits %d %v %d: want the lowest of manifest and operator", p.Memory, p.Timeout, p.MaxOutput)
	}
}

func TestGrants_badFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not json":       "{",
		"unknown field":  `{"tools":{},"extra":1}`,
		"relative host":  `{"tools":{"x":{"dirs":[{"host":"rel","guest":"/d"}]}}}`,
		"bad port":       `{"tools":{"x":{"net":[{"host":"10.0.0.1","ports":[70000]}]}}}`,
		"bad limit":      `{"tools":{"x":{"limits":{"memory":"lots"}}}}`,
		"bad env key":    `{"tools":{"x":{"env":[{"key":"A=B"}]}}}`,
		"trailing guest": `{"tools":{"x":{"dirs":[{"host":"/tmp","guest":"/a/../b"}]}}}`,
		"too large":      `{"tools":{}}` + strings.Repeat(" ", maxGrantsFile),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(path, []byte(content), 0o600)
		if _, err := LoadGrants(path); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}
