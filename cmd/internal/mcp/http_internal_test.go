package mcp

import (
	"reflect"
	"testing"
	"time"
)

// TestHTTPOptions_defaults: a zero field takes the default its doc comment
// names; a set one, negative included (SessionIdle's "never"), is kept.
func TestHTTPOptions_defaults(t *testing.T) {
	defaults := HTTPOptions{
		MaxBody:       4 << 20,
		PerToken:      16,
		BodyTimeout:   30 * time.Second,
		SessionIdle:   30 * time.Minute,
		MaxConns:      512,
		IdleTimeout:   60 * time.Second,
		HeaderTimeout: 10 * time.Second,
	}
	set := HTTPOptions{
		MaxBody:        1,
		PerToken:       2,
		AllowedOrigins: []string{"https://a.example"},
		BodyTimeout:    3 * time.Second,
		SessionIdle:    -1,
		MaxConns:       4,
		IdleTimeout:    5 * time.Second,
		HeaderTimeout:  6 * time.Second,
	}
	for _, tc := range []struct {
		name string
		in   *HTTPOptions
		want HTTPOptions
	}{
		{"nil", nil, defaults},
		{"zero", &HTTPOptions{}, defaults},
		{"all set", &set, set},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.defaults(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("defaults() mismatch (-want +got):\n-%+v\n+%+v", tc.want, got)
			}
		})
	}
}
