package policies

import (
	"reflect"
	"strings"
	"testing"
)

func TestNetOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"10.0.0.0/24", "10.0.0.0/8", true},
		{"10.0.0.5", "10.0.0.0/24", true},
		{"10.0.1.0/24", "10.0.0.0/24", false},
		{"127.0.0.1", "::ffff:127.0.0.1", true},
		{"example.com", "EXAMPLE.com.", true},
		{"example.com", "10.0.0.1", false},
		{"::1", "127.0.0.1", false},
	} {
		if got := NetOverlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("NetOverlaps(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestHostCovers(t *testing.T) {
	for _, tc := range []struct {
		grant, host string
		want        bool
	}{
		{"10.0.0.0/8", "10.0.0.0/24", true},
		{"10.0.0.0/24", "10.0.0.0/8", false}, // narrower: not all of it
		{"10.0.0.0/24", "10.0.0.7", true},
		{"10.0.0.7", "10.0.0.0/24", false},
		{"127.0.0.1", "::ffff:127.0.0.1", true},
		{"example.com", "EXAMPLE.com.", true},
		{"example.com", "other.example.com", false},
		{"1.2.3.4.", "1.2.3.4", false}, // a name is not the address it spells
	} {
		if got := HostCovers(tc.grant, tc.host); got != tc.want {
			t.Errorf("HostCovers(%q, %q) = %v, want %v", tc.grant, tc.host, got, tc.want)
		}
	}
}

// asks is what a test tool's manifest asks for.
func testAsks(t *testing.T) Asks {
	return Asks{
		Tool: "logs",
		Dirs: []Dir{{Host: t.TempDir(), Guest: "/logs"}, {Host: t.TempDir(), Guest: "/out", Writable: true}},
		Env:  []string{"TZ"},
		Net:  []NetGrant{{Host: "10.0.0.0/24", Ports: []int{443, 22}}},
	}
}

// TestGrantAll_coversAsks: what install --yes grants covers what the
// manifest asks for and leaves nothing unaddressed; one refused
// capability leaves the others granted.
func TestGrantAll_coversAsks(t *testing.T) {
	a := testAsks(t)
	var tg ToolGrants
	if refused := tg.GrantAll(a); len(refused) != 0 {
		t.Fatalf("GrantAll refused %v", refused)
	}
	if !tg.Covers(a) {
		t.Errorf("grants %+v do not cover what they granted %+v", tg, a)
	}
	if got, want := tg.Unaddressed(a), (Asks{Tool: "logs"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Unaddressed = %+v, want %+v", got, want)
	}

	protected := t.TempDir()
	a.Dirs = append(a.Dirs, Dir{Host: protected, Guest: "/state"})
	a.Env = append(a.Env, "=x") // an empty name
	var tg2 ToolGrants
	refused := tg2.GrantAll(a, protected)
	if len(refused) != 2 {
		t.Fatalf("GrantAll refused %v, want the protected directory and the bad variable", refused)
	}
	if len(tg2.Dirs) != 2 || len(tg2.Env) != 1 || len(tg2.Net) != 1 {
		t.Errorf("after refusals granted %+v, want the other capabilities", tg2)
	}
}

func TestCovers(t *testing.T) {
	a := testAsks(t)
	for _, tc := range []struct {
		name   string
		change func(*ToolGrants)
		want   bool
	}{
		{"all granted", func(*ToolGrants) {}, true},
		{"a wider network grant", func(g *ToolGrants) { g.Net[0].Host = "10.0.0.0/8" }, true},
		{"a directory missing", func(g *ToolGrants) { g.Dirs = g.Dirs[:1] }, false},
		{"read-only where rw is asked", func(g *ToolGrants) { g.Dirs[1].Writable = false }, false},
		{"a variable missing", func(g *ToolGrants) { g.Env = nil }, false},
		{"a port missing", func(g *ToolGrants) { g.Net[0].Ports = []int{22} }, false},
		{"a narrower network grant", func(g *ToolGrants) { g.Net[0].Host = "10.0.0.1" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tg ToolGrants
			if refused := tg.GrantAll(a); len(refused) != 0 {
				t.Fatal(refused)
			}
			tc.change(&tg)
			if got := tg.Covers(a); got != tc.want {
				t.Errorf("Covers = %v, want %v (grants %+v)", got, tc.want, tg)
			}
		})
	}
}

// TestUnaddressed: a narrower grant is a decision and is not listed; a
// missing one is.
func TestUnaddressed(t *testing.T) {
	a := testAsks(t)
	tg := &ToolGrants{
		Dirs: []DirGrant{{Host: "/elsewhere", Guest: "/logs"}},
		Net:  []NetGrant{{Host: "10.0.0.9", Ports: []int{22}}},
	}
	want := Asks{Tool: "logs", Dirs: a.Dirs[1:], Env: a.Env}
	if got := tg.Unaddressed(a); !reflect.DeepEqual(got, want) {
		t.Errorf("Unaddressed = %+v, want %+v", got, want)
	}
	var none *ToolGrants
	if got := none.Unaddressed(a); !reflect.DeepEqual(got, a) {
		t.Errorf("nil grants: Unaddressed = %+v, want %+v", got, a)
	}
}

func TestAsks_CheckDir(t *testing.T) {
	a := testAsks(t)
	for _, tc := range []struct {
		d    Dir
		want string // "" for asked
	}{
		{Dir{Host: "/x", Guest: "/logs"}, ""},
		{Dir{Host: "/x", Guest: "/logs/"}, ""},
		{Dir{Host: "/x", Guest: "/out", Writable: true}, ""},
		{Dir{Host: "/x", Guest: "/logs", Writable: true}, "logs's manifest asks for /logs read-only, not rw"},
		{Dir{Host: "/x", Guest: "/etc"}, "logs's manifest asks for no directory at /etc (it asks for: /logs (ro), /out (rw))"},
	} {
		err := a.CheckDir(tc.d)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckDir(%+v) = %v, want %q", tc.d, err, tc.want)
		}
	}
	if err := (Asks{Tool: "t"}).CheckDir(Dir{Guest: "/d"}); err == nil || !strings.Contains(err.Error(), "(it asks for: none)") {
		t.Errorf("CheckDir with no dirs asked = %v", err)
	}
}

func TestAsks_AsksNet(t *testing.T) {
	a := testAsks(t)
	for _, tc := range []struct {
		n    NetGrant
		want bool
	}{
		{NetGrant{Host: "10.0.0.3", Ports: []int{22}}, true},
		{NetGrant{Host: "10.0.0.0/24", Ports: []int{22, 443}}, true},
		{NetGrant{Host: "10.0.0.0/16", Ports: []int{22}}, false},
		{NetGrant{Host: "10.0.0.3", Ports: []int{22, 80}}, false},
	} {
		if got := a.AsksNet(tc.n); got != tc.want {
			t.Errorf("AsksNet(%+v) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
