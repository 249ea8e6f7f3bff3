package policies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// realDir returns a fresh directory in its symlink-free form, which is what
// Validate reports (t.TempDir itself may sit behind a symlink, as on macOS).
func realDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPolicy_Validate_defaults(t *testing.T) {
	got, err := Policy{}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if got.Memory != DefaultMemory {
		t.Errorf("Memory = %d, want DefaultMemory %d", got.Memory, DefaultMemory)
	}
	if got.Timeout != DefaultTimeout {
		t.Errorf("Timeout = %s, want DefaultTimeout %s", got.Timeout, DefaultTimeout)
	}
	if got.MaxOutput != DefaultMaxOutput {
		t.Errorf("MaxOutput = %d, want DefaultMaxOutput %d", got.MaxOutput, DefaultMaxOutput)
	}
	if got.Isolation != IsolationDefault {
		t.Errorf("Isolation = %q, want IsolationDefault", got.Isolation)
	}
	if len(got.Dirs) != 0 || len(got.Env) != 0 {
		t.Errorf("the zero policy grants Dirs %v and Env %v, want nothing", got.Dirs, got.Env)
	}
}

func TestPolicy_Validate_keepsLimits(t *testing.T) {
	p := Policy{
		Memory:    MinMemory,
		Timeout:   time.Millisecond,
		MaxOutput: 1,
		Isolation: IsolationContainer,
		Env:       []Env{{Key: "A", Value: "1"}, {Key: "B", Value: ""}},
	}
	got, err := p.Validate()
	if err != nil {
		t.Fatal(err)
	}
	// No directories are granted, so apart from Dirs nothing should change.
	got.Dirs = p.Dirs
	if !reflect.DeepEqual(got, p) {
		t.Errorf("Validate mismatch (-want +got):\n-%+v\n+%+v", p, got)
	}
}

func TestPolicy_Validate_limits(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
	}{
		{"min memory", Policy{Memory: MinMemory}},
		{"max memory", Policy{Memory: MaxMemory}},
		{"odd memory", Policy{Memory: MinMemory + 1}},
		{"max timeout", Policy{Timeout: MaxTimeout}},
		{"tiny timeout", Policy{Timeout: time.Nanosecond}},
		{"process", Policy{Isolation: IsolationProcess}},
		{"container", Policy{Isolation: IsolationContainer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.p.Validate(); err != nil {
				t.Errorf("Validate(%+v): %v", tt.p, err)
			}
		})
	}
}

func TestPolicy_Validate_dirs(t *testing.T) {
	a, b := realDir(t), realDir(t)
	p := Policy{Dirs: []Dir{
		{Host: a, Guest: "/a"},
		{Host: b, Guest: "/b/", Writable: true}, // a trailing slash is allowed and dropped
		{Host: a, Guest: "/"},                   // one host directory may be granted twice
	}}
	got, err := p.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	for i := range got.Dirs { // compared by name here; hostdir_linux_test.go checks them
		got.Dirs[i].File, got.Dirs[i].ID = nil, ""
	}
	want := []Dir{
		{Host: a, Guest: "/a"},
		{Host: b, Guest: "/b", Writable: true},
		{Host: a, Guest: "/"},
	}
	if !reflect.DeepEqual(got.Dirs, want) {
		t.Errorf("Dirs mismatch (-want +got):\n-%+v\n+%+v", want, got.Dirs)
	}
	// Validate returns a resolved copy and leaves the caller's grants alone.
	if p.Dirs[1].Guest != "/b/" {
		t.Errorf("Validate changed the caller's Dirs: %+v", p.Dirs)
	}
}

func TestPolicy_Validate_relativeHost(t *testing.T) {
	dir := realDir(t)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for host, want := range map[string]string{
		".":     dir,
		"sub":   filepath.Join(dir, "sub"),
		"./sub": filepath.Join(dir, "sub"),
	} {
		got, err := Policy{Dirs: []Dir{{Host: host, Guest: "/data"}}}.Validate()
		if err != nil {
			t.Errorf("Host %q: %v", host, err)
			continue
		}
		if got.Dirs[0].Host != want {
			t.Errorf("Host %q resolved to %s, want %s", host, got.Dirs[0].Host, want)
		}
	}
}

func TestPolicy_Validate_errors(t *testing.T) {
	dir := realDir(t)
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	ro := func(host, guest string) []Dir { return []Dir{{Host: host, Guest: guest}} }

	// Keyed by a substring of the expected message.
	tests := map[string][]Policy{
		"memory limit": {
			{Memory: MinMemory - 1},
			{Memory: 1},
			{Memory: -1},
			{Memory: MaxMemory + 1},
			{Memory: 8 << 30},
		},
		"is outside 64KiB..4GiB": {{Memory: 1000}},
		"timeout": {
			{Timeout: -time.Second},
			{Timeout: MaxTimeout + 1},
		},
		"output limit -1 is negative": {{MaxOutput: -1}},
		`isolation "vm"`:              {{Isolation: "vm"}},
		"does not exist": {
			{Dirs: ro(missing, "/data")},
			{Dirs: ro(filepath.Join(missing, "deeper"), "/data")},
		},
		"is not a directory": {
			{Dirs: ro(file, "/data")},
		},
		"must be absolute": {
			{Dirs: ro(dir, "data")},
			{Dirs: ro(dir, "./data")},
			{Dirs: ro(dir, "")},
		},
		"is not clean": {
			{Dirs: ro(dir, "/a/../b")},
			{Dirs: ro(dir, "/a//b")},
			{Dirs: ro(dir, "/a/./b")},
			{Dirs: ro(dir, "/a/b/..")},
			{Dirs: ro(dir, "//a")},
		},
		"did you mean /b?": {{Dirs: ro(dir, "/a/../b")}},
		"is granted twice": {
			{Dirs: []Dir{{Host: dir, Guest: "/data"}, {Host: other, Guest: "/data"}}},
			{Dirs: []Dir{{Host: dir, Guest: "/data"}, {Host: other, Guest: "/data/", Writable: true}}},
			{Dirs: []Dir{{Host: dir, Guest: "/data"}, {Host: dir, Guest: "/data"}}},
		},
		"empty host path": {{Dirs: ro("", "/data")}},
		"NUL byte": {
			{Dirs: ro(dir+"\x00", "/data")},
			{Dirs: ro(dir, "/da\x00ta")},
			{Env: []Env{{Key: "K", Value: "a\x00b"}}},
			{Env: []Env{{Key: "K\x00", Value: "v"}}},
		},
		"value contains a NUL byte": {{Env: []Env{{Key: "K", Value: "\x00"}}}},
		"environment variable K is set twice": {
			{Env: []Env{{Key: "K", Value: "1"}, {Key: "K", Value: "2"}}},
			{Env: []Env{{Key: "K", Value: "1"}, {Key: "J"}, {Key: "K", Value: "1"}}},
		},
		"empty name":                                {{Env: []Env{{Key: "", Value: "v"}}}},
		"network grant 127.0.0.1 has no ports":      {{Net: []NetGrant{{Host: "127.0.0.1"}}}},
		"port 0 is outside 1..65535":                {{Net: []NetGrant{{Host: "127.0.0.1", Ports: []int{0}}}}},
		"neither a CIDR, an address nor a hostname": {{Net: []NetGrant{{Host: "not a host", Ports: []int{80}}}}},
		"is not a CIDR":                             {{Net: []NetGrant{{Host: "10.0.0.0/33", Ports: []int{80}}}}},
		"contains '='":                              {{Env: []Env{{Key: "A=B", Value: "v"}}}},
	}
	for want, policies := range tests {
		for i, p := range policies {
			t.Run(fmt.Sprint(want, "/", i), func(t *testing.T) {
				_, err := p.Validate()
				if err == nil {
					t.Fatalf("Validate(%+v) succeeded, want an error containing %q", p, want)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Validate(%+v) error %v does not wrap ErrInvalid", p, err)
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate(%+v) error %q, want it to contain %q", p, err, want)
				}
			})
		}
	}
}

func TestPolicy_WithDefaults(t *testing.T) {
	p := Policy{Memory: 1, Timeout: 2, MaxOutput: 3}
	if got := p.WithDefaults(); !reflect.DeepEqual(got, p) {
		t.Errorf("WithDefaults replaced set limits: mismatch (-want +got):\n-%+v\n+%+v", p, got)
	}
	got := Policy{}.WithDefaults()
	want := Policy{Memory: DefaultMemory, Timeout: DefaultTimeout, MaxOutput: DefaultMaxOutput}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WithDefaults mismatch (-want +got):\n-%+v\n+%+v", want, got)
	}
}

func TestCheckHostPath(t *testing.T) {
	home, other := t.TempDir(), t.TempDir()
	link := filepath.Join(t.TempDir(), "to-home")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want string // substring of the error; "" for allowed
	}{
		{"/", "hand over the host"},
		{"/proc", "hand over the host"},
		{"/proc/self", "hand over the host"},
		{"/sys/kernel", "hand over the host"},
		{"/dev", "hand over the host"},
		{"/devices", ""},
		{other, ""},
		{"/usr/share", ""},
		{home, "agent-ctl's own state"},
		{filepath.Join(home, "cache"), "agent-ctl's own state"},
		{filepath.Dir(home), "agent-ctl's own state"},
	} {
		err := CheckHostPath(tc.path, link)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckHostPath(%q) = %v, want allowed", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid)):
			t.Errorf("CheckHostPath(%q) = %v, want an error containing %q", tc.path, err, tc.want)
		}
	}
	// Validate applies it to every directory.
	p := Policy{Dirs: []Dir{{Host: filepath.Join(home, "."), Guest: "/data"}}, Protected: []string{link}}
	if _, err := p.Validate(); err == nil || !strings.Contains(err.Error(), "own state") {
		t.Errorf("Validate with the protected dir: %v", err)
	}
	p = Policy{Dirs: []Dir{{Host: "/", Guest: "/host"}}}
	if _, err := p.Validate(); err == nil || !strings.Contains(err.Error(), "hand over the host") {
		t.Errorf("Validate with /: %v", err)
	}
}
