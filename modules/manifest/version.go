package manifest

import (
	"strings"
)

// CompareVersions orders two manifest versions by semantic versioning's
// precedence (semver.org, rule 11): -1 when a is older than b, +1 when it
// is newer, 0 when they rank the same (build metadata does not count).
// Versions that Parse refuses compare as text, after every valid one.
func CompareVersions(a, b string) int {
	va, oka := splitVersion(a)
	vb, okb := splitVersion(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return 1
	case !okb:
		return -1
	}
	for i := range 3 {
		if c := compareNumeric(va.core[i], vb.core[i]); c != 0 {
			return c
		}
	}
	// A pre-release ranks below its release.
	switch {
	case va.pre == nil && vb.pre == nil:
		return 0
	case va.pre == nil:
		return 1
	case vb.pre == nil:
		return -1
	}
	for i := 0; i < len(va.pre) && i < len(vb.pre); i++ {
		x, y := va.pre[i], vb.pre[i]
		nx, ny := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case nx && ny:
			c = compareNumeric(x, y)
		case nx:
			c = -1
		case ny:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return compareInts(len(va.pre), len(vb.pre))
}

type semver struct {
	core [3]string
	pre  []string
}

func splitVersion(v string) (semver, bool) {
	if !semverRE().MatchString(v) {
		return semver{}, false
	}
	v, _, _ = strings.Cut(v, "+")
	core, pre, hasPre := strings.Cut(v, "-")
	var out semver
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	copy(out.core[:], parts)
	if hasPre {
		out.pre = strings.Split(pre, ".")
	}
	return out, true
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// compareNumeric compares decimal strings of any length (semver allows
// numbers past int64), having no leading zeros.
func compareNumeric(a, b string) int {
	if c := compareInts(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
