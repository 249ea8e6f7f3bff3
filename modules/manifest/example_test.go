package manifest_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/agent-ctl/agent-ctl/modules/manifest"
)

func ExampleParse() {
	data, err := os.ReadFile("testdata/valid.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := manifest.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Name, m.Version, m.ModuleFile(), m.MemoryLimit()>>20, "MiB", m.TimeoutLimit())

	tool, err := m.Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range tool.Params() {
		fmt.Printf("%-9s %-8s required=%t default=%v\n", p.Flag(), p.Type, p.Required, p.Default)
	}

	// Arguments as an MCP client sends them, or as ParseFlags builds them.
	argv, err := tool.Argv(map[string]any{"file": "syslog", "filter": "error", "max": 20.0, "json": true})
	fmt.Printf("%q %v\n", argv, err)

	_, err = tool.Argv(map[string]any{"file": "syslog", "max": "twenty"})
	fmt.Println(err, errors.Is(err, manifest.ErrArgs))

	_, err = manifest.Parse([]byte(`{"name": "../../bin/sh"}`))
	fmt.Println(err, errors.Is(err, manifest.ErrInvalid))
	// Output:
	// logs 1.2.0 module.wasm 64 MiB 10s
	// <file>    string   required=true default=<nil>
	// --filter  string   required=false default=<nil>
	// --json    boolean  required=false default=<nil>
	// --max     integer  required=false default=100
	// --regex   string   required=false default=<nil>
	// --since   string   required=false default=<nil>
	// ["--filter" "error" "--json" "--max" "20" "syslog"] <nil>
	// invalid arguments: --max: expected integer, got string true
	// invalid manifest: name "../../bin/sh": must not contain "/", "\" or ".." true
}

func ExampleTool_ParseFlags() {
	data, _ := os.ReadFile("testdata/probe.json")
	m, err := manifest.Parse(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	tool, err := m.Compile()
	if err != nil {
		fmt.Println(err)
		return
	}
	// What a command line such as
	//   agent-ctl run probe --ports 22 --ports 443 --verbose 10.0.0.1 10.0.0.2
	// gives, keyed by parameter name.
	args, err := tool.ParseFlags(map[string][]string{
		"ports":   {"22", "443"},
		"verbose": {""},
		"target":  {"10.0.0.1"},
		"hosts":   {"10.0.0.2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	argv, err := tool.Argv(args)
	fmt.Printf("%q %v\n", argv, err)

	_, err = tool.ParseFlags(map[string][]string{"ports": {"ssh"}})
	fmt.Println(err)
	// Output:
	// ["--ports=22" "--ports=443" "--verbose" "10.0.0.1" "10.0.0.2"] <nil>
	// invalid arguments: --ports: value 1: expected integer, got "ssh"
}
