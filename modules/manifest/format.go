package manifest

import (
	"errors"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// formats are the values of "format" a manifest may write: those a flag's
// value can be checked against with the standard library, in linear time.
// The library treats "format" as an annotation; for parameters the package
// asserts it (Tool.Validate), since a module given "--at yesterday" for a
// date-time would fail later and worse. In outputSchema it stays an
// annotation.
var formats = []struct {
	name string
	// what completes "must be ...".
	what  string
	valid func(string) bool
}{
	{"date-time", "an RFC 3339 date-time such as 2006-01-02T15:04:05Z", func(s string) bool {
		_, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		return err == nil
	}},
	{"date", "a date such as 2006-01-02", func(s string) bool {
		_, err := time.Parse(time.DateOnly, s)
		return err == nil
	}},
	{"time", "a time such as 15:04:05Z", func(s string) bool {
		_, err := time.Parse("15:04:05.999999999Z07:00", strings.ToUpper(s))
		return err == nil
	}},
	{"email", "an email address such as joe@example.com", func(s string) bool {
		a, err := mail.ParseAddress(s)
		return err == nil && a.Name == "" && a.Address == s
	}},
	{"hostname", "a hostname such as example.com", func(s string) bool {
		s = strings.TrimSuffix(s, ".")
		if s == "" || len(s) > 253 {
			return false
		}
		for l := range strings.SplitSeq(s, ".") {
			if !labelRE().MatchString(l) {
				return false
			}
		}
		return true
	}},
	{"ipv4", "an IPv4 address such as 192.0.2.1", func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err == nil && a.Is4()
	}},
	{"ipv6", "an IPv6 address such as 2001:db8::1", func(s string) bool {
		a, err := netip.ParseAddr(s)
		return err == nil && a.Is6() && a.Zone() == ""
	}},
	{"uri", "an absolute URI such as https://example.com/x", func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				return false
			}
		}
		u, err := url.Parse(s)
		return err == nil && u.Scheme != ""
	}},
	{"uuid", "a UUID such as 123e4567-e89b-12d3-a456-426614174000", func(s string) bool {
		if len(s) != 36 {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case i == 8 || i == 13 || i == 18 || i == 23:
				if c != '-' {
					return false
				}
			case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
				return false
			}
		}
		return true
	}},
}

// formatCheck returns the check of a format, or nil when a manifest may
// not write it. The error completes "must be ...".
func formatCheck(name string) func(string) error {
	for _, f := range formats {
		if f.name == name {
			return func(s string) error {
				if f.valid(s) {
					return nil
				}
				return errors.New(f.what)
			}
		}
	}
	return nil
}

func formatNames() []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.name
	}
	return out
}
