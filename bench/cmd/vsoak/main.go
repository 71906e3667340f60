// Command vsoak is the soak test of issue 10 (`make soak`, not part of
// `make test` or CI): it runs vrouterd for a long time at a fixed fraction of
// the throughput it was just measured to reach and checks that nothing leaks
// and nothing is lost.
//
// Steps: start vrouterd on topology V's configuration (package topo: VPC,
// security groups, custom route table; vrouterd creates the client and
// server namespaces vsk<pid>-vc and -vs itself); measure one-stream iperf3
// TCP throughput for -measure; then for -duration run, at once,
//
//   - iperf3 TCP, one stream, paced at -fraction × the measured rate (-b);
//   - ping, one echo request every 0.2 s;
//   - a UDP request/response client (20 requests/s, stop and wait, a new
//     source port every 5 s, so conntrack sees a steady churn of flows)
//     against an echo server in the server namespace;
//
// and every -sample read vrouterd's RSS (VmRSS, RssAnon, RssFile), threads,
// descriptors and CPU time from /proc, its goroutines from
// /debug/pprof/goroutine, its live heap from /debug/pprof/heap after two
// forced GCs, and conntrack entries and drops from /metrics (the endpoint
// listens on 127.0.0.1 in vsoak's namespace). Goroutines and descriptors
// must stay flat from the first sample; RSS growth is judged from the first
// sample after -warmup, when conntrack's population of answered UDP flows
// (180 s each, S7) and the heap have reached their steady state. At the end it checks the accounting identity on a quiescent snapshot of
// /metrics (every port: rx = forwarded + consumed + dropped, and the guests'
// own interface counters equal vrouterd's), stops vrouterd with SIGTERM,
// verifies it removed its namespaces (R4), prints the samples, the figures
// and PASS/FAIL lines, and exits non-zero on any FAIL.
//
// Everything vsoak creates — namespaces (through vrouterd), processes, the
// temporary directory — is removed on success, failure, SIGINT, SIGTERM and
// SIGHUP (package netenv). The load goroutines, the sampler and the main
// goroutine share nothing but the result they each fill before the main
// goroutine reads it after they have finished.
//
// Exit status: 0 when every check passed, 1 on a FAIL or an error, 2 for
// usage errors, 130 when interrupted.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vrouter/vrouter/bench/internal/netenv"
	"github.com/vrouter/vrouter/bench/internal/topo"
	"github.com/vrouter/vrouter/bench/internal/traffic"
)

// Shape of the background load.
const (
	pingInterval = 200 * time.Millisecond
	rrInterval   = 50 * time.Millisecond
	rrRotate     = 5 * time.Second
	rrTimeout    = time.Second
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	duration time.Duration
	fraction float64
	vrouterd string
	sample   time.Duration
	measure  time.Duration
	warmup   time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("vsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "length of the soak (whole seconds, at least 10s)")
	fs.Float64Var(&o.fraction, "fraction", 0.7, "soak rate as a fraction of the measured TCP throughput, in (0, 1]")
	fs.StringVar(&o.vrouterd, "vrouterd", "./bin/vrouterd", "vrouterd binary")
	fs.DurationVar(&o.sample, "sample", 30*time.Second, "interval between samples of RSS, goroutines, descriptors and metrics")
	fs.DurationVar(&o.measure, "measure", 10*time.Second, "length of the full-speed throughput measurement (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 3*time.Minute, "RSS growth is judged from the first sample at or after this point of the soak (conntrack keeps answered UDP flows 180s, S7)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vsoak [flags]   (root; needs ip, iperf3, ping)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.duration < 10*time.Second:
		return nil, errors.New("-duration must be at least 10s")
	case o.measure < time.Second:
		return nil, errors.New("-measure must be at least 1s")
	case !(o.fraction > 0 && o.fraction <= 1):
		return nil, errors.New("-fraction must be in (0, 1]")
	case o.sample < time.Second:
		return nil, errors.New("-sample must be at least 1s")
	case o.sample > o.duration/2:
		return nil, errors.New("-sample must be at most half of -duration (growth needs several samples)")
	case o.warmup < 0 || o.warmup+o.sample > o.duration:
		return nil, errors.New("-warmup plus -sample must not exceed -duration (pass a shorter -warmup with a short -duration)")
	}
	return o, nil
}

// preflight checks privileges and tools before anything is created.
func preflight(o *options) error {
	if os.Geteuid() != 0 {
		return errors.New("vsoak must run as root (vrouterd creates network namespaces and TUN devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no /dev/net/tun: %w", err)
	}
	var missing []string
	for _, t := range []string{"ip", "iperf3", "ping"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tools: %s (make deps installs them)", strings.Join(missing, ", "))
	}
	if st, err := os.Stat(o.vrouterd); err != nil || st.IsDir() {
		return fmt.Errorf("vrouterd binary %s not found (run `make build`)", o.vrouterd)
	}
	return nil
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "vsoak: %v\n", err)
		return 2
	}
	if err := preflight(o); err != nil {
		fmt.Fprintf(stderr, "vsoak: %v\n", err)
		return 1
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()

	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	logf("vsoak: %v at %.0f%% of the measured throughput, %d CPUs, load average %s",
		o.duration, o.fraction*100, runtime.NumCPU(), loadAverage())

	env := netenv.New("vsk")
	defer env.Cleanup() // idempotent; the explicit call below reports
	res := &result{Started: start, Duration: o.duration, Fraction: o.fraction, Measure: o.measure, Warmup: o.warmup}
	d, err := soak(ctx, env, o, res, logf)
	if d != nil {
		logf("stopping vrouterd (SIGTERM)")
		res.StopErr, res.Leftovers = d.stop(20 * time.Second)
		res.ErrorLogs, res.WarnLogs, res.LastErrorLog = d.logStats()
		if res.StopErr != nil {
			logf("vrouterd log tail:\n%s", d.logw.Tail())
		}
	}
	for _, e := range env.Cleanup() {
		res.CleanupErr = append(res.CleanupErr, e.Error())
	}
	for _, e := range res.CleanupErr {
		logf("cleanup: %s", e)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "vsoak: interrupted; everything it created is removed")
		return 130
	}
	if err != nil {
		fmt.Fprintf(stderr, "vsoak: %v\n", err)
		return 1
	}
	logf("load average at the end %s", loadAverage())
	cs := evaluate(res, defaultLimits)
	printReport(stdout, res, cs)
	if !passed(cs) {
		return 1
	}
	return 0
}

// soak runs the whole test and fills res. It returns the daemon (if it was
// started) so that the caller stops it whatever happened.
func soak(ctx context.Context, env *netenv.Env, o *options, res *result, logf func(string, ...any)) (*daemon, error) {
	d, err := startDaemon(ctx, env, o.vrouterd, 60*time.Second)
	if err != nil {
		return nil, err
	}
	logf("vrouterd pid %d ready, metrics on %s, namespaces %s and %s", d.pid, d.metricsAddr, d.clientNS, d.serverNS)
	sc := newScraper(d.metricsAddr)
	ep := traffic.Endpoints{ClientNS: d.clientNS, ServerNS: d.serverNS, ServerAddr: topo.ServerAddr.Addr().String()}

	if err := waitReachable(ctx, env, ep); err != nil {
		return d, err
	}
	res.Measured, err = (&traffic.Runner{Env: env, Duration: o.measure}).TCP(ctx, ep, 1)
	if err != nil {
		return d, fmt.Errorf("throughput measurement: %w", err)
	}
	res.Target = o.fraction * res.Measured
	logf("measured %s; soaking at %s for %v", gbps(res.Measured), gbps(res.Target), o.duration)

	echo, err := listenUDP(ep.ServerNS, net.JoinHostPort(ep.ServerAddr, strconv.Itoa(traffic.Port)))
	if err != nil {
		return d, fmt.Errorf("UDP echo server: %w", err)
	}
	defer echo.Close()
	go echoServe(echo) // ends when echo is closed

	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	srv, srvOut, err := startIperfServer(loadCtx, env, ep)
	if err != nil {
		return d, err
	}
	defer srv.Stop(syscall.SIGKILL, 0)

	loadStart := time.Now()
	var iperfOut []byte
	var iperfErr, pingErr, rrErr error
	iperfDone, pingDone, rrDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(iperfDone)
		iperfOut, iperfErr = runIperfClient(loadCtx, env, ep, o.duration, res.Target)
		logf("iperf3 finished after %v", time.Since(loadStart).Round(time.Second))
	}()
	res.PingSent = int(o.duration / pingInterval)
	go func() {
		defer close(pingDone)
		r := &traffic.Runner{Env: env, PingCount: res.PingSent, PingInterval: pingInterval}
		res.Ping, pingErr = r.Ping(loadCtx, ep)
		logf("ping finished after %v", time.Since(loadStart).Round(time.Second))
	}()
	go func() {
		defer close(rrDone)
		rctx, cancel := context.WithTimeout(loadCtx, o.duration)
		defer cancel()
		res.RR, rrErr = rrRun(rctx, rrConfig{Interval: rrInterval, Rotate: rrRotate, Timeout: rrTimeout,
			Dial: func() (net.Conn, error) {
				return dialUDP(ep.ClientNS, net.JoinHostPort(ep.ServerAddr, strconv.Itoa(traffic.Port)))
			}})
		logf("UDP request/response finished after %v", time.Since(loadStart).Round(time.Second))
	}()
	allDone := make(chan struct{})
	go func() {
		<-iperfDone
		<-pingDone
		<-rrDone
		close(allDone)
	}()

	var prev *sample
	take := func() {
		s, err := takeSample(ctx, d.pid, sc, loadStart, prev)
		if err != nil {
			res.SampleErrs = append(res.SampleErrs, fmt.Sprintf("at %v: %v", time.Since(loadStart).Round(time.Second), err))
			logf("sample failed: %v", err)
			return
		}
		res.Samples = append(res.Samples, s)
		prev = &s
		logf("t=%-5v RSS %.1f MiB (anon %.1f, file %.1f), live heap %.1f MiB, threads %d, fds %d, goroutines %d, CPU %.0f%%, ct entries %.0f, drops %.0f",
			s.At.Round(time.Second), float64(s.RSSKiB)/1024, float64(s.AnonKiB)/1024, float64(s.FileKiB)/1024, float64(s.LiveHeap)/(1<<20), s.Threads, s.FDs, s.Goroutines, s.CPUPercent, s.CTEntries, s.Drops)
	}
	take()
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			take()
		case <-d.proc.Done():
			res.DaemonDied = fmt.Sprintf("vrouterd exited %v into the soak: %v", time.Since(loadStart).Round(time.Second), d.proc.Wait(ctx))
			logf("%s; log tail:\n%s", res.DaemonDied, d.logw.Tail())
			cancelLoad()
			<-allDone
			break loop
		case <-allDone:
			if prev == nil || time.Since(loadStart)-prev.At > 2*time.Second {
				take()
			}
			break loop
		case <-ctx.Done():
			cancelLoad()
			<-allDone
			return d, ctx.Err()
		}
	}

	if iperfErr != nil {
		res.LoadErrs = append(res.LoadErrs, fmt.Sprintf("iperf3: %v %s", iperfErr, srvOut.Tail()))
	} else {
		if res.Achieved, err = traffic.ParseTCP(iperfOut); err != nil {
			res.LoadErrs = append(res.LoadErrs, fmt.Sprintf("iperf3: %v", err))
		}
		if res.Intervals, err = iperfIntervals(iperfOut); err != nil {
			res.LoadErrs = append(res.LoadErrs, fmt.Sprintf("iperf3: %v", err))
		}
	}
	if pingErr != nil {
		res.LoadErrs = append(res.LoadErrs, fmt.Sprintf("ping: %v", pingErr))
	}
	if rrErr != nil {
		res.LoadErrs = append(res.LoadErrs, fmt.Sprintf("UDP request/response: %v", rrErr))
	}
	if res.DaemonDied == "" {
		logf("load done; checking the accounting identity")
		finalAccounting(ctx, sc, d, res)
	}
	return d, nil
}

// takeSample reads /proc first and then the HTTP endpoints, so that the
// scrape's own connection is not among the descriptors counted.
func takeSample(ctx context.Context, pid int, sc *scraper, start time.Time, prev *sample) (sample, error) {
	at := time.Since(start)
	ps, err := readProc(pid)
	if err != nil {
		return sample{}, err
	}
	s := sample{At: at, RSSKiB: ps.RSSKiB, AnonKiB: ps.AnonKiB, FileKiB: ps.FileKiB, Threads: ps.Threads, FDs: ps.FDs}
	if prev != nil && at > prev.At {
		s.CPUPercent = 100 * float64(ps.CPUTicks-prev.cpuTicks) / userHZ / (at - prev.At).Seconds()
	}
	s.cpuTicks = ps.CPUTicks
	if s.Goroutines, err = sc.goroutines(ctx); err != nil {
		return sample{}, err
	}
	mem, err := sc.memStats(ctx)
	if err != nil {
		return sample{}, err
	}
	s.LiveHeap, s.NumGC = mem["HeapAlloc"], mem["NumGC"]
	m, err := sc.metrics(ctx)
	if err != nil {
		return sample{}, err
	}
	s.CTEntries = m.sum("vrouter_conntrack_entries", nil)
	s.Refusals = m.sum("vrouter_conntrack_refusals_total", nil)
	s.Drops = m.sum("vrouter_drops_total", nil)
	s.RXPackets = m.sum("vrouter_port_packets_total", map[string]string{"direction": "rx"})
	return s, nil
}

// guestProblems compares each guest interface with its vrouterd port: what
// the guest sent is what vrouterd read, what vrouterd wrote is what the
// guest received.
func guestProblems(ports map[string]portAccount, guests map[string]guestCounters) []string {
	var out []string
	for name, g := range guests {
		p, ok := ports[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: no counters in /metrics", name))
			continue
		}
		if g.TX != p.RX {
			out = append(out, fmt.Sprintf("%s: guest sent %d, vrouterd read %d", name, g.TX, p.RX))
		}
		if g.RX != p.TX {
			out = append(out, fmt.Sprintf("%s: vrouterd wrote %d, guest received %d", name, p.TX, g.RX))
		}
	}
	sort.Strings(out)
	return out
}

// finalAccounting reads /metrics and the guests' counters until two metric
// snapshots around the guest reading agree (nothing moved: a quiescent
// snapshot) and the identity holds, or 10 s pass; it records the last
// reading. Background packets (IPv6 solicitations and the like) can move the
// counters after the load stops, hence the retries.
func finalAccounting(ctx context.Context, sc *scraper, d *daemon, res *result) {
	gps, err := d.guestPorts()
	if err != nil {
		res.GuestProblems = []string{fmt.Sprintf("configuration: %v", err)}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m1, err1 := sc.metrics(ctx)
		guests := map[string]guestCounters{}
		var gerrs []string
		for _, gp := range gps {
			g, err := readGuest(gp.Netns, gp.IfName)
			if err != nil {
				gerrs = append(gerrs, err.Error())
				continue
			}
			guests[gp.Name] = g
		}
		m2, err2 := sc.metrics(ctx)
		if err := errors.Join(err1, err2); err != nil {
			res.Identity = []string{fmt.Sprintf("metrics: %v", err)}
		} else {
			res.Ports, res.Guests, res.Drops = m2.ports(), guests, m2.dropReasons()
			res.Identity = m2.identityProblems()
			if gps != nil {
				res.GuestProblems = append(gerrs, guestProblems(res.Ports, guests)...)
			}
			if len(res.Identity) == 0 && len(res.GuestProblems) == 0 && sameAccounts(m1.ports(), res.Ports) {
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func sameAccounts(a, b map[string]portAccount) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// waitReachable pings the server until it answers (vrouterd is ready when
// its ports forward, R1, but the guests' neighbour tables start empty).
func waitReachable(ctx context.Context, env *netenv.Env, ep traffic.Endpoints) error {
	r := &traffic.Runner{Env: env, PingCount: 1, PingInterval: pingInterval}
	var last error
	for range 20 {
		res, err := r.Ping(ctx, ep)
		if err == nil && len(res.RTTs) > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("server %s not reachable from %s: %v", ep.ServerAddr, ep.ClientNS, last)
}

// startIperfServer starts a one-off iperf3 server in the server namespace
// and waits until it listens.
func startIperfServer(ctx context.Context, env *netenv.Env, ep traffic.Endpoints) (*netenv.Proc, *netenv.LineWriter, error) {
	listening := make(chan struct{})
	out := &netenv.LineWriter{OnLine: func(line string) {
		if strings.Contains(line, "Server listening") && !isClosed(listening) {
			close(listening)
		}
	}}
	cmd := netenv.Command(ctx, ep.ServerNS, "iperf3", "-s", "-1", "-B", ep.ServerAddr,
		"-p", strconv.Itoa(traffic.Port), "--forceflush")
	cmd.Stdout, cmd.Stderr = out, out
	p, err := env.Start(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("start iperf3 server: %w", err)
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-listening:
		return p, out, nil
	case <-p.Done():
		return nil, nil, fmt.Errorf("iperf3 server exited before listening: %s", out.Tail())
	case <-t.C:
		p.Stop(syscall.SIGKILL, 0)
		return nil, nil, fmt.Errorf("iperf3 server not listening after 10s: %s", out.Tail())
	case <-ctx.Done():
		p.Stop(syscall.SIGKILL, 0)
		return nil, nil, ctx.Err()
	}
}

// runIperfClient runs one TCP stream paced at rate bit/s for duration and
// returns iperf3's JSON report (10-s intervals).
func runIperfClient(ctx context.Context, env *netenv.Env, ep traffic.Endpoints, duration time.Duration, rate float64) ([]byte, error) {
	limit := duration + time.Minute
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	secs := int(duration.Round(time.Second) / time.Second)
	var stdout bytes.Buffer
	stderr := &netenv.LineWriter{}
	cmd := netenv.Command(cctx, ep.ClientNS, "iperf3", "-c", ep.ServerAddr, "-p", strconv.Itoa(traffic.Port),
		"-t", strconv.Itoa(secs), "-b", strconv.FormatFloat(rate, 'f', 0, 64), "-i", "10", "-J",
		"--connect-timeout", "3000")
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	p, err := env.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start iperf3 client: %w", err)
	}
	werr := p.Wait(cctx)
	if errors.Is(werr, context.DeadlineExceeded) || errors.Is(werr, context.Canceled) {
		p.Stop(syscall.SIGKILL, 0)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("iperf3 client did not finish within %v", limit)
	}
	if werr != nil {
		if _, perr := traffic.ParseTCP(stdout.Bytes()); perr != nil {
			return nil, fmt.Errorf("iperf3 client: %v: %v %s", werr, perr, stderr.Tail())
		}
		return nil, fmt.Errorf("iperf3 client: %v: %s", werr, stderr.Tail())
	}
	return stdout.Bytes(), nil
}

// inNamespace runs fn on a thread inside the named namespace; a socket
// opened there stays in that namespace whichever thread uses it later.
func inNamespace(name string, fn func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer h.Close()
	return netenv.Do(h, fn)
}

func listenUDP(nsName, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := inNamespace(nsName, func() (err error) {
		c, err = net.ListenPacket("udp4", addr)
		return err
	})
	return c, err
}

func dialUDP(nsName, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(nsName, func() (err error) {
		c, err = net.Dial("udp4", addr)
		return err
	})
	return c, err
}
