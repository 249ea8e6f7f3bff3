//go:build linux && cgo

package isolation

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/agent-ctl/agent-ctl/tests/bench"
	"github.com/agent-ctl/agent-ctl/worker/protocol"
)

// spawnSteps are the steps of a container start, in order, each named by
// the mark or the line of libcontainer's debug log that ends it. Lines from
// runc's init are timed when they reach the supervisor, a few microseconds
// after they are written.
type spawnStep struct{ name, end, what string }

var spawnSteps = []spawnStep{
	{"client setup", "mark:start", "before Start: go-plugin's client (socket directory, environment); none for hello"},
	{"prepare", "mark:prepared", "our Start: mounts, directories, configuration"},
	{"create", "mark:created", "libcontainer.Create: validation, cgroup manager, state directory"},
	{"exe seal", "runc exeseal:", "sealing /proc/self/exe for the init (overlayfs or a copy)"},
	{"init exec", "=> nsexec container setup", "fork+exec of the init (the supervisor's binary) up to nsexec"},
	{"cgroup apply", "~> nsexec stage-0", "supervisor: cgroup directories and joins, then the bootstrap data"},
	{"namespaces", "booting up go runtime", "nsexec stages: user namespace and ID maps, the other namespaces"},
	{"init go start", "child process in init()", "the init's Go runtime and package initialisation"},
	{"rootfs mounts", "writing sync type:procHooks", "init: procfs and bind mounts, with the supervisor's help for some"},
	{"cgroup set", "writing sync type:procHooksDone", "supervisor: cgroup limits"},
	{"rootfs finish", "writing sync type:procReady", "init: devices, pivot_root, read-only root, masked paths"},
	{"state save", "writing sync type:procRun", "supervisor: rlimits and state.json"},
	{"finalize, seccomp", "init: closing the pipe to signal completion", "init: drop to the mapped user, capabilities, compile and load the seccomp filter"},
	{"exec fifo", "mark:ran", "init waits on the exec fifo until the supervisor opens it"},
	{"worker start", "mark:up", "execve of the worker, its Go runtime, its first line (or go-plugin's handshake)"},
}

// jailSteps are the steps of a start with the jail engine, each ended by a
// mark of its Start or of the benchmark.
var jailSteps = []spawnStep{
	{"client setup", "mark:start", "before Start: go-plugin's client (socket directory, environment); none for hello"},
	{"prepare", "mark:prepared", "our Start: mount plan, detached mounts (open_tree, mount_setattr), configuration, pipes"},
	{"clone+exec", "mark:ran", "os/exec: vfork and exec into new mount, PID, network, IPC and UTS namespaces"},
	{"cgroup", "mark:released", "the cgroup (made meanwhile) joined, mostly the migration's RCU grace period; the worker builds its root meanwhile"},
	{"worker start", "mark:up", "jail constructor's rest (user namespace, privileges, seccomp), Go runtime, first line or handshake"},
}

// stepTrace receives libcontainer's log lines (its own and, forwarded, the
// init's) and the spawner's marks, with the time each arrived.
type stepTrace struct {
	mu    sync.Mutex
	armed bool
	t0    time.Time
	at    []time.Duration
	msgs  []string
}

func (h *stepTrace) Levels() []logrus.Level { return logrus.AllLevels }
func (h *stepTrace) Fire(e *logrus.Entry) error {
	h.add(e.Message)
	return nil
}

func (h *stepTrace) add(msg string) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.armed {
		h.at = append(h.at, now.Sub(h.t0))
		h.msgs = append(h.msgs, msg)
	}
}

func (h *stepTrace) mark(step string) { h.add("mark:" + step) }

func (h *stepTrace) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.t0, h.at, h.msgs = true, time.Now(), nil, nil
}

// steps ends the trace and cuts it into want; a step whose end never came
// (its work did not happen) is zero, and the next step takes its time.
func (h *stepTrace) steps(want []spawnStep) (steps []time.Duration, whole time.Duration, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = false
	steps = make([]time.Duration, len(want))
	cur, i := time.Duration(0), 0
	for si, st := range want {
		for j := i; j < len(h.msgs); j++ {
			if strings.Contains(h.msgs[j], st.end) {
				steps[si] = h.at[j] - cur
				cur, i = h.at[j], j+1
				break
			}
		}
	}
	return steps, cur, slices.Contains(h.msgs, "mark:up")
}

var traceOnce = sync.OnceValue(func() *stepTrace {
	h := &stepTrace{}
	logrus.AddHook(h)
	return h
})

// workerExe is the real worker executable for the "worker" payload: $AGENTCTL_WORKER,
// or bin/agent-ctl-worker from `make build`.
func workerExe() string {
	if p := os.Getenv("AGENTCTL_WORKER"); p != "" {
		return p
	}
	p, _ := filepath.Abs(filepath.Join("..", "bin", "agent-ctl-worker"))
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// spawnPayload starts one kind of worker with sp and returns once it is up:
// the helper's first line, or go-plugin's handshake with the real worker.
// stop kills it and waits until it is gone.
type spawnPayload func(tb testing.TB, sp Spawner, up func()) (stop func())

func helloPayload(spec Spec) spawnPayload {
	return func(tb testing.TB, sp Spawner, up func()) func() {
		p, line, err := startHello(tb, sp, spec)
		if line != "hello\n" {
			tb.Fatalf("helper said %q, %v", line, err)
		}
		up()
		return func() {
			if err := p.Kill(); err != nil {
				tb.Fatal(err)
			}
			_ = p.Wait()
		}
	}
}

// workerPayload starts the real worker the way the supervisor does: the
// call's mounts, three stdio pipes, go-plugin's handshake over its socket
// directory.
func workerPayload(exe string, mounts []Mount) spawnPayload {
	return func(tb testing.TB, sp Spawner, up func()) func() {
		var files []*os.File
		for range 3 {
			r, w, err := os.Pipe()
			if err != nil {
				tb.Fatal(err)
			}
			files = append(files, r, w)
		}
		child := []*os.File{files[0], files[3], files[5]}
		conn, err := protocol.Dial(context.Background(), &protocol.DialOptions{
			Path: exe,
			Start: func(cmd *exec.Cmd) (protocol.Process, error) {
				return sp.Start(&Spec{Path: cmd.Path, Args: cmd.Args[1:], Env: cmd.Env, ExtraFiles: child, Mounts: mounts})
			},
		})
		closeFiles(child...)
		if err != nil {
			closeFiles(files...)
			tb.Fatal(err)
		}
		up()
		return func() {
			conn.Kill()
			<-conn.Exited()
			closeFiles(files...)
		}
	}
}

// BenchmarkSpawnSteps times each step of a container start up to the
// worker's first line (payload "hello": the test binary as a small worker)
// or to go-plugin's handshake (payload "worker": bin/agent-ctl-worker, from
// `make build`, with a real call's mounts), from libcontainer's own debug
// log. Each iteration also runs, interleaved on the same machine, a plain
// fork+exec of a native hello (tests/testdata/hello.c), the same payload
// under process isolation, and the container start without the debug log
// (which costs a little itself). It prints each step's median as a share of
// the traced whole, and the whole against the baselines:
//
//	go test -tags seccomp -run '^$' -bench SpawnSteps -benchtime 40x ./isolation
func BenchmarkSpawnSteps(b *testing.B) {
	native := bench.NativeHello(b)
	payloads := []struct {
		name string
		p    func(testing.TB) spawnPayload
	}{
		{"hello", func(tb testing.TB) spawnPayload { return helloPayload(Spec{}) }},
		{"worker", func(tb testing.TB) spawnPayload {
			exe := workerExe()
			if exe == "" {
				tb.Skip("no worker executable: run `make build` or set AGENTCTL_WORKER")
			}
			m := realMounts(tb)
			return workerPayload(exe, m.Mounts)
		}},
	}
	for _, pl := range payloads {
		b.Run(pl.name, func(b *testing.B) {
			payload := pl.p(b)
			h := traceOnce()
			level, out := logrus.GetLevel(), logrus.StandardLogger().Out
			logrus.SetLevel(logrus.DebugLevel)
			logrus.SetOutput(io.Discard)
			defer func() {
				logrus.SetLevel(level)
				logrus.SetOutput(out)
			}()
			csp := testSpawner(b, &ContainerOptions{Engine: EngineLibcontainer})
			csp.mark = h.mark
			jsp := testSpawner(b, &ContainerOptions{Engine: EngineJail})
			jh := &stepTrace{}
			jsp.mark = jh.mark
			proc := NewProcess()
			once := func(sp Spawner) (up, down time.Duration) {
				t0 := time.Now()
				stop := payload(b, sp, func() { up = time.Since(t0) })
				t1 := time.Now()
				stop()
				return up, time.Since(t1)
			}
			for range 3 { // warm the page cache and the spawners
				once(csp)
				once(jsp)
			}
			var nat, procs, plain, traced, kills, jails, jailKills []time.Duration
			steps := make([][]time.Duration, len(spawnSteps))
			jsteps := make([][]time.Duration, len(jailSteps))
			b.ResetTimer()
			for range b.N {
				nat = append(nat, bench.ForkExec(b, native))
				d, _ := once(proc)
				procs = append(procs, d)
				d, k := once(csp)
				plain = append(plain, d)
				kills = append(kills, k)

				// The jail's marks cost a clock read each: its traced start
				// is its start.
				jh.arm()
				t0 := time.Now()
				stop := payload(b, jsp, func() { jh.mark("up") })
				st, whole, ok := jh.steps(jailSteps)
				t1 := time.Now()
				stop()
				jailKills = append(jailKills, time.Since(t1))
				if !ok {
					b.Fatalf("jail trace incomplete after %v", time.Since(t0))
				}
				jails = append(jails, whole)
				for i := range st {
					jsteps[i] = append(jsteps[i], st[i])
				}

				csp.logLevel = "5"
				h.arm()
				t0 = time.Now()
				stop = payload(b, csp, func() { h.mark("up") })
				st, whole, ok = h.steps(spawnSteps)
				csp.logLevel = ""
				stop()
				if !ok {
					b.Fatalf("trace incomplete after %v", time.Since(t0))
				}
				traced = append(traced, whole)
				for i := range st {
					steps[i] = append(steps[i], st[i])
				}
			}
			b.StopTimer()
			wholeP50 := bench.Percentile(traced, 50)
			jailP50 := bench.Percentile(jails, 50)
			if b.N > 1 {
				fmt.Printf("\nspawn steps, libcontainer engine, payload %s, n=%d (p50 of each step; share of the traced whole's p50)\n", pl.name, b.N)
				fmt.Printf("  %-18s %8s %7s  %s\n", "step", "p50 ms", "share", "what")
				for i, st := range spawnSteps {
					p50 := bench.Percentile(steps[i], 50)
					fmt.Printf("  %-18s %8.2f %6.1f%%  %s\n", st.name, ms(p50), 100*float64(p50)/float64(wholeP50), st.what)
				}
				fmt.Printf("  %-18s %8.2f %6.1f%%\n", "whole, traced", ms(wholeP50), 100.0)
				fmt.Printf("  %-18s %8.2f\n", "whole, untraced", ms(bench.Percentile(plain, 50)))
				fmt.Printf("  %-18s %8.2f  (Kill until the container is removed; after the spawn, not in it)\n", "destroy", ms(bench.Percentile(kills, 50)))
				fmt.Printf("spawn steps, jail engine, payload %s, n=%d\n", pl.name, b.N)
				for i, st := range jailSteps {
					p50 := bench.Percentile(jsteps[i], 50)
					fmt.Printf("  %-18s %8.2f %6.1f%%  %s\n", st.name, ms(p50), 100*float64(p50)/float64(jailP50), st.what)
				}
				fmt.Printf("  %-18s %8.2f %6.1f%%\n", "whole", ms(jailP50), 100.0)
				fmt.Printf("  %-18s %8.2f\n", "destroy", ms(bench.Percentile(jailKills, 50)))
				fmt.Printf("baselines\n")
				fmt.Printf("  %-18s %8.2f\n", "process isolation", ms(bench.Percentile(procs, 50)))
				fmt.Printf("  %-18s %8.2f\n", "native fork+exec", ms(bench.Percentile(nat, 50)))
			}
			bench.Report(b, "spawn_container_"+pl.name+"_vs_native", plain, nat)
			bench.Report(b, "spawn_container_"+pl.name+"_vs_process", plain, procs)
			bench.Report(b, "spawn_jail_"+pl.name+"_vs_native", jails, nat)
			bench.Report(b, "spawn_jail_"+pl.name+"_vs_process", jails, procs)
			bench.Report(b, "spawn_jail_"+pl.name+"_vs_libcontainer", jails, plain)
			bench.Report(b, "spawn_process_"+pl.name+"_vs_native", procs, nat)
			for i, st := range spawnSteps {
				b.ReportMetric(float64(bench.Percentile(steps[i], 50))/float64(wholeP50), strings.ReplaceAll(st.name, " ", "_")+"/whole")
			}
		})
	}
}
