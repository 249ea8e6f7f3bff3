//go:build linux && cgo

package isolation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mapExecHelper reports, for each file in args as the worker sees it,
// whether it can be mapped executable, opened for writing, and what its
// mount's options are.
func mapExecHelper(args []string) int {
	res := map[string]map[string]string{}
	errText := func(err error) string {
		if err == nil {
			return "ok"
		}
		var errno unix.Errno
		if errors.As(err, &errno) {
			return unix.ErrnoName(errno)
		}
		return err.Error()
	}
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	for _, p := range args {
		r := map[string]string{}
		res[p] = r
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			r["open"] = errText(err)
			continue
		}
		// As wasmtime maps an entry: a private read-only mapping made
		// executable afterwards.
		b, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE)
		if err == nil {
			err = unix.Mprotect(b, unix.PROT_READ|unix.PROT_EXEC)
			_ = unix.Munmap(b)
		}
		r["map exec"] = errText(err)
		unix.Close(fd)
		fd, err = unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		r["open for writing"] = errText(err)
		for line := range strings.Lines(string(mountinfo)) {
			if f := strings.Fields(line); len(f) > 5 && f[4] == p {
				r["mount options"] = f[5]
			}
		}
	}
	b, _ := json.Marshal(res)
	os.Stdout.Write(append(b, '\n'))
	select {}
}

// TestContainer_execMount: a Mount with Exec is the one file of a worker's
// root it may map executable, and it is read-only, nosuid and nodev from
// inside; every other mount stays noexec. Both engines.
func TestContainer_execMount(t *testing.T) {
	for _, engine := range []string{EngineJail, EngineLibcontainer} {
		t.Run(engine, func(t *testing.T) {
			sp := testSpawner(t, &ContainerOptions{Engine: engine})
			dir := t.TempDir()
			entry, other := filepath.Join(dir, "entry.cwasm"), filepath.Join(dir, "other.cwasm")
			writeFile(t, entry, make([]byte, 8192))
			writeFile(t, other, make([]byte, 8192))
			spec := &Spec{Mounts: []Mount{{Source: entry, File: openFile(t, entry), Exec: true}, {Source: other}}}
			_, out := startHelper(t, sp, spec, "mapexec", entry, other)
			if !out.Scan() {
				t.Fatal("no report from the worker")
			}
			var got map[string]map[string]string
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, out.Text())
			}
			// (EACCES: the kernel's answer to PROT_EXEC on a noexec mount.)
			want := map[string]map[string]string{
				entry: {"map exec": "ok", "open for writing": "EROFS", "mount options": "ro,nosuid,nodev,relatime,idmapped"},
				other: {"map exec": "EACCES", "open for writing": "EROFS", "mount options": "ro,nosuid,nodev,noexec,relatime,idmapped"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the worker reports\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// TestContainer_execMountRefused: Exec is for a read-only regular file
// given as a descriptor, nothing else.
func TestContainer_execMountRefused(t *testing.T) {
	sp := testSpawner(t, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	writeFile(t, file, []byte("x"))
	for name, m := range map[string]Mount{
		"by name":   {Source: file, Exec: true},
		"writable":  {Source: file, File: openFile(t, file), Exec: true, Writable: true},
		"directory": {Source: dir, File: openFile(t, dir), Exec: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sp.planMounts(&Spec{Path: self(t), Mounts: []Mount{m}})
			if !errors.Is(err, errExecMount) {
				t.Errorf("planMounts: %v, want %v", err, errExecMount)
			}
		})
	}
}

// TestContainer_execMountUnlinked: an Exec mount's file unlinked since it
// was opened (a cache entry evicted) cannot be mounted: the worker starts
// without it and does not see the file.
func TestContainer_execMountUnlinked(t *testing.T) {
	sp := testSpawner(t, nil)
	entry := filepath.Join(t.TempDir(), "entry.cwasm")
	writeFile(t, entry, make([]byte, 4096))
	f := openFile(t, entry)
	if err := os.Remove(entry); err != nil {
		t.Fatal(err)
	}
	_, out := startHelper(t, sp, &Spec{Mounts: []Mount{{Source: entry, File: f, Exec: true}}}, "mapexec", entry)
	if !out.Scan() {
		t.Fatal("no report from the worker")
	}
	if want := `{"` + entry + `":{"open":"ENOENT"}}`; out.Text() != want {
		t.Errorf("the worker reports %s, want %s", out.Text(), want)
	}
}
