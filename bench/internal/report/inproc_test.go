package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/bench/internal/gobench"
)

const dpPkg = "github.com/vrouter/vrouter/dataplane"

func bench(name string, kv ...any) gobench.Result {
	r := gobench.Result{Pkg: dpPkg, Name: name, Procs: 2, N: 1}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Values = append(r.Values, gobench.Value{Unit: kv[i].(string), Value: kv[i+1].(float64)})
	}
	return r
}

// inprocResults is a complete in-process run whose targets all pass.
func inprocResults() []gobench.Result {
	return []gobench.Result{
		bench(BenchBart, "ns/op", 1400.0, "cpu-ns/op", 700.0, "allocs/op", 0.0),
		bench(BenchPipeline, "ns/op", 2500.0, "cpu-ns/op", 2100.0, "allocs/op", 0.0),
		bench(BenchConntrack, "ns/op", 900.0),
		bench(BenchP3Ratio, "pipeline-cpu-ns", 2000.0, "bart-cpu-ns", 800.0, "ratio", 2.5),
		bench(BenchScale, "heap-MiB", 363.0, "rss-MiB", 508.0, "peak-rss-MiB", 569.0, "routes-MiB", 152.0, "flows-MiB", 211.0),
		bench(BenchMcast, "copies/s", 291767.0, "floor-writes/s", 321886.0, "floor1-writes/s", 339429.0, "ratio", 0.906, "ratio1", 0.86, "delivered", 1.0),
		bench(BenchSwap, "swaps", 3.0, "udp-sent", 22357.0, "udp-lost", 0.0, "tcp-MiB", 2486.0, "tcp-lost", 0.0,
			"tcp-retrans", 12.0, "drops", 0.0, "build-s", 7.8, "tcp-max-gap-ms", 728.0),
	}
}

// with returns rs with unit of benchmark name set to v.
func with(rs []gobench.Result, name, unit string, v float64) []gobench.Result {
	out := make([]gobench.Result, len(rs))
	for i, r := range rs {
		out[i] = r
		if r.Name != name {
			continue
		}
		out[i].Values = append([]gobench.Value(nil), r.Values...)
		for j := range out[i].Values {
			if out[i].Values[j].Unit == unit {
				out[i].Values[j].Value = v
			}
		}
	}
	return out
}

// without returns rs without benchmark name.
func without(rs []gobench.Result, name string) []gobench.Result {
	var out []gobench.Result
	for _, r := range rs {
		if r.Name != name {
			out = append(out, r)
		}
	}
	return out
}

// TestInProcTargets checks the thresholds of SPEC P3, P4 and P6 at and
// around their edges.
func TestInProcTargets(t *testing.T) {
	base := inprocResults()
	tests := []struct {
		name string
		rs   []gobench.Result
		goal string
		want Status
	}{
		{"P3 judges the interleaved run", with(base, BenchPipeline, "cpu-ns/op", 9000), "pipeline ≤ 3", Pass},
		{"P3 interleaved at exactly 3x passes", with(base, BenchP3Ratio, "pipeline-cpu-ns", 2400), "pipeline ≤ 3", Pass},
		{"P3 interleaved above 3x misses", with(base, BenchP3Ratio, "pipeline-cpu-ns", 2401), "pipeline ≤ 3", Miss},
		{"P3 allocating misses", with(base, BenchPipeline, "allocs/op", 1), "pipeline ≤ 3", Miss},
		{"P3 standalone at exactly 3x passes", without(base, BenchP3Ratio), "pipeline ≤ 3", Pass},
		{"P3 standalone above 3x misses", with(without(base, BenchP3Ratio), BenchPipeline, "cpu-ns/op", 2101), "pipeline ≤ 3", Miss},
		{"P3 standalone judges CPU time, not wall time", with(without(base, BenchP3Ratio), BenchPipeline, "ns/op", 9000), "pipeline ≤ 3", Pass},
		{"P3 falls back to wall time", []gobench.Result{bench(BenchBart, "ns/op", 100.0), bench(BenchPipeline, "ns/op", 301.0, "allocs/op", 0.0)}, "pipeline ≤ 3", Miss},
		{"P3 without bart is n/a", without(without(base, BenchP3Ratio), BenchBart), "pipeline ≤ 3", NA},
		{"P4 memory at the budget passes", with(base, BenchScale, "peak-rss-MiB", 1024), "RSS", Pass},
		{"P4 memory above the budget misses", with(base, BenchScale, "peak-rss-MiB", 1025), "RSS", Miss},
		{"P4 swap without loss passes", base, "swaps lose no packet", Pass},
		{"P4 swap losing UDP misses", with(base, BenchSwap, "udp-lost", 1), "swaps lose no packet", Miss},
		{"P4 swap losing TCP misses", with(base, BenchSwap, "tcp-lost", 2), "swaps lose no packet", Miss},
		{"P4 swap with drops misses", with(base, BenchSwap, "drops", 1), "swaps lose no packet", Miss},
		{"P4 swap without traffic misses", with(base, BenchSwap, "udp-sent", 0), "swaps lose no packet", Miss},
		{"P6 at 0.9 passes", with(base, BenchMcast, "ratio", 0.9), "TUN write floor", Pass},
		{"P6 below 0.9 misses", with(base, BenchMcast, "ratio", 0.89), "TUN write floor", Miss},
		{"P6 not run is n/a", nil, "TUN write floor", NA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := results(nil)
			r.InProcRan, r.InProc = true, tt.rs
			got := statusOf(t, r.Judge(), tt.goal)
			if got.Status != tt.want {
				t.Fatalf("%s: %s (%s), want %s", got.Goal, got.Status, got.Value, tt.want)
			}
		})
	}
}

func TestInProcRegexp(t *testing.T) {
	re := regexp.MustCompile(InProcBenchRegexp())
	for _, n := range InProcBenchmarks {
		if !re.MatchString("Benchmark" + n) {
			t.Errorf("%s not selected", n)
		}
	}
	for _, n := range []string{"BenchmarkMulticast128", "BenchmarkBartLookup1MX", "BenchmarkForward"} {
		if re.MatchString(n) {
			t.Errorf("%s selected", n)
		}
	}
}

func TestWriteInProc(t *testing.T) {
	r := results(nil)
	r.InProcRan, r.InProcBenchTime, r.InProc = true, "1s", inprocResults()
	var b bytes.Buffer
	if err := r.WriteTable(&b, AllTopologies); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"in-process (go test -bench ./dataplane/, -benchtime 1s):",
		"700 ns/op CPU (1400 wall)",
		"2100 ns/op CPU (2500 wall), 0 allocs/op",
		"900 ns/op",
		"peak RSS 569 MiB",
		"UDP 22357 sent, 0 lost",
		"291767 copies/CPU-s (100% delivered)",
		"pipeline 2000 ns, bart 800 ns CPU: 2.50 ×",
		"2.50 × (2000 / 800 ns), 0 allocs  PASS",
		"peak 569 MiB",
		"0 lost",
		"0.91",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Not run: no in-process section, targets n/a.
	r = results(nil)
	b.Reset()
	if err := r.WriteTable(&b, AllTopologies); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "in-process (") {
		t.Errorf("in-process section without a run:\n%s", b.String())
	}
}
