package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrOutput is wrapped by every error of ValidateOutput.
var ErrOutput = errors.New("output does not match the outputSchema")

// ValidateOutput checks a tool's JSON output (one document) against the
// manifest's outputSchema. A manifest without one accepts any JSON. The
// error wraps ErrOutput and says where and why in one line.
func (m *Manifest) ValidateOutput(out []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %s", ErrOutput, errLibrary, shorten(sanitize(fmt.Sprint(r))))
		}
	}()
	dec := json.NewDecoder(bytes.NewReader(out))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%w: not one JSON document: %s", ErrOutput, shorten(oneLine(err.Error())))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: not one JSON document: more follows the first", ErrOutput)
	}
	raw := bytes.TrimSpace(m.OutputSchema)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	_, _, rs, err := compileSchema("outputSchema", raw, inOutput)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := rs.Validate(doc); err != nil {
		return fmt.Errorf("%w: %s", ErrOutput, shorten(sanitize(err.Error())))
	}
	return nil
}
