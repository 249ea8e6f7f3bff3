package policies_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/agent-ctl/agent-ctl/policies"
)

func ExampleParseSize() {
	for _, s := range []string{"64MiB", "1.5GiB", "100MB", "512K", "4096"} {
		n, err := policies.ParseSize(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "=", n, "=", policies.FormatSize(n))
	}
	_, err := policies.ParseSize("12XB")
	fmt.Println(errors.Is(err, policies.ErrInvalid))
	// Output:
	// 64MiB = 67108864 = 64MiB
	// 1.5GiB = 1610612736 = 1536MiB
	// 100MB = 100000000 = 100000000B
	// 512K = 524288 = 512KiB
	// 4096 = 4096 = 4KiB
	// true
}

func ExampleParseDir() {
	for _, s := range []string{"/srv/data:/data:rw", "/srv/data:/data", "/srv/data", "/srv/data:/data:x"} {
		d, err := policies.ParseDir(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("host=%s guest=%s writable=%t\n", d.Host, d.Guest, d.Writable)
	}
	// Output:
	// host=/srv/data guest=/data writable=true
	// host=/srv/data guest=/data writable=false
	// host=/srv/data guest=/srv/data writable=false
	// invalid policy: --dir "/srv/data:/data:x": want HOST:GUEST[:ro|rw] (mode is ro or rw)
}

func ExamplePolicy_Validate() {
	dir, err := os.MkdirTemp("", "agent-ctl-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	p := policies.Policy{
		Memory: 32 << 20,
		Dirs:   []policies.Dir{{Host: dir, Guest: "/work/", Writable: true}},
		Env:    []policies.Env{{Key: "LANG", Value: "C.UTF-8"}},
	}
	v, err := p.Validate()
	if err != nil {
		panic(err)
	}
	fmt.Println("memory:", policies.FormatSize(v.Memory))
	fmt.Println("timeout:", v.Timeout)
	fmt.Println("output:", policies.FormatSize(v.MaxOutput))
	fmt.Println("guest:", v.Dirs[0].Guest, "writable:", v.Dirs[0].Writable)

	_, err = policies.Policy{Memory: 8 << 30}.Validate()
	fmt.Println(errors.Is(err, policies.ErrInvalid), err)
	// Output:
	// memory: 32MiB
	// timeout: 30s
	// output: 16MiB
	// guest: /work writable: true
	// true invalid policy: memory limit 8GiB is outside 64KiB..4GiB
}
