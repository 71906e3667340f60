// Command vbench measures vrouterd against its two baselines in one run and
// prints the ratios SPEC §9 sets targets for (`make bench`).
//
// It builds, side by side in network namespaces named vb<pid>-*, the kernel
// router K, the bare TUN copy loop T and vrouterd V (see package topo), runs
// the same iperf3 and ping traffic through each (package traffic), prints one
// table with V/K and V/T and the verdict on P1, P2 and P5, and removes every
// namespace, process and TUN it created — also on error, SIGINT, SIGTERM or
// SIGHUP. Then, unless -skip-bench-go, it runs the in-process SPEC
// benchmarks of package dataplane with go test -bench (P3 pipeline cost, P4
// memory and 1M-route reloads, P6 multicast) and judges them in the same
// table. With -gobench it also runs further Go benchmarks and prints them.
//
// Exit status: 0 when every requested measurement ran (targets missed
// included, unless -strict), 1 when something failed, 2 for usage errors,
// 130 when interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/bench/internal/gobench"
	"github.com/vrouter/vrouter/bench/internal/netenv"
	"github.com/vrouter/vrouter/bench/internal/report"
	"github.com/vrouter/vrouter/bench/internal/topo"
	"github.com/vrouter/vrouter/bench/internal/traffic"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	duration     time.Duration
	count        int
	only         []string
	json         bool
	vrouterd     string
	pingCount    int
	pingInterval time.Duration
	gobench      bool
	skipGoBench  bool
	benchTime    string
	gobenchPkgs  string
	gobenchRegex string
	strict       bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("vbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each iperf3 test (whole seconds)")
	fs.IntVar(&o.count, "count", 2, "runs of every test per topology; the table shows the median")
	only := fs.String("only", "K,T,V", "topologies to build, comma separated subset of K (kernel), T (TUN loop), V (vrouterd)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	fs.StringVar(&o.vrouterd, "vrouterd", "./bin/vrouterd", "vrouterd binary for topology V")
	fs.IntVar(&o.pingCount, "ping-count", 2000, "echo requests per latency test")
	fs.DurationVar(&o.pingInterval, "ping-interval", 2*time.Millisecond, "interval between echo requests")
	fs.BoolVar(&o.gobench, "gobench", false, "also run further Go benchmarks (go test -bench) of -gobench-pkgs and print them")
	fs.BoolVar(&o.skipGoBench, "skip-bench-go", false, "do not run any Go benchmark: neither the in-process SPEC benchmarks (P3, P4, P6) nor -gobench")
	fs.StringVar(&o.benchTime, "bench-time", "1s", "-benchtime of the in-process SPEC benchmarks (P3 per benchmark; P4 and P6 run once or about that long)")
	fs.StringVar(&o.gobenchPkgs, "gobench-pkgs", "./dataplane/...", "package patterns for -gobench, space separated")
	fs.StringVar(&o.gobenchRegex, "gobench-bench", ".", "-bench regexp for -gobench")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when a target is missed")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vbench [flags]   (root; needs ip, nft, iperf3, ping)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.duration < time.Second {
		return nil, fmt.Errorf("-duration must be at least 1s")
	}
	if o.count < 1 {
		return nil, fmt.Errorf("-count must be at least 1")
	}
	if d, err := time.ParseDuration(o.benchTime); err != nil || d <= 0 {
		if !strings.HasSuffix(o.benchTime, "x") {
			return nil, fmt.Errorf("-bench-time %q: want a duration such as 1s or a count such as 1000x", o.benchTime)
		}
	}
	if o.pingCount < 1 || o.pingInterval <= 0 {
		return nil, fmt.Errorf("-ping-count and -ping-interval must be positive")
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(*only, ",") {
		id := strings.ToUpper(strings.TrimSpace(f))
		if id == "" {
			continue
		}
		if id != report.Kernel && id != report.TunLoop && id != report.Vrouterd {
			return nil, fmt.Errorf("-only: unknown topology %q (K, T or V)", f)
		}
		seen[id] = true
	}
	for _, id := range report.AllTopologies {
		if seen[id] {
			o.only = append(o.only, id)
		}
	}
	if len(o.only) == 0 {
		return nil, fmt.Errorf("-only selects no topology")
	}
	return o, nil
}

// preflight checks privileges and tools before anything is created.
func preflight(o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("vbench must run as root (it creates network namespaces and TUN devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no /dev/net/tun: %w", err)
	}
	tools := []string{"ip", "iperf3", "ping"}
	for _, id := range o.only {
		if id == report.Kernel {
			tools = append(tools, "nft")
		}
	}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tools: %s (make deps installs them)", strings.Join(missing, ", "))
	}
	return nil
}

// loadAverage returns the 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vbench: %v\n", err)
		return 2
	}
	if err := preflight(o); err != nil {
		fmt.Fprintf(stderr, "vbench: %v\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	res := report.New()
	res.Started = start
	res.Duration = o.duration.String()
	res.Count = o.count
	res.CPUs = runtime.NumCPU()
	res.Kernel = kernelRelease()
	res.LoadStart = loadAverage()

	env := netenv.New("vb")
	cleaned := false
	cleanup := func() {
		if cleaned {
			return
		}
		cleaned = true
		logf("cleaning up %s-*", env.Prefix)
		for _, e := range env.Cleanup() {
			res.Cleanup = append(res.Cleanup, e.Error())
			logf("cleanup: %v", e)
		}
	}
	defer cleanup() // also runs while a panic unwinds

	failed := measure(ctx, o, env, res, logf)
	res.LoadEnd = loadAverage()
	cleanup()
	if left, err := env.Leftovers(); err != nil || len(left) > 0 {
		res.Cleanup = append(res.Cleanup, fmt.Sprintf("namespaces left: %v %v", left, err))
		failed = true
	}

	if !o.skipGoBench && ctx.Err() == nil {
		logf("in-process SPEC benchmarks: go test -bench '%s' -benchtime %s %s", report.InProcBenchRegexp(), o.benchTime, report.InProcPackage)
		rs, err := gobench.Run(ctx, gobench.Options{
			Go:       goCommand(),
			Packages: []string{report.InProcPackage},
			Bench:    report.InProcBenchRegexp(),
			Extra:    []string{"-benchtime=" + o.benchTime, "-count=1", "-timeout=20m"},
			Log:      stderr,
		})
		res.InProcRan, res.InProcBenchTime, res.InProc = true, o.benchTime, rs
		if err != nil {
			res.InProcErr = err.Error()
			failed = true
		}
	}

	if o.gobench && !o.skipGoBench && ctx.Err() == nil {
		logf("go test -bench %s %s", o.gobenchRegex, o.gobenchPkgs)
		rs, err := gobench.Run(ctx, gobench.Options{
			Go:       goCommand(),
			Packages: strings.Fields(o.gobenchPkgs),
			Bench:    o.gobenchRegex,
			Log:      stderr,
		})
		res.GoBenchRan, res.GoBench = true, rs
		if err != nil {
			res.GoBenchErr = err.Error()
			failed = true
		}
	}

	if o.json {
		err = res.WriteJSON(stdout, o.only)
	} else {
		fmt.Fprintln(stdout)
		err = res.WriteTable(stdout, o.only)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vbench: %v\n", err)
		return 1
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "vbench: interrupted; partial results above")
		return 130
	case failed || len(res.Cleanup) > 0:
		return 1
	case o.strict && report.Misses(res.Judge()) > 0:
		return 1
	}
	return 0
}

// goCommand finds the go command for -gobench.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// test is one measurement taken on every topology.
type test struct {
	name string
	run  func(ctx context.Context, r *traffic.Runner, ep traffic.Endpoints, res *report.Results, id string) error
}

var tests = []test{
	{"TCP 1 stream", func(ctx context.Context, r *traffic.Runner, ep traffic.Endpoints, res *report.Results, id string) error {
		bps, err := r.TCP(ctx, ep, 1)
		if err == nil {
			res.Add(id, report.TCP1, bps)
			r.Log("%s TCP 1 stream: %.2f Gbit/s", id, bps/1e9)
		}
		return err
	}},
	{"TCP 4 streams", func(ctx context.Context, r *traffic.Runner, ep traffic.Endpoints, res *report.Results, id string) error {
		bps, err := r.TCP(ctx, ep, 4)
		if err == nil {
			res.Add(id, report.TCP4, bps)
			r.Log("%s TCP 4 streams: %.2f Gbit/s", id, bps/1e9)
		}
		return err
	}},
	{"UDP 64 B", func(ctx context.Context, r *traffic.Runner, ep traffic.Endpoints, res *report.Results, id string) error {
		u, err := r.UDP64(ctx, ep)
		if err == nil {
			res.Add(id, report.UDP64, u.PPS())
			r.Log("%s UDP 64 B: %.0f kpps delivered (%.0f lost of %.0f)", id, u.PPS()/1e3, u.Lost, u.Received+u.Lost)
		}
		return err
	}},
	{"ping", func(ctx context.Context, r *traffic.Runner, ep traffic.Endpoints, res *report.Results, id string) error {
		p, err := r.Ping(ctx, ep)
		if err != nil {
			return err
		}
		p50 := traffic.Percentile(p.RTTs, 50)
		p99 := traffic.Percentile(p.RTTs, 99)
		res.Add(id, report.RTTP50, float64(p50)/float64(time.Microsecond))
		res.Add(id, report.RTTP99, float64(p99)/float64(time.Microsecond))
		if lost := p.Transmitted - len(p.RTTs); lost > 0 {
			res.Note(id, "ping: %d of %d echo requests unanswered", lost, p.Transmitted)
		}
		r.Log("%s ping RTT p50 %v p99 %v (%d replies)", id, p50, p99, len(p.RTTs))
		return nil
	}},
}

// measure builds the requested topologies and runs every test on each,
// interleaved (test by test, topology by topology, the order reversed on
// every other run) so that slow drifts of a shared machine hit all three
// alike. It reports whether anything failed.
func measure(ctx context.Context, o *options, env *netenv.Env, res *report.Results, logf func(string, ...any)) bool {
	failed := false
	var built []*topo.Topology
	for _, id := range o.only {
		if ctx.Err() != nil {
			return true
		}
		logf("building %s", id)
		var t *topo.Topology
		var err error
		switch id {
		case report.Kernel:
			t, err = topo.Kernel(ctx, env)
		case report.TunLoop:
			t, err = topo.TunLoop(ctx, env)
		case report.Vrouterd:
			t, err = topo.Vrouterd(ctx, env, topo.VrouterdOptions{Binary: o.vrouterd, Log: logf})
		}
		if err != nil {
			res.Fail(id, "build: %v", err)
			logf("%s: %v", id, err)
			failed = true
			continue
		}
		res.Topologies[id] = t.Desc
		built = append(built, t)
	}

	r := &traffic.Runner{Env: env, Duration: o.duration, PingCount: o.pingCount, PingInterval: o.pingInterval, Log: logf}
	// Reachability first: a topology that cannot ping is reported, not measured.
	var ready []*topo.Topology
	for _, t := range built {
		if ctx.Err() != nil {
			return true
		}
		probe := &traffic.Runner{Env: env, PingCount: 5, PingInterval: 20 * time.Millisecond}
		p, err := probe.Ping(ctx, t.Endpoints())
		if err != nil || len(p.RTTs) < 3 {
			res.Fail(t.ID, "client cannot reach the server (%d/5 replies): %v", len(p.RTTs), err)
			logf("%s: unreachable: %v", t.ID, err)
			failed = true
			continue
		}
		ready = append(ready, t)
	}

	for run := 1; run <= o.count; run++ {
		order := slices.Clone(ready)
		if run%2 == 0 {
			slices.Reverse(order)
		}
		for _, tc := range tests {
			for _, t := range order {
				if ctx.Err() != nil {
					return true
				}
				if err := tc.run(ctx, r, t.Endpoints(), res, t.ID); err != nil {
					if ctx.Err() != nil {
						return true
					}
					res.Fail(t.ID, "%s (run %d): %v", tc.name, run, err)
					logf("%s %s: %v", t.ID, tc.name, err)
					failed = true
				}
			}
		}
	}
	for _, t := range built {
		if t.Notes != nil {
			if n := t.Notes(); n != "" {
				res.Note(t.ID, "%s", n)
			}
		}
	}
	return failed
}
