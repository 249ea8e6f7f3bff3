package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `goos: linux
BenchmarkInvokeChannel/x-2   	invoke_pooled_c_container_transport_channel_vs_rpc ratio=0.52 p50_us=380.5 p99_us=900 baseline_us=700 n=100
     100	   9500489 ns/op	       380 p50_us	         0.52 ratio
serve_throughput_vs_native_spawn ratio=0.080 calls_per_s=72.5 baseline_per_s=900.0 n=8
serve_throughput_vs_native_spawn ratio=0.090 calls_per_s=80.5 baseline_per_s=900.0 n=8
cli_run_daemon pooled=3 of 3
installing 1000 tools took 3s (3ms each)
`
	vals, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want []float64
	}{
		{"invoke_pooled_c_container_transport_channel_vs_rpc p50_us", []float64{380.5}},
		{"invoke_pooled_c_container_transport_channel_vs_rpc n", []float64{100}},
		{"serve_throughput_vs_native_spawn calls_per_s", []float64{72.5, 80.5}},
		{"cli_run_daemon pooled", nil}, // not a comparison
		{"ratio ", nil},
	}
	for _, tt := range tests {
		got := vals[tt.key]
		if len(got) != len(tt.want) {
			t.Errorf("%s = %v, want %v", tt.key, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s = %v, want %v", tt.key, got, tt.want)
			}
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
