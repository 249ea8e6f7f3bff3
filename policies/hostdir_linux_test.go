//go:build linux

package policies

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestValidate_symlinkRefused: a grant with a symbolic link in any
// component is refused, naming the link, by openat2 and by the fallback
// walk alike. Root following a planted link read and wrote what it pointed
// to (issue 11, item 1).
func TestValidate_symlinkRefused(t *testing.T) {
	target := realDir(t)
	if err := os.Mkdir(filepath.Join(target, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(target, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := realDir(t)
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(target, link))
	link2 := filepath.Join(dir, "link2") // a chain of links
	must(t, os.Symlink(link, link2))
	rel := filepath.Join(dir, "rel") // relative, as a module can plant one
	must(t, os.Symlink("../"+filepath.Base(target), rel))
	must(t, os.Mkdir(filepath.Join(dir, "real"), 0o755))
	dangling := filepath.Join(dir, "dangling")
	must(t, os.Symlink(filepath.Join(dir, "missing"), dangling))
	fileLink := filepath.Join(dir, "filelink")
	must(t, os.Symlink(file, fileLink))

	for _, tc := range []struct{ host, link string }{
		{link, link},
		{link2, link2},
		{link + "/", link},
		{link + "/.", link},
		{link + "/sub", link},                      // a parent component
		{link + "/..", link},                       // cleaned by name, it would not be seen
		{rel, rel},                                 // relative target
		{rel + "/sub", rel},                        // relative, as a parent
		{dangling, dangling},                       // points nowhere
		{fileLink, fileLink},                       // points to a file
		{"/proc/self/root" + target, "/proc/self"}, // a magic link (and /proc/self is a link)
		{"/proc/self/cwd", "/proc/self"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			p, err := Policy{Dirs: []Dir{{Host: tc.host, Guest: "/data", Writable: true}}}.Validate()
			if err == nil {
				p.Close()
				t.Fatalf("Validate(%s) succeeded, want it refused", tc.host)
			}
			for _, want := range []string{tc.link + " is a symbolic link", "grant the real path"} {
				if !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
					t.Errorf("Validate(%s) = %v, want an error containing %q", tc.host, err, want)
				}
			}
			// The walk for kernels without openat2 refuses it too.
			if f, err := walkNoFollow(tc.host); !errors.Is(err, unix.ELOOP) {
				if f != nil {
					f.Close()
				}
				t.Errorf("walkNoFollow(%s) = %v, want ELOOP", tc.host, err)
			}
		})
	}
	// The real paths pass, by both.
	for _, host := range []string{target, filepath.Join(target, "sub"), filepath.Join(target, "sub", ".."), filepath.Join(dir, "real")} {
		p, err := Policy{Dirs: []Dir{{Host: host, Guest: "/data"}}}.Validate()
		if err != nil {
			t.Errorf("Validate(%s): %v", host, err)
			continue
		}
		if want := filepath.Clean(host); p.Dirs[0].Host != want {
			t.Errorf("Validate(%s) Host = %s, want %s", host, p.Dirs[0].Host, want)
		}
		p.Close()
		f, err := walkNoFollow(host)
		if err != nil {
			t.Errorf("walkNoFollow(%s): %v", host, err)
			continue
		}
		f.Close()
	}
}

// TestValidate_descriptor: what Validate returns is the directory it
// checked, open, even after the name is swapped for another directory.
func TestValidate_descriptor(t *testing.T) {
	base := realDir(t)
	grant := filepath.Join(base, "grant")
	must(t, os.Mkdir(grant, 0o755))
	must(t, os.WriteFile(filepath.Join(grant, "mark"), []byte("checked"), 0o644))
	p, err := Policy{Dirs: []Dir{{Host: grant, Guest: "/data"}}}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := p.Dirs[0]
	if d.File == nil || d.ID == "" {
		t.Fatalf("Validate gave no descriptor: %+v", d)
	}
	var before unix.Stat_t
	must(t, unix.Fstat(int(d.File.Fd()), &before))
	if want := fmt.Sprintf("%d:%d", before.Dev, before.Ino); d.ID != want {
		t.Errorf("ID = %s, want %s", d.ID, want)
	}
	// Swap the name for another directory: the descriptor does not move.
	must(t, os.Rename(grant, filepath.Join(base, "moved")))
	must(t, os.Mkdir(grant, 0o755))
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d/mark", d.File.Fd()))
	if err != nil || string(b) != "checked" {
		t.Errorf("reading through the descriptor after the swap: %q, %v", b, err)
	}
}

// TestValidate_protectedByIdentity: the protected directory is refused by
// what it is, not by its name: through a bind mount of it (or of its
// parent) elsewhere, through a path with "..", and below either.
func TestValidate_protectedByIdentity(t *testing.T) {
	if os.Getenv("AGENT_CTL_TEST_BIND_HELPER") != "" {
		bindHelper()
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root (the suite runs as root in CI)")
	}
	base := realDir(t)
	home := filepath.Join(base, "state", "home")
	must(t, os.MkdirAll(filepath.Join(home, "cache"), 0o700))
	for _, d := range []string{"alias-home", "alias-parent", "other"} {
		must(t, os.Mkdir(filepath.Join(base, d), 0o755))
	}
	// The bind mounts are made in a private mount namespace of a child, so
	// that nothing outside the test sees them.
	cmd := exec.Command(os.Args[0], "-test.run=^TestValidate_protectedByIdentity$", "-test.v")
	cmd.Env = append(os.Environ(), "AGENT_CTL_TEST_BIND_HELPER="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "FAIL-CASE ") {
			t.Error(strings.TrimPrefix(line, "FAIL-CASE "))
		}
	}
	if !strings.Contains(string(out), "HELPER-DONE 6") {
		t.Errorf("the helper did not check every case:\n%s", out)
	}
}

// bindHelper runs in a private mount namespace: it bind-mounts the home
// and its parent at other names and checks that grants through them are
// refused. It reports by printing, as the parent reads its output.
func bindHelper() {
	base := os.Getenv("AGENT_CTL_TEST_BIND_HELPER")
	home := filepath.Join(base, "state", "home")
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Println("FAIL-CASE making / private:", err)
		return
	}
	for src, dst := range map[string]string{home: "alias-home", filepath.Dir(home): "alias-parent"} {
		if err := unix.Mount(src, filepath.Join(base, dst), "", unix.MS_BIND, ""); err != nil {
			fmt.Println("FAIL-CASE bind mount:", err)
			return
		}
	}
	n := 0
	for _, tc := range []struct{ host, want string }{
		{filepath.Join(base, "alias-home"), "own state"},                        // the home by another name
		{filepath.Join(base, "alias-home", "cache"), "own state"},               // below it
		{filepath.Join(base, "alias-parent"), "own state"},                      // its parent by another name
		{filepath.Join(base, "alias-parent", "home", "cache"), "own state"},     // below it, through the alias
		{filepath.Join(base, "other", "..", "state", "home", "."), "own state"}, // ".." and "."
		{filepath.Join(base, "other"), ""},
	} {
		p, err := Policy{Dirs: []Dir{{Host: tc.host, Guest: "/data", Writable: true}}, Protected: []string{home}}.Validate()
		switch {
		case tc.want == "" && err != nil:
			fmt.Printf("FAIL-CASE %s: %v, want allowed\n", tc.host, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			fmt.Printf("FAIL-CASE %s: %v, want an error containing %q\n", tc.host, err, tc.want)
		}
		if err == nil {
			p.Close()
		}
		n++
	}
	fmt.Println("HELPER-DONE", n)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkValidate_dir is the cost of one directory grant at a call:
// opening it without following links, and checking it and its parents
// against the host's and the protected directories by identity.
func BenchmarkValidate_dir(b *testing.B) {
	home := b.TempDir()
	dir := filepath.Join(b.TempDir(), "a", "b", "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	p := Policy{Dirs: []Dir{{Host: dir, Guest: "/data", Writable: true}}, Protected: []string{home}}
	b.ReportAllocs()
	for b.Loop() {
		v, err := p.Validate()
		if err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}
