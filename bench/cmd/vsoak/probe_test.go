package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	full := "Name:\tvrouterd\nState:\tS (sleeping)\nVmPeak:\t 2000000 kB\nVmRSS:\t   25344 kB\n" +
		"RssAnon:\t   10000 kB\nRssFile:\t   15000 kB\nRssShmem:\t     344 kB\nThreads:\t11\n"
	tests := []struct {
		name    string
		in      string
		want    procStats
		wantErr bool
	}{
		{"typical", full, procStats{RSSKiB: 25344, AnonKiB: 10000, FileKiB: 15000, Threads: 11}, false},
		{"old kernel without RssAnon", "VmRSS:\t 7 kB\nThreads:\t2\n", procStats{RSSKiB: 7, Threads: 2}, false},
		{"no VmRSS (zombie)", "Name:\tx\nThreads:\t1\n", procStats{}, true},
		{"no Threads", "VmRSS:\t 1 kB\n", procStats{}, true},
		{"bad unit", "VmRSS:\t 1 MB\nThreads:\t1\n", procStats{}, true},
		{"bad number", "VmRSS:\t 1 kB\nRssFile:\t x kB\nThreads:\t1\n", procStats{}, true},
		{"bad threads", "VmRSS:\t 1 kB\nThreads:\tmany\n", procStats{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got procStats
			err := parseStatus([]byte(tc.in), &got)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStatusOfThisProcess(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	var ps procStats
	if err := parseStatus(b, &ps); err != nil || ps.RSSKiB == 0 || ps.AnonKiB == 0 || ps.Threads < 1 {
		t.Fatalf("parseStatus(/proc/self/status) = %+v, %v", ps, err)
	}
	b, err = os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseStatCPU(b); err != nil {
		t.Fatal(err)
	}
}

func TestParseStatCPU(t *testing.T) {
	tail := " S 1 2 3 0 -1 4194304 98 0 0 0 1234 567 0 0 20 0 11 0 683932 3133440 383\n"
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"plain name", "42 (vrouterd)" + tail, 1234 + 567, false},
		{"name with spaces and parentheses", "42 (a) b (c)" + tail, 1234 + 567, false},
		{"no parenthesis", "42 vrouterd" + tail, 0, true},
		{"truncated", "42 (vrouterd) S 1 2 3", 0, true},
		{"bad utime", "42 (v) S 1 2 3 0 -1 4194304 98 0 0 0 x 567 0 0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseGoroutineTotal(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"goroutine profile: total 23\n5 @ 0x43 0x44\n#\t0x43\truntime.gopark+0x0\n", 23, false},
		{"goroutine profile: total 7", 7, false},
		{"goroutine 1 [running]:\nmain.main()\n", 0, true},
		{"goroutine profile: total many\n", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		got, err := parseGoroutineTotal([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseGoroutineTotal(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

const sampleMetrics = `# HELP vrouter_conntrack_entries Tracked flows.
# TYPE vrouter_conntrack_entries gauge
vrouter_conntrack_entries 7
# HELP vrouter_drops_total Dropped packets by port and reason.
# TYPE vrouter_drops_total counter
vrouter_drops_total{port="eni-a",reason="ipv6"} 12
vrouter_drops_total{port="eni-a",reason="sg_ingress"} 0
vrouter_drops_total{port="eni-b",reason="ipv6"} 3
vrouter_port_packets_total{direction="rx",port="eni-a"} 1000
vrouter_port_packets_total{direction="tx",port="eni-a"} 900
vrouter_port_packets_total{direction="rx",port="eni-b"} 905
vrouter_port_packets_total{direction="tx",port="eni-b"} 980
vrouter_port_rx_outcomes_total{outcome="consumed",port="eni-a"} 8
vrouter_port_rx_outcomes_total{outcome="dropped",port="eni-a"} 12
vrouter_port_rx_outcomes_total{outcome="forwarded",port="eni-a"} 980
vrouter_port_rx_outcomes_total{outcome="consumed",port="eni-b"} 2
vrouter_port_rx_outcomes_total{outcome="dropped",port="eni-b"} 3
vrouter_port_rx_outcomes_total{outcome="forwarded",port="eni-b"} 900
vrouter_route_hits_total{dst="10.0.0.0/8",table="vtb-b"} 1.5e+06 1700000000000
`

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(sampleMetrics)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 15 {
		t.Fatalf("%d series, want 15", len(m))
	}
	if got := metricSet(m).sum("vrouter_conntrack_entries", nil); got != 7 {
		t.Errorf("conntrack entries %v", got)
	}
	if got := metricSet(m).sum("vrouter_route_hits_total", map[string]string{"table": "vtb-b"}); got != 1.5e6 {
		t.Errorf("route hits with timestamp %v", got)
	}
	if got := metricSet(m).sum("vrouter_port_packets_total", map[string]string{"direction": "rx"}); got != 1905 {
		t.Errorf("rx sum %v", got)
	}
	if got := metricSet(m).by("vrouter_drops_total", "reason"); !reflect.DeepEqual(got, map[string]float64{"ipv6": 15, "sg_ingress": 0}) {
		t.Errorf("drops by reason %v", got)
	}
}

func TestParseMetricsLabels(t *testing.T) {
	tests := []struct {
		line    string
		want    series
		wantErr bool
	}{
		{`up 1`, series{Name: "up", Labels: map[string]string{}, Value: 1}, false},
		{`x{a="b c",d="e"} 2.5`, series{Name: "x", Labels: map[string]string{"a": "b c", "d": "e"}, Value: 2.5}, false},
		{`x{a="q\"uote\\back\nnl"} 3`, series{Name: "x", Labels: map[string]string{"a": "q\"uote\\back\nnl"}, Value: 3}, false},
		{`x{a="}{,= "} 4`, series{Name: "x", Labels: map[string]string{"a": "}{,= "}, Value: 4}, false},
		{`x{a="b",} 5`, series{Name: "x", Labels: map[string]string{"a": "b"}, Value: 5}, false},
		{`x{} +Inf`, series{Name: "x", Labels: map[string]string{}, Value: inf()}, false},
		{`x{a="b"`, series{}, true},
		{`x{a=b} 1`, series{}, true},
		{`x{a="b} 1`, series{}, true},
		{`x{a="\q"} 1`, series{}, true},
		{`x`, series{}, true},
		{`x one`, series{}, true},
		{`x 1 2 3`, series{}, true},
	}
	for _, tc := range tests {
		got, err := parseSeriesLine(tc.line)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v, want error %v", tc.line, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.line, got, tc.want)
		}
	}
	if _, err := parseMetrics("ok 1\nbroken{\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v should name line 2", err)
	}
}

func inf() float64 {
	var zero float64
	return 1 / zero
}

// Issue 10's accounting identity (R8 counters): rx = forwarded + consumed +
// dropped per port, and the drops by reason cover the dropped outcome.
func TestIdentityProblems(t *testing.T) {
	m, err := parseMetrics(sampleMetrics)
	if err != nil {
		t.Fatal(err)
	}
	good := metricSet(m)
	if p := good.identityProblems(); len(p) != 0 {
		t.Fatalf("balanced sample reported %v", p)
	}
	want := map[string]portAccount{
		"eni-a": {RX: 1000, TX: 900, Forwarded: 980, Consumed: 8, Dropped: 12},
		"eni-b": {RX: 905, TX: 980, Forwarded: 900, Consumed: 2, Dropped: 3},
	}
	if got := good.ports(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ports() = %+v", got)
	}
	if got := good.dropReasons(); !reflect.DeepEqual(got, map[string]float64{"eni-a/ipv6": 12, "eni-b/ipv6": 3}) {
		t.Fatalf("dropReasons() = %v", got)
	}

	tests := []struct {
		name, from, to, want string
	}{
		{"a packet unaccounted", `{direction="rx",port="eni-a"} 1000`, `{direction="rx",port="eni-a"} 1001`,
			"eni-a: rx 1001 != forwarded 980 + consumed 8 + dropped 12"},
		{"dropped without a reason", `{port="eni-b",reason="ipv6"} 3`, `{port="eni-b",reason="ipv6"} 2`,
			"eni-b: dropped 3 but only 2 drops by reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMetrics(strings.Replace(sampleMetrics, tc.from, tc.to, 1))
			if err != nil {
				t.Fatal(err)
			}
			got := metricSet(m).identityProblems()
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %q, want [%q]", got, tc.want)
			}
		})
	}
	if got := (metricSet{}).identityProblems(); len(got) != 1 {
		t.Fatalf("no ports must be a problem, got %v", got)
	}
}

func TestParseLogLine(t *testing.T) {
	l, ok := parseLogLine(`{"level":"info","ts":1.5,"msg":"metrics listening","addr":"127.0.0.1:40123"}`)
	if !ok || l.Msg != metricsMsg || l.Addr != "127.0.0.1:40123" || l.Level != "info" {
		t.Fatalf("got %+v, %v", l, ok)
	}
	l, ok = parseLogLine(`{"level":"error","msg":"reload failed","error":"bad config"}`)
	if !ok || l.Level != "error" || l.Error != "bad config" {
		t.Fatalf("got %+v, %v", l, ok)
	}
	if _, ok := parseLogLine("panic: runtime error"); ok {
		t.Fatal("a non-JSON line parsed")
	}
}

func TestParseMemStats(t *testing.T) {
	body := "heap profile: 3: 4096 [10: 40960] @ heap/1048576\n1: 4096 [1: 4096] @ 0x1 0x2\n#\t0x1\tmain.f+0x0\n\n" +
		"# runtime.MemStats\n# Alloc = 5000\n# TotalAlloc = 90000\n# Sys = 20000\n# HeapAlloc = 5000\n" +
		"# HeapInuse = 8192\n# Stack = 65536 / 65536\n# PauseNs = [1 2 3]\n# NumGC = 42\n# GCCPUFraction = 0.001\n"
	got, err := parseMemStats([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"Alloc": 5000, "TotalAlloc": 90000, "Sys": 20000, "HeapAlloc": 5000, "HeapInuse": 8192, "NumGC": 42}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := parseMemStats([]byte("heap profile: 0: 0 [0: 0] @ heap/1\n")); err == nil {
		t.Fatal("a profile without MemStats accepted")
	}
}

func TestIperfIntervals(t *testing.T) {
	out := `{"start":{},"intervals":[
	  {"streams":[],"sum":{"start":0,"end":10,"seconds":10,"bits_per_second":1.0e9}},
	  {"streams":[],"sum":{"start":10,"end":20,"seconds":10,"bits_per_second":1.2e9}},
	  {"streams":[],"sum":{"start":20,"end":20.1,"seconds":0.1,"bits_per_second":5}}],
	  "end":{"sum_received":{"bits_per_second":1.1e9}}}`
	got, err := iperfIntervals([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []float64{1.0e9, 1.2e9}) {
		t.Fatalf("got %v (the 0.1-s sliver must be skipped)", got)
	}
	if _, err := iperfIntervals([]byte("iperf3: error")); err == nil {
		t.Fatal("non-JSON accepted")
	}
}
