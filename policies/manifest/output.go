package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrOutput is wrapped by every error of ValidateOutput.
var ErrOutput = errors.New("output does not match the outputSchema")

// ValidateOutput checks a tool's JSON output (one document) against the
// manifest's outputSchema. A manifest without one accepts any JSON. The
// error wraps ErrOutput and says where and why in one line.
func (m *Manifest) ValidateOutput(out []byte) error {
	raw := bytes.TrimSpace(m.OutputSchema)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("true")
	}
	sch, err := compileSchema("outputSchema", outputURL, raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return fmt.Errorf("%w: not one JSON document: %s", ErrOutput, shorten(oneLine(err.Error())))
	}
	if err := sch.Validate(doc); err != nil {
		msg := strings.ReplaceAll(oneLine(err.Error()), outputURL, "")
		return fmt.Errorf("%w: %s", ErrOutput, shorten(msg))
	}
	return nil
}
