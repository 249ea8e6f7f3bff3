//go:build linux || windows

package isolation

import (
	"bufio"
	"fmt"
	"strings"
	"time"
)

// superviseHello is the helper's "supervise" mode on the platforms with
// walls of their own: a supervisor about to be killed. It starts the
// helper's "hello" mode at path under sp, prints the worker's PID and
// first line, and waits to be killed with the worker still running.
func superviseHello(sp Spawner, path string) int {
	p, err := sp.Start(&Spec{Path: path, Env: []string{helperEnv + "=hello"}})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	line, _ := bufio.NewReader(p.Stdout()).ReadString('\n')
	fmt.Println(p.Pid(), strings.TrimSpace(line))
	time.Sleep(time.Hour)
	return 0
}
