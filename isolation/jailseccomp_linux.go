//go:build linux && cgo

package isolation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/opencontainers/runc/libcontainer/configs"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// cachedJailFilter returns the jail's seccomp program, compiled once per
// profile, libseccomp version and architecture and kept in the state
// directory (which only root may write) as the raw program followed by its
// sha256. An entry that does not check out is compiled again and replaced.
func (s *containerSpawner) cachedJailFilter() (*os.File, error) {
	sc := jailSeccomp()
	profile, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	major, minor, micro := libseccomp.GetLibraryVersion()
	key := sha256.Sum256(fmt.Appendf(profile, "\x00libseccomp %d.%d.%d %s jail-bpf-2", major, minor, micro, runtime.GOARCH))
	path := filepath.Join(s.o.StateDir, "seccomp-"+hex.EncodeToString(key[:12])+".bpf")
	if b, err := os.ReadFile(path); err == nil && len(b) > sha256.Size {
		prog, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
		if h := sha256.Sum256(prog); len(prog)%8 == 0 && bytes.Equal(h[:], sum) {
			return sealedProgram(prog)
		}
		s.log.Warn("seccomp program cache entry corrupt: compiling again", "path", path)
	}
	f, err := jailFilterFile(sc)
	if err != nil {
		return nil, err
	}
	prog, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading the seccomp program: %w", err)
	}
	h := sha256.Sum256(prog)
	tmp, err := os.CreateTemp(s.o.StateDir, ".seccomp-*")
	if err == nil {
		_, err = tmp.Write(append(prog, h[:]...))
		err = errors.Join(err, tmp.Close())
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}
	if err != nil { // only a cache: the program is good
		s.log.Warn("seccomp program not cached", "error", err)
	}
	return f, nil
}

// sealedProgram puts a BPF program in a sealed memfd.
func sealedProgram(prog []byte) (*os.File, error) {
	f, err := memfd("agent-ctl-seccomp")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(prog); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the seccomp program: %w", err)
	}
	if err := seal(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the seccomp program: %w", err)
	}
	return f, nil
}

// seal forbids any change to memfd f's contents, and any further seal.
func seal(f *os.File) error {
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		return fmt.Errorf("fcntl F_ADD_SEALS: %w", err)
	}
	return nil
}

// jailFilterFile compiles the worker's seccomp profile to a classic BPF
// program in a sealed memfd that every jail start hands to its worker.
func jailFilterFile(sc *configs.Seccomp) (*os.File, error) {
	f, err := memfd("agent-ctl-seccomp")
	if err != nil {
		return nil, err
	}
	if err := exportSeccomp(sc, f); err != nil {
		f.Close()
		return nil, err
	}
	if err := seal(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the seccomp program: %w", err)
	}
	return f, nil
}

// exportSeccomp writes sc as a BPF program for this architecture, the way
// libcontainer's seccomp package reads the same profile; a syscall this
// architecture does not have is left out, as libcontainer leaves it.
func exportSeccomp(sc *configs.Seccomp, f *os.File) error {
	action := func(a configs.Action, errno *uint) (libseccomp.ScmpAction, error) {
		switch a {
		case configs.Allow:
			return libseccomp.ActAllow, nil
		case configs.KillProcess:
			return libseccomp.ActKillProcess, nil
		case configs.Errno:
			if errno == nil {
				return libseccomp.ActErrno.SetReturnCode(int16(unix.EPERM)), nil
			}
			return libseccomp.ActErrno.SetReturnCode(int16(*errno)), nil
		}
		return 0, fmt.Errorf("seccomp action %v not supported", a)
	}
	def, err := action(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return err
	}
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	defer filter.Release()
	// A call through another ABI (i386's int $0x80, x32's numbers) kills
	// the worker: libseccomp's default kills only the thread, which
	// leaves a Go program stuck.
	if err := filter.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	for _, c := range sc.Syscalls {
		nr, err := libseccomp.GetSyscallFromName(c.Name)
		if err != nil {
			continue
		}
		act, err := action(c.Action, c.ErrnoRet)
		if err != nil {
			return err
		}
		var conds []libseccomp.ScmpCondition
		for _, a := range c.Args {
			var op libseccomp.ScmpCompareOp
			switch a.Op {
			case configs.EqualTo:
				op = libseccomp.CompareEqual
			case configs.MaskEqualTo:
				op = libseccomp.CompareMaskedEqual
			default:
				return fmt.Errorf("seccomp: operator %v not supported", a.Op)
			}
			cond, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
			if err != nil {
				return fmt.Errorf("seccomp rule for %s: %w", c.Name, err)
			}
			conds = append(conds, cond)
		}
		if len(conds) == 0 {
			err = filter.AddRule(nr, act)
		} else {
			err = filter.AddRuleConditional(nr, act, conds)
		}
		if err != nil {
			return fmt.Errorf("seccomp rule for %s: %w", c.Name, err)
		}
	}
	if err := filter.ExportBPF(f); err != nil {
		return fmt.Errorf("seccomp: exporting the filter: %w", err)
	}
	return nil
}

// jailSeccomp is the worker's profile for the jail engine: the same as
// libcontainer's, except that no init runs after the filter is loaded, so
// executing a program is never needed and kills the worker.
func jailSeccomp() *configs.Seccomp {
	sc := workerSeccomp()
	for _, c := range sc.Syscalls {
		if c.Name == "execve" || c.Name == "execveat" {
			c.Action = configs.KillProcess
		}
	}
	return sc
}
