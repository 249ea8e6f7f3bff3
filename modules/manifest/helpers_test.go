package manifest_test

import (
	"errors"
	"strings"
	"testing"
)

// checkError fails t unless err wraps target (ErrInvalid, ErrArgs) in one
// short line that contains want, and is no panic the JSON Schema library
// raised and this package recovered: what every error of Parse, Validate
// and Argv must be, for the unit tests' cases and the fuzzers' inputs.
func checkError(t *testing.T, target, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one wrapping %q", target)
	}
	msg := err.Error()
	if strings.Contains(msg, "JSON Schema library failed") {
		t.Fatalf("the library panicked: %v", err)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %q", msg, target)
	}
	if strings.ContainsAny(msg, "\r\n") || len(msg) > 600 {
		t.Errorf("error is not one short line: %q", msg)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}
