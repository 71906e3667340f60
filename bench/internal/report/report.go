// Package report holds the results of one vbench run, judges them against the
// SPEC §9 targets and renders them as a table for people or as JSON.
//
// Results are filled by one goroutine (the vbench driver) and rendered after
// the measurements end; nothing here is synchronised. Targets are plain
// values in a slice (Targets): P1, P2 and P5 read the netns measurements,
// P3, P4 and P6 the in-process Go benchmarks of package dataplane
// (Results.InProc, see inproc.go).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vrouter/vrouter/bench/internal/gobench"
)

// Topology ids, in display order.
const (
	Kernel   = "K"
	TunLoop  = "T"
	Vrouterd = "V"
)

// AllTopologies lists the ids in display order.
var AllTopologies = []string{Kernel, TunLoop, Vrouterd}

// Metric identifies one measurement.
type Metric string

// The measurements of SPEC §9 that vbench takes on every topology.
const (
	TCP1   Metric = "tcp_1_stream_bps"  // P1: iperf3 -P 1, receiver bit/s
	TCP4   Metric = "tcp_4_streams_bps" // iperf3 -P 4, receiver bit/s
	UDP64  Metric = "udp_64b_pps"       // P2: 64-byte UDP datagrams delivered per second
	RTTP50 Metric = "rtt_p50_us"        // P5: ping RTT median, µs
	RTTP99 Metric = "rtt_p99_us"        // P5: ping RTT 99th percentile, µs
)

// MetricInfo says how a metric is shown.
type MetricInfo struct {
	Metric Metric
	Label  string
	Unit   string
	Scale  float64 // displayed value = value / Scale
	Higher bool    // higher is better
}

// Metrics lists the measurements in display order.
var Metrics = []MetricInfo{
	{TCP1, "TCP, 1 stream", "Gbit/s", 1e9, true},
	{TCP4, "TCP, 4 streams", "Gbit/s", 1e9, true},
	{UDP64, "UDP 64 B delivered", "kpps", 1e3, true},
	{RTTP50, "ping RTT p50", "µs", 1, false},
	{RTTP99, "ping RTT p99", "µs", 1, false},
}

// Results is everything one run measured.
type Results struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration_per_test"`
	Count    int       `json:"runs_per_test"`
	CPUs     int       `json:"cpus"`
	Kernel   string    `json:"kernel"`
	// LoadStart and LoadEnd are the 1-minute load averages before and after
	// the measurements; other work on the machine skews every ratio.
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
	// Topologies describes each topology that was built, by id.
	Topologies map[string]string `json:"topologies"`
	// Values[topology][metric] is the median over Count runs.
	Values map[string]map[Metric]float64 `json:"values"`
	// Samples[topology][metric] are the individual runs.
	Samples map[string]map[Metric][]float64 `json:"samples"`
	// Errors[topology] lists what failed (build or measurement).
	Errors map[string][]string `json:"errors,omitempty"`
	// Notes[topology] are diagnostics worth printing (loop counters, losses).
	Notes map[string][]string `json:"notes,omitempty"`
	// InProc holds the in-process SPEC benchmarks (P3, P4, P6) of package
	// dataplane, run with -benchtime InProcBenchTime unless skipped.
	InProcRan       bool             `json:"inproc_ran"`
	InProcBenchTime string           `json:"inproc_benchtime,omitempty"`
	InProc          []gobench.Result `json:"inproc,omitempty"`
	InProcErr       string           `json:"inproc_error,omitempty"`
	// GoBench holds further Go benchmarks (-gobench), when they were run.
	GoBenchRan bool             `json:"gobench_ran"`
	GoBench    []gobench.Result `json:"gobench,omitempty"`
	GoBenchErr string           `json:"gobench_error,omitempty"`
	// Cleanup lists problems met while tearing down.
	Cleanup []string `json:"cleanup_errors,omitempty"`
}

// New returns empty Results.
func New() *Results {
	return &Results{
		Topologies: map[string]string{},
		Values:     map[string]map[Metric]float64{},
		Samples:    map[string]map[Metric][]float64{},
		Errors:     map[string][]string{},
		Notes:      map[string][]string{},
	}
}

// Add records one sample and updates the median.
func (r *Results) Add(topo string, m Metric, v float64) {
	if r.Samples[topo] == nil {
		r.Samples[topo] = map[Metric][]float64{}
		r.Values[topo] = map[Metric]float64{}
	}
	r.Samples[topo][m] = append(r.Samples[topo][m], v)
	r.Values[topo][m] = Median(r.Samples[topo][m])
}

// Fail records an error for a topology.
func (r *Results) Fail(topo string, format string, args ...any) {
	r.Errors[topo] = append(r.Errors[topo], fmt.Sprintf(format, args...))
}

// Note records a diagnostic for a topology.
func (r *Results) Note(topo string, format string, args ...any) {
	r.Notes[topo] = append(r.Notes[topo], fmt.Sprintf(format, args...))
}

// Get returns a value and whether it was measured.
func (r *Results) Get(topo string, m Metric) (float64, bool) {
	v, ok := r.Values[topo][m]
	return v, ok
}

// Ratio returns a/b for metric m, if both were measured and b is not zero.
func (r *Results) Ratio(m Metric, a, b string) (float64, bool) {
	x, ok1 := r.Get(a, m)
	y, ok2 := r.Get(b, m)
	if !ok1 || !ok2 || y == 0 {
		return 0, false
	}
	return x / y, true
}

// busyLoadPerCPU is the 1-minute load average per CPU above which the table
// warns that the measurement was disturbed. vbench itself keeps about one CPU
// busy, so a quiet machine stays well below it.
const busyLoadPerCPU = 1.5

// Busy reports whether the load average before or after the run suggests
// that other work competed with the measurements.
func (r *Results) Busy() bool {
	if r.CPUs <= 0 {
		return false
	}
	lim := busyLoadPerCPU * float64(r.CPUs)
	return r.LoadStart > lim || r.LoadEnd > lim
}

// Median of vs (the mean of the middle two for an even count).
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Status is the verdict on one target.
type Status string

// Verdicts. NA means a value the target needs was not measured.
const (
	Pass Status = "PASS"
	Miss Status = "MISS"
	NA   Status = "n/a"
)

// Outcome is a target's verdict with the measured value that decided it.
type Outcome struct {
	Status Status `json:"status"`
	Value  string `json:"value"`
}

// Target is one SPEC §9 goal.
type Target struct {
	ID   string // SPEC rule id, e.g. "P1"
	Goal string // the goal in words
	Eval func(r *Results) Outcome
}

// ratioTarget: metric m of a over b must be ≥ min.
func ratioTarget(id string, m Metric, a, b string, min float64) Target {
	return Target{
		ID:   id,
		Goal: fmt.Sprintf("%s: %s/%s ≥ %.2f", labelOf(m), a, b, min),
		Eval: func(r *Results) Outcome {
			q, ok := r.Ratio(m, a, b)
			if !ok {
				return Outcome{NA, "-"}
			}
			st := Miss
			if q >= min {
				st = Pass
			}
			return Outcome{st, fmt.Sprintf("%s/%s = %.2f", a, b, q)}
		},
	}
}

// addedTarget: metric m of a minus that of b must be ≤ max (µs).
func addedTarget(id string, m Metric, a, b string, max float64) Target {
	return Target{
		ID:   id,
		Goal: fmt.Sprintf("%s: %s − %s ≤ %g µs", labelOf(m), a, b, max),
		Eval: func(r *Results) Outcome {
			x, ok1 := r.Get(a, m)
			y, ok2 := r.Get(b, m)
			if !ok1 || !ok2 {
				return Outcome{NA, "-"}
			}
			st := Miss
			if x-y <= max {
				st = Pass
			}
			return Outcome{st, fmt.Sprintf("%+.1f µs", x-y)}
		},
	}
}

func labelOf(m Metric) string {
	for _, mi := range Metrics {
		if mi.Metric == m {
			return mi.Label
		}
	}
	return string(m)
}

// Targets are the goals judged after every run, in SPEC order. P3, P4 and P6
// come from the in-process Go benchmarks (inproc.go).
var Targets = []Target{
	ratioTarget("P1", TCP1, Vrouterd, Kernel, 0.9),
	ratioTarget("P2", UDP64, Vrouterd, TunLoop, 0.9),
	ratioTarget("P2", UDP64, Vrouterd, Kernel, 0.8),
	p3Target(),
	p4MemTarget(),
	p4SwapTarget(),
	addedTarget("P5", RTTP50, Vrouterd, Kernel, 20),
	addedTarget("P5", RTTP99, Vrouterd, Kernel, 60),
	p6Target(),
}

// TargetResult is a judged target, as rendered.
type TargetResult struct {
	ID   string `json:"id"`
	Goal string `json:"goal"`
	Outcome
}

// Judge evaluates every target.
func (r *Results) Judge() []TargetResult {
	out := make([]TargetResult, 0, len(Targets))
	for _, t := range Targets {
		out = append(out, TargetResult{ID: t.ID, Goal: t.Goal, Outcome: t.Eval(r)})
	}
	return out
}

// Misses counts targets that were evaluated and missed.
func Misses(ts []TargetResult) int {
	n := 0
	for _, t := range ts {
		if t.Status == Miss {
			n++
		}
	}
	return n
}

func fmtValue(mi MetricInfo, v float64) string {
	x := v / mi.Scale
	switch {
	case mi.Unit == "µs":
		return fmt.Sprintf("%.1f", x)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// WriteTable renders the results for people: one row per metric with a
// column per topology and the ratios V/K and V/T, then the targets, then
// notes, errors and the Go benchmarks.
func (r *Results) WriteTable(w io.Writer, topos []string) error {
	fmt.Fprintf(w, "vbench — SPEC §9, %s per test, %d run(s) per test (median), %d CPUs, kernel %s, load %.2f → %.2f\n",
		r.Duration, r.Count, r.CPUs, r.Kernel, r.LoadStart, r.LoadEnd)
	if r.Busy() {
		fmt.Fprintf(w, "warning: the machine was busy (load average above %.1f per CPU): other processes competed for the CPUs and the ratios are unreliable\n",
			busyLoadPerCPU)
	}
	fmt.Fprintln(w)
	for _, id := range topos {
		if d, ok := r.Topologies[id]; ok {
			fmt.Fprintf(w, "  %s  %s\n", id, d)
		} else {
			fmt.Fprintf(w, "  %s  (not built)\n", id)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := []string{"metric", "unit"}
	hdr = append(hdr, topos...)
	ratios := ratioColumns(topos)
	for _, rc := range ratios {
		hdr = append(hdr, rc[0]+"/"+rc[1])
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t")+"\t")
	for _, mi := range Metrics {
		row := []string{mi.Label, mi.Unit}
		for _, id := range topos {
			if v, ok := r.Get(id, mi.Metric); ok {
				row = append(row, fmtValue(mi, v))
			} else {
				row = append(row, "-")
			}
		}
		for _, rc := range ratios {
			if q, ok := r.Ratio(mi.Metric, rc[0], rc[1]); ok {
				row = append(row, fmt.Sprintf("%.2f", q))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nratios: higher is better for throughput and packet rate, lower is better for RTT")
	if r.InProcRan {
		if err := r.writeInProc(w); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Judge() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.ID, t.Goal, t.Value, t.Status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, id := range topos {
		for _, n := range r.Notes[id] {
			fmt.Fprintf(w, "note %s: %s\n", id, n)
		}
	}
	for _, id := range topos {
		for _, e := range r.Errors[id] {
			fmt.Fprintf(w, "error %s: %s\n", id, e)
		}
	}
	if r.GoBenchRan {
		fmt.Fprintln(w, "\nfurther Go benchmarks (-gobench):")
		if len(r.GoBench) == 0 && r.GoBenchErr == "" {
			fmt.Fprintln(w, "  (no benchmark matched)")
		}
		if err := gobench.WriteTable(w, r.GoBench); err != nil {
			return err
		}
		if r.GoBenchErr != "" {
			fmt.Fprintf(w, "error: %s\n", r.GoBenchErr)
		}
	}
	for _, e := range r.Cleanup {
		fmt.Fprintf(w, "cleanup: %s\n", e)
	}
	return nil
}

// ratioColumns returns the V/K and V/T columns that apply to topos.
func ratioColumns(topos []string) [][2]string {
	has := map[string]bool{}
	for _, t := range topos {
		has[t] = true
	}
	var out [][2]string
	for _, b := range []string{Kernel, TunLoop} {
		if has[Vrouterd] && has[b] {
			out = append(out, [2]string{Vrouterd, b})
		}
	}
	return out
}

// jsonDoc is the -json rendering.
type jsonDoc struct {
	*Results
	Ratios  map[string]map[Metric]float64 `json:"ratios"`
	Targets []TargetResult                `json:"targets"`
}

// WriteJSON renders the results, ratios and target verdicts as one JSON
// document.
func (r *Results) WriteJSON(w io.Writer, topos []string) error {
	doc := jsonDoc{Results: r, Ratios: map[string]map[Metric]float64{}, Targets: r.Judge()}
	for _, rc := range ratioColumns(topos) {
		key := rc[0] + "/" + rc[1]
		for _, mi := range Metrics {
			if q, ok := r.Ratio(mi.Metric, rc[0], rc[1]); ok {
				if doc.Ratios[key] == nil {
					doc.Ratios[key] = map[Metric]float64{}
				}
				doc.Ratios[key][mi.Metric] = q
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
