package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vrouter/vrouter/bench/internal/traffic"
)

// sample is one periodic reading of vrouterd during the soak.
type sample struct {
	At         time.Duration // since the load started
	RSSKiB     uint64        // VmRSS
	AnonKiB    uint64        // RssAnon
	FileKiB    uint64        // RssFile
	LiveHeap   uint64        // bytes, runtime.MemStats.HeapAlloc right after two forced GCs
	NumGC      uint64        // runtime.MemStats.NumGC (includes vsoak's forced ones)
	Threads    int
	FDs        int
	Goroutines int
	CPUPercent float64 // of one CPU, since the previous sample (0 for the first)
	CTEntries  float64 // vrouter_conntrack_entries
	Drops      float64 // Σ vrouter_drops_total
	RXPackets  float64 // Σ vrouter_port_packets_total{direction="rx"}
	Refusals   float64 // vrouter_conntrack_refusals_total

	cpuTicks uint64 // utime + stime at At, for the next sample's CPUPercent
}

// limits are the pass criteria of a soak.
type limits struct {
	MaxRSSGrowth   float64 // last/first - 1 of VmRSS
	GoroutineSlack int     // last - first goroutines allowed
	FDSlack        int     // last - first descriptors allowed
	MaxLoss        float64 // ping and UDP request loss, fraction
	MinAchieved    float64 // achieved / target throughput
}

// defaultLimits are the criteria of issue 10's soak: accounting identity,
// RSS growth under 20 %, goroutines and descriptors flat within a few (an
// HTTP scrape or a timer may be in flight), at most 0.1 % loss.
var defaultLimits = limits{
	MaxRSSGrowth:   0.20,
	GoroutineSlack: 5,
	FDSlack:        5,
	MaxLoss:        0.001,
	MinAchieved:    0.80,
}

// result is everything a soak run measured.
type result struct {
	Started    time.Time
	Duration   time.Duration
	Fraction   float64
	Warmup     time.Duration // RSS growth is judged from the first sample at or after it
	Measure    time.Duration // length of the full-speed measurement
	Measured   float64       // bit/s, the full-speed measurement
	Target     float64       // bit/s, Fraction × Measured
	Achieved   float64       // bit/s, receiver side of the soak's iperf3
	Intervals  []float64
	Ping       traffic.PingResult
	PingSent   int
	RR         rrResult
	Samples    []sample
	SampleErrs []string

	Ports         map[string]portAccount
	Identity      []string // violations; none = holds
	Guests        map[string]guestCounters
	GuestProblems []string
	Drops         map[string]float64
	ErrorLogs     int
	WarnLogs      int
	LastErrorLog  string

	DaemonDied string   // set when vrouterd exited during the soak
	StopErr    error    // exit after SIGTERM
	Leftovers  []string // namespaces vrouterd left
	CleanupErr []string // netenv cleanup findings
	LoadErrs   []string // a load generator failed
}

// check is one PASS/FAIL line.
type check struct {
	Name   string
	OK     bool
	Detail string
}

// growth describes a series over the samples: its value at the baseline
// sample and at the last one, and its maximum over all samples.
type growth struct {
	First, Last, Max float64
}

// Rel is (last - first) / first; 0 when first is 0.
func (g growth) Rel() float64 {
	if g.First == 0 {
		return 0
	}
	return (g.Last - g.First) / g.First
}

// seriesGrowth measures f from ss[base] to the last sample; Max covers every
// sample.
func seriesGrowth(ss []sample, base int, f func(sample) float64) growth {
	if base < 0 || base >= len(ss) {
		return growth{}
	}
	g := growth{First: f(ss[base]), Last: f(ss[len(ss)-1]), Max: math.Inf(-1)}
	for _, s := range ss {
		g.Max = math.Max(g.Max, f(s))
	}
	return g
}

// baseline returns the index of the first sample taken at or after warmup,
// or -1 if there is none.
func baseline(ss []sample, warmup time.Duration) int {
	for i, s := range ss {
		// Samples are taken a few milliseconds after their tick.
		if s.At >= warmup-time.Second {
			return i
		}
	}
	return -1
}

func rss(s sample) float64        { return float64(s.RSSKiB) }
func anon(s sample) float64       { return float64(s.AnonKiB) }
func file(s sample) float64       { return float64(s.FileKiB) }
func liveHeap(s sample) float64   { return float64(s.LiveHeap) / 1024 }
func goroutines(s sample) float64 { return float64(s.Goroutines) }
func fds(s sample) float64        { return float64(s.FDs) }
func threads(s sample) float64    { return float64(s.Threads) }
func ctEntries(s sample) float64  { return s.CTEntries }

// pingLoss returns lost and sent echo requests.
func (r *result) pingLoss() (lost, sent int) {
	sent = r.Ping.Transmitted
	if sent == 0 {
		sent = r.PingSent
	}
	lost = sent - len(r.Ping.RTTs)
	if lost < 0 {
		lost = 0 // duplicates
	}
	return lost, sent
}

func frac(n, d int) float64 {
	if d == 0 {
		return 1
	}
	return float64(n) / float64(d)
}

// evaluate turns a result into the PASS/FAIL lines; the soak passes when
// every line does.
func evaluate(r *result, lim limits) []check {
	var cs []check
	add := func(name string, ok bool, format string, args ...any) {
		cs = append(cs, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}

	if r.DaemonDied != "" {
		add("vrouterd ran throughout", false, "%s", r.DaemonDied)
	} else {
		add("vrouterd ran throughout", true, "pid alive at every sample")
	}
	if len(r.LoadErrs) > 0 {
		add("load generators", false, "%s", strings.Join(r.LoadErrs, "; "))
	}
	if len(r.SampleErrs) > 0 {
		add("sampling", false, "%d failed: %s", len(r.SampleErrs), r.SampleErrs[0])
	}
	base := baseline(r.Samples, r.Warmup)
	if base < 0 || len(r.Samples)-base < 2 {
		after := 0
		if base >= 0 {
			after = len(r.Samples) - base
		}
		add("samples", false, "%d samples, %d of them from %v on; need at least 2 from there to judge growth",
			len(r.Samples), after, r.Warmup)
		base = -1
	}

	if len(r.Identity) == 0 {
		add("accounting identity (rx = fwd + consumed + dropped)", true, "every port (%d)", len(r.Ports))
	} else {
		add("accounting identity (rx = fwd + consumed + dropped)", false, "%s", strings.Join(r.Identity, "; "))
	}
	if len(r.GuestProblems) == 0 {
		add("guest counters = vrouterd counters", true, "every port: guest tx = rx, tx = guest rx")
	} else {
		add("guest counters = vrouterd counters", false, "%s", strings.Join(r.GuestProblems, "; "))
	}

	if base >= 0 {
		// RSS from the end of the warm-up (the first samples include the
		// heap and conntrack filling up to their steady state); goroutines
		// and descriptors must be flat from the very first sample.
		g := seriesGrowth(r.Samples, base, rss)
		g0 := seriesGrowth(r.Samples, 0, rss)
		add(fmt.Sprintf("RSS growth < %.0f%%", lim.MaxRSSGrowth*100), g.Rel() < lim.MaxRSSGrowth,
			"%s at %v → %s at %v (%+.1f%%), max %s; from t=0 (%s) %+.1f%%",
			mib(g.First), r.Samples[base].At.Round(time.Second), mib(g.Last), r.Samples[len(r.Samples)-1].At.Round(time.Second),
			g.Rel()*100, mib(g.Max), mib(g0.First), g0.Rel()*100)
		g = seriesGrowth(r.Samples, 0, goroutines)
		add("goroutines flat", g.Last-g.First <= float64(lim.GoroutineSlack) && g.Max-g.First <= float64(lim.GoroutineSlack),
			"%.0f → %.0f, max %.0f (slack %d)", g.First, g.Last, g.Max, lim.GoroutineSlack)
		g = seriesGrowth(r.Samples, 0, fds)
		add("file descriptors flat", g.Last-g.First <= float64(lim.FDSlack) && g.Max-g.First <= float64(lim.FDSlack),
			"%.0f → %.0f, max %.0f (slack %d)", g.First, g.Last, g.Max, lim.FDSlack)
	}

	lost, sent := r.pingLoss()
	add(fmt.Sprintf("ping loss ≤ %.1f%%", lim.MaxLoss*100), sent > 0 && frac(lost, sent) <= lim.MaxLoss,
		"%d of %d lost (%.3f%%)", lost, sent, frac(lost, sent)*100)
	add(fmt.Sprintf("UDP request loss ≤ %.1f%%", lim.MaxLoss*100), r.RR.Sent > 0 && frac(r.RR.Lost(), r.RR.Sent) <= lim.MaxLoss,
		"%d of %d lost (%.3f%%) over %d flows", r.RR.Lost(), r.RR.Sent, frac(r.RR.Lost(), r.RR.Sent)*100, r.RR.Flows)
	if r.Target > 0 {
		ratio := r.Achieved / r.Target
		add(fmt.Sprintf("load held (achieved ≥ %.0f%% of target)", lim.MinAchieved*100), ratio >= lim.MinAchieved,
			"%s of %s (%.1f%%)", gbps(r.Achieved), gbps(r.Target), ratio*100)
	}

	switch {
	case r.StopErr != nil:
		add("clean stop (SIGTERM, R4)", false, "%v", r.StopErr)
	case len(r.Leftovers) > 0:
		add("clean stop (SIGTERM, R4)", false, "namespaces left: %s", strings.Join(r.Leftovers, ", "))
	default:
		add("clean stop (SIGTERM, R4)", true, "exit 0, namespaces removed")
	}
	if len(r.CleanupErr) > 0 {
		add("cleanup", false, "%s", strings.Join(r.CleanupErr, "; "))
	}
	return cs
}

// passed reports whether every check passed.
func passed(cs []check) bool {
	for _, c := range cs {
		if !c.OK {
			return false
		}
	}
	return len(cs) > 0
}

func mib(kib float64) string { return fmt.Sprintf("%.1f MiB", kib/1024) }

func gbps(bps float64) string { return fmt.Sprintf("%.3f Gbit/s", bps/1e9) }

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

// minMax returns the extremes of v (0, 0 when empty).
func minMax(v []float64) (lo, hi float64) {
	for i, x := range v {
		if i == 0 || x < lo {
			lo = x
		}
		if i == 0 || x > hi {
			hi = x
		}
	}
	return lo, hi
}

// printReport writes the samples, the figures and the checks.
func printReport(w io.Writer, r *result, cs []check) {
	fmt.Fprintf(w, "\nvsoak %s: %v at %.0f%% of the measured throughput\n",
		r.Started.Format("2006-01-02 15:04"), r.Duration, r.Fraction*100)
	fmt.Fprintf(w, "measured %s (iperf3, 1 TCP stream, %v) → target %s\n\n", gbps(r.Measured), r.Measure, gbps(r.Target))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tRSS MiB\tanon\tfile\tlive heap\tthreads\tfds\tgoroutines\tCPU %\tct entries\trx packets\tdrops\t")
	for _, s := range r.Samples {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t\n", s.At.Round(time.Second),
			float64(s.RSSKiB)/1024, float64(s.AnonKiB)/1024, float64(s.FileKiB)/1024, float64(s.LiveHeap)/(1<<20),
			s.Threads, s.FDs, s.Goroutines, s.CPUPercent, s.CTEntries, s.RXPackets, s.Drops)
	}
	tw.Flush()
	fmt.Fprintln(w, "(MiB: VmRSS, RssAnon, RssFile; live heap = HeapAlloc right after two GCs forced by the sample; CPU % of one CPU)")

	fmt.Fprintln(w)
	lo, hi := minMax(r.Intervals)
	fmt.Fprintf(w, "throughput   %s achieved (receiver), %.1f%% of target; %d-interval sender min %s, max %s\n",
		gbps(r.Achieved), 100*r.Achieved/math.Max(r.Target, 1), len(r.Intervals), gbps(lo), gbps(hi))
	lost, sent := r.pingLoss()
	fmt.Fprintf(w, "ping         %d sent, %d lost (%.3f%%), rtt p50 %s, p99 %s, max %s\n", sent, lost,
		frac(lost, sent)*100, ms(traffic.Percentile(r.Ping.RTTs, 50)), ms(traffic.Percentile(r.Ping.RTTs, 99)),
		ms(traffic.Percentile(r.Ping.RTTs, 100)))
	fmt.Fprintf(w, "udp req/resp %d sent, %d lost (%.3f%%) over %d flows, rtt p50 %s, p99 %s\n", r.RR.Sent, r.RR.Lost(),
		frac(r.RR.Lost(), r.RR.Sent)*100, r.RR.Flows, ms(traffic.Percentile(r.RR.RTTs, 50)), ms(traffic.Percentile(r.RR.RTTs, 99)))
	base := max(baseline(r.Samples, r.Warmup), 0)
	fmt.Fprintf(w, "growth       from t=0 and from the first sample after the %v warm-up (t=%v) to the end; max over all samples\n",
		r.Warmup, sampleAt(r.Samples, base))
	for _, p := range []struct {
		name string
		f    func(sample) float64
		unit func(float64) string
	}{
		{"RSS", rss, mib},
		{"  anon", anon, mib},
		{"  file", file, mib},
		{"live heap", liveHeap, mib},
		{"goroutines", goroutines, plain},
		{"fds", fds, plain},
		{"threads", threads, plain},
		{"ct entries", ctEntries, plain},
	} {
		g0, g := seriesGrowth(r.Samples, 0, p.f), seriesGrowth(r.Samples, base, p.f)
		fmt.Fprintf(w, "%-12s %s → %s (%+.1f%%); after warm-up %s → %s (%+.1f%%); max %s\n", p.name,
			p.unit(g0.First), p.unit(g0.Last), g0.Rel()*100, p.unit(g.First), p.unit(g.Last), g.Rel()*100, p.unit(g.Max))
	}
	var refusals float64
	if n := len(r.Samples); n > 0 {
		refusals = r.Samples[n-1].Refusals
	}
	fmt.Fprintf(w, "conntrack    refusals %.0f\n", refusals)
	fmt.Fprintf(w, "logs         %d error, %d warning lines", r.ErrorLogs, r.WarnLogs)
	if r.LastErrorLog != "" {
		fmt.Fprintf(w, " (last error: %s)", r.LastErrorLog)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "\naccounting (vrouterd /metrics; guest = the interface inside the namespace):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "port\trx\tforwarded\tconsumed\tdropped\ttx\tguest tx\tguest rx\tguest tx_dropped\t")
	names := make([]string, 0, len(r.Ports))
	for n := range r.Ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := r.Ports[n]
		g, ok := r.Guests[n]
		gs := "-\t-\t-"
		if ok {
			gs = fmt.Sprintf("%d\t%d\t%d", g.TX, g.RX, g.TXDropped)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", n, p.RX, p.Forwarded, p.Consumed, p.Dropped, p.TX, gs)
	}
	tw.Flush()
	fmt.Fprint(w, "drops by reason:")
	if len(r.Drops) == 0 {
		fmt.Fprint(w, " none")
	}
	keys := make([]string, 0, len(r.Drops))
	for k := range r.Drops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, " %s=%.0f", k, r.Drops[k])
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w)
	for _, c := range cs {
		v := "PASS"
		if !c.OK {
			v = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s: %s\n", v, c.Name, c.Detail)
	}
	if passed(cs) {
		fmt.Fprintln(w, "soak: PASS")
	} else {
		fmt.Fprintln(w, "soak: FAIL")
	}
}

func plain(v float64) string { return fmt.Sprintf("%.0f", v) }

func sampleAt(ss []sample, i int) time.Duration {
	if i < 0 || i >= len(ss) {
		return 0
	}
	return ss[i].At.Round(time.Second)
}
