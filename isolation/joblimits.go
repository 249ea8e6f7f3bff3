package isolation

import "math"

// Job object limits as winnt.h numbers them. They are spelled out here
// rather than taken from golang.org/x/sys/windows so that jobLimitsFor,
// which decides the limits, builds and is tested on every platform; the
// Windows code hands them to the kernel unchanged (job_windows.go).
const (
	jobLimitActiveProcess           = 0x00000008 // JOB_OBJECT_LIMIT_ACTIVE_PROCESS
	jobLimitProcessMemory           = 0x00000100 // JOB_OBJECT_LIMIT_PROCESS_MEMORY
	jobLimitJobMemory               = 0x00000200 // JOB_OBJECT_LIMIT_JOB_MEMORY
	jobLimitDieOnUnhandledException = 0x00000400 // JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION
	jobLimitKillOnJobClose          = 0x00002000 // JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE

	// jobUILimitAll is every JOB_OBJECT_UILIMIT_* flag: HANDLES (0x1),
	// READCLIPBOARD (0x2), WRITECLIPBOARD (0x4), SYSTEMPARAMETERS (0x8),
	// DISPLAYSETTINGS (0x10), GLOBALATOMS (0x20), DESKTOP (0x40) and
	// EXITWINDOWS (0x80).
	jobUILimitAll = 0x000000FF

	jobCPURateControlEnable  = 0x1 // JOB_OBJECT_CPU_RATE_CONTROL_ENABLE
	jobCPURateControlHardCap = 0x4 // JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP

	// jobCPURateFull is CpuRate for every processor: the rate counts
	// cycles per 10,000 of the whole machine's.
	jobCPURateFull = 10000
)

// jobLimits are the limits of the job object that confines one worker on
// Windows, decided from a Spec.
type jobLimits struct {
	// LimitFlags is JOBOBJECT_BASIC_LIMIT_INFORMATION.LimitFlags.
	LimitFlags uint32
	// ActiveProcesses is 1: the worker alone, so that it cannot start
	// another process.
	ActiveProcesses uint32
	// Memory caps committed memory, of the job and of its one process, in
	// bytes.
	Memory uint64
	// UIRestrictions is JOBOBJECT_BASIC_UI_RESTRICTIONS: every flag.
	UIRestrictions uint32
	// CPURate is a hard cap in cycles per 10,000 of all processors'
	// (JOBOBJECT_CPU_RATE_CONTROL_INFORMATION.CpuRate); zero means no cap,
	// when the worker may use at least as many cores as there are.
	// CPUControl is that structure's ControlFlags: enable, hard cap.
	CPURate, CPUControl uint32
}

// jobLimitsFor decides the limits of the job for s: its memory and CPU
// limits, else the options', else the defaults (the same as a container's:
// 512 MiB and one core). processors is how many the machine has.
func jobLimitsFor(s *Spec, o *ContainerOptions, processors int) jobLimits {
	l := jobLimits{
		LimitFlags: jobLimitActiveProcess | jobLimitProcessMemory | jobLimitJobMemory |
			jobLimitDieOnUnhandledException | jobLimitKillOnJobClose,
		ActiveProcesses: 1,
		UIRestrictions:  jobUILimitAll,
	}
	memory := s.MemoryLimit
	if memory <= 0 {
		memory = o.MemoryLimit
	}
	if memory <= 0 {
		memory = defaultMemoryLimit
	}
	l.Memory = uint64(memory)

	cpus := s.CPUs
	if cpus <= 0 {
		cpus = o.CPUs
	}
	if cpus <= 0 {
		cpus = defaultCPUs
	}
	processors = max(processors, 1)
	rate := math.Ceil(cpus / float64(processors) * jobCPURateFull)
	if rate < jobCPURateFull {
		l.CPURate = uint32(max(rate, 1))
		l.CPUControl = jobCPURateControlEnable | jobCPURateControlHardCap
	}
	return l
}
