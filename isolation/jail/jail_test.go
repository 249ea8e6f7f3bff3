package jail

import (
	"bytes"
	"testing"
)

func TestEncode(t *testing.T) {
	c := &Config{
		Root:     "/r",
		Mounts:   []Mount{{FD: 7, Target: "/a b", Dir: true, Access: Sockets}, {FD: 8, Target: "/f"}},
		Proc:     true,
		Landlock: true,
		Hostname: "h",
		Rlimits:  []Rlimit{{Resource: 4, Soft: 0, Hard: 0}},
		Seccomp:  5,
		Sync:     6,
		Userns:   9,
		Status:   10,
	}
	want := "agent-ctl-jail-1\x00root\x00/r\x00mount\x007\x00/a b\x001\x002\x00mount\x008\x00/f\x000\x000\x00proc\x00landlock\x00" +
		"hostname\x00h\x00rlimit\x004\x000\x000\x00userns\x009\x00seccomp\x005\x00sync\x006\x00status\x0010\x00end\x00"
	if got := c.Encode(); !bytes.Equal(got, []byte(want)) {
		t.Errorf("Encode() = %q, want %q", got, want)
	}
}
