package manifest_test

import (
	"reflect"
	"testing"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

func TestTool_AssignPositional(t *testing.T) {
	logs := compile(t, "testdata/valid.json")  // one positional string, "file"
	probe := compile(t, "testdata/probe.json") // "target", then the array "hosts"
	tests := []struct {
		name      string
		tool      *manifest.Tool
		args      []string
		want      map[string][]string
		wantExtra []string
	}{
		{"none", logs, nil, map[string][]string{"level": {"warn"}}, nil},
		{"one", logs, []string{"syslog"}, map[string][]string{"level": {"warn"}, "file": {"syslog"}}, nil},
		{"one too many", logs, []string{"syslog", "x", "y"}, map[string][]string{"level": {"warn"}, "file": {"syslog"}}, []string{"x", "y"}},
		{"last array takes the rest", probe, []string{"a", "b", "c"}, map[string][]string{"level": {"warn"}, "target": {"a"}, "hosts": {"b", "c"}}, nil},
		{"array of one", probe, []string{"a", "b"}, map[string][]string{"level": {"warn"}, "target": {"a"}, "hosts": {"b"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := map[string][]string{"level": {"warn"}}
			extra := tt.tool.AssignPositional(values, tt.args)
			if !reflect.DeepEqual(values, tt.want) {
				t.Errorf("values mismatch (-want +got):\n-%v\n+%v", tt.want, values)
			}
			if !reflect.DeepEqual(extra, tt.wantExtra) {
				t.Errorf("extra = %q, want %q", extra, tt.wantExtra)
			}
		})
	}
}
