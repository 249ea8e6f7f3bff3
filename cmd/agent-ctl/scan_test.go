package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agent-ctl/agent-ctl/tests/loopback"
)

// countingListener listens on network's loopback address and counts the
// connections it accepts; a host without that address skips the test.
func countingListener(t *testing.T, network, addr string) (port int, l *loopback.Listener) {
	t.Helper()
	l, err := loopback.ListenOn(t, network, addr, loopback.Close)
	if err != nil {
		t.Skipf("listening on %s: %v", addr, err)
	}
	return l.Port(), l
}

type scanResult struct {
	Host  string `json:"host"`
	Port  int    `json:"port"`
	State string `json:"state"`
}

type scanOutput struct {
	Network   string         `json:"network"`
	Ports     string         `json:"ports"`
	TimeoutMS int            `json:"timeoutMs"`
	Addresses int            `json:"addresses"`
	Probes    int            `json:"probes"`
	Counts    map[string]int `json:"counts"`
	Results   []scanResult   `json:"results"`
}

// TestScan installs modules/scan, grants it one open and one closed loopback
// port, and scans those and a third, open but not granted: open, closed and
// denied, in text and in JSON (checked against the manifest's outputSchema).
func TestScan(t *testing.T) {
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", repoPath("modules/scan"))
	expect(t, "install", code, out, errs, 0, "installed scan 1.0.0", "")
	scan := func(args ...string) (int, string, string) {
		t.Helper()
		return runIn(t, home, "", append([]string{"scan"}, args...)...)
	}

	open, openHits := countingListener(t, "tcp4", "127.0.0.1:0")
	notGranted, notGrantedHits := countingListener(t, "tcp4", "127.0.0.1:0")
	closed := loopback.ClosedPort(t)
	code, out, errs = runIn(t, home, "", "grant", "scan", "--net", fmt.Sprintf("127.0.0.1/32:%d,%d", open, closed))
	expect(t, "grant", code, out, errs, 0, "", "")
	ports := []int{open, notGranted, closed}
	list := fmt.Sprintf("%d,%d,%d", open, notGranted, closed)
	state := map[int]string{open: "open", notGranted: "denied", closed: "closed"}

	// Text: open and denied ports listed, closed ones summed up; --all lists them.
	code, out, errs = scan("--ip", "127.0.0.1", "--ports", list)
	expect(t, "text", code, out, errs, 0, "", "")
	for _, p := range ports {
		row := fmt.Sprintf("127.0.0.1  %-5d  %s\n", p, state[p])
		if listed := strings.Contains(out, row); listed != (state[p] != "closed") {
			t.Errorf("text: row %q listed %v:\n%s", row, listed, out)
		}
	}
	for _, want := range []string{
		"HOST       PORT   STATE\n",
		"not shown: 1 closed (--all lists them)\n",
		"scanned 127.0.0.1/32: 1 address × 3 ports = 3 probes: 1 open, 1 closed, 1 denied\n",
		"1 probe was denied: not allowed by the network grants",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text: no %q in\n%s", want, out)
		}
	}
	if strings.Index(out, strconv.Itoa(min(open, notGranted))) > strings.Index(out, strconv.Itoa(max(open, notGranted))) {
		t.Errorf("text: rows not sorted by port:\n%s", out)
	}
	code, out, errs = scan("--ip", "127.0.0.1/32", "--ports", list, "--all")
	expect(t, "text --all", code, out, errs, 0, fmt.Sprintf("127.0.0.1  %-5d  closed\n", closed), "")
	if notGrantedHits.Count() != 0 {
		t.Errorf("the port not granted was connected to %d times", notGrantedHits.Count())
	}
	if openHits.Count() != 2 {
		t.Errorf("the granted open port was connected to %d times, want 2 (one per scan)", openHits.Count())
	}

	// JSON: one document, valid against the outputSchema, every probe in order.
	code, out, errs = scan("--ip", "127.0.0.1", "--ports", list, "--json", "--timeout-ms", "500")
	expect(t, "json", code, out, errs, 0, "", "")
	checkOutputSchema(t, "modules/scan", out)
	var doc scanOutput
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	sorted := slices.Sorted(slices.Values(ports))
	if doc.Network != "127.0.0.1/32" || doc.TimeoutMS != 500 || doc.Addresses != 1 || doc.Probes != 3 || len(doc.Results) != 3 ||
		doc.Counts["open"] != 1 || doc.Counts["closed"] != 1 || doc.Counts["denied"] != 1 || doc.Counts["filtered"] != 0 {
		t.Fatalf("json: %+v", doc)
	}
	for i, r := range doc.Results {
		if r.Host != "127.0.0.1" || r.Port != sorted[i] || r.State != state[r.Port] {
			t.Errorf("json result %d: %+v, want port %d %s", i, r, sorted[i], state[sorted[i]])
		}
	}

	// Nothing granted on a range: every probe denied, none dropped.
	code, out, errs = scan("--ip", "127.0.0.0/30", "--ports", strconv.Itoa(notGranted), "--json")
	expect(t, "all denied", code, out, errs, 0, `"counts":{"open":0,"closed":0,"filtered":0,"unreachable":0,"denied":4,"invalid":0}`, "")
	checkOutputSchema(t, "modules/scan", out)
	code, out, errs = scan("--ip", "127.0.0.0/30", "--ports", fmt.Sprintf("%d-%d", notGranted, notGranted+1))
	expect(t, "denied rows merge", code, out, errs, 0, fmt.Sprintf("127.0.0.3  %d-%d  denied\n", notGranted, notGranted+1), "")

	// More probes than one batch of net_probe (256): results stay in order.
	far, _ := countingListener(t, "tcp4", "127.0.1.5:0")
	code, out, errs = runIn(t, home, "", "grant", "scan", "--net", fmt.Sprintf("127.0.0.0/23:%d", far))
	expect(t, "grant /23", code, out, errs, 0, "", "")
	code, out, errs = scan("--ip", "127.0.0.0/23", "--ports", strconv.Itoa(far), "--json")
	expect(t, "two batches", code, out, errs, 0, `"open":1,"closed":511,`, "")
	doc = scanOutput{}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 512 {
		t.Fatalf("two batches: %v, %d results", err, len(doc.Results))
	}
	if r := doc.Results[256+5]; r.Host != "127.0.1.5" || r.State != "open" {
		t.Errorf("two batches: result 261 is %+v, want 127.0.1.5 open", r)
	}

	// Ranges too big are refused before any probe (exit 2); so are bad ones.
	before := openHits.Count()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip", "10.0.0.0/8", "--ports", "22"}, "scan: --ip 10.0.0.0/8: 16777216 addresses, more than the 4096 one scan may cover (at most a /20)"},
		{[]string{"--ip", "::/64", "--ports", "22"}, "2^64 addresses"},
		{[]string{"--ip", "127.0.0.0/20", "--ports", fmt.Sprintf("1-16,%d", open)}, "4096 addresses × 17 ports = 69632 probes, more than the 65536 one scan may make"},
		{[]string{"--ip", "127.0.0.1", "--ports", fmt.Sprintf("%d,0", open)}, "scan: --ports: port 0 is outside 1..65535"},
		{[]string{"--ip", "127.0.0.1", "--ports", "80-22"}, "range 80-22 runs backwards"},
		{[]string{"--ip", "localhost", "--ports", "22"}, `scan: --ip "localhost": want an IPv4 or IPv6 address or CIDR`},
	} {
		code, out, errs = scan(tc.args...)
		expect(t, strings.Join(tc.args, " "), code, out, errs, 2, "", tc.want)
		if out != "" {
			t.Errorf("%q: stdout %q", tc.args, out)
		}
	}
	if n := openHits.Count() - before; n != 0 {
		t.Errorf("refused scans connected %d times", n)
	}

	// The manifest's schema refuses malformed flags before a worker starts (125).
	code, out, errs = scan("--ip", "127.0.0.1", "--ports", "22;80")
	expect(t, "schema ports", code, out, errs, 125, "", "--ports")
	code, out, errs = scan("--ip", "127.0.0.1", "--ports", "22", "--timeout-ms", "0")
	expect(t, "schema timeout", code, out, errs, 125, "", "--timeout-ms")
	code, out, errs = scan("--ports", "22")
	expect(t, "schema required", code, out, errs, 125, "", "--ip")

	// Help comes from the manifest.
	code, out, errs = scan("--help")
	expect(t, "help", code, out, errs, 0, "TCP connect scan", "")
	for _, want := range []string{"--ip", "--ports", "--timeout-ms", "--json", "--all", "at most 4096 addresses", "22,80,443,8000-8100"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

// TestScan_IPv6 scans ::1 with one port granted, where the host has IPv6.
func TestScan_IPv6(t *testing.T) {
	open, _ := countingListener(t, "tcp6", "[::1]:0")
	home := t.TempDir()
	code, out, errs := runIn(t, home, "", "install", repoPath("modules/scan"))
	expect(t, "install", code, out, errs, 0, "installed scan", "")
	code, out, errs = runIn(t, home, "", "grant", "scan", "--net", fmt.Sprintf("::1/128:%d", open))
	expect(t, "grant", code, out, errs, 0, "", "")
	code, out, errs = runIn(t, home, "", "scan", "--ip", "::1", "--ports", fmt.Sprintf("%d,%d", open, open+1), "--json")
	expect(t, "scan", code, out, errs, 0, fmt.Sprintf(`"results":[{"host":"::1","port":%d,"state":"open"},{"host":"::1","port":%d,"state":"denied"}]`, open, open+1), "")
	checkOutputSchema(t, "modules/scan", out)
}
