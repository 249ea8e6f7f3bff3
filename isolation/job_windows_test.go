package isolation

// Behaviour tests of container isolation on Windows (a job object per
// worker). `make test-windows` runs them under Wine, which implements the
// job's start, kill and KILL_ON_JOB_CLOSE but keeps none of its limits:
// the tests of the limits skip there, naming what Wine lacks, and need a
// Windows runner (`go test ./isolation/`); see docs/isolation.md.
//
// As on Linux (container_linux_test.go), the tests re-execute the test
// binary as the worker (the go-plugin TestHelperProcess pattern), and
// helperEnv names what it does inside the job.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/agent-ctl/agent-ctl/tests/testutil"
)

const helperEnv = "AGENT_CTL_ISOLATION_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// ---- the helper, inside the job ----

func runHelper(mode string) int {
	switch mode {
	case "hello":
		fmt.Println("hello")
		time.Sleep(time.Hour)
	case "sleep":
		time.Sleep(time.Hour)
	case "spawn", "spawn-breakaway":
		c := exec.Command(os.Args[0])
		c.Env = []string{helperEnv + "=sleep"}
		if mode == "spawn-breakaway" {
			c.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_BREAKAWAY_FROM_JOB}
		}
		if err := c.Start(); err != nil {
			fmt.Printf("refused: %v\n", err)
			return 0
		}
		fmt.Printf("started %d\n", c.Process.Pid)
		_ = c.Process.Kill()
	case "alloc":
		allocateInSteps()
	case "supervise":
		// A supervisor about to be killed: it starts a worker and waits.
		sp, err := testSpawner()
		if err != nil {
			fmt.Println(err)
			return 1
		}
		return superviseHello(sp, os.Args[0])
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	return 0
}

// ---- the tests, outside ----

// Wine's gaps, named in the skips (Wine 8.0, checked by make test-windows).
const (
	wineNoLimits = "the job object limits: NtQueryInformationJobObject(JobObjectExtendedLimitInformation) reads them back as zero, " +
		"JobObjectBasicUIRestrictions and JobObjectCpuRateControlInformation are not implemented"
	wineNoProcessLimit = "JOB_OBJECT_LIMIT_ACTIVE_PROCESS (a process in the job can start another)"
	wineNoMemoryLimit  = "JOB_OBJECT_LIMIT_JOB_MEMORY and JOB_OBJECT_LIMIT_PROCESS_MEMORY (the worker commits 1 GiB under 128 MiB)"
)

// testSpawner is the spawner of the tests. Under Wine, which keeps none
// of the job's limits, NewContainer refuses (TestContainer_wine): there
// the tests use a job spawner that does not read its limits back, with
// every processor (no CPU rate, which Wine refuses to set), to test what
// Wine does implement.
func testSpawner() (*jobSpawner, error) {
	if testutil.WineVersion() != "" {
		return &jobSpawner{opts: ContainerOptions{CPUs: float64(processorCount())},
			log: slog.New(slog.DiscardHandler), unverified: true}, nil
	}
	sp, err := NewContainer(nil)
	if err != nil {
		return nil, err
	}
	return sp.(*jobSpawner), nil
}

func newJobSpawner(t *testing.T) *jobSpawner {
	t.Helper()
	sp, err := testSpawner()
	if err != nil {
		t.Fatalf("container isolation (job objects) unavailable: %v", err)
	}
	if sp.unverified {
		t.Logf("under Wine %s: a job without its limits (Wine keeps none)", testutil.WineVersion())
	}
	return sp
}

// startHelper starts the test binary as a worker in a job.
func startHelper(t *testing.T, mode string, spec Spec) *jobProcess {
	t.Helper()
	spec.Path = os.Args[0]
	spec.Env = append(spec.Env, helperEnv+"="+mode)
	p, err := newJobSpawner(t).Start(&spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	return p.(*jobProcess)
}

// output reads what the worker writes until it exits.
func output(t *testing.T, p *jobProcess) (stdout, stderr string, waitErr error) {
	t.Helper()
	errc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(p.Stderr())
		errc <- string(b)
	}()
	b, _ := io.ReadAll(p.Stdout())
	return string(b), <-errc, p.Wait()
}

func firstLine(t *testing.T, p *jobProcess) string {
	t.Helper()
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the worker's first line: %v", err)
	}
	return strings.TrimSpace(line)
}

func query(t *testing.T, job windows.Handle, class int32, info unsafe.Pointer, size uintptr) {
	t.Helper()
	if err := windows.QueryInformationJobObject(job, class, uintptr(info), uint32(size), nil); err != nil {
		t.Fatalf("QueryInformationJobObject(class %d): %v", class, err)
	}
}

// dupJob keeps a handle of the worker's job for the test, to look at the
// job after Kill has closed the worker's.
func dupJob(t *testing.T, p *jobProcess) windows.Handle {
	t.Helper()
	self := windows.CurrentProcess()
	var h windows.Handle
	p.mu.Lock()
	err := windows.DuplicateHandle(self, p.job, self, &h, 0, false, windows.DUPLICATE_SAME_ACCESS)
	p.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { windows.CloseHandle(h) })
	return h
}

// basicAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type basicAccounting struct {
	TotalUserTime, TotalKernelTime                       int64
	ThisPeriodTotalUserTime, ThisPeriodTotalKernelTime   int64
	TotalPageFaultCount, TotalProcesses, ActiveProcesses uint32
	TotalTerminatedProcesses                             uint32
}

// processIDList is JOBOBJECT_BASIC_PROCESS_ID_LIST with room for 8.
type processIDList struct {
	Assigned, Listed uint32
	IDs              [8]uintptr
}

func openProcess(t *testing.T, pid int) windows.Handle {
	t.Helper()
	h, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		t.Fatalf("opening process %d: %v", pid, err)
	}
	t.Cleanup(func() { windows.CloseHandle(h) })
	return h
}

func exited(h windows.Handle, within time.Duration) bool {
	ev, err := windows.WaitForSingleObject(h, uint32(within/time.Millisecond))
	return err == nil && ev == windows.WAIT_OBJECT_0
}

// TestJob_limits: the worker runs, alone, in a job with every limit set,
// and was there before it printed anything.
func TestJob_limits(t *testing.T) {
	testutil.SkipUnderWine(t, wineNoLimits)
	const memory = 256 << 20
	p := startHelper(t, "hello", Spec{MemoryLimit: memory, CPUs: 1})
	if got := firstLine(t, p); got != "hello" {
		t.Fatalf("worker said %q, want hello", got)
	}

	var ext windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	query(t, p.job, windows.JobObjectExtendedLimitInformation, unsafe.Pointer(&ext), unsafe.Sizeof(ext))
	want := uint32(windows.JOB_OBJECT_LIMIT_ACTIVE_PROCESS | windows.JOB_OBJECT_LIMIT_JOB_MEMORY |
		windows.JOB_OBJECT_LIMIT_PROCESS_MEMORY | windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
		windows.JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION)
	if got := ext.BasicLimitInformation.LimitFlags; got != want {
		t.Errorf("limit flags %#x, want %#x", got, want)
	}
	if got := ext.BasicLimitInformation.LimitFlags & windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK; got != 0 {
		t.Error("the job lets processes break away")
	}
	if got := ext.BasicLimitInformation.ActiveProcessLimit; got != 1 {
		t.Errorf("active process limit %d, want 1", got)
	}
	if ext.JobMemoryLimit != memory || ext.ProcessMemoryLimit != memory {
		t.Errorf("memory limits: job %d, process %d; want %d", ext.JobMemoryLimit, ext.ProcessMemoryLimit, memory)
	}

	var ui windows.JOBOBJECT_BASIC_UI_RESTRICTIONS
	query(t, p.job, windows.JobObjectBasicUIRestrictions, unsafe.Pointer(&ui), unsafe.Sizeof(ui))
	if ui.UIRestrictionsClass != 0xFF {
		t.Errorf("UI restrictions %#x, want all (0xff)", ui.UIRestrictionsClass)
	}

	if n := processorCount(); n > 1 {
		var cpu jobCPURateControl
		query(t, p.job, windows.JobObjectCpuRateControlInformation, unsafe.Pointer(&cpu), unsafe.Sizeof(cpu))
		wantRate := jobLimitsFor(&Spec{CPUs: 1}, &ContainerOptions{}, n).CPURate
		if cpu.ControlFlags != jobCPURateControlEnable|jobCPURateControlHardCap || cpu.CPURate != wantRate {
			t.Errorf("CPU rate control flags %#x rate %d, want a hard cap of %d (one core of %d)",
				cpu.ControlFlags, cpu.CPURate, wantRate, n)
		}
	}

	var ids processIDList
	query(t, p.job, windows.JobObjectBasicProcessIdList, unsafe.Pointer(&ids), unsafe.Sizeof(ids))
	if ids.Assigned != 1 || ids.Listed != 1 || int(ids.IDs[0]) != p.Pid() {
		t.Errorf("processes in the job: %d assigned, %v; want only the worker %d", ids.Assigned, ids.IDs[:ids.Listed], p.Pid())
	}
	var acct basicAccounting
	query(t, p.job, windows.JobObjectBasicAccountingInformation, unsafe.Pointer(&acct), unsafe.Sizeof(acct))
	if acct.TotalProcesses != 1 {
		t.Errorf("the job has held %d processes, want 1 (the worker, from its start)", acct.TotalProcesses)
	}
	var in int32
	if r, _, err := procIsProcessInJob.Call(uintptr(openProcess(t, p.Pid())), uintptr(p.job), uintptr(unsafe.Pointer(&in))); r == 0 || in == 0 {
		t.Errorf("IsProcessInJob: %v, in=%d", err, in)
	}
}

// TestJob_noChildProcess: the worker cannot start a process, in the job
// or out of it.
func TestJob_noChildProcess(t *testing.T) {
	for _, mode := range []string{"spawn", "spawn-breakaway"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "spawn" {
				testutil.SkipUnderWine(t, wineNoProcessLimit)
			}
			p := startHelper(t, mode, Spec{})
			out, errs, _ := output(t, p)
			if !strings.HasPrefix(out, "refused: ") {
				t.Errorf("the worker's child: %q (stderr %q), want it refused", out, errs)
			}
		})
	}
}

// TestJob_killLeavesNothing: after Kill the worker is gone and its job
// holds no process; Kill again and Wait are harmless.
func TestJob_killLeavesNothing(t *testing.T) {
	p := startHelper(t, "hello", Spec{})
	firstLine(t, p)
	job := dupJob(t, p)
	h := openProcess(t, p.Pid())
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if !exited(h, 0) {
		t.Fatal("the worker still runs after Kill returned")
	}
	var acct basicAccounting
	query(t, job, windows.JobObjectBasicAccountingInformation, unsafe.Pointer(&acct), unsafe.Sizeof(acct))
	if acct.ActiveProcesses != 0 {
		t.Errorf("%d processes still active in the job after Kill", acct.ActiveProcesses)
	}
	if err := p.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
	if err := p.Wait(); err == nil || !strings.Contains(err.Error(), strconv.Itoa(killedExitCode)) {
		t.Errorf("Wait after Kill: %v, want exit status %d", err, killedExitCode)
	}
}

// TestJob_memoryLimit: the worker cannot commit more than its limit.
func TestJob_memoryLimit(t *testing.T) {
	testutil.SkipUnderWine(t, wineNoMemoryLimit)
	const memory = 128 << 20
	p := startHelper(t, "alloc", Spec{MemoryLimit: memory})
	job := dupJob(t, p)
	out, errs, err := output(t, p)
	if strings.Contains(out, "allocated all") || err == nil {
		t.Fatalf("the worker allocated 1 GiB under a %d-byte limit (stdout %q)", memory, out)
	}
	if !strings.Contains(errs, "out of memory") {
		t.Errorf("stderr %q, want the Go runtime's out of memory", errs)
	}
	var ext windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	query(t, job, windows.JobObjectExtendedLimitInformation, unsafe.Pointer(&ext), unsafe.Sizeof(ext))
	if ext.PeakJobMemoryUsed > memory {
		t.Errorf("the job's peak memory was %d, above its limit of %d", ext.PeakJobMemoryUsed, memory)
	}
}

// TestJob_supervisorDies: a worker does not outlive its supervisor, whose
// death closes the job (KILL_ON_JOB_CLOSE).
func TestJob_supervisorDies(t *testing.T) {
	sup, line := testutil.StartSelf(t, helperEnv+"=supervise")
	var pid int
	var hello string
	if _, err := fmt.Sscan(line, &pid, &hello); err != nil || hello != "hello" {
		t.Fatalf("supervisor said %q, want a worker's pid and hello", line)
	}
	h := openProcess(t, pid) // before the supervisor dies: the PID stays the worker's
	if err := sup.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = sup.Wait()
	if !exited(h, 10*time.Second) {
		t.Error("the worker outlived its supervisor by 10s")
	}
}

func TestJob_startErrors(t *testing.T) {
	sp := newJobSpawner(t)
	if _, err := sp.Start(&Spec{Path: `C:\does\not\exist.exe`}); err == nil {
		t.Error("started a worker from a missing executable")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := sp.Start(&Spec{Path: os.Args[0], ExtraFiles: []*os.File{w}}); err == nil {
		t.Error("started a worker with extra files, which Windows cannot pass")
	}
}

func TestChecks_windows(t *testing.T) {
	testutil.SkipUnderWine(t, wineNoLimits)
	got := map[string]Check{}
	for _, c := range Checks() {
		got[c.Name] = c
	}
	for _, name := range []string{"job objects", "container isolation"} {
		if c := got[name]; !c.OK || !c.Required {
			t.Errorf("%s: %+v, want available and required", name, c)
		}
	}
	for _, name := range []string{"file system confinement", "network confinement"} {
		if c, ok := got[name]; !ok || c.OK || c.Required {
			t.Errorf("%s: %+v, want reported as missing and optional", name, c)
		}
	}
	if c := got["container isolation"]; !strings.Contains(c.Detail, "job object") {
		t.Errorf("container isolation detail %q does not say it is a job object", c.Detail)
	}
	if _, err := NewContainer(nil); errors.Is(err, ErrUnavailable) {
		t.Errorf("NewContainer: %v", err)
	}
}

// TestContainer_wine: under Wine, which accepts the job's limits and keeps
// none, container isolation is refused, and doctor says so, rather than
// run a worker with no memory or process limit behind a "job object".
// With every processor (no CPU rate, which Wine refuses outright) only
// reading the limits back tells.
func TestContainer_wine(t *testing.T) {
	if testutil.WineVersion() == "" {
		t.Skip("not under Wine: TestJob_limits checks the limits on Windows itself")
	}
	for _, o := range []*ContainerOptions{nil, {CPUs: float64(processorCount())}} {
		if _, err := NewContainer(o); !errors.Is(err, ErrUnavailable) {
			t.Errorf("NewContainer(%+v) under Wine: %v, want %v", o, err, ErrUnavailable)
		}
	}
	for _, c := range Checks() {
		if (c.Name == "job objects" || c.Name == "container isolation") && c.OK {
			t.Errorf("doctor under Wine: %+v, want it unavailable", c)
		}
	}
}

// TestVerifyJob: a job is refused unless it holds each of the limits it
// was given.
func TestVerifyJob(t *testing.T) {
	testutil.SkipUnderWine(t, wineNoLimits)
	set := jobLimitsFor(&Spec{CPUs: 1}, &ContainerOptions{}, 2)
	job, err := newJob(set)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(job)
	for _, tc := range []struct {
		name   string
		change func(*jobLimits)
		want   string // "" when the limits hold
	}{
		{"the same", func(*jobLimits) {}, ""},
		{"flags", func(l *jobLimits) { l.LimitFlags |= 0x800 }, "checking job object limits"},
		{"processes", func(l *jobLimits) { l.ActiveProcesses = 2 }, "checking job object limits"},
		{"memory", func(l *jobLimits) { l.Memory++ }, "checking job object limits"},
		{"UI", func(l *jobLimits) { l.UIRestrictions = 1 }, "checking job object UI restrictions"},
		{"CPU rate", func(l *jobLimits) { l.CPURate++ }, "checking job object CPU rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := set
			tc.change(&l)
			err := verifyJob(job, l)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("verifyJob: %v, want %q", err, tc.want)
			}
		})
	}
}
