package isolation

import (
	"errors"
	"sort"
	"strings"
	"unicode/utf16"
)

// envBlock is the environment block CreateProcess takes for a worker on
// Windows, built from Spec.Env the way os/exec builds one: a variable
// given twice keeps its last value (names compare without case, as Windows
// compares them), SYSTEMROOT is added when missing (Winsock, which
// go-plugin's loopback listener needs, fails without it), and the
// variables are sorted by name as CreateProcess documents. The block is
// UTF-16, each variable ends with a NUL and the block with another.
func envBlock(env []string, systemRoot string) ([]uint16, error) {
	key := func(kv string) string {
		k, _, _ := strings.Cut(kv, "=")
		return strings.ToUpper(k)
	}
	last := map[string]int{}
	for i, kv := range env {
		if strings.IndexByte(kv, 0) >= 0 {
			return nil, errors.New("environment variable contains a NUL byte")
		}
		last[key(kv)] = i
	}
	var vars []string
	for i, kv := range env {
		if last[key(kv)] == i {
			vars = append(vars, kv)
		}
	}
	if _, ok := last["SYSTEMROOT"]; !ok {
		vars = append(vars, "SYSTEMROOT="+systemRoot)
	}
	sort.SliceStable(vars, func(i, j int) bool { return key(vars[i]) < key(vars[j]) })
	var b []uint16
	for _, kv := range vars {
		b = append(b, utf16.Encode([]rune(kv))...)
		b = append(b, 0)
	}
	return append(b, 0), nil
}
