package policies

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"B", 1}, {"", 1},
}

// ParseSize reads a byte count such as "64MiB", "1GiB", "512KiB", "100MB"
// or "1048576". Binary units (KiB, MiB, GiB, TiB, and the shorthands K, M,
// G, T) are powers of 1024; decimal ones (kB, MB, GB, TB) powers of 1000.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if !strings.HasSuffix(t, u.suffix) {
			continue
		}
		num := strings.TrimSpace(strings.TrimSuffix(t, u.suffix))
		if num == "" {
			break
		}
		n, err := strconv.ParseUint(num, 10, 63)
		if err == nil {
			if n > uint64(math.MaxInt64/u.mult) {
				return 0, fmt.Errorf("%w: size %q is too large", ErrInvalid, s)
			}
			return int64(n) * u.mult, nil
		}
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%w: size %q is too large", ErrInvalid, s)
		}
		// Only plain decimals such as 1.5: no exponents, hex or underscores.
		if strings.Trim(num, "0123456789.") != "" || strings.Count(num, ".") != 1 {
			break
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			break
		}
		v := f * float64(u.mult)
		if v >= math.MaxInt64 {
			return 0, fmt.Errorf("%w: size %q is too large", ErrInvalid, s)
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("%w: size %q: want a number with an optional unit (B, KiB, MiB, GiB, kB, MB, GB), e.g. 64MiB", ErrInvalid, s)
}

// FormatSize renders n bytes in the largest binary unit that keeps it whole,
// so it parses back to the same value.
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && n != 0 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return strconv.FormatInt(n, 10) + units[i]
}

// ParseDir reads a directory grant written HOST:GUEST[:ro|rw] or HOST (the
// same path inside and out). The mode defaults to ro. The result is not yet
// resolved against the host: Policy.Validate does that.
func ParseDir(s string) (Dir, error) {
	if s == "" {
		return Dir{}, fmt.Errorf("%w: empty --dir: want HOST:GUEST[:ro|rw]", ErrInvalid)
	}
	parts := strings.Split(s, ":")
	d := Dir{}
	if n := len(parts); n >= 2 {
		switch parts[n-1] {
		case "ro":
			parts = parts[:n-1]
		case "rw":
			d.Writable = true
			parts = parts[:n-1]
		}
	}
	switch len(parts) {
	case 1:
		d.Host, d.Guest = parts[0], parts[0]
	case 2:
		d.Host, d.Guest = parts[0], parts[1]
	default:
		return Dir{}, fmt.Errorf("%w: --dir %q: want HOST:GUEST[:ro|rw] (mode is ro or rw)", ErrInvalid, s)
	}
	if d.Host == "" || d.Guest == "" {
		return Dir{}, fmt.Errorf("%w: --dir %q: host and guest paths must not be empty", ErrInvalid, s)
	}
	return d, nil
}

// ParseEnv reads KEY=VALUE, or KEY alone to pass the value that lookup
// returns for it (normally os.LookupEnv). A KEY that lookup does not find is
// an error rather than a silently empty variable. A nil lookup means
// os.LookupEnv.
func ParseEnv(s string, lookup func(string) (string, bool)) (Env, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	k, v, hasValue := strings.Cut(s, "=")
	if err := checkEnvKey(k); err != nil {
		return Env{}, err
	}
	if hasValue {
		return Env{Key: k, Value: v}, nil
	}
	v, ok := lookup(k)
	if !ok {
		return Env{}, fmt.Errorf("%w: --env %s: %s is not set on the host (use --env %s=VALUE to set it)", ErrInvalid, k, k, k)
	}
	return Env{Key: k, Value: v}, nil
}

// ParseIsolation reads "process" or "container"; "" selects the default.
func ParseIsolation(s string) (Isolation, error) {
	switch i := Isolation(s); i {
	case IsolationDefault, IsolationProcess, IsolationContainer:
		return i, nil
	}
	return "", fmt.Errorf("%w: --isolation %q: want process or container", ErrInvalid, s)
}
