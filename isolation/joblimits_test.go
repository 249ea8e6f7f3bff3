package isolation

import "testing"

// The limits a Windows worker's job object gets are decided here, on any
// platform; job_windows_test.go checks that Windows applies them.
func TestJobLimitsFor(t *testing.T) {
	const all = jobLimitActiveProcess | jobLimitProcessMemory | jobLimitJobMemory |
		jobLimitDieOnUnhandledException | jobLimitKillOnJobClose
	tests := []struct {
		name       string
		spec       Spec
		opts       ContainerOptions
		processors int
		memory     uint64
		cpuRate    uint32
	}{
		{name: "defaults on 4 processors", processors: 4, memory: 512 << 20, cpuRate: 2500},
		{name: "spec memory wins", spec: Spec{MemoryLimit: 384 << 20}, opts: ContainerOptions{MemoryLimit: 1 << 30},
			processors: 4, memory: 384 << 20, cpuRate: 2500},
		{name: "options memory", opts: ContainerOptions{MemoryLimit: 1 << 30}, processors: 4, memory: 1 << 30, cpuRate: 2500},
		{name: "negative memory means the default", spec: Spec{MemoryLimit: -1}, processors: 4, memory: 512 << 20, cpuRate: 2500},
		{name: "one core of one: no cap", processors: 1, memory: 512 << 20, cpuRate: 0},
		{name: "more cores than there are: no cap", spec: Spec{CPUs: 8}, processors: 4, memory: 512 << 20, cpuRate: 0},
		{name: "half a core of 2", spec: Spec{CPUs: 0.5}, processors: 2, memory: 512 << 20, cpuRate: 2500},
		{name: "options CPUs", opts: ContainerOptions{CPUs: 1.5}, processors: 8, memory: 512 << 20, cpuRate: 1875},
		{name: "rounds up", processors: 3, memory: 512 << 20, cpuRate: 3334},
		{name: "never zero", spec: Spec{CPUs: 0.0001}, processors: 64, memory: 512 << 20, cpuRate: 1},
		{name: "unknown processor count counts as one", processors: 0, memory: 512 << 20, cpuRate: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := jobLimitsFor(&tt.spec, &tt.opts, tt.processors)
			want := jobLimits{LimitFlags: all, ActiveProcesses: 1, Memory: tt.memory, UIRestrictions: 0xFF, CPURate: tt.cpuRate}
			if tt.cpuRate != 0 {
				want.CPUControl = 0x1 | 0x4 // enable, hard cap
			}
			if l != want {
				t.Errorf("jobLimitsFor = %+v, want %+v", l, want)
			}
		})
	}
}
