//go:build linux && cgo

package jail

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary print "ran" and exit: it is how the
// tests see whether the constructor (which runs before TestMain) let the
// program run.
const helperEnv = "AGENT_CTL_JAIL_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Stdout.WriteString("ran\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// configMemfd returns a memfd holding b, sealed if asked.
func configMemfd(t *testing.T, b []byte, sealed bool) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("test-config", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "test-config")
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if sealed {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestConstructor_actsOnlyWhenStartedAsWorker runs this test binary (which
// links the constructor) with the variable set in situations where the
// constructor must stay out of the way, and in the one where it must act.
// The configuration is garbage: a constructor that acts says so and exits
// 125 before it changes anything.
func TestConstructor_actsOnlyWhenStartedAsWorker(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the cases clone new PID and mount namespaces")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("not a configuration\x00")
	tests := []struct {
		name     string
		value    string
		config   []byte // on fd 3 when not nil
		sealed   bool
		clone    uintptr
		viaInit  bool // started by unshare(1) with its own /proc, as a container's init
		wantActs bool
	}{
		{name: "no descriptor", value: "3"},
		{name: "not a number", value: "three"},
		{name: "sealed, not PID 1", value: "3", config: garbage, sealed: true},
		{name: "PID 1, configuration not sealed", value: "3", config: garbage, clone: unix.CLONE_NEWPID | unix.CLONE_NEWNS},
		{name: "PID 1 in the host's mount namespace", value: "3", config: garbage, sealed: true, clone: unix.CLONE_NEWPID},
		{name: "PID 1 of a namespace with its own /proc", value: "3", config: garbage, sealed: true, viaInit: true},
		{name: "PID 1 of a new namespace, sealed", value: "3", config: garbage, sealed: true,
			clone: unix.CLONE_NEWPID | unix.CLONE_NEWNS, wantActs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(exe)
			if tt.viaInit {
				cmd = exec.Command("unshare", "--pid", "--fork", "--mount", "--mount-proc", exe)
			}
			cmd.Env = []string{Env + "=" + tt.value, helperEnv + "=1"}
			if tt.config != nil {
				cmd.ExtraFiles = []*os.File{configMemfd(t, tt.config, tt.sealed)}
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: tt.clone}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if tt.wantActs {
				if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(stderr.String(), "not from this version") {
					t.Errorf("the constructor did not act: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
				}
				return
			}
			if err != nil || stdout.String() != "ran\n" {
				t.Errorf("the program did not run as without the constructor: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
			}
		})
	}
}

func TestParse_roundTrip(t *testing.T) {
	c := &Config{
		Root:     "/run/x/root",
		Mounts:   []Mount{{FD: 7, Target: "/a b", Dir: true, Access: Sockets}, {FD: 8, Target: "/f", Access: ReadWrite}},
		Proc:     true,
		Landlock: true,
		Hostname: "agent-ctl",
		Rlimits:  []Rlimit{{Resource: 4}, {Resource: 7, Soft: 64, Hard: 64}},
		Seccomp:  5, Sync: 6, Userns: 9, Status: 10,
	}
	got, err := parse(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	want := &parsed{root: c.Root, hostname: c.Hostname, proc: true, landlock: true, seccomp: 5, sync: 6, userns: 9,
		status: 10, mounts: c.Mounts, rlimits: c.Rlimits}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("parse(Encode()) = %+v, want %+v", got, want)
	}
}

// fields is a configuration as Encode frames it: the magic, then each
// field, each ended by a NUL; "end" is the last field of a whole one.
func fields(f ...string) []byte {
	b := []byte(magic + "\x00")
	for _, s := range f {
		b = append(append(b, s...), 0)
	}
	return b
}

func TestParse_errors(t *testing.T) {
	valid := (&Config{Root: "/r", Seccomp: 3, Sync: 4, Userns: 5, Status: 6}).Encode()
	tests := map[string][]byte{ // the message → the configuration
		"truncated":                valid[:len(valid)-1],
		"not from this version":    []byte("agent-ctl-jail-0\x00end\x00"),
		"bytes after the end":      append(append([]byte(nil), valid...), 'x'),
		"bad path":                 fields("root", "r", "end"),
		"bad number 2":             fields("seccomp", "2", "end"),
		"bad number 99999999999":   fields("sync", "99999999999", "end"),
		"bad number 1x":            fields("mount", "1x"),
		"unknown operation mknod":  fields("mknod", "end"),
		"no root":                  fields("end"),
		"no seccomp filter":        fields("root", "/r", "end"),
		"host name too long":       fields("hostname", strings.Repeat("h", 65), "end"),
		"too many rlimits":         fields(slices.Repeat([]string{"rlimit", "0", "0", "0"}, 9)...),
		"too many mounts":          fields(slices.Repeat([]string{"mount", "3", "/m", "1", "0"}, 257)...),
		"configuration: truncated": nil,
		// Each field of a record checked against its range.
		"bad number 2 ":                  fields("mount", "2", "/m", "1", "0", "end"),
		"bad number 3 ":                  fields("mount", "3", "/m", "1", "3", "end"),
		"bad number 2\x00":               fields("mount", "3", "/m", "2", "0", "end"),
		"bad number -1":                  fields("rlimit", "4", "-1", "0", "end"),
		"bad number 16":                  fields("rlimit", "16", "0", "0", "end"),
		"bad number 9223372036854775808": fields("rlimit", "4", "0", "9223372036854775808", "end"),
		"bad number  3":                  fields("userns", " 3", "end"),
		"bad number \x00":                fields("status", "", "end"),
		"bad path m":                     fields("mount", "3", "m", "1", "0", "end"),
		"bad path /xxxx":                 fields("root", "/"+strings.Repeat("x", 2047), "end"),
		"no sync descriptor":             fields("root", "/r", "seccomp", "3", "end"),
		"no user namespace":              fields("root", "/r", "seccomp", "3", "sync", "4", "end"),
		"no status descriptor":           fields("root", "/r", "seccomp", "3", "sync", "4", "userns", "5", "end"),
		"truncated ":                     append(fields("root"), "/r"...), // a field without its NUL
		"truncated  ":                    []byte(magic),                   // the magic without its NUL
		"bad number +3":                  fields("sync", "+3", "end"),
	}
	for want, b := range tests {
		// A trailing space or NUL only tells two cases of one message apart.
		want := strings.TrimRight(want, " \x00")
		t.Run(want, func(t *testing.T) {
			_, err := parse(b)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("parse: %v, want an error saying %q", err, want)
			}
		})
	}
}

// FuzzParse runs the constructor's parser (C, through cgo) on arbitrary
// bytes: it must return a configuration or an error, never crash or read
// past the input (run it under -asan to have the C side checked too). A
// configuration it accepts must say no more than its input: every string
// it returns is in the input.
func FuzzParse(f *testing.F) {
	f.Add((&Config{Root: "/r", Seccomp: 3, Sync: 4, Userns: 5, Status: 6}).Encode())
	f.Add((&Config{
		Root: "/run/agent-ctl/containers/call-1/root", Proc: true, Landlock: true, Hostname: "agent-ctl",
		Mounts:  []Mount{{FD: 11, Target: "/tmp/plugin1", Dir: true, Access: Sockets}, {FD: 12, Target: "/dev/null"}},
		Rlimits: []Rlimit{{Resource: 4}, {Resource: 7, Soft: 64, Hard: 64}},
		Seccomp: 7, Sync: 8, Userns: 10, Status: 9,
	}).Encode())
	f.Add(fields())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parse(b)
		if err != nil {
			return
		}
		for _, s := range []string{p.root, p.hostname} {
			if !bytes.Contains(b, []byte(s)) {
				t.Errorf("parsed %q, which is not in the input", s)
			}
		}
		if !strings.HasPrefix(p.root, "/") {
			t.Errorf("accepted root %q", p.root)
		}
		for _, m := range p.mounts {
			if m.FD < 3 || !strings.HasPrefix(m.Target, "/") {
				t.Errorf("accepted mount %+v", m)
			}
		}
	})
}

// fuzzFields are what FuzzParseRecords builds configurations from: the
// format's own operations, numbers at and past each range's ends, paths
// good and bad, host names at and past their limit.
var fuzzFields = []string{
	"agent-ctl-jail-1", "end", "root", "mount", "proc", "landlock", "hostname", "rlimit",
	"userns", "seccomp", "sync", "status", "mknod",
	"0", "1", "2", "3", "4", "15", "16", "-1", "+3", " 3", "3 ", "1x", "0x10", "",
	"2147483647", "2147483648", "9223372036854775807", "9223372036854775808", "18446744073709551615",
	"/", "/r", "r", "/a b", "/dev/null", "/" + strings.Repeat("x", 2046), "/" + strings.Repeat("x", 2047),
	strings.Repeat("h", 64), strings.Repeat("h", 65), "\xff\xfe",
}

// recordsConfig turns a fuzzer's script into a configuration: each byte
// picks a field of fuzzFields (or, past them, the free string), each field
// ends with a NUL, and the magic comes first unless the script starts with
// 0xff. A last byte 0xfe drops the final NUL.
func recordsConfig(script []byte, free string) []byte {
	var b []byte
	if len(script) == 0 || script[0] != 0xff {
		b = append(b, "agent-ctl-jail-1\x00"...)
	}
	for _, c := range script {
		if int(c) < len(fuzzFields) {
			b = append(b, fuzzFields[c]...)
		} else {
			b = append(b, free...)
		}
		b = append(b, 0)
	}
	if len(script) > 0 && script[len(script)-1] == 0xfe {
		b = b[:len(b)-1]
	}
	return b
}

// FuzzParseRecords feeds the constructor's parser configurations made of
// the format's own fields in any order and number, with values at and past
// each limit: the fuzzer sees no coverage of the C code (cgo), so it would
// rarely get past the magic with arbitrary bytes alone (FuzzParse). The
// parser must not crash; what it refuses it must say why; what it accepts
// must keep to the format's limits and read back the same once encoded
// again. Run by make test for a few seconds (Makefile, fuzz-jail-quick).
func FuzzParseRecords(f *testing.F) {
	ops := func(names ...string) []byte {
		var s []byte
		for _, n := range names {
			s = append(s, byte(slices.Index(fuzzFields, n)))
		}
		return s
	}
	f.Add(ops("root", "/r", "seccomp", "3", "sync", "4", "userns", "3", "status", "4", "end"), "")
	f.Add(ops("root", "/r", "mount", "3", "/a b", "1", "2", "proc", "landlock", "hostname", "", "rlimit", "4", "0", "0",
		"seccomp", "3", "sync", "4", "userns", "3", "status", "4", "end"), "")
	f.Add(ops("root", "/r", "mount", "3", "/dev/null", "0", "0", "hostname", "seccomp", "3", "end"), "/free")
	f.Add(append([]byte{0xff}, ops("root", "/r", "end")...), "x")
	f.Fuzz(func(t *testing.T, script []byte, free string) {
		b := recordsConfig(script, free)
		p, err := parse(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "configuration: ") {
				t.Errorf("refused with %q", err)
			}
			return
		}
		checkParsed(t, b, p)
		c := &Config{Root: p.root, Mounts: p.mounts, Proc: p.proc, Landlock: p.landlock, Hostname: p.hostname,
			Rlimits: p.rlimits, Seccomp: p.seccomp, Sync: p.sync, Userns: p.userns, Status: p.status}
		q, err := parse(c.Encode())
		if err != nil {
			t.Fatalf("accepted %q, but not once encoded again: %v", b, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("accepted %q as %+v, encoded again it reads %+v", b, p, q)
		}
	})
}

// checkParsed checks a configuration the parser accepted from b against
// the format's limits.
func checkParsed(t *testing.T, b []byte, p *parsed) {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("end\x00")) {
		t.Errorf("accepted %q, which does not end with end", b)
	}
	if !strings.HasPrefix(p.root, "/") || len(p.root) >= 2048 {
		t.Errorf("accepted root %q", p.root)
	}
	if len(p.hostname) > 64 {
		t.Errorf("accepted host name %q", p.hostname)
	}
	for _, fd := range []int{p.seccomp, p.sync, p.userns, p.status} {
		if fd < 3 {
			t.Errorf("accepted descriptor %d", fd)
		}
	}
	if len(p.mounts) > 256 || len(p.rlimits) > 8 {
		t.Errorf("accepted %d mounts and %d rlimits", len(p.mounts), len(p.rlimits))
	}
	for _, m := range p.mounts {
		if m.FD < 3 || !strings.HasPrefix(m.Target, "/") || len(m.Target) >= 2048 || m.Access < ReadOnly || m.Access > Sockets {
			t.Errorf("accepted mount %+v", m)
		}
	}
	for _, r := range p.rlimits {
		if r.Resource < 0 || r.Resource > 15 || r.Soft > math.MaxInt64 || r.Hard > math.MaxInt64 {
			t.Errorf("accepted rlimit %+v", r)
		}
	}
}
