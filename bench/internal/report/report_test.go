package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/bench/internal/gobench"
)

func results(vals map[string]map[Metric]float64) *Results {
	r := New()
	r.Duration, r.Count, r.CPUs, r.Kernel = "5s", 1, 2, "6.1"
	for id, ms := range vals {
		r.Topologies[id] = "topology " + id
		for m, v := range ms {
			r.Add(id, m, v)
		}
	}
	return r
}

func statusOf(t *testing.T, ts []TargetResult, goalPart string) TargetResult {
	t.Helper()
	for _, tr := range ts {
		if strings.Contains(tr.Goal, goalPart) {
			return tr
		}
	}
	t.Fatalf("no target with %q in %+v", goalPart, ts)
	return TargetResult{}
}

// TestTargets checks the thresholds of SPEC P1, P2 and P5, at and around
// their edges.
func TestTargets(t *testing.T) {
	tests := []struct {
		name string
		vals map[string]map[Metric]float64
		goal string
		want Status
	}{
		{"P1 at 0.9 passes", map[string]map[Metric]float64{"K": {TCP1: 10e9}, "V": {TCP1: 9e9}}, "TCP, 1 stream: V/K", Pass},
		{"P1 below 0.9 misses", map[string]map[Metric]float64{"K": {TCP1: 10e9}, "V": {TCP1: 8.99e9}}, "TCP, 1 stream: V/K", Miss},
		{"P1 without K", map[string]map[Metric]float64{"V": {TCP1: 8e9}}, "TCP, 1 stream: V/K", NA},
		{"P2 vs T passes", map[string]map[Metric]float64{"T": {UDP64: 100}, "V": {UDP64: 95}}, "V/T ≥ 0.90", Pass},
		{"P2 vs T misses", map[string]map[Metric]float64{"T": {UDP64: 100}, "V": {UDP64: 89}}, "V/T ≥ 0.90", Miss},
		{"P2 vs K passes at 0.8", map[string]map[Metric]float64{"K": {UDP64: 100}, "V": {UDP64: 80}}, "V/K ≥ 0.80", Pass},
		{"P2 vs K misses", map[string]map[Metric]float64{"K": {UDP64: 100}, "V": {UDP64: 79}}, "V/K ≥ 0.80", Miss},
		{"P2 zero baseline is n/a", map[string]map[Metric]float64{"K": {UDP64: 0}, "V": {UDP64: 79}}, "V/K ≥ 0.80", NA},
		{"P5 p50 +20 passes", map[string]map[Metric]float64{"K": {RTTP50: 30}, "V": {RTTP50: 50}}, "p50", Pass},
		{"P5 p50 +21 misses", map[string]map[Metric]float64{"K": {RTTP50: 30}, "V": {RTTP50: 51}}, "p50", Miss},
		{"P5 p99 +60 passes", map[string]map[Metric]float64{"K": {RTTP99: 40}, "V": {RTTP99: 100}}, "p99", Pass},
		{"P5 p99 +61 misses", map[string]map[Metric]float64{"K": {RTTP99: 40}, "V": {RTTP99: 101}}, "p99", Miss},
		{"P5 faster than K passes", map[string]map[Metric]float64{"K": {RTTP99: 40}, "V": {RTTP99: 30}}, "p99", Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statusOf(t, results(tt.vals).Judge(), tt.goal)
			if got.Status != tt.want {
				t.Fatalf("%s: %s (%s), want %s", got.Goal, got.Status, got.Value, tt.want)
			}
		})
	}
}

func TestMedianAndAdd(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		r := New()
		for _, v := range tt.in {
			r.Add("K", TCP1, v)
		}
		if got, _ := r.Get("K", TCP1); got != tt.want {
			t.Errorf("median of %v = %v, want %v", tt.in, got, tt.want)
		}
		if len(r.Samples["K"][TCP1]) != len(tt.in) {
			t.Errorf("samples %v, want %d", r.Samples["K"][TCP1], len(tt.in))
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestWriteTable(t *testing.T) {
	r := results(map[string]map[Metric]float64{
		"K": {TCP1: 20e9, UDP64: 500e3, RTTP50: 10, RTTP99: 30},
		"T": {TCP1: 15e9, UDP64: 400e3},
		"V": {TCP1: 18e9, UDP64: 380e3, RTTP50: 25, RTTP99: 70},
	})
	r.Fail("T", "ping (run 1): boom")
	r.Note("V", "counters")
	r.GoBenchRan = true
	r.GoBench = []gobench.Result{{Pkg: "github.com/vrouter/vrouter/dataplane", Name: "Forward/established", Values: []gobench.Value{{Unit: "ns/op", Value: 123}}}}
	var b bytes.Buffer
	if err := r.WriteTable(&b, AllTopologies); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"V/K", "V/T",
		"20.00", "18.00", "0.90", // TCP 1 stream K, V, V/K
		"500", "380", "0.76", "0.95", // UDP kpps K, V, V/K, V/T
		"V/K = 0.90  PASS",
		"V/T = 0.95  PASS",
		"V/K = 0.76  MISS",
		"+15.0 µs    PASS",
		"+40.0 µs    PASS",
		"error T: ping (run 1): boom",
		"note V: counters",
		"further Go benchmarks (-gobench):",
		"Forward/established  123 ns/op",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Without V there are no ratio columns.
	b.Reset()
	if err := r.WriteTable(&b, []string{"K", "T"}); err != nil {
		t.Fatal(err)
	}
	if table := strings.SplitN(b.String(), "targets:", 2)[0]; strings.Contains(table, "V/") {
		t.Errorf("ratio column without V:\n%s", table)
	}
}

func TestWriteJSON(t *testing.T) {
	r := results(map[string]map[Metric]float64{
		"K": {TCP1: 20e9},
		"V": {TCP1: 19e9},
	})
	var b bytes.Buffer
	if err := r.WriteJSON(&b, []string{"K", "V"}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Values  map[string]map[string]float64 `json:"values"`
		Ratios  map[string]map[string]float64 `json:"ratios"`
		Targets []TargetResult                `json:"targets"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if doc.Values["V"][string(TCP1)] != 19e9 {
		t.Errorf("values: %v", doc.Values)
	}
	if q := doc.Ratios["V/K"][string(TCP1)]; q != 0.95 {
		t.Errorf("V/K tcp ratio = %v, want 0.95", q)
	}
	if len(doc.Targets) != len(Targets) || doc.Targets[0].ID != "P1" || doc.Targets[0].Status != Pass {
		t.Errorf("targets: %+v", doc.Targets)
	}
	if Misses(doc.Targets) != 0 {
		t.Errorf("misses in %+v", doc.Targets)
	}
}

func TestBusyWarning(t *testing.T) {
	tests := []struct {
		cpus        int
		start, end  float64
		wantWarning bool
	}{
		{2, 0.5, 1.2, false},
		{2, 3.0, 3.0, false},
		{2, 3.1, 1.0, true},
		{2, 0.2, 7.0, true},
		{0, 9, 9, false}, // unknown CPU count: no judgement
	}
	for _, tt := range tests {
		r := results(nil)
		r.CPUs, r.LoadStart, r.LoadEnd = tt.cpus, tt.start, tt.end
		var b bytes.Buffer
		if err := r.WriteTable(&b, AllTopologies); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "warning: the machine was busy"); got != tt.wantWarning {
			t.Errorf("cpus %d load %v→%v: warning %v, want %v", tt.cpus, tt.start, tt.end, got, tt.wantWarning)
		}
	}
}
