package isolation

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// jobSpawner is container isolation on Windows: each worker runs alone in
// a job object of its own (see NewContainer and docs/isolation.md).
type jobSpawner struct {
	opts ContainerOptions
	log  *slog.Logger
	// unverified skips reading the job's limits back (verifyJob). Only
	// the tests set it, under Wine, which keeps none of the limits, to
	// test what Wine does implement (the suspended start, the job's
	// kill, KILL_ON_JOB_CLOSE, the refused breakaway); nothing else does.
	unverified bool
}

func (*jobSpawner) Name() string { return "job object" }

// killedExitCode is the exit code of a worker ended by Kill.
const killedExitCode = 1

// Start starts the worker suspended, puts it in a new job object, checks
// that it is there, and only then lets it run its first instruction.
//
// Go's os/exec cannot do this: it closes the new process's thread handle
// before returning, so a process started suspended could only be resumed
// by finding its thread again (a system-wide Toolhelp32 snapshot, or the
// undocumented NtResumeProcess). So the worker is started here with
// CreateProcess directly, which returns the handle of its main thread;
// what os/exec does besides (the command line, the environment block, the
// three inherited handles and nothing else) is done here too.
func (sp *jobSpawner) Start(s *Spec) (Process, error) {
	if len(s.ExtraFiles) > 0 {
		return nil, errors.New("starting worker: extra files cannot be passed to a worker on Windows")
	}
	t0 := time.Now()
	create := newJob
	if sp.unverified {
		create = createJob
	}
	job, err := create(jobLimitsFor(s, &sp.opts, processorCount()))
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	child, err := createSuspended(s)
	if err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("starting worker %s: %w", s.Path, err)
	}
	t2 := time.Now()
	if err := assign(job, child.process); err != nil {
		// KILL_ON_JOB_CLOSE cannot reach a process outside the job.
		_ = windows.TerminateProcess(child.process, killedExitCode)
		child.close()
		windows.CloseHandle(job)
		return nil, err
	}
	t3 := time.Now()
	if _, err := windows.ResumeThread(child.thread); err != nil {
		_ = windows.TerminateJobObject(job, killedExitCode)
		child.close()
		windows.CloseHandle(job)
		return nil, fmt.Errorf("resuming worker: %w", err)
	}
	windows.CloseHandle(child.thread)
	sp.log.Debug("job object started", "worker_pid", child.pid,
		"job_us", t1.Sub(t0).Microseconds(), "create_us", t2.Sub(t1).Microseconds(),
		"assign_us", t3.Sub(t2).Microseconds(), "resume_us", time.Since(t3).Microseconds())
	return &jobProcess{pid: child.pid, process: child.process, job: job, stdout: child.stdout, stderr: child.stderr}, nil
}

// newJob creates a job object with limits l and checks that it holds
// them.
func newJob(l jobLimits) (windows.Handle, error) {
	job, err := createJob(l)
	if err != nil {
		return 0, err
	}
	if err := verifyJob(job, l); err != nil {
		windows.CloseHandle(job)
		return 0, err
	}
	return job, nil
}

// createJob creates a job object with limits l. Nothing inherits its
// handle: once the supervisor closes it, or dies, KILL_ON_JOB_CLOSE ends
// the worker.
func createJob(l jobLimits) (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("creating job object: %w", err)
	}
	var ext windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	ext.BasicLimitInformation.LimitFlags = l.LimitFlags
	ext.BasicLimitInformation.ActiveProcessLimit = l.ActiveProcesses
	memory := uintptr(min(l.Memory, uint64(^uintptr(0))))
	ext.ProcessMemoryLimit, ext.JobMemoryLimit = memory, memory
	ui := windows.JOBOBJECT_BASIC_UI_RESTRICTIONS{UIRestrictionsClass: l.UIRestrictions}
	cpu := jobCPURateControl{ControlFlags: l.CPUControl, CPURate: l.CPURate}
	sets := []struct {
		what  string
		class uint32
		info  unsafe.Pointer
		size  uintptr
	}{
		{"limits", windows.JobObjectExtendedLimitInformation, unsafe.Pointer(&ext), unsafe.Sizeof(ext)},
		{"UI restrictions", windows.JobObjectBasicUIRestrictions, unsafe.Pointer(&ui), unsafe.Sizeof(ui)},
		{"CPU rate", windows.JobObjectCpuRateControlInformation, unsafe.Pointer(&cpu), unsafe.Sizeof(cpu)},
	}
	if l.CPURate == 0 {
		sets = sets[:2]
	}
	for _, s := range sets {
		if _, err := windows.SetInformationJobObject(job, s.class, uintptr(s.info), uint32(s.size)); err != nil {
			windows.CloseHandle(job)
			return 0, fmt.Errorf("setting job object %s: %w", s.what, err)
		}
	}
	return job, nil
}

// verifyJob reads job's limits back and refuses a job that does not hold
// l: a SetInformationJobObject that succeeds without applying what it was
// given would run the worker with less confinement than reported. Wine
// (8.0) does so: it accepts the extended limits, keeps no memory or
// process limit, and reads them back as zero. Two or three more system
// calls per worker on Windows.
func verifyJob(job windows.Handle, l jobLimits) error {
	var ext windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	if err := windows.QueryInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&ext)), uint32(unsafe.Sizeof(ext)), nil); err != nil {
		return fmt.Errorf("reading job object limits back: %w", err)
	}
	memory := uintptr(min(l.Memory, uint64(^uintptr(0))))
	b := &ext.BasicLimitInformation
	if b.LimitFlags != l.LimitFlags || b.ActiveProcessLimit != l.ActiveProcesses ||
		ext.JobMemoryLimit != memory || ext.ProcessMemoryLimit != memory {
		return fmt.Errorf("checking job object limits: set flags %#x, %d process, %d bytes; the job holds flags %#x, %d processes, %d bytes (job) and %d (process)",
			l.LimitFlags, l.ActiveProcesses, memory, b.LimitFlags, b.ActiveProcessLimit, ext.JobMemoryLimit, ext.ProcessMemoryLimit)
	}
	var ui windows.JOBOBJECT_BASIC_UI_RESTRICTIONS
	if err := windows.QueryInformationJobObject(job, windows.JobObjectBasicUIRestrictions,
		uintptr(unsafe.Pointer(&ui)), uint32(unsafe.Sizeof(ui)), nil); err != nil {
		return fmt.Errorf("reading job object UI restrictions back: %w", err)
	}
	if ui.UIRestrictionsClass != l.UIRestrictions {
		return fmt.Errorf("checking job object UI restrictions: set %#x, the job holds %#x", l.UIRestrictions, ui.UIRestrictionsClass)
	}
	if l.CPURate == 0 {
		return nil
	}
	var cpu jobCPURateControl
	if err := windows.QueryInformationJobObject(job, windows.JobObjectCpuRateControlInformation,
		uintptr(unsafe.Pointer(&cpu)), uint32(unsafe.Sizeof(cpu)), nil); err != nil {
		return fmt.Errorf("reading job object CPU rate back: %w", err)
	}
	if cpu.ControlFlags != l.CPUControl || cpu.CPURate != l.CPURate {
		return fmt.Errorf("checking job object CPU rate: set flags %#x rate %d, the job holds %#x rate %d",
			l.CPUControl, l.CPURate, cpu.ControlFlags, cpu.CPURate)
	}
	return nil
}

// jobCPURateControl is JOBOBJECT_CPU_RATE_CONTROL_INFORMATION with its
// union read as CpuRate; x/sys/windows does not define it.
type jobCPURateControl struct {
	ControlFlags uint32
	CPURate      uint32
}

func processorCount() int {
	return int(windows.GetActiveProcessorCount(windows.ALL_PROCESSOR_GROUPS))
}

var procIsProcessInJob = windows.NewLazySystemDLL("kernel32.dll").NewProc("IsProcessInJob")

// assign puts a suspended process in job and checks that it is there.
func assign(job, process windows.Handle) error {
	if err := windows.AssignProcessToJobObject(job, process); err != nil {
		return fmt.Errorf("assigning the worker to its job object: %w", err)
	}
	var in int32
	if r, _, err := procIsProcessInJob.Call(uintptr(process), uintptr(job), uintptr(unsafe.Pointer(&in))); r == 0 {
		return fmt.Errorf("checking the worker's job object: %w", err)
	}
	if in == 0 {
		return errors.New("checking the worker's job object: the worker is not in it")
	}
	return nil
}

// suspended is a worker created but not yet run.
type suspended struct {
	pid             int
	process, thread windows.Handle
	stdout, stderr  *os.File // the read ends of the worker's stdout and stderr
}

func (c *suspended) close() {
	windows.CloseHandle(c.thread)
	windows.CloseHandle(c.process)
	c.stdout.Close()
	c.stderr.Close()
}

// createSuspended creates the worker's process with its main thread
// suspended. It inherits exactly three handles: NUL as its stdin (the
// worker closes it at once) and the write ends of two pipes as its stdout
// (go-plugin's handshake) and stderr. It has no console, so a Ctrl-C at
// the supervisor's reaches only the supervisor, which stops workers
// itself.
func createSuspended(s *Spec) (c *suspended, err error) {
	path, err := windows.UTF16PtrFromString(s.Path)
	if err != nil {
		return nil, err
	}
	cmdline, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(append([]string{s.Path}, s.Args...)))
	if err != nil {
		return nil, err
	}
	env, err := envBlock(s.Env, os.Getenv("SYSTEMROOT"))
	if err != nil {
		return nil, err
	}

	// Inheritable from the start, but listed in PROC_THREAD_ATTRIBUTE_HANDLE_LIST
	// below, like os/exec's: no other CreateProcess of this program lists them.
	nulName, err := windows.UTF16PtrFromString("NUL")
	if err != nil {
		return nil, err
	}
	inheritable := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), InheritHandle: 1}
	nul, err := windows.CreateFile(nulName, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, inheritable, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("opening NUL: %w", err)
	}
	defer windows.CloseHandle(nul)
	var readEnds, writeEnds [2]windows.Handle
	defer func() {
		for i := range writeEnds {
			windows.CloseHandle(writeEnds[i]) // the worker has its own copies
			if err != nil {
				windows.CloseHandle(readEnds[i])
			}
		}
	}()
	for i := range readEnds {
		if err := windows.CreatePipe(&readEnds[i], &writeEnds[i], nil, 0); err != nil {
			return nil, fmt.Errorf("creating worker pipes: %w", err)
		}
		if err := windows.SetHandleInformation(writeEnds[i], windows.HANDLE_FLAG_INHERIT, windows.HANDLE_FLAG_INHERIT); err != nil {
			return nil, fmt.Errorf("creating worker pipes: %w", err)
		}
	}

	inherit := []windows.Handle{nul, writeEnds[0], writeEnds[1]}
	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		return nil, err
	}
	defer attrs.Delete()
	if err := attrs.Update(windows.PROC_THREAD_ATTRIBUTE_HANDLE_LIST, unsafe.Pointer(&inherit[0]),
		uintptr(len(inherit))*unsafe.Sizeof(inherit[0])); err != nil {
		return nil, err
	}
	si := &windows.StartupInfoEx{ProcThreadAttributeList: attrs.List()}
	si.Cb = uint32(unsafe.Sizeof(*si))
	si.Flags = windows.STARTF_USESTDHANDLES
	si.StdInput, si.StdOutput, si.StdErr = inherit[0], inherit[1], inherit[2]
	flags := uint32(windows.CREATE_SUSPENDED | windows.CREATE_UNICODE_ENVIRONMENT |
		windows.EXTENDED_STARTUPINFO_PRESENT | windows.DETACHED_PROCESS)
	var pi windows.ProcessInformation
	if err := windows.CreateProcess(path, cmdline, nil, nil, true, flags, &env[0], nil, &si.StartupInfo, &pi); err != nil {
		return nil, err
	}
	return &suspended{
		pid:     int(pi.ProcessId),
		process: pi.Process,
		thread:  pi.Thread,
		stdout:  os.NewFile(uintptr(readEnds[0]), "|worker-stdout"),
		stderr:  os.NewFile(uintptr(readEnds[1]), "|worker-stderr"),
	}, nil
}

// jobProcess is a worker running in its job object.
type jobProcess struct {
	pid            int
	process        windows.Handle // closed by Wait, once the worker has exited
	stdout, stderr *os.File

	waitOnce sync.Once
	waitErr  error

	mu     sync.Mutex
	job    windows.Handle // zero once closed
	exited bool
}

func (p *jobProcess) Stdout() io.ReadCloser { return p.stdout }
func (p *jobProcess) Stderr() io.ReadCloser { return p.stderr }
func (p *jobProcess) Pid() int              { return p.pid }

// Wait waits for the worker to exit, then closes its job: empty by then,
// since the worker was the only process it could hold.
func (p *jobProcess) Wait() error {
	p.waitOnce.Do(func() {
		if _, err := windows.WaitForSingleObject(p.process, windows.INFINITE); err != nil {
			p.waitErr = fmt.Errorf("waiting for worker: %w", err)
			return
		}
		var code uint32
		if err := windows.GetExitCodeProcess(p.process, &code); err != nil {
			p.waitErr = fmt.Errorf("waiting for worker: %w", err)
		} else if code != 0 {
			p.waitErr = fmt.Errorf("exit status %d", code)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.exited = true
		p.closeJob()
		windows.CloseHandle(p.process)
	})
	return p.waitErr
}

// Kill terminates every process in the worker's job (only the worker can
// be there) and closes the job, then waits, at most killTimeout, until the
// worker is gone.
func (p *jobProcess) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	if p.job != 0 {
		// Should terminating fail, closing the job kills it all the same
		// (KILL_ON_JOB_CLOSE).
		_ = windows.TerminateJobObject(p.job, killedExitCode)
		p.closeJob()
	}
	// Wait cannot close the process handle meanwhile: it needs p.mu.
	return waitExited(p.process, killTimeout)
}

func (p *jobProcess) closeJob() {
	if p.job != 0 {
		windows.CloseHandle(p.job)
		p.job = 0
	}
}
