//go:build linux

package dataplane

// Root-only test of SPEC P4's second half: a reload that swaps a
// 1,000,000-route table during a transfer loses no packet of the established
// flows. An Engine forwards between two real TUNs, each created inside a
// fresh namespace of its own (prefix vrdp + pid, removed in Cleanup even on
// failure); traffic flows only between those namespaces. The route tables
// are compiled in-process with fib.NewTable/Insert: a 1M-route YAML file
// cannot pass the config loader's limits (16 MiB, 2M nodes).
//
// This file also holds the namespace helpers of the root-only benchmarks in
// bench_test.go (P6).

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("privileged: needs root to create network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		tb.Skipf("privileged: /dev/net/tun is not available: %v", err)
	}
}

// onThread runs fn on a fresh OS thread that is discarded afterwards, so a
// namespace switch made there never leaks into the rest of the process.
func onThread(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		ch <- fn()
	}()
	return <-ch
}

// inNS runs fn on a discarded thread inside ns; sockets and TUNs fn opens
// keep that namespace.
func inNS(ns netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return fn()
	})
}

var nsSeq atomic.Int32

// testNS is a namespace the test created, with a netlink handle into it.
type testNS struct {
	name string
	h    netns.NsHandle
	nl   *netlink.Handle
}

// newTestNS creates a uniquely named namespace (IPv6 off, so the TUNs see
// no router solicitations; lo up) and removes it in Cleanup.
func newTestNS(tb testing.TB) *testNS {
	tb.Helper()
	n := &testNS{name: fmt.Sprintf("vrdp%d-%d", os.Getpid(), nsSeq.Add(1))}
	err := onThread(func() error {
		var err error
		if n.h, err = netns.NewNamed(n.name); err != nil {
			return err
		}
		for _, k := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("create namespace %s: %v", n.name, err)
	}
	tb.Cleanup(func() {
		n.h.Close()
		if err := netns.DeleteNamed(n.name); err != nil {
			tb.Errorf("delete namespace %s: %v", n.name, err)
		}
	})
	if n.nl, err = netlink.NewHandleAt(n.h); err != nil {
		tb.Fatalf("netlink handle in %s: %v", n.name, err)
	}
	tb.Cleanup(n.nl.Close)
	if lo, err := n.nl.LinkByName("lo"); err == nil {
		n.nl.LinkSetUp(lo)
	}
	return n
}

// openTUN creates a TUN with vnet-header offloads (as vrouterd opens its
// ports) inside n and closes it in Cleanup. The engine usually closes it
// first; Close is idempotent.
func (n *testNS) openTUN(tb testing.TB, name string) *tun.Linux {
	tb.Helper()
	var d *tun.Linux
	if err := inNS(n.h, func() (err error) { d, err = tun.Open(tun.Options{Name: name, VnetHdr: true}); return err }); err != nil {
		tb.Fatalf("open TUN %s in %s: %v", name, n.name, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// configure gives link name the addresses (CIDR) and routes (prefix →
// the link, scope link) and brings it up.
func (n *testNS) configure(tb testing.TB, name string, addrs, routes []string) {
	tb.Helper()
	l, err := n.nl.LinkByName(name)
	if err != nil {
		tb.Fatalf("link %s in %s: %v", name, n.name, err)
	}
	for _, a := range addrs {
		na, err := netlink.ParseAddr(a)
		if err != nil {
			tb.Fatal(err)
		}
		if err := n.nl.AddrAdd(l, na); err != nil {
			tb.Fatalf("addr add %s dev %s: %v", a, name, err)
		}
	}
	if err := n.nl.LinkSetUp(l); err != nil {
		tb.Fatalf("link up %s: %v", name, err)
	}
	for _, r := range routes {
		_, dst, err := net.ParseCIDR(r)
		if err != nil {
			tb.Fatal(err)
		}
		if err := n.nl.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
			tb.Fatalf("route add %s dev %s: %v", r, name, err)
		}
	}
}

// linkStats returns the kernel's counters of link name in n.
func (n *testNS) linkStats(tb testing.TB, name string) netlink.LinkStatistics {
	tb.Helper()
	l, err := n.nl.LinkByName(name)
	if err != nil || l.Attrs().Statistics == nil {
		tb.Fatalf("link %s in %s: %v", name, n.name, err)
	}
	return *l.Attrs().Statistics
}

// snmp reads the counters of /proc/net/snmp and /proc/net/netstat of n as
// "Group.Field" → value (e.g. "Tcp.RetransSegs", "TcpExt.TCPLossProbes").
func (n *testNS) snmp(tb testing.TB) map[string]uint64 {
	tb.Helper()
	out := map[string]uint64{}
	err := inNS(n.h, func() error {
		for _, f := range []string{"/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"} {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			for i := 0; i+1 < len(lines); i += 2 {
				names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
				if len(names) != len(vals) || len(names) == 0 {
					continue
				}
				grp := strings.TrimSuffix(names[0], ":")
				for j := 1; j < len(names); j++ {
					if v, err := strconv.ParseUint(vals[j], 10, 64); err == nil {
						out[grp+"."+names[j]] = v
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("snmp of %s: %v", n.name, err)
	}
	return out
}

// Addresses of the swap test: the client ENI talks to a service address
// behind the next-hop instance, reached through a custom route that every
// table version holds (with varying prefix lengths).
var (
	swapService = netip.MustParseAddr("10.77.0.1")
	swapRoutes  = [][]string{{"10.77.0.0/16"}, {"10.0.0.0/8", "10.77.0.0/24"}, {"10.77.0.0/20"}}
)

const (
	swapUDPPort = 7000
	swapTCPPort = 7001
)

// swapOptions shapes runSwap.
type swapOptions struct {
	routes int           // routes of each table version
	swaps  int           // reloads during the transfer
	settle time.Duration // traffic before the first and after the last swap
	udpPPS int           // rate of the sequence-numbered UDP stream
}

// swapResult is what runSwap observed.
type swapResult struct {
	Swaps         int
	Routes        int
	BuildMax      time.Duration // longest build of a next table (during traffic)
	UDPSent       int
	UDPLost       int // sequence numbers that never arrived
	UDPDup        int
	TCPBytes      int64
	TCPMaxGap     time.Duration // longest pause between two reads at the receiver
	GapBefore     time.Duration // the same, before the first swap began (the machine's own noise)
	TCPRetrans    uint64        // growth of Tcp.RetransSegs in the sender's namespace
	TCPLossProbes uint64        // growth of TcpExt.TCPLossProbes (tail-loss probes, part of RetransSegs)
	TCPDSACKRecv  uint64        // growth of TcpExt.TCPDSACKRecvSegs: retransmitted segments the receiver reported as duplicates
	TCPOFO        uint64        // growth of TcpExt.TCPOFOQueue at the receiver: segments that arrived after a hole
	EngineDrops   map[string]uint64
	TUNTxDropped  uint64 // packets the kernel could not queue to vrouter (ring full)
}

// withTable returns a copy of n's snapshot whose client port uses table t
// with route counters hits, as a reload compiling a new table would.
func (n *scaleNet) withTable(t *fib.Table, hits []*atomic.Uint64, gen uint32) *Snapshot {
	s := *n.s
	s.Gen = gen
	c := *n.client
	c.Table = t
	s.Ports = []*Port{&c, n.hop}
	s.RouteHits = hits
	return &s
}

// swapTable builds table version v of the client's custom table: routes
// random routes (seed v) plus the routes of swapRoutes[v%3] to the next
// hop, and the system entries.
func (n *scaleNet) swapTable(tb testing.TB, routes, v int) (*fib.Table, []*atomic.Uint64) {
	tb.Helper()
	var hits []*atomic.Uint64
	t := fib.NewTable("vtb-big")
	addSystemRoutes(tb, t, &hits)
	for _, d := range swapRoutes[v%len(swapRoutes)] {
		p := netip.MustParsePrefix(d)
		r := &fib.Route{Dst: p, ID: t.ID + ":" + d, Type: fib.Custom, Action: fib.ActionForward, Group: n.hopGroup, VSwitch: -1, Index: len(hits)}
		hits = append(hits, new(atomic.Uint64))
		if err := t.Insert(r); err != nil {
			tb.Fatal(err)
		}
	}
	fillRoutes(tb, t, routes, uint64(100+v), n.hopGroup, &hits)
	return t, hits
}

// pattern is the TCP stream's content: byte o of the stream is pattern(o).
func pattern(o int64) byte { return byte(o*7 + o>>11) }

// The traffic of the swap test runs in two child processes (the test binary
// re-executed as TestSwapTrafficChild), one inside each namespace, like the
// applications of two instances: the test process itself then holds only
// the engine and the control-plane work of the reloads, as vrouterd does.
// The parent talks to a child over its stdin and stdout, one line at a
// time: the child prints "READY" once its sockets exist; the client stops
// sending at "STOP" and prints its result; the server, told "SENT <n>",
// waits for the tail of both streams and prints its result.
const (
	swapChildEnv = "VROUTER_SWAP_CHILD" // "client" or "server"
	swapNSEnv    = "VROUTER_SWAP_NS"    // namespace to enter
	swapPPSEnv   = "VROUTER_SWAP_PPS"   // UDP rate of the client
)

// swapChildResult is a child's report.
type swapChildResult struct {
	UDPSent   int    `json:"udp_sent,omitempty"`
	UDPGot    int    `json:"udp_got,omitempty"`
	UDPLost   int    `json:"udp_lost,omitempty"`
	UDPDup    int    `json:"udp_dup,omitempty"`
	TCPBytes  int64  `json:"tcp_bytes,omitempty"`
	MaxGapUS  int64  `json:"max_gap_us,omitempty"`  // longest gap between two TCP reads
	GapMarkUS int64  `json:"gap_mark_us,omitempty"` // longest gap before the "MARK" line
	Gaps      string `json:"gaps,omitempty"`        // gaps over 20 ms: length@offset
	Err       string `json:"err,omitempty"`
}

// TestSwapTrafficChild is not a test: it is the traffic process of
// TestSwap1MRoutesNoLoss and BenchmarkSwap1MRoutes, and skips otherwise.
func TestSwapTrafficChild(t *testing.T) {
	role := os.Getenv(swapChildEnv)
	if role == "" {
		t.Skip("helper process of the P4 swap test")
	}
	res := swapChild(role, os.Getenv(swapNSEnv), os.Getenv(swapPPSEnv))
	b, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", b)
}

// swapChild runs a child's role and returns its result.
func swapChild(role, nsName, ppsText string) (res swapChildResult) {
	fail := func(err error) swapChildResult { res.Err = err.Error(); return res }
	// Enter the namespace on this (locked) thread; sockets made here keep it.
	runtime.LockOSThread()
	ns, err := netns.GetFromName(nsName)
	if err != nil {
		return fail(err)
	}
	if err := netns.Set(ns); err != nil {
		return fail(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if role == "server" {
		return swapServer(lines)
	}
	pps, _ := strconv.Atoi(ppsText)
	return swapClient(lines, pps)
}

// swapServer receives both streams: it marks every UDP sequence number and
// checks every TCP byte against pattern, timing the gaps between reads.
func swapServer(lines <-chan string) (res swapChildResult) {
	fail := func(err error) swapChildResult { res.Err = err.Error(); return res }
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: swapService.AsSlice(), Port: swapUDPPort})
	if err != nil {
		return fail(err)
	}
	defer uc.Close()
	uc.SetReadBuffer(8 << 20)
	ln, err := net.Listen("tcp4", net.JoinHostPort(swapService.String(), strconv.Itoa(swapTCPPort)))
	if err != nil {
		return fail(err)
	}
	defer ln.Close()
	fmt.Println("READY")

	var mu sync.Mutex
	var seen []uint8
	var got int
	udpDone := make(chan struct{})
	go func() {
		defer close(udpDone)
		buf := make([]byte, 2048)
		for {
			k, err := uc.Read(buf)
			if err != nil {
				return
			}
			if k < 8 {
				continue
			}
			seq := int(binary.BigEndian.Uint64(buf))
			mu.Lock()
			for seq >= len(seen) {
				seen = append(seen, make([]uint8, 1<<16)...)
			}
			seen[seq]++
			got++
			mu.Unlock()
		}
	}()

	var tcpErr error
	var maxGap, gapMark time.Duration
	var gaps []string
	marked := false
	begin := time.Now()
	tcpDone := make(chan struct{})
	go func() {
		defer close(tcpDone)
		c, err := ln.Accept()
		if err != nil {
			tcpErr = err
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		var off int64
		last := time.Now()
		for {
			k, err := c.Read(buf)
			now := time.Now()
			for i := 0; i < k; i++ {
				if buf[i] != pattern(off+int64(i)) {
					tcpErr = fmt.Errorf("TCP byte %d is %#x, want %#x", off+int64(i), buf[i], pattern(off+int64(i)))
					return
				}
			}
			mu.Lock()
			if g := now.Sub(last); k > 0 && g > maxGap {
				maxGap = g
				if !marked {
					gapMark = g
				}
			}
			if g := now.Sub(last); k > 0 && g > 20*time.Millisecond && len(gaps) < 40 {
				gaps = append(gaps, fmt.Sprintf("%v@%v", g.Round(time.Millisecond), last.Sub(begin).Round(time.Millisecond)))
			}
			off += int64(k)
			res.TCPBytes = off
			mu.Unlock()
			last = now
			if err != nil {
				if err != io.EOF {
					tcpErr = err
				}
				return
			}
		}
	}()

	sent := -1
	for l := range lines {
		if l == "MARK" {
			mu.Lock()
			marked = true
			mu.Unlock()
		}
		if v, ok := strings.CutPrefix(l, "SENT "); ok {
			sent, _ = strconv.Atoi(v)
			break
		}
	}
	if sent < 0 {
		return fail(errors.New("no SENT line"))
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		g := got
		mu.Unlock()
		if g >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-tcpDone:
	case <-time.After(10 * time.Second):
		tcpErr = errors.New("the TCP stream did not end")
	}
	uc.Close()
	<-udpDone
	mu.Lock()
	defer mu.Unlock()
	res.UDPGot = got
	for i := 0; i < sent; i++ {
		switch {
		case i >= len(seen) || seen[i] == 0:
			res.UDPLost++
		case seen[i] > 1:
			res.UDPDup += int(seen[i]) - 1
		}
	}
	res.MaxGapUS, res.GapMarkUS = maxGap.Microseconds(), gapMark.Microseconds()
	res.Gaps = strings.Join(gaps, " ")
	if tcpErr != nil {
		res.Err = tcpErr.Error()
	}
	return res
}

// swapClient sends the sequence-numbered UDP stream at pps (paced by the
// clock: after a pause it catches up, at most 32 datagrams a millisecond)
// and the TCP stream as fast as it goes, until "STOP".
func swapClient(lines <-chan string, pps int) (res swapChildResult) {
	fail := func(err error) swapChildResult { res.Err = err.Error(); return res }
	uc, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: swapService.AsSlice(), Port: swapUDPPort})
	if err != nil {
		return fail(err)
	}
	defer uc.Close()
	tc, err := net.DialTimeout("tcp4", net.JoinHostPort(swapService.String(), strconv.Itoa(swapTCPPort)), 5*time.Second)
	if err != nil {
		return fail(fmt.Errorf("connect through the engine: %w", err))
	}
	defer tc.Close()
	fmt.Println("READY")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var udpErr, tcpErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		msg := make([]byte, 64)
		seq, start := uint64(0), time.Now()
		for {
			select {
			case <-stop:
				res.UDPSent = int(seq)
				return
			case <-tick.C:
			}
			due := uint64(time.Since(start).Seconds() * float64(pps))
			for n := 0; seq < due && n < 32; n++ {
				binary.BigEndian.PutUint64(msg, seq)
				if _, err := uc.Write(msg); err != nil {
					udpErr = err
					break // not sent: the same number is tried again
				}
				seq++
			}
		}
	}()
	go func() {
		defer wg.Done()
		chunk := make([]byte, 64<<10)
		var off int64
		for {
			select {
			case <-stop:
				res.TCPBytes = off
				tcpErr = tc.(*net.TCPConn).CloseWrite()
				return
			default:
			}
			for i := range chunk {
				chunk[i] = pattern(off + int64(i))
			}
			tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := tc.Write(chunk); err != nil {
				tcpErr = err
				<-stop
				res.TCPBytes = off
				return
			}
			off += int64(len(chunk))
		}
	}()
	for l := range lines {
		if l == "STOP" {
			break
		}
	}
	close(stop)
	wg.Wait()
	if err := errors.Join(tcpErr, udpErr); err != nil {
		res.Err = err.Error()
	}
	return res
}

// swapProc is a running traffic child.
type swapProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startSwapChild starts the traffic child of role in namespace ns and waits
// for its READY line.
func startSwapChild(tb testing.TB, role string, ns *testNS, pps int) *swapProc {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSwapTrafficChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), swapChildEnv+"="+role, swapNSEnv+"="+ns.name, swapPPSEnv+"="+strconv.Itoa(pps))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &swapProc{cmd: cmd, in: in, lines: make(chan string, 16)}
	tb.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill() // our own child, by pid
			<-done
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	if l := p.expect(tb, "READY", 10*time.Second); strings.HasPrefix(l, "RESULT") {
		tb.Fatalf("%s child failed: %s", role, l)
	}
	return p
}

// expect waits for a line starting with prefix (or a RESULT line, which
// ends every child) and returns it.
func (p *swapProc) expect(tb testing.TB, prefix string, timeout time.Duration) string {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				tb.Fatalf("traffic child exited before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) || strings.HasPrefix(l, "RESULT ") {
				return l
			}
		case <-deadline:
			tb.Fatalf("traffic child: no %q within %v", prefix, timeout)
		}
	}
}

// result sends line (if any) and reads the child's RESULT.
func (p *swapProc) result(tb testing.TB, line string) swapChildResult {
	tb.Helper()
	if line != "" {
		fmt.Fprintln(p.in, line)
	}
	l := p.expect(tb, "RESULT ", 20*time.Second)
	var r swapChildResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "RESULT ")), &r); err != nil {
		tb.Fatalf("child result %q: %v", l, err)
	}
	return r
}

// runSwap forwards a sequence-numbered UDP stream and a bulk TCP transfer
// between two namespaces through an Engine while it swaps, o.swaps times,
// snapshots whose client table holds o.routes routes (each table built
// while the traffic runs, then published with Engine.Apply). It returns
// what it saw; swapFailures judges.
func runSwap(tb testing.TB, o swapOptions) swapResult {
	tb.Helper()
	requireRoot(tb)
	res := swapResult{Swaps: o.swaps, Routes: o.routes}
	cliNS, srvNS := newTestNS(tb), newTestNS(tb)
	cliName, srvName := fmt.Sprintf("vrc%d", os.Getpid()), fmt.Sprintf("vrs%d", os.Getpid())
	cliDev := cliNS.openTUN(tb, cliName)
	srvDev := srvNS.openTUN(tb, srvName)
	cliNS.configure(tb, cliName, []string{"192.168.1.10/24"}, []string{"10.77.0.0/16"})
	srvNS.configure(tb, srvName, []string{"192.168.2.10/24", swapService.String() + "/32"}, []string{"192.168.1.0/24"})

	n := newScaleNet(tb, 0, 0, cliDev, srvDev)
	t0, h0 := n.swapTable(tb, o.routes, 0)
	n.client.Table, n.s.RouteHits = t0, h0
	e := New()
	e.Apply(n.s)
	tb.Cleanup(e.Stop)

	snmp0, srvSnmp0 := cliNS.snmp(tb), srvNS.snmp(tb)
	tun0 := cliNS.linkStats(tb, cliName).TxDropped + srvNS.linkStats(tb, srvName).TxDropped
	server := startSwapChild(tb, "server", srvNS, 0)
	client := startSwapChild(tb, "client", cliNS, o.udpPPS)

	// The reloads: build the next table while the traffic runs, publish it.
	begin := time.Now()
	time.Sleep(o.settle)
	fmt.Fprintln(server.in, "MARK")
	for v := 1; v <= o.swaps; v++ {
		start := time.Now()
		t, hits := n.swapTable(tb, o.routes, v)
		build := time.Since(start)
		res.BuildMax = max(res.BuildMax, build)
		e.Apply(n.withTable(t, hits, uint32(1+v)))
		// The service must be reached through the new table.
		if r, ok := e.Snapshot().Port(n.client.ID).Table.Lookup(swapService); !ok || r.Group != n.hopGroup {
			tb.Fatalf("swap %d: %v does not route to the next hop", v, swapService)
		}
		tb.Logf("swap %d: %d-route table built in %v while the traffic ran (from %v), applied at %v",
			v, t.Len(), build.Round(time.Millisecond), start.Sub(begin).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	}
	time.Sleep(o.settle)
	cr := client.result(tb, "STOP")
	sr := server.result(tb, fmt.Sprintf("SENT %d", cr.UDPSent))
	if cr.Err != "" || sr.Err != "" {
		tb.Errorf("traffic: client %q, server %q", cr.Err, sr.Err)
	}
	if sr.Gaps != "" {
		tb.Logf("TCP read gaps over 20 ms (length@time): %s", sr.Gaps)
	}
	res.UDPSent, res.UDPLost, res.UDPDup = cr.UDPSent, sr.UDPLost, sr.UDPDup
	res.TCPBytes = sr.TCPBytes
	if sr.TCPBytes != cr.TCPBytes {
		tb.Errorf("TCP: %d bytes sent, %d received", cr.TCPBytes, sr.TCPBytes)
	}
	res.TCPMaxGap, res.GapBefore = time.Duration(sr.MaxGapUS)*time.Microsecond, time.Duration(sr.GapMarkUS)*time.Microsecond

	snmp1, srvSnmp1 := cliNS.snmp(tb), srvNS.snmp(tb)
	res.TCPRetrans = snmp1["Tcp.RetransSegs"] - snmp0["Tcp.RetransSegs"]
	res.TCPLossProbes = snmp1["TcpExt.TCPLossProbes"] - snmp0["TcpExt.TCPLossProbes"]
	res.TCPDSACKRecv = snmp1["TcpExt.TCPDSACKRecvSegs"] - snmp0["TcpExt.TCPDSACKRecvSegs"]
	res.TCPOFO = srvSnmp1["TcpExt.TCPOFOQueue"] - srvSnmp0["TcpExt.TCPOFOQueue"]
	res.TUNTxDropped = cliNS.linkStats(tb, cliName).TxDropped + srvNS.linkStats(tb, srvName).TxDropped - tun0
	res.EngineDrops = map[string]uint64{}
	for _, p := range []*Port{n.client, n.hop} {
		for r := range p.Counters.Drops {
			if v := p.Counters.Drops[r].Load(); v != 0 {
				res.EngineDrops[p.Name+"/"+stats.DropReason(r).String()] += v
			}
		}
	}
	return res
}

// swapFailures lists the ways res shows a lost packet (P4): a UDP sequence
// number that never arrived; a hole at the TCP receiver (a segment queued
// out of order — on this single path only a loss makes one); a segment the
// TCP sender retransmitted that the receiver did not report back as a
// duplicate (DSACK) — retransmissions it did report were sent again by a
// timer (tail-loss probe) while the CPUs were taken, not because they were
// lost; a drop counted by the engine; a TUN queue the kernel found full.
// Read gaps are reported, not judged: on a loaded 2-vCPU VM they are as long
// before the first swap as after it.
func swapFailures(res swapResult) []string {
	var out []string
	if res.UDPSent == 0 || res.TCPBytes == 0 {
		out = append(out, fmt.Sprintf("no traffic flowed: UDP %d datagrams, TCP %d bytes", res.UDPSent, res.TCPBytes))
	}
	if res.UDPLost != 0 {
		out = append(out, fmt.Sprintf("%d of %d UDP datagrams of an established flow lost across the swaps", res.UDPLost, res.UDPSent))
	}
	if res.TCPOFO != 0 {
		out = append(out, fmt.Sprintf("the TCP receiver queued %d segments out of order: a segment was lost", res.TCPOFO))
	}
	if res.TCPRetrans > res.TCPDSACKRecv {
		out = append(out, fmt.Sprintf("the TCP sender retransmitted %d segments, only %d of them reported as duplicates", res.TCPRetrans, res.TCPDSACKRecv))
	}
	if len(res.EngineDrops) != 0 || res.TUNTxDropped != 0 {
		out = append(out, fmt.Sprintf("drops during the swaps: engine %v, TUN queue full %d", res.EngineDrops, res.TUNTxDropped))
	}
	return out
}

// logSwap describes res.
func logSwap(tb testing.TB, res swapResult) {
	tb.Helper()
	tb.Logf("P4 swap: %d swaps of %d-route tables (longest build %v); UDP %d sent, %d lost, %d duplicated; TCP %.1f MiB intact, out-of-order at receiver %d, retransmitted %d (DSACKed %d, loss probes %d), longest read gap %v (%v before the first swap); TUN queue-full drops %d; engine drops %v",
		res.Swaps, res.Routes, res.BuildMax.Round(time.Millisecond), res.UDPSent, res.UDPLost, res.UDPDup,
		float64(res.TCPBytes)/(1<<20), res.TCPOFO, res.TCPRetrans, res.TCPDSACKRecv, res.TCPLossProbes,
		res.TCPMaxGap.Round(time.Millisecond), res.GapBefore.Round(time.Millisecond), res.TUNTxDropped, res.EngineDrops)
}

// tcpLost counts TCP segments that may have been lost: retransmissions the
// receiver did not report as duplicates, and segments it queued out of
// order.
func (r swapResult) tcpLost() uint64 {
	lost := r.TCPOFO
	if r.TCPRetrans > r.TCPDSACKRecv {
		lost += r.TCPRetrans - r.TCPDSACKRecv
	}
	return lost
}

func sumDrops(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

// swapRoutesFor is the table size of the swap test: 1,000,000 (SPEC P4),
// 50,000 under -race, where building the tables is about ten times slower.
func swapRoutesFor() int {
	if raceEnabled() {
		return 50_000
	}
	return scaleN
}

// swapDefaults is the shape of the P4 swap run: three reloads, a 1 kpps
// UDP stream beside the bulk TCP transfer. The UDP rate is what a TUN's
// queue (500 packets) absorbs through the longest scheduling stalls seen on
// the loaded 2-vCPU development VM (about 400 ms, with or without reloads):
// a faster stream measures the machine's noise, not the reload; any loss
// the reload itself caused would still show at this rate.
func swapDefaults() swapOptions {
	return swapOptions{routes: swapRoutesFor(), swaps: 3, settle: time.Second, udpPPS: 1000}
}

// TestSwap1MRoutesNoLoss is P4's reload half: three reloads, each swapping
// in a table of 1,000,000 routes built while a UDP stream and a TCP
// transfer of established flows cross the engine, lose nothing.
func TestSwap1MRoutesNoLoss(t *testing.T) {
	requireRoot(t)
	if testing.Short() {
		t.Skip("P4 swap: builds four 1M-route tables")
	}
	res := runSwap(t, swapDefaults())
	logSwap(t, res)
	for _, f := range swapFailures(res) {
		t.Errorf("P4: %s", f)
	}
}

// BenchmarkSwap1MRoutes reports the P4 swap figures for vbench, which
// judges them (one run per iteration; losses are logged and reported as
// metrics, not failures, so that the figures always reach the table).
func BenchmarkSwap1MRoutes(b *testing.B) {
	requireRoot(b)
	releaseP3Fixture()
	var res swapResult
	for b.Loop() {
		res = runSwap(b, swapDefaults())
	}
	logSwap(b, res)
	for _, f := range swapFailures(res) {
		b.Logf("P4 loss: %s", f)
	}
	b.ReportMetric(float64(res.Swaps), "swaps")
	b.ReportMetric(float64(res.Routes), "routes")
	b.ReportMetric(float64(res.UDPSent), "udp-sent")
	b.ReportMetric(float64(res.UDPLost), "udp-lost")
	b.ReportMetric(float64(res.TCPBytes)/(1<<20), "tcp-MiB")
	b.ReportMetric(float64(res.tcpLost()), "tcp-lost")
	b.ReportMetric(float64(res.TUNTxDropped+sumDrops(res.EngineDrops)), "drops")
	b.ReportMetric(float64(res.TCPRetrans), "tcp-retrans")
	b.ReportMetric(float64(res.TCPMaxGap.Microseconds())/1000, "tcp-max-gap-ms")
	b.ReportMetric(res.BuildMax.Seconds(), "build-s")
}
