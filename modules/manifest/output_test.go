package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateOutput(t *testing.T) {
	m := &Manifest{OutputSchema: []byte(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}`)}
	for out, want := range map[string]string{
		`{"n":1}`:           "",
		` {"n": 2} ` + "\n": "",
		`{"n":"x"}`:         "/n",
		`{}`:                `missing properties: ["n"]`,
		`{"n":1,"m":2}`:     `unexpected additional properties ["m"]`,
		`{"n":1} {}`:        "not one JSON document",
		`[`:                 "not one JSON document",
	} {
		err := m.ValidateOutput([]byte(out))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", out, err)
		case want != "" && (err == nil || !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want ErrOutput containing %q", out, err, want)
		}
	}
	if err := (&Manifest{}).ValidateOutput([]byte(`[1]`)); err != nil {
		t.Errorf("no outputSchema: %v", err)
	}
}
