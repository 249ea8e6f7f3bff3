//go:build linux && cgo

package isolation

import (
	"bufio"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/sirupsen/logrus"
)

type traceHook struct {
	t0    time.Time
	lines []string
	times []time.Duration
}

func (h *traceHook) Levels() []logrus.Level { return logrus.AllLevels }
func (h *traceHook) Fire(e *logrus.Entry) error {
	h.times = append(h.times, time.Since(h.t0))
	h.lines = append(h.lines, e.Message)
	return nil
}

// TestContainerTrace prints libcontainer's own debug log of one start with
// the time each line arrived. Run with AGENT_CTL_TRACE=1 -v.
func TestContainerTrace(t *testing.T) {
	if os.Getenv("AGENT_CTL_TRACE") == "" {
		t.Skip("set AGENT_CTL_TRACE=1")
	}
	sp := testSpawner(t, &ContainerOptions{Engine: EngineLibcontainer}) // libcontainer's debug log and configuration
	for i := 0; i < 3; i++ {
		spawnTimed(t, sp, Spec{}) // warm up
	}
	sp.logLevel = "5"
	h := &traceHook{}
	logrus.SetLevel(logrus.DebugLevel)
	logrus.SetOutput(io.Discard)
	logrus.AddHook(h)
	h.t0 = time.Now()
	p, err := sp.Start(&Spec{Path: self(t), Env: []string{helperEnv + "=hello"}})
	if err != nil {
		t.Fatal(err)
	}
	tStarted := time.Since(h.t0)
	go io.Copy(io.Discard, p.Stderr())
	line, _ := bufio.NewReader(p.Stdout()).ReadString('\n')
	tLine := time.Since(h.t0)
	_ = p.Kill()
	tKilled := time.Since(h.t0)
	for i, l := range h.lines {
		t.Logf("%7.2f ms  %s", float64(h.times[i].Microseconds())/1000, l)
	}
	t.Logf("%7.2f ms  Start returned", float64(tStarted.Microseconds())/1000)
	t.Logf("%7.2f ms  first line %q", float64(tLine.Microseconds())/1000, line)
	t.Logf("%7.2f ms  killed, reaped, destroyed; timings %+v", float64(tKilled.Microseconds())/1000, p.(*containerProcess).timings)
}

// TestContainerCosts measures what each wall adds to a start by taking it
// away. Run with AGENT_CTL_TRACE=1 -v.
func TestContainerCosts(t *testing.T) {
	if os.Getenv("AGENT_CTL_TRACE") == "" {
		t.Skip("set AGENT_CTL_TRACE=1")
	}
	variants := []struct {
		name string
		hook func(*configs.Config)
	}{
		{"full", nil},
		{"no masked paths", func(c *configs.Config) { c.MaskPaths = nil }},
		{"no seccomp", func(c *configs.Config) { c.Seccomp = nil }},
		{"no net ns", func(c *configs.Config) { c.Namespaces.Remove(configs.NEWNET) }},
		{"no readonly root", func(c *configs.Config) { c.Readonlyfs = false }},
		{"no lib mounts", nil}, // static-like: see below
		{"bare", func(c *configs.Config) {
			c.MaskPaths = nil
			c.Seccomp = nil
			c.Namespaces.Remove(configs.NEWNET)
			c.Readonlyfs = false
		}},
	}
	sp := testSpawner(t, &ContainerOptions{Engine: EngineLibcontainer}) // libcontainer's debug log and configuration
	mounts := realMounts(t)
	variants = append(variants,
		struct {
			name string
			hook func(*configs.Config)
		}{"real mounts", nil},
		struct {
			name string
			hook func(*configs.Config)
		}{"real, no idmap", func(c *configs.Config) {
			for _, m := range c.Mounts {
				m.IDMapping = nil
			}
		}})
	for _, v := range variants {
		spec := Spec{}
		if strings.HasPrefix(v.name, "real") {
			spec = mounts
		}
		sp.configHook = v.hook
		if v.name == "no lib mounts" {
			sp.configHook = func(c *configs.Config) {
				var ms []*configs.Mount
				for _, m := range c.Mounts {
					if !strings.HasPrefix(m.Destination, "/lib") {
						ms = append(ms, m)
					}
				}
				c.Mounts = ms
				c.Seccomp = nil // the helper cannot start without its libraries anyway
			}
		}
		var all, runs []time.Duration
		for range 25 {
			d, st := spawnTimedLoose(t, sp, spec)
			all = append(all, d)
			runs = append(runs, st.Run)
		}
		slices.Sort(all)
		slices.Sort(runs)
		t.Logf("%-16s median total %5.1f ms, median Run %5.1f ms", v.name, ms(all[len(all)/2]), ms(runs[len(runs)/2]))
	}
	sp.configHook = nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// spawnTimedLoose is spawnTimed for variants whose helper may not start.
func spawnTimedLoose(t *testing.T, sp *containerSpawner, spec Spec) (time.Duration, containerTimings) {
	d, p := spawnHello(t, sp, spec, false)
	return d, p.(*containerProcess).timings
}
