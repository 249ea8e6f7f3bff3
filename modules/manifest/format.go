package manifest

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// checkFormat checks s against a "format" of draft-07, where format is an
// assertion (draft 2020-12 makes it an annotation, and the library ignores
// it in both). The formats and their rules are the ones
// santhosh-tekuri/jsonschema v6, which validated manifests before, asserted
// for draft-07, so that a schema keeps its meaning; a few are stricter
// where that library let through what the format's RFC does not
// (signs in IPv4 decimals, unbalanced braces in URI templates). known is
// false for a format not checked here, which is ignored.
func checkFormat(format, s string) (known bool, err error) {
	var check func(string) error
	switch format {
	case "regex":
		check = func(s string) error { _, err := regexp.Compile(s); return err }
	case "json-pointer":
		check = checkJSONPointer
	case "relative-json-pointer":
		check = checkRelativeJSONPointer
	case "uuid":
		check = checkUUID
	case "duration":
		check = checkDuration
	case "period":
		check = checkPeriod
	case "ipv4":
		check = checkIPv4
	case "ipv6":
		check = checkIPv6
	case "hostname":
		check = checkHostname
	case "email":
		check = checkEmail
	case "date":
		check = checkDate
	case "time":
		check = checkTime
	case "date-time":
		check = checkDateTime
	case "uri", "iri":
		check = checkURI
	case "uri-reference", "iri-reference":
		check = checkURIReference
	case "uri-template":
		check = checkURITemplate
	case "semver":
		check = checkSemver
	default:
		return false, nil
	}
	return true, check(s)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// checkJSONPointer follows RFC 6901: "" or "/"-separated tokens in which
// "~" is followed by 0 or 1.
func checkJSONPointer(s string) error {
	if s == "" {
		return nil
	}
	if s[0] != '/' {
		return errors.New("does not start with /")
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '~' && (i+1 == len(s) || s[i+1] != '0' && s[i+1] != '1') {
			return errors.New("~ must be followed by 0 or 1")
		}
	}
	return nil
}

// checkRelativeJSONPointer follows draft-handrews-relative-json-pointer-01:
// a non-negative integer, then "#" or a JSON Pointer.
func checkRelativeJSONPointer(s string) error {
	n := digits(s)
	if n == 0 {
		return errors.New("does not start with a non-negative integer")
	}
	if n > 1 && s[0] == '0' {
		return errors.New("starts with a zero")
	}
	if s[n:] == "#" {
		return nil
	}
	return checkJSONPointer(s[n:])
}

// checkUUID wants the 8-4-4-4-12 hexadecimal form of RFC 4122.
func checkUUID(s string) error {
	groups := strings.Split(s, "-")
	want := []int{8, 4, 4, 4, 12}
	if len(groups) != len(want) {
		return errors.New("want five groups of hexadecimal digits")
	}
	for i, g := range groups {
		if len(g) != want[i] {
			return fmt.Errorf("group %d must have %d digits", i+1, want[i])
		}
		for _, c := range g {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return fmt.Errorf("%q is not a hexadecimal digit", c)
			}
		}
	}
	return nil
}

// checkDuration follows RFC 3339 appendix A: P, then weeks, or date units
// (Y, M, D) and after T time units (H, M, S), each after its number and in
// that order.
func checkDuration(s string) error {
	s, ok := strings.CutPrefix(s, "P")
	if !ok {
		return errors.New("does not start with P")
	}
	if s == "" {
		return errors.New("nothing after P")
	}
	if w, ok := strings.CutSuffix(s, "W"); ok {
		if w == "" || digits(w) != len(w) {
			return errors.New("want a number of weeks")
		}
		return nil
	}
	all := []string{"YMD", "HMS"}
	for i, part := range strings.Split(s, "T") {
		if i >= len(all) {
			return errors.New("more than one T")
		}
		if i > 0 && part == "" {
			return errors.New("no time units after T")
		}
		units := all[i]
		for part != "" {
			n := digits(part)
			if n == 0 {
				return errors.New("missing number")
			}
			if n == len(part) {
				return errors.New("missing unit")
			}
			u := part[n]
			j := strings.IndexByte(units, u)
			if j < 0 {
				if strings.IndexByte(all[i], u) >= 0 {
					return fmt.Errorf("unit %q out of order", u)
				}
				return fmt.Errorf("invalid unit %q", u)
			}
			units, part = units[j+1:], part[n+1:]
		}
	}
	return nil
}

// checkPeriod wants start/end, start/duration or duration/end (ISO 8601).
func checkPeriod(s string) error {
	start, end, ok := strings.Cut(s, "/")
	if !ok {
		return errors.New("missing /")
	}
	if strings.HasPrefix(start, "P") {
		if err := checkDuration(start); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		if err := checkDateTime(end); err != nil {
			return fmt.Errorf("end: %w", err)
		}
		return nil
	}
	if err := checkDateTime(start); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	check := checkDateTime
	if strings.HasPrefix(end, "P") {
		check = checkDuration
	}
	if err := check(end); err != nil {
		return fmt.Errorf("end: %w", err)
	}
	return nil
}

// checkIPv4 wants four decimals 0-255 without leading zeros.
func checkIPv4(s string) error {
	groups := strings.Split(s, ".")
	if len(groups) != 4 {
		return errors.New("want four decimals separated by dots")
	}
	for _, g := range groups {
		if g == "" || digits(g) != len(g) || len(g) > 3 {
			return fmt.Errorf("%q is not a decimal 0 to 255", g)
		}
		if len(g) > 1 && g[0] == '0' {
			return errors.New("leading zeros")
		}
		if n, _ := strconv.Atoi(g); n > 255 {
			return fmt.Errorf("%q is not a decimal 0 to 255", g)
		}
	}
	return nil
}

// checkIPv6 wants an IPv6 address (RFC 4291) without a zone.
func checkIPv6(s string) error {
	if !strings.Contains(s, ":") {
		return errors.New("missing colon")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return errors.New("not an IPv6 address")
	}
	if a.Zone() != "" {
		return errors.New("a zone is not part of an address")
	}
	return nil
}

// checkHostname follows RFC 1123: at most 253 characters, labels of 1 to
// 63 letters, digits and hyphens, not starting or ending with a hyphen.
func checkHostname(s string) error {
	s = strings.TrimSuffix(s, ".")
	if len(s) > 253 {
		return errors.New("more than 253 characters")
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) < 1 || len(l) > 63 {
			return errors.New("a label must have 1 to 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("a label starts or ends with a hyphen")
		}
		for _, c := range l {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("invalid character %q", c)
			}
		}
	}
	return nil
}

// checkEmail follows RFC 5321 in the common subset: a dot-atom or quoted
// local part of at most 64 characters, "@", then a hostname or a bracketed
// IP address.
func checkEmail(s string) error {
	if len(s) > 254 {
		return errors.New("more than 254 characters")
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return errors.New("missing @")
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return errors.New("local part of more than 64 characters")
	}
	if len(local) > 1 && local[0] == '"' && local[len(local)-1] == '"' {
		if strings.ContainsAny(local[1:len(local)-1], `\"`) {
			return errors.New(`\ or " inside a quoted local part`)
		}
	} else {
		if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
			return errors.New("misplaced dot in the local part")
		}
		for _, c := range local {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".!#$%&'*+-/=?^_`{|}~", c)) {
				return fmt.Errorf("invalid character %q", c)
			}
		}
	}
	if ip, ok := strings.CutPrefix(domain, "["); ok {
		ip, ok = strings.CutSuffix(ip, "]")
		if !ok {
			return errors.New("unclosed [ in the domain")
		}
		if v6, ok := strings.CutPrefix(ip, "IPv6:"); ok {
			return checkIPv6(v6)
		}
		return checkIPv4(ip)
	}
	if err := checkHostname(domain); err != nil {
		return fmt.Errorf("domain: %w", err)
	}
	return nil
}

// checkDate wants RFC 3339's full-date.
func checkDate(s string) error {
	if _, err := time.Parse("2006-01-02", s); err != nil {
		return errors.New("want YYYY-MM-DD")
	}
	return nil
}

// checkTime wants RFC 3339's full-time: hh:mm:ss, optional fraction, then
// Z or an offset; a leap second only at 23:59 UTC.
func checkTime(s string) error {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' {
		return errors.New("want hh:mm:ss then Z or an offset")
	}
	var hms [3]int
	for i := range hms {
		t := s[3*i : 3*i+2]
		if digits(t) != 2 {
			return errors.New("want hh:mm:ss then Z or an offset")
		}
		hms[i], _ = strconv.Atoi(t)
	}
	h, m, sec := hms[0], hms[1], hms[2]
	if h > 23 || m > 59 || sec > 60 {
		return errors.New("hour, minute or second out of range")
	}
	s = s[8:]
	if frac, ok := strings.CutPrefix(s, "."); ok {
		n := digits(frac)
		if n == 0 {
			return errors.New("no digits in the fraction of a second")
		}
		s = frac[n:]
	}
	if s != "Z" && s != "z" {
		if len(s) != 6 || s[0] != '+' && s[0] != '-' || s[3] != ':' || digits(s[1:3]) != 2 || digits(s[4:]) != 2 {
			return errors.New("want Z or an offset +hh:mm")
		}
		oh, _ := strconv.Atoi(s[1:3])
		om, _ := strconv.Atoi(s[4:])
		if oh > 23 || om > 59 {
			return errors.New("offset out of range")
		}
		sign := 1
		if s[0] == '+' {
			sign = -1
		}
		hm := h*60 + m + sign*(oh*60+om)
		hm = (hm%(24*60) + 24*60) % (24 * 60)
		h, m = hm/60, hm%60
	}
	if sec == 60 && (h != 23 || m != 59) {
		return errors.New("a leap second only at 23:59:60 UTC")
	}
	return nil
}

// checkDateTime wants RFC 3339's date-time.
func checkDateTime(s string) error {
	if len(s) < 20 || s[10] != 'T' && s[10] != 't' {
		return errors.New("want YYYY-MM-DDThh:mm:ss then Z or an offset")
	}
	if err := checkDate(s[:10]); err != nil {
		return err
	}
	return checkTime(s[11:])
}

// parseURL is url.Parse, which does not check a bracketed IPv6 host.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a URI")
	}
	if h := u.Hostname(); strings.Contains(h, ":") {
		if !strings.Contains(u.Host, "[") {
			return nil, errors.New("IPv6 host not in brackets")
		}
		if err := checkIPv6(h); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
	}
	return u, nil
}

func checkURI(s string) error {
	u, err := parseURL(s)
	if err != nil {
		return err
	}
	if !u.IsAbs() {
		return errors.New("not absolute")
	}
	return nil
}

func checkURIReference(s string) error {
	if strings.Contains(s, `\`) {
		return errors.New(`contains \`)
	}
	_, err := parseURL(s)
	return err
}

// checkURITemplate wants a URI reference whose expressions (RFC 6570) are
// closed and not nested.
func checkURITemplate(s string) error {
	if _, err := parseURL(s); err != nil {
		return err
	}
	open := false
	for _, c := range s {
		switch c {
		case '{':
			if open {
				return errors.New("nested {")
			}
			open = true
		case '}':
			if !open {
				return errors.New("} without {")
			}
			open = false
		}
	}
	if open {
		return errors.New("{ without }")
	}
	return nil
}

// checkSemver follows semver.org's grammar.
func checkSemver(s string) error {
	if core, build, ok := strings.Cut(s, "+"); ok {
		for _, id := range strings.Split(build, ".") {
			if id == "" || !isSemverIdent(id) {
				return errors.New("invalid build identifier")
			}
		}
		s = core
	}
	if core, pre, ok := strings.Cut(s, "-"); ok {
		for _, id := range strings.Split(pre, ".") {
			if id == "" || !isSemverIdent(id) {
				return errors.New("invalid pre-release identifier")
			}
			if digits(id) == len(id) && len(id) > 1 && id[0] == '0' {
				return errors.New("numeric pre-release identifier starts with a zero")
			}
		}
		s = core
	}
	nums := strings.Split(s, ".")
	if len(nums) != 3 {
		return errors.New("want MAJOR.MINOR.PATCH")
	}
	for _, n := range nums {
		if n == "" || digits(n) != len(n) || len(n) > 1 && n[0] == '0' {
			return errors.New("want MAJOR.MINOR.PATCH of numbers without leading zeros")
		}
	}
	return nil
}

func isSemverIdent(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
