package report

// The in-process half of SPEC §9: P3, P4 and P6 are Go benchmarks of
// package dataplane (dataplane/bench_test.go, swap_privileged_test.go) that
// vbench runs with `go test -bench` after the netns comparison. Their
// results are in Results.InProc; the rows and targets below read them by
// benchmark name and metric unit.

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vrouter/vrouter/bench/internal/gobench"
)

// InProcPackage is the package of the in-process benchmarks, as a pattern
// for go test (run from the module root) and as the suffix gobench.Find
// matches.
const (
	InProcPackage = "./dataplane/"
	inProcPkg     = "dataplane"
)

// Names of the in-process benchmarks (without the Benchmark prefix).
const (
	BenchBart      = "BartLookup1M"          // P3 yardstick: one bart lookup among 1M routes
	BenchPipeline  = "PipelineEstablished1M" // P3: Decode + Forward, established flow, SG on, 1M routes, 1M flows
	BenchConntrack = "ConntrackLookup1M"     // P3 breakdown: the conntrack lookup alone
	BenchP3Ratio   = "P3Ratio1M"             // P3 judged: pipeline and bart blocks interleaved, CPU time
	BenchScale     = "Scale1M"               // P4: heap and RSS of 1M routes + 1M flows
	BenchSwap      = "Swap1MRoutes"          // P4: reloads swapping a 1M-route table during traffic
	BenchMcast     = "Multicast128TUN"       // P6: 128 copies on real TUNs vs the TUN write floor
)

// InProcBenchmarks lists them in the order go test runs them.
var InProcBenchmarks = []string{BenchBart, BenchPipeline, BenchP3Ratio, BenchConntrack, BenchScale, BenchMcast, BenchSwap}

// InProcBenchRegexp is the -bench argument that selects exactly them.
func InProcBenchRegexp() string {
	return "^Benchmark(" + strings.Join(InProcBenchmarks, "|") + ")$"
}

// Limits of SPEC P3, P4 and P6.
const (
	P3MaxRatio   = 3.0  // pipeline ≤ 3 × one bart lookup
	P4MaxRSSMiB  = 1024 // 1M routes + 1M flows ≤ 1 GiB
	P6MinToFloor = 0.9  // copies/s ≥ 0.9 × 1/(one TUN write)
)

// inproc returns metric unit of in-process benchmark name.
func (r *Results) inproc(name, unit string) (float64, bool) {
	res, ok := gobench.Find(r.InProc, inProcPkg, name)
	if !ok {
		return 0, false
	}
	return res.Get(unit)
}

// inprocAll returns the values of several units of one benchmark, and
// whether every one was reported.
func (r *Results) inprocAll(name string, units ...string) ([]float64, bool) {
	out := make([]float64, len(units))
	for i, u := range units {
		v, ok := r.inproc(name, u)
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// cost returns the per-operation cost of a P3 benchmark: its thread CPU
// time (cpu-ns/op), which other load on the machine does not inflate, else
// its wall-clock ns/op.
func (r *Results) cost(name string) (float64, bool) {
	if v, ok := r.inproc(name, "cpu-ns/op"); ok && v > 0 {
		return v, true
	}
	return r.inproc(name, "ns/op")
}

// costText renders a P3 cost with its wall-clock figure.
func (r *Results) costText(name string) string {
	c, ok := r.cost(name)
	if !ok {
		return "-"
	}
	w, _ := r.inproc(name, "ns/op")
	if _, cpu := r.inproc(name, "cpu-ns/op"); cpu {
		return fmt.Sprintf("%.0f ns/op CPU (%.0f wall)", c, w)
	}
	return fmt.Sprintf("%.0f ns/op", c)
}

// p3Ratio returns P3's pipeline and bart costs: from the interleaved
// benchmark when it ran, else from the two standalone ones.
func (r *Results) p3Ratio() (pipe, bart float64, ok bool) {
	if x, ok := r.inprocAll(BenchP3Ratio, "pipeline-cpu-ns", "bart-cpu-ns"); ok && x[1] > 0 {
		return x[0], x[1], true
	}
	p, ok1 := r.cost(BenchPipeline)
	b, ok2 := r.cost(BenchBart)
	return p, b, ok1 && ok2 && b > 0
}

// p3Target: the pipeline costs at most 3 bart lookups and allocates nothing.
func p3Target() Target {
	return Target{
		ID:   "P3",
		Goal: fmt.Sprintf("pipeline ≤ %.0f × bart lookup, 0 allocs", P3MaxRatio),
		Eval: func(r *Results) Outcome {
			p, b, ok1 := r.p3Ratio()
			a, ok2 := r.inproc(BenchPipeline, "allocs/op")
			if !ok1 || !ok2 {
				return Outcome{NA, "-"}
			}
			q := p / b
			st := Miss
			if q <= P3MaxRatio && a == 0 {
				st = Pass
			}
			return Outcome{st, fmt.Sprintf("%.2f × (%.0f / %.0f ns), %g allocs", q, p, b, a)}
		},
	}
}

// p4MemTarget: the peak RSS of a process holding 1M routes and 1M flows.
func p4MemTarget() Target {
	return Target{
		ID:   "P4",
		Goal: fmt.Sprintf("1M routes + 1M flows ≤ %d MiB RSS", P4MaxRSSMiB),
		Eval: func(r *Results) Outcome {
			v, ok := r.inproc(BenchScale, "peak-rss-MiB")
			if !ok {
				return Outcome{NA, "-"}
			}
			st := Miss
			if v <= P4MaxRSSMiB {
				st = Pass
			}
			return Outcome{st, fmt.Sprintf("peak %.0f MiB", v)}
		},
	}
}

// p4SwapTarget: reloads swapping a 1M-route table lose no packet.
func p4SwapTarget() Target {
	return Target{
		ID:   "P4",
		Goal: "1M-route table swaps lose no packet",
		Eval: func(r *Results) Outcome {
			v, ok := r.inprocAll(BenchSwap, "udp-sent", "udp-lost", "tcp-lost", "drops", "tcp-MiB")
			if !ok {
				return Outcome{NA, "-"}
			}
			lost := v[1] + v[2] + v[3]
			st := Miss
			if lost == 0 && v[0] > 0 && v[4] > 0 {
				st = Pass
			}
			return Outcome{st, fmt.Sprintf("%.0f lost", lost)}
		},
	}
}

// p6Target: multicast copies per second against the TUN write floor.
func p6Target() Target {
	return Target{
		ID:   "P6",
		Goal: fmt.Sprintf("copies/s ≥ %.2f × TUN write floor", P6MinToFloor),
		Eval: func(r *Results) Outcome {
			v, ok := r.inprocAll(BenchMcast, "ratio", "delivered")
			if !ok {
				return Outcome{NA, "-"}
			}
			st := Miss
			if v[0] >= P6MinToFloor {
				st = Pass
			}
			return Outcome{st, fmt.Sprintf("%.2f", v[0])}
		},
	}
}

// writeInProc renders the in-process rows: what each benchmark measured.
func (r *Results) writeInProc(w io.Writer) error {
	fmt.Fprintf(w, "\nin-process (go test -bench %s, -benchtime %s):\n", InProcPackage, r.InProcBenchTime)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(id, label, value string) { fmt.Fprintf(tw, "  %s\t%s\t%s\n", id, label, value) }
	dash := "-"
	row("P3", "bart lookup, 1M routes (random flows)", r.costText(BenchBart))
	v := r.costText(BenchPipeline)
	if a, ok := r.inproc(BenchPipeline, "allocs/op"); ok {
		v += fmt.Sprintf(", %g allocs/op", a)
	}
	row("P3", "pipeline, established flow, SG on, 1M flows", v)
	row("", "  of which conntrack lookup (alone)", r.costText(BenchConntrack))
	v = dash
	if x, ok := r.inprocAll(BenchP3Ratio, "pipeline-cpu-ns", "bart-cpu-ns", "ratio"); ok {
		v = fmt.Sprintf("pipeline %.0f ns, bart %.0f ns CPU: %.2f ×", x[0], x[1], x[2])
	}
	row("P3", "the same two interleaved (judged)", v)
	v = dash
	if x, ok := r.inprocAll(BenchScale, "heap-MiB", "rss-MiB", "peak-rss-MiB", "routes-MiB", "flows-MiB"); ok {
		v = fmt.Sprintf("heap %.0f MiB (routes %.0f, flows %.0f), RSS %.0f MiB, peak RSS %.0f MiB", x[0], x[3], x[4], x[1], x[2])
	}
	row("P4", "1M routes + 1M flows, own process", v)
	v = dash
	if x, ok := r.inprocAll(BenchSwap, "swaps", "udp-sent", "udp-lost", "tcp-MiB", "tcp-lost", "tcp-retrans", "drops", "build-s", "tcp-max-gap-ms"); ok {
		v = fmt.Sprintf("%.0f swaps: UDP %.0f sent, %.0f lost; TCP %.0f MiB, %.0f lost (%.0f retransmitted, all DSACKed unless lost); drops %.0f; build ≤ %.1f s; longest gap %.0f ms",
			x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8])
	}
	row("P4", "reloads swapping a 1M-route table", v)
	v = dash
	if x, ok := r.inprocAll(BenchMcast, "copies/s", "floor-writes/s", "floor1-writes/s", "ratio1", "delivered"); ok {
		v = fmt.Sprintf("%.0f copies/CPU-s (%.0f%% delivered); write floor %.0f/CPU-s over the 128 TUNs, %.0f/CPU-s on one TUN (ratio to one TUN %.2f)",
			x[0], 100*x[4], x[1], x[2], x[3])
	}
	row("P6", "1 group, 128 members on real TUNs", v)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.InProcErr != "" {
		fmt.Fprintf(w, "error: %s\n", r.InProcErr)
	}
	return nil
}
