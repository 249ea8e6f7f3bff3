package isolation

import (
	"strings"
	"testing"
	"unicode/utf16"
)

func TestEnvBlock(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"adds SYSTEMROOT", nil, []string{`SYSTEMROOT=C:\Windows`}},
		{"keeps a given SystemRoot", []string{`SystemRoot=D:\W`}, []string{`SystemRoot=D:\W`}},
		{"sorted without case", []string{"b=1", "A=2", "PLUGIN_MIN_PORT=3", "agent_ctl_worker=4"},
			[]string{"A=2", "agent_ctl_worker=4", "b=1", "PLUGIN_MIN_PORT=3", `SYSTEMROOT=C:\Windows`}},
		{"the last of a name wins", []string{"X=1", "Y=2", "x=3"}, []string{`SYSTEMROOT=C:\Windows`, "x=3", "Y=2"}},
		{"values may hold '=' and non-ASCII", []string{"K=a=b", "É=é😀"}, []string{"K=a=b", `SYSTEMROOT=C:\Windows`, "É=é😀"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := envBlock(tt.env, `C:\Windows`)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 2 || b[len(b)-1] != 0 || b[len(b)-2] != 0 {
				t.Fatalf("block does not end with two NULs: %v", b)
			}
			got := strings.Split(string(utf16.Decode(b[:len(b)-2])), "\x00")
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("envBlock(%q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
	if _, err := envBlock([]string{"A=\x00"}, ""); err == nil {
		t.Error("envBlock accepted a NUL byte")
	}
}
