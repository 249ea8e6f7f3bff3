package main

import (
	"encoding/json"
	"io"
	"time"
)

// jsonWriter writes JSON Lines: one object per matching line, as it is found,
// then one summary object.
type jsonWriter struct {
	w   io.Writer
	enc *json.Encoder
}

// jsonMatch is one matching line.
type jsonMatch struct {
	File string `json:"file"`           // relative to /logs
	Line int    `json:"line"`           // 1-based, in the (decompressed) file
	Time string `json:"time,omitempty"` // the line's own timestamp, RFC 3339 in UTC; absent when it has none
	Text string `json:"text"`           // the line without its newline; invalid UTF-8 becomes U+FFFD
	// Length is the line's full length in bytes, set only when Text was cut at 64 KiB.
	Length int `json:"length,omitempty"`
}

// jsonSummary ends the output.
type jsonSummary struct {
	Summary struct {
		Matches   int      `json:"matches"`           // matching lines printed
		Files     int      `json:"files"`             // files searched
		Truncated bool     `json:"truncated"`         // --max stopped the search and more lines match
		Errors    []string `json:"errors,omitempty"`  // files that could not be read, wholly or from some line on
		Binary    []string `json:"binary,omitempty"`  // files skipped as binary
		Outside   []string `json:"outside,omitempty"` // symbolic links out of /logs, skipped
	} `json:"summary"`
}

func (j *jsonWriter) encoder() *json.Encoder {
	if j.enc == nil {
		j.enc = json.NewEncoder(j.w)
		j.enc.SetEscapeHTML(false) // "<" and "&" stay as they are in the log
	}
	return j.enc
}

func (j *jsonWriter) match(name string, lineNo int, stamp time.Time, line []byte, length int) {
	m := jsonMatch{File: name, Line: lineNo, Text: string(line)}
	if !stamp.IsZero() {
		m.Time = stamp.UTC().Format(time.RFC3339Nano)
	}
	if length > len(line) {
		m.Length = length
	}
	_ = j.encoder().Encode(&m) // a write error stays in the bufio.Writer: Flush reports it
}

func (j *jsonWriter) summary(s *search) {
	var sum jsonSummary
	sum.Summary.Matches = s.matches
	sum.Summary.Files = s.files
	sum.Summary.Truncated = s.stopped
	sum.Summary.Errors = s.errors
	sum.Summary.Binary = s.binary
	sum.Summary.Outside = s.outside
	_ = j.encoder().Encode(&sum)
}
