package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/bench/internal/traffic"
)

// goodResult is a soak that passes every check.
func goodResult() *result {
	rtts := make([]time.Duration, 3000)
	for i := range rtts {
		rtts[i] = time.Duration(100+i%50) * time.Microsecond
	}
	var ss []sample
	for i := range 21 {
		// Samples come a few milliseconds after their tick.
		at := time.Duration(i)*30*time.Second + 3*time.Millisecond
		ss = append(ss, sample{At: at, RSSKiB: 30000 + uint64(i)*50, AnonKiB: 10000, FileKiB: 20000, LiveHeap: 4 << 20,
			Threads: 12, FDs: 20, Goroutines: 30 + i%2, CTEntries: 8})
	}
	return &result{
		Started: time.Date(2025, 11, 26, 14, 0, 0, 0, time.UTC), Duration: 10 * time.Minute, Fraction: 0.7,
		Warmup: 3 * time.Minute, Measure: 10 * time.Second,
		Measured: 2e9, Target: 1.4e9, Achieved: 1.39e9, Intervals: []float64{1.38e9, 1.41e9},
		Ping:     traffic.PingResult{RTTs: rtts, Transmitted: 3000},
		PingSent: 3000,
		RR:       rrResult{Sent: 12000, Received: 12000, Flows: 120, RTTs: rtts},
		Samples:  ss,
		Ports: map[string]portAccount{
			"eni-a": {RX: 100, TX: 90, Forwarded: 95, Consumed: 3, Dropped: 2},
		},
		Guests: map[string]guestCounters{"eni-a": {TX: 100, RX: 90}},
		Drops:  map[string]float64{"eni-a/ipv6": 2},
	}
}

func failing(cs []check) []string {
	var out []string
	for _, c := range cs {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *result)
		fail   string // the one check expected to fail; "" = all pass
	}{
		{"all good", func(*result) {}, ""},
		{"identity broken", func(r *result) { r.Identity = []string{"eni-a: rx 101 != ..."} }, "accounting identity"},
		{"guest mismatch", func(r *result) { r.GuestProblems = []string{"eni-a: guest sent 101, vrouterd read 100"} }, "guest counters"},
		// Baseline: the sample at 3m (index 6, 30300 KiB).
		{"RSS grew 25% after the warm-up", func(r *result) { r.Samples[len(r.Samples)-1].RSSKiB = 37875 }, "RSS growth"},
		{"RSS grew 19% after the warm-up", func(r *result) { r.Samples[len(r.Samples)-1].RSSKiB = 36000 }, ""},
		{"RSS grew 40% during the warm-up only", func(r *result) { r.Samples[0].RSSKiB = 21600 }, ""},
		{"warm-up longer than the run", func(r *result) { r.Warmup = 11 * time.Minute }, "samples"},
		{"goroutine leak", func(r *result) { r.Samples[len(r.Samples)-1].Goroutines = 40 }, "goroutines flat"},
		{"goroutine spike", func(r *result) { r.Samples[5].Goroutines = 100 }, "goroutines flat"},
		{"goroutines within slack", func(r *result) { r.Samples[len(r.Samples)-1].Goroutines = 35 }, ""},
		{"fd leak", func(r *result) { r.Samples[len(r.Samples)-1].FDs = 26 }, "file descriptors flat"},
		{"ping loss 0.2%", func(r *result) { r.Ping.RTTs = r.Ping.RTTs[:2994] }, "ping loss"},
		{"ping loss 0.1%", func(r *result) { r.Ping.RTTs = r.Ping.RTTs[:2997] }, ""},
		{"ping killed before its summary", func(r *result) { r.Ping.Transmitted = 0 }, ""},
		{"UDP loss", func(r *result) { r.RR.Received = 11900 }, "UDP request loss"},
		{"load collapsed", func(r *result) { r.Achieved = 0.7e9 }, "load held"},
		{"vrouterd died", func(r *result) { r.DaemonDied = "exited 1m into the soak" }, "vrouterd ran throughout"},
		{"unclean stop", func(r *result) { r.StopErr = errors.New("exit status 1") }, "clean stop"},
		{"namespaces left", func(r *result) { r.Leftovers = []string{"vsk1-vc"} }, "clean stop"},
		{"cleanup found leftovers", func(r *result) { r.CleanupErr = []string{"left behind"} }, "cleanup"},
		{"a sample failed", func(r *result) { r.SampleErrs = []string{"at 30s: timeout"} }, "sampling"},
		{"iperf3 failed", func(r *result) { r.LoadErrs = []string{"iperf3: exit 1"} }, "load generators"},
		{"one sample only", func(r *result) { r.Samples = r.Samples[:1] }, "samples"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := goodResult()
			tc.mutate(r)
			cs := evaluate(r, defaultLimits)
			got := failing(cs)
			switch {
			case tc.fail == "" && len(got) != 0:
				t.Fatalf("failed %v, want all PASS", got)
			case tc.fail != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.fail)):
				t.Fatalf("failed %v, want exactly %q", got, tc.fail)
			}
			if passed(cs) != (tc.fail == "") {
				t.Fatalf("passed = %v", passed(cs))
			}
			var b bytes.Buffer
			printReport(&b, r, cs)
			verdict := "soak: PASS"
			if tc.fail != "" {
				verdict = "soak: FAIL"
			}
			if !strings.Contains(b.String(), verdict) {
				t.Fatalf("report lacks %q:\n%s", verdict, b.String())
			}
		})
	}
	if passed(nil) {
		t.Fatal("no checks must not pass")
	}
}

func TestSeriesGrowth(t *testing.T) {
	ss := []sample{{At: 0, RSSKiB: 100}, {At: time.Minute, RSSKiB: 150}, {At: 2 * time.Minute, RSSKiB: 110}}
	g := seriesGrowth(ss, 0, rss)
	if g.First != 100 || g.Last != 110 || g.Max != 150 || g.Rel() < 0.0999 || g.Rel() > 0.1001 {
		t.Fatalf("got %+v rel %v", g, g.Rel())
	}
	if g := seriesGrowth(ss, 1, rss); g.First != 150 || g.Max != 150 {
		t.Fatalf("from sample 1: %+v", g)
	}
	if (growth{}).Rel() != 0 || seriesGrowth(nil, 0, rss) != (growth{}) || seriesGrowth(ss, -1, rss) != (growth{}) {
		t.Fatal("empty growth")
	}
	for _, tc := range []struct {
		warmup time.Duration
		want   int
	}{{0, 0}, {time.Minute, 1}, {90 * time.Second, 2}, {3 * time.Minute, -1}} {
		if got := baseline(ss, tc.warmup); got != tc.want {
			t.Errorf("baseline(%v) = %d, want %d", tc.warmup, got, tc.want)
		}
	}
}

func TestGuestProblems(t *testing.T) {
	ports := map[string]portAccount{"a": {RX: 10, TX: 20}, "b": {RX: 5, TX: 5}}
	tests := []struct {
		name   string
		guests map[string]guestCounters
		want   []string
	}{
		{"equal", map[string]guestCounters{"a": {TX: 10, RX: 20}, "b": {TX: 5, RX: 5}}, nil},
		{"queue drops are not reads", map[string]guestCounters{"a": {TX: 10, RX: 20, TXDropped: 4}}, nil},
		{"guest sent more", map[string]guestCounters{"a": {TX: 11, RX: 20}}, []string{"a: guest sent 11, vrouterd read 10"}},
		{"guest received less", map[string]guestCounters{"b": {TX: 5, RX: 4}}, []string{"b: vrouterd wrote 5, guest received 4"}},
		{"unknown port", map[string]guestCounters{"c": {}}, []string{"c: no counters in /metrics"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := guestProblems(ports, tc.guests)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"-duration", "1m", "-sample", "10s", "-fraction", "0.5", "-warmup", "20s"}, false},
		{[]string{"-duration", "5s"}, true},
		{[]string{"-fraction", "0"}, true},
		{[]string{"-fraction", "1.5"}, true},
		{[]string{"-sample", "500ms"}, true},
		{[]string{"-duration", "30s", "-sample", "20s"}, true},
		{[]string{"-measure", "0s"}, true},
		{[]string{"-duration", "2m"}, true}, // the default 3m warm-up is longer
		{[]string{"-duration", "2m", "-warmup", "30s"}, false},
		{[]string{"-warmup", "-1s"}, true},
		{[]string{"extra"}, true},
	}
	for _, tc := range tests {
		o, err := parseFlags(tc.args, io.Discard)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseFlags(%q): %v, want error %v", tc.args, err, tc.wantErr)
		}
		if len(tc.args) == 0 && err == nil {
			if o.duration != 10*time.Minute || o.fraction != 0.7 || o.sample != 30*time.Second || o.vrouterd != "./bin/vrouterd" || o.warmup != 3*time.Minute {
				t.Errorf("defaults: %+v", o)
			}
		}
	}
}
