package manifest

import "testing"

func TestCheckFormat(t *testing.T) {
	tests := []struct {
		format string
		valid  []string
		bad    []string
	}{
		{"regex", []string{`^a+$`, ``}, []string{`(`, `a{2,1}`}},
		{"json-pointer", []string{``, `/`, `/a~0b/c~1d/0`}, []string{`a`, `/a~`, `/a~2`}},
		{"relative-json-pointer", []string{`0`, `1#`, `10/a`}, []string{``, `01`, `-1/a`, `1a`}},
		{"uuid", []string{`123e4567-e89b-12d3-a456-426614174000`, `ABCDEF00-0000-0000-0000-000000000000`},
			[]string{`123e4567e89b12d3a456426614174000`, `123e4567-e89b-12d3-a456-42661417400g`, `123e4567-e89b-12d3-a456-4266141740000`}},
		{"duration", []string{`P1D`, `PT1H30M`, `P1Y2M3DT4H5M6S`, `P2W`}, []string{`P`, `1D`, `PT`, `P1H`, `P1D1Y`, `P1DT1H1D`, `PW`, `P1`, `P1DTT1H`}},
		{"period", []string{`2024-01-01T00:00:00Z/P1D`, `P1D/2024-01-01T00:00:00Z`, `2024-01-01T00:00:00Z/2024-01-02T00:00:00Z`},
			[]string{`2024-01-01T00:00:00Z`, `P1D/P2D`, `2024-01-01/P1D`}},
		{"ipv4", []string{`0.0.0.0`, `192.168.1.255`}, []string{`1.2.3`, `1.2.3.256`, `01.2.3.4`, `+1.2.3.4`, `1.2.3.4.5`, `::1`}},
		{"ipv6", []string{`::1`, `2001:db8::8a2e:370:7334`, `::ffff:1.2.3.4`}, []string{`1.2.3.4`, `fe80::1%eth0`, `2001:db8:::1`}},
		{"hostname", []string{`example.com`, `a-b.example.com.`, `localhost`}, []string{`-a.com`, `a-.com`, `a..com`, `a_b.com`, `ex ample.com`}},
		{"email", []string{`joe@example.com`, `"joe bloggs"@example.com`, `joe@[1.2.3.4]`, `joe@[IPv6:::1]`},
			[]string{`joe`, `.joe@example.com`, `jo..e@example.com`, `joe@-example.com`, `joe@[1.2.3]`, `jo(e@example.com`}},
		{"date", []string{`2024-02-29`}, []string{`2023-02-29`, `2024-1-1`, `2024-01-01T00:00:00Z`}},
		{"time", []string{`23:59:60Z`, `12:00:00.123+02:00`, `00:59:60+01:00`}, []string{`12:00:00`, `24:00:00Z`, `12:00:60Z`, `12:00:00+2:00`, `1a:00:00Z`, `12:00:00.Z`}},
		{"date-time", []string{`2024-02-29T12:00:00Z`, `2024-02-29t12:00:00.5-05:30`}, []string{`2024-02-29 12:00:00Z`, `2024-02-30T12:00:00Z`, `2024-02-29T12:00:00`}},
		{"uri", []string{`https://example.com/a?b#c`, `urn:isbn:0451450523`, `http://[::1]:80/`}, []string{`/relative`, `http://[::1:80/`, `http://::1/`}},
		{"iri", []string{`https://example.com/ä`}, []string{`ä`}},
		{"uri-reference", []string{`/relative`, `#frag`, `https://example.com`}, []string{`\\server`, `http://[::1:80/`}},
		{"uri-template", []string{`https://example.com/{id}`, `/a/{b}/{c}`}, []string{`/a/{b`, `/a/b}`, `/a/{b{c}}`}},
		{"semver", []string{`1.0.0`, `1.2.3-rc.1+build.5`, `0.0.0-0`}, []string{`1.0`, `01.0.0`, `1.0.0-01`, `1.0.0-`, `1.0.0+`, `1.0.0-a..b`, `v1.0.0`}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			for _, s := range tt.valid {
				if known, err := checkFormat(tt.format, s); !known || err != nil {
					t.Errorf("checkFormat(%q, %q) = %t, %v; want valid", tt.format, s, known, err)
				}
			}
			for _, s := range tt.bad {
				if known, err := checkFormat(tt.format, s); !known || err == nil {
					t.Errorf("checkFormat(%q, %q) = %t, %v; want an error", tt.format, s, known, err)
				}
			}
		})
	}
	if known, _ := checkFormat("color", "red"); known {
		t.Error("checkFormat(color) is known")
	}
}
