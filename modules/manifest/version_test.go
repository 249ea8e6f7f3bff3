package manifest

import "testing"

func TestCompareVersions(t *testing.T) {
	// semver.org's own example order, then build metadata and length.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0", "10.0.0", "123456789012345678901.0.0"}
	for i, a := range order {
		for j, b := range order {
			want := compareInts(i, j)
			if got := CompareVersions(a, b); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0+build.1", "1.0.0+build.2", 0},
		{"0.9.0", "1.0.0", -1},
		{"not-a-version", "1.0.0", 1},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
