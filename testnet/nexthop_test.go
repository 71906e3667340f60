package testnet

// Next-hop scenarios of SPEC §4: load balancing over 2–4 equal-weight next
// hops (F8) and health-checked active/standby next hops (F9), run against the
// real vrouterd (Q4: a next-hop instance that dies is routed around).
//
// Topology of every test (nhConfig): one VPC 192.168.0.0/16 with a client
// VSwitch vsw-cli (192.168.1.0/24, custom table vtb-cli) holding i-cli and an
// appliance VSwitch vsw-fw (192.168.2.0/24, system table) holding the
// appliances i-fw1…i-fwN. vtb-cli routes 10.99.0.0/16 over next_hops of the
// appliances. Every appliance owns 10.99.0.1/32 on its loopback, so its
// kernel accepts what the VRouter hands it (F10: written to its port
// unchanged) and the test can see, per appliance, which flows it was given.
// The appliances' security group admits everything from vsw-cli; their
// source_dest_check defaults to false because they are next hops (F4).
//
// Helpers here carry an "nh" prefix so that they never collide with those of
// the other scenario files. The tests do not run in parallel: each registers
// CleanupPrefix, which sweeps the test process's namespaces once vrouterd
// has stopped.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	nhTable = "vtb-cli"
	nhDst   = "10.99.0.0/16"
	nhVIP   = "10.99.0.1"     // owned by every appliance's lo
	nhCli   = "192.168.1.10"  // i-cli
	nhGwFw  = "192.168.2.253" // gateway of vsw-fw (V9), the appliances' default route
)

// nhHop is one next hop of the route entry under test.
type nhHop struct {
	id     string // instance id, i-fwK
	ns     string // its namespace, Prefix()+"-fwK"
	weight int
}

// nhHops returns n appliances i-fw1…i-fwn with the given weights (one weight
// per hop).
func nhHops(weights ...int) []nhHop {
	hops := make([]nhHop, len(weights))
	for i, w := range weights {
		hops[i] = nhHop{id: fmt.Sprintf("i-fw%d", i+1), ns: fmt.Sprintf("%s-fw%d", Prefix(), i+1), weight: w}
	}
	return hops
}

// nhConfig is the configuration of the tests' topology; healthCheck is the
// flow-style YAML of the entry's health_check, or "" for the defaults.
func nhConfig(hops []nhHop, healthCheck string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-nh
    name: nh
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-cli, zone: cn-hangzhou-b, cidr: 192.168.1.0/24, route_table: %s}
      - {id: vsw-fw, zone: cn-hangzhou-b, cidr: 192.168.2.0/24}
    route_tables:
      - id: %s
        name: cli
        routes:
          - dst: %s
            next_hops:
`, nhTable, nhTable, nhDst)
	for _, h := range hops {
		fmt.Fprintf(&b, "              - {id: %s, weight: %d}\n", h.id, h.weight)
	}
	if healthCheck != "" {
		fmt.Fprintf(&b, "            health_check: %s\n", healthCheck)
	}
	fmt.Fprintf(&b, `    security_groups:
      - id: sg-fw
        rules:
          - {direction: ingress, policy: accept, priority: 1, protocol: all, port_range: -1/-1, source_cidr: 192.168.1.0/24}
instances:
  - {id: i-cli, vswitch: vsw-cli, ip: %s, netns: "%s-cli"}
`, nhCli, Prefix())
	for i, h := range hops {
		fmt.Fprintf(&b, "  - {id: %s, vswitch: vsw-fw, ip: 192.168.2.%d, security_groups: [sg-fw], netns: %q}\n", h.id, 11+i, h.ns)
	}
	return b.String()
}

// nhStart starts vrouterd with the topology and gives every appliance
// 10.99.0.1/32 on lo. It returns the daemon and the client's namespace.
func nhStart(t *testing.T, hops []nhHop, healthCheck string) (*Daemon, string) {
	t.Helper()
	RequireRoot(t)
	CleanupPrefix(t)
	start := time.Now()
	d := StartVrouterd(t, nhConfig(hops, healthCheck))
	t.Logf("vrouterd ready with %d ports in %v", d.Ports, time.Since(start).Round(time.Millisecond))
	for _, h := range hops {
		if err := AddrAdd(h.ns, "lo", netip.MustParsePrefix(nhVIP+"/32")); err != nil {
			t.Fatal(err)
		}
	}
	return d, Prefix() + "-cli"
}

// nhSetLink brings ifname in ns up or down. Taking an appliance's eth0 down
// is how the tests kill a next hop: its probes and its traffic stop.
func nhSetLink(ns, ifname string, up bool) error {
	return withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		if up {
			return h.LinkSetUp(l)
		}
		return h.LinkSetDown(l)
	})
}

// nhRevive brings an appliance's eth0 back up with its default route, which
// the kernel removed when the link went down (the connected route returns by
// itself).
func nhRevive(ns string) error {
	if err := nhSetLink(ns, "eth0", true); err != nil {
		return err
	}
	return RouteAdd(ns, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr(nhGwFw), "eth0")
}

// ---- metrics

// nhMetricValue returns the sum of the samples of family name whose labels
// include every "key=value" of labels, and whether any sample matched.
func nhMetricValue(text, name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		sp := strings.LastIndexByte(rest, ' ')
		if sp < 0 {
			continue
		}
		match := true
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if !strings.Contains(rest[:sp], k+`="`+v+`"`) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest[sp+1:]), 64); err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// nhUp returns vrouter_nexthop_up of one next hop of the entry under test;
// it fails the test when the sample is missing.
func nhUp(t *testing.T, d *Daemon, hop string) float64 {
	t.Helper()
	text, err := d.Metrics()
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	v, ok := nhMetricValue(text, "vrouter_nexthop_up", "table="+nhTable, "dst="+nhDst, "next_hop="+hop)
	if !ok {
		t.Fatalf(`no vrouter_nexthop_up{table=%q,dst=%q,next_hop=%q} sample in /metrics`, nhTable, nhDst, hop)
	}
	return v
}

// nhTransitions returns vrouter_nexthop_transitions_total.
func nhTransitions(t *testing.T, d *Daemon) float64 {
	t.Helper()
	text, err := d.Metrics()
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	v, ok := nhMetricValue(text, "vrouter_nexthop_transitions_total")
	if !ok {
		t.Fatal("no vrouter_nexthop_transitions_total sample in /metrics")
	}
	return v
}

// nhLogCounters logs the port and drop counters of vrouterd, to tell where
// datagrams were lost.
func nhLogCounters(t *testing.T, d *Daemon) {
	t.Helper()
	text, err := d.Metrics()
	if err != nil {
		t.Logf("scrape /metrics: %v", err)
		return
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "vrouter_drops_total") || strings.HasPrefix(l, "vrouter_port_packets_total") {
			lines = append(lines, l)
		}
	}
	t.Logf("vrouterd counters:\n%s", strings.Join(lines, "\n"))
}

// nhCheckUp fails the test unless vrouter_nexthop_up of every hop in want
// reaches its wanted value within 2 s (the gauge is read at scrape time, so
// it never trails the log line, but allow for a scrape racing the flip).
func nhCheckUp(t *testing.T, d *Daemon, want map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		bad := ""
		for hop, w := range want {
			if v := nhUp(t, d, hop); v != w {
				bad += fmt.Sprintf(" %s=%v(want %v)", hop, v, w)
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("vrouter_nexthop_up{table=%q,dst=%q}:%s", nhTable, nhDst, bad)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nhCheckTransitionLog checks the fields of a "next hop down"/"next hop up"
// line.
func nhCheckTransitionLog(t *testing.T, e map[string]any, hop nhHop, addr string) {
	t.Helper()
	if e["next_hop"] != hop.id || e["addr"] != addr {
		t.Errorf("%q line names next_hop=%v addr=%v, want %s %s: %v", e["msg"], e["next_hop"], e["addr"], hop.id, addr, e)
	}
	if k, _ := e["key"].(string); k == "" {
		t.Errorf("%q line has no key: %v", e["msg"], e)
	}
}

// ---- UDP sinks

// nhDatagram is one datagram an appliance received.
type nhDatagram struct {
	at    time.Time // when the reader got it
	seq   uint32    // first 4 payload bytes, big endian
	sport uint16    // its source port (the flow, for F8)
}

// nhSink is a UDP listener inside an appliance that records every datagram;
// recs is guarded by mu, changed is closed and replaced on every datagram.
type nhSink struct {
	name    string
	mu      sync.Mutex
	recs    []nhDatagram
	changed chan struct{}
}

// nhListenUDP listens on addr in ns until the test ends.
func nhListenUDP(t *testing.T, ns, addr, name string) *nhSink {
	t.Helper()
	c, err := ListenUDP(ns, addr)
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	if err := c.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	s := &nhSink{name: name, changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			dg := nhDatagram{at: time.Now(), sport: from.Port()}
			if n >= 4 {
				dg.seq = binary.BigEndian.Uint32(buf)
			}
			s.mu.Lock()
			s.recs = append(s.recs, dg)
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

// count is the number of datagrams received so far.
func (s *nhSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

// records returns a copy of what was received so far.
func (s *nhSink) records() []nhDatagram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]nhDatagram(nil), s.recs...)
}

// firstAfter waits up to timeout for a datagram received after t0 and returns
// it.
func (s *nhSink) firstAfter(t0 time.Time, timeout time.Duration) (nhDatagram, bool) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, r := range s.recs {
			if r.at.After(t0) {
				s.mu.Unlock()
				return r, true
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return nhDatagram{}, false
		}
	}
}

// ---- F8 distribution

// nhSendFlows sends one UDP flow per source port 20000…20000+flows-1 from
// nhCli to dst inside ns: each flow is its own socket, bound to its port,
// sending copies datagrams carrying the flow's index. It keeps at most
// nhWindow datagrams in flight (sent but not yet counted by received), so
// that a vrouterd or receiver descheduled on a busy machine does not make
// the TUN queue overflow; after waiting 500 ms for the window it goes on
// regardless (losses then show in the counts).
func nhSendFlows(ns string, dst netip.AddrPort, flows, copies int, received func() int) error {
	const nhWindow = 256
	src := netip.MustParseAddr(nhCli).As4()
	to := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	return InNS(ns, func() error {
		payload := make([]byte, 32)
		sent := 0
		for i := range flows {
			for deadline := time.Now().Add(500 * time.Millisecond); sent-received() > nhWindow && time.Now().Before(deadline); {
				time.Sleep(200 * time.Microsecond)
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = unix.Bind(fd, &unix.SockaddrInet4{Port: 20000 + i, Addr: src})
			binary.BigEndian.PutUint32(payload, uint32(i))
			for c := 0; c < copies && err == nil; c++ {
				err = unix.Sendto(fd, payload, 0, to)
				sent++
			}
			unix.Close(fd)
			if err != nil {
				return fmt.Errorf("flow %d (source port %d): %w", i, 20000+i, err)
			}
		}
		return nil
	})
}

// TestF8ECMPDistribution2 and TestF8ECMPDistribution4: SPEC F8, flows spread
// evenly over the members of a load-balancing entry.
func TestF8ECMPDistribution2(t *testing.T) { nhECMPDistribution(t, 2) }
func TestF8ECMPDistribution4(t *testing.T) { nhECMPDistribution(t, 4) }

// nhECMPDistribution sends nhFlows distinct UDP flows (source ports) over an
// n-member load-balancing entry and checks that every flow went to exactly
// one member and that each member got 1/n ± 10% of the flows (F8).
//
// F8 asks for the bound on "1,000 or more flows". With 1,000 flows and 4
// members, even an ideal random hash puts some member outside 250 ± 25
// about a quarter of the time (binomial σ ≈ 13.7, so ±25 is only 1.8σ),
// which would make the test flaky without saying anything about vrouter;
// 4,000 flows make ±10% a 3.6σ bound (σ ≈ 27 around 1,000) while keeping
// the same relative tolerance. (vrouter's hash seed is a constant,
// compile.HashSeed, so these source ports always split the same way; the
// margin matters when the hash or its seed changes.)
func nhECMPDistribution(t *testing.T, n int) {
	const (
		nhFlows  = 4000
		nhCopies = 2 // two datagrams per flow: one lost datagram does not lose the flow
	)
	weights := make([]int, n)
	for i := range weights {
		weights[i] = 100
	}
	hops := nhHops(weights...)
	d, cli := nhStart(t, hops, "")
	sinks := make([]*nhSink, n)
	for i, h := range hops {
		sinks[i] = nhListenUDP(t, h.ns, nhVIP+":9000", h.id)
	}
	want := map[string]float64{}
	for _, h := range hops {
		want[h.id] = 1
	}
	nhCheckUp(t, d, want)

	received := func() int {
		sum := 0
		for _, s := range sinks {
			sum += s.count()
		}
		return sum
	}
	start := time.Now()
	if err := nhSendFlows(cli, netip.MustParseAddrPort(nhVIP+":9000"), nhFlows, nhCopies, received); err != nil {
		t.Fatalf("send flows: %v", err)
	}
	sendTime := time.Since(start)
	// Wait until the counts stop growing (every datagram is in, or lost).
	total := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		sum := received()
		if sum == total || sum == nhFlows*nhCopies {
			total = sum
			break
		}
		total = sum
	}

	// flow (source port) → member index; a flow seen at two members moved.
	owner := map[uint16]int{}
	perMember := make([]int, n)
	split := 0
	for i, s := range sinks {
		for _, r := range s.records() {
			prev, seen := owner[r.sport]
			switch {
			case !seen:
				owner[r.sport] = i
				perMember[i]++
			case prev != i:
				split++
				if split <= 5 {
					t.Errorf("flow from source port %d reached both %s and %s (F8: a flow never moves while its member is healthy)", r.sport, hops[prev].id, hops[i].id)
				}
			}
		}
	}
	if split > 0 {
		t.Errorf("%d datagrams of flows already seen at another member", split)
	}
	got := len(owner)
	var dist []string
	for i, h := range hops {
		dist = append(dist, fmt.Sprintf("%s=%d (%.1f%%)", h.id, perMember[i], 100*float64(perMember[i])/float64(max(got, 1))))
	}
	t.Logf("F8 %d members: %d/%d flows seen (%d/%d datagrams) in %v: %s",
		n, got, nhFlows, total, nhFlows*nhCopies, sendTime.Round(time.Millisecond), strings.Join(dist, ", "))
	if total < nhFlows*nhCopies {
		nhLogCounters(t, d)
	}
	if got < nhFlows*99/100 {
		t.Fatalf("only %d of %d flows reached any member", got, nhFlows)
	}
	ideal := float64(nhFlows) / float64(n)
	lo, hi := ideal*0.9, ideal*1.1
	for i, h := range hops {
		if c := float64(perMember[i]); c < lo || c > hi {
			t.Errorf("%s got %d flows, want 1/%d of %d ± 10%% = [%.0f, %.0f] (F8)", h.id, perMember[i], n, nhFlows, lo, hi)
		}
	}
	// Nobody failed a probe meanwhile.
	nhCheckUp(t, d, want)
	if v := nhTransitions(t, d); v != 0 {
		t.Errorf("vrouter_nexthop_transitions_total = %v, want 0 (every appliance answers its probes)", v)
	}
}

// ---- F9 active/standby

// nhStream sends a datagram carrying an increasing sequence number every
// interval on c until stop is closed; it returns how many it sent through
// sent when it ends.
func nhStream(c *net.UDPConn, interval time.Duration, stop <-chan struct{}, sent chan<- int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	buf := make([]byte, 16)
	seq := 0
	for {
		select {
		case <-stop:
			sent <- seq
			return
		case <-tick.C:
		}
		binary.BigEndian.PutUint32(buf, uint32(seq))
		seq++
		// Errors (none expected: the client's route is up) show as
		// missing sequence numbers.
		_, _ = c.Write(buf)
	}
}

// TestF9ActiveStandbyFailover: SPEC F9. Traffic uses the weight-100 hop; when
// its interface goes down it moves to the weight-0 hop within failures ×
// interval + timeout + 100 ms, and back after successes good probes once
// the interface returns. Checks the transition log lines (R9) and
// vrouter_nexthop_up / vrouter_nexthop_transitions_total (R8).
func TestF9ActiveStandbyFailover(t *testing.T) {
	const (
		interval  = 200 * time.Millisecond
		timeout   = 150 * time.Millisecond
		failures  = 3
		successes = 3
		every     = 5 * time.Millisecond
	)
	hops := nhHops(100, 0)
	active, standby := hops[0], hops[1]
	activeAddr := "192.168.2.11"
	d, cli := nhStart(t, hops, fmt.Sprintf("{interval: %v, timeout: %v, failures: %d, successes: %d}", interval, timeout, failures, successes))
	atActive := nhListenUDP(t, active.ns, nhVIP+":9000", active.id)
	atStandby := nhListenUDP(t, standby.ns, nhVIP+":9000", standby.id)
	nhCheckUp(t, d, map[string]float64{active.id: 1, standby.id: 1})

	c, err := DialUDP(cli, "", nhVIP+":9000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	stop, sent := make(chan struct{}), make(chan int, 1)
	go nhStream(c, every, stop, sent)
	stopped := false
	stopStream := func() int {
		if stopped {
			return 0
		}
		stopped = true
		close(stop)
		return <-sent
	}
	t.Cleanup(func() { stopStream() })

	// Steady state: everything at the active hop.
	if _, ok := atActive.firstAfter(time.Time{}, 3*time.Second); !ok {
		t.Fatalf("no datagram reached the active hop %s", active.id)
	}
	time.Sleep(300 * time.Millisecond)
	if n := atStandby.count(); n != 0 {
		t.Fatalf("standby %s received %d datagrams while the active hop is healthy (F9)", standby.id, n)
	}
	transitions0 := nhTransitions(t, d)

	// Kill the active hop.
	mark := d.LogMark()
	down := time.Now()
	if err := nhSetLink(active.ns, "eth0", false); err != nil {
		t.Fatal(err)
	}
	bound := failures*interval + timeout + 100*time.Millisecond
	first, ok := atStandby.firstAfter(down, bound+3*time.Second)
	if !ok {
		t.Fatalf("no datagram reached the standby %s within %v of taking %s down", standby.id, bound+3*time.Second, active.id)
	}
	failover := first.at.Sub(down)
	var lastActive time.Time
	for _, r := range atActive.records() {
		lastActive = r.at
	}
	t.Logf("F9 failover: first datagram at the standby %v after the active's eth0 went down (bound %v); the last one at the active arrived %v after the down",
		failover.Round(time.Millisecond), bound, lastActive.Sub(down).Round(time.Millisecond))
	if failover > bound {
		t.Errorf("failover took %v, want ≤ failures×interval + timeout + 100ms = %v (F9)", failover.Round(time.Millisecond), bound)
	}
	e, err := d.WaitLog(mark, "next hop down", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nhCheckTransitionLog(t, e, active, activeAddr)
	nhCheckUp(t, d, map[string]float64{active.id: 0, standby.id: 1})
	if v := nhTransitions(t, d); v != transitions0+1 {
		t.Errorf("vrouter_nexthop_transitions_total = %v after the failover, want %v", v, transitions0+1)
	}

	// Let the standby carry the traffic for a while, then revive the active.
	time.Sleep(500 * time.Millisecond)
	mark = d.LogMark()
	activeBefore := atActive.count()
	up := time.Now()
	if err := nhRevive(active.ns); err != nil {
		t.Fatal(err)
	}
	backBound := successes*interval + 200*time.Millisecond
	back, ok := atActive.firstAfter(up, backBound+3*time.Second)
	if !ok {
		t.Fatalf("no datagram returned to the active %s within %v of its eth0 coming back", active.id, backBound+3*time.Second)
	}
	failback := back.at.Sub(up)
	t.Logf("F9 failback: first datagram back at the active %v after its eth0 came up (bound successes×interval + 200ms = %v); %d datagrams at the active before",
		failback.Round(time.Millisecond), backBound, activeBefore)
	if failback > backBound {
		t.Errorf("traffic returned to the active after %v, want ≤ %v (F9: back after %d good probes %v apart)", failback.Round(time.Millisecond), backBound, successes, interval)
	}
	e, err = d.WaitLog(mark, "next hop up", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nhCheckTransitionLog(t, e, active, activeAddr)
	nhCheckUp(t, d, map[string]float64{active.id: 1, standby.id: 1})
	if v := nhTransitions(t, d); v != transitions0+2 {
		t.Errorf("vrouter_nexthop_transitions_total = %v after the failback, want %v", v, transitions0+2)
	}

	// The standby is idle again.
	time.Sleep(100 * time.Millisecond)
	idle := atStandby.count()
	time.Sleep(400 * time.Millisecond)
	if n := atStandby.count(); n != idle {
		t.Errorf("standby %s still received %d datagrams after the active came back (F9)", standby.id, n-idle)
	}
	total := stopStream()
	time.Sleep(100 * time.Millisecond)
	recv := atActive.count() + atStandby.count()
	t.Logf("stream: %d datagrams sent every %v, %d received (%d at %s, %d at %s), %d lost around the failover",
		total, every, recv, atActive.count(), active.id, atStandby.count(), standby.id, total-recv)
}

// ---- F8 survivors

// ---- F8 survivors

// nhGapMin is the shortest pause between good echoes that a connection
// records (five exchange periods).
const nhGapMin = 100 * time.Millisecond

// nhGap is a time without a good echo on a connection.
type nhGap struct{ from, to time.Time }

func (g nhGap) length() time.Duration { return g.to.Sub(g.from) }

// nhOverlap is the longest overlap of g with any of gs.
func nhOverlap(g nhGap, gs []nhGap) time.Duration {
	var best time.Duration
	for _, o := range gs {
		from, to := g.from, g.to
		if o.from.After(from) {
			from = o.from
		}
		if o.to.Before(to) {
			to = o.to
		}
		best = max(best, to.Sub(from))
	}
	return best
}

// nhConnState is what one long TCP connection saw; the fields are written
// by its exchange goroutine and read after it ended.
type nhConnState struct {
	member  string // first line of the server: the appliance's id
	echoes  int
	lastOK  time.Time
	gaps    []nhGap // pauses between good echoes longer than nhGapMin
	err     error
	errTime time.Time
}

// longest returns the longest of st.gaps.
func (st *nhConnState) longest() nhGap {
	var g nhGap
	for _, x := range st.gaps {
		if x.length() > g.length() {
			g = x
		}
	}
	return g
}

// nhEchoServer runs a TCP server on addr in ns that sends id as its first
// line and then echoes, until the test ends.
func nhEchoServer(t *testing.T, ns, addr, id string) {
	t.Helper()
	l, err := ListenTCP(ns, addr)
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := io.WriteString(c, id+"\n"); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// nhDialEcho connects from ns to an nhEchoServer at addr and reads its id.
func nhDialEcho(ns, addr string) (net.Conn, *bufio.Reader, string, error) {
	c, err := DialTCP(ns, addr, 3*time.Second)
	if err != nil {
		return nil, nil, "", err
	}
	r := bufio.NewReader(c)
	if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		c.Close()
		return nil, nil, "", err
	}
	id, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, nil, "", fmt.Errorf("reading the server's id: %w", err)
	}
	return c, r, strings.TrimSuffix(id, "\n"), nil
}

// nhExchange writes a numbered line on c every period and reads its echo
// until stop is closed, recording into st.
func nhExchange(c net.Conn, r *bufio.Reader, period time.Duration, stop <-chan struct{}, st *nhConnState) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		msg := fmt.Sprintf("%s %d\n", st.member, i)
		err := c.SetDeadline(time.Now().Add(3 * time.Second))
		if err == nil {
			_, err = io.WriteString(c, msg)
		}
		var line string
		if err == nil {
			line, err = r.ReadString('\n')
		}
		if err == nil && line != msg {
			err = fmt.Errorf("echo %q, want %q", line, msg)
		}
		now := time.Now()
		if err != nil {
			select {
			case <-stop: // unblocked by the test at the end
			default:
				st.err, st.errTime = err, now
			}
			return
		}
		if now.Sub(st.lastOK) > nhGapMin {
			st.gaps = append(st.gaps, nhGap{st.lastOK, now})
		}
		st.lastOK = now
		st.echoes++
	}
}

// TestF8SurvivorFlowUndisturbed: SPEC F8 and Q4. Long TCP connections over a
// three-member load-balancing entry exchange a line every 20 ms; when one
// member's interface goes down and its health check marks it down, only its
// flows move: connections on the surviving members go on without an error or
// a pause over 500 ms.
//
// A control connection from the same client to i-fw2's own address (the
// system route, untouched by the failure) runs alongside: on a loaded machine
// vrouterd or the test process itself may be descheduled for a while, which
// stalls every connection at once. A survivor's pause counts against F8 only
// for the part the control connection did not share.
func TestF8SurvivorFlowUndisturbed(t *testing.T) {
	const (
		period   = 20 * time.Millisecond
		maxPause = 500 * time.Millisecond
		minConn  = 30
		maxConn  = 120
	)
	hops := nhHops(100, 100, 100)
	victim := hops[0]
	d, cli := nhStart(t, hops, "{interval: 200ms, timeout: 150ms, failures: 3, successes: 3}")
	for _, h := range hops {
		nhEchoServer(t, h.ns, nhVIP+":7000", h.id)
	}
	nhEchoServer(t, hops[1].ns, "192.168.2.12:7001", "control")
	nhCheckUp(t, d, map[string]float64{hops[0].id: 1, hops[1].id: 1, hops[2].id: 1})

	// Open connections until every member holds at least two; the control
	// connection comes last.
	var conns []net.Conn
	var readers []*bufio.Reader
	var states []*nhConnState
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	perMember := map[string]int{}
	enough := func() bool {
		for _, h := range hops {
			if perMember[h.id] < 2 {
				return false
			}
		}
		return true
	}
	add := func(addr string) string {
		c, r, id, err := nhDialEcho(cli, addr)
		if err != nil {
			t.Fatalf("connection %d to %s: %v", len(conns)+1, addr, err)
		}
		conns, readers = append(conns, c), append(readers, r)
		states = append(states, &nhConnState{member: id})
		return id
	}
	for len(conns) < minConn || (!enough() && len(conns) < maxConn) {
		perMember[add(nhVIP+":7000")]++
	}
	t.Logf("%d connections: %v", len(conns), perMember)
	if !enough() {
		t.Fatalf("after %d connections some member holds fewer than 2: %v (F8: flows spread evenly)", len(conns), perMember)
	}
	add("192.168.2.12:7001")
	control := states[len(states)-1]

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range conns {
		states[i].lastOK = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			nhExchange(conns[i], readers[i], period, stop, states[i])
		}()
	}
	finish := func() {
		select {
		case <-stop:
			return
		default:
		}
		close(stop)
		for _, c := range conns {
			// Unblock readers stalled on the dead member.
			_ = c.SetDeadline(time.Now())
		}
		wg.Wait()
	}
	t.Cleanup(finish)

	time.Sleep(time.Second) // a baseline of exchanges everywhere
	mark := d.LogMark()
	down := time.Now()
	if err := nhSetLink(victim.ns, "eth0", false); err != nil {
		t.Fatal(err)
	}
	e, err := d.WaitLog(mark, "next hop down", 3*time.Second)
	if err != nil {
		finish()
		t.Fatal(err)
	}
	detected := time.Since(down)
	nhCheckTransitionLog(t, e, victim, "192.168.2.11")
	time.Sleep(1500 * time.Millisecond) // survivors keep going after the move
	end := time.Now()
	finish()
	t.Logf("%s marked down %v after its eth0 went down; exchanges ran %v after that",
		victim.id, detected.Round(time.Millisecond), end.Sub(down.Add(detected)).Round(time.Millisecond))
	nhCheckUp(t, d, map[string]float64{hops[0].id: 0, hops[1].id: 1, hops[2].id: 1})
	failed := t.Failed()

	// A connection without error that fell silent before the end was
	// pausing when the test stopped: that counts as a gap too.
	for _, st := range states {
		if st.err == nil && end.Sub(st.lastOK) > nhGapMin {
			st.gaps = append(st.gaps, nhGap{st.lastOK, end})
		}
	}
	if control.err != nil {
		t.Fatalf("control connection to 192.168.2.12:7001 failed %v after the down: %v", control.errTime.Sub(down).Round(time.Millisecond), control.err)
	}
	if g := control.longest(); g.length() > 0 {
		t.Logf("control connection (not via the route): longest pause %v from %v after the down; %d pauses over %v",
			g.length().Round(time.Millisecond), g.from.Sub(down).Round(time.Millisecond), len(control.gaps), nhGapMin)
	}

	var worst, worstUnshared time.Duration
	excused := 0 // pauses over maxPause that the control connection shared
	survivors, victims, disrupted := 0, 0, 0
	victimErrs, victimErr, victimErrAt := 0, error(nil), time.Duration(0)
	for i, st := range states[:len(states)-1] {
		if st.member == victim.id {
			victims++
			// Evidence that the victim really died: its connections stop
			// (stall, or are reset by the member their packets move to).
			if st.err != nil || st.lastOK.Before(down.Add(detected)) {
				disrupted++
			}
			if st.err != nil {
				victimErrs++
				if victimErr == nil {
					victimErr, victimErrAt = st.err, st.errTime.Sub(down)
				}
			}
			continue
		}
		survivors++
		if st.err != nil {
			t.Errorf("connection %d on surviving member %s failed %v after %s went down: %v (F8: only the failed member's flows move)",
				i+1, st.member, st.errTime.Sub(down).Round(time.Millisecond), victim.id, st.err)
			continue
		}
		for _, g := range st.gaps {
			worst = max(worst, g.length())
			unshared := g.length() - nhOverlap(g, control.gaps)
			worstUnshared = max(worstUnshared, unshared)
			if g.length() <= maxPause {
				continue
			}
			if unshared > maxPause {
				t.Errorf("connection %d on surviving member %s paused %v from %v after %s went down (%v of it while the control connection was working), want ≤ %v (F8)",
					i+1, st.member, g.length().Round(time.Millisecond), g.from.Sub(down).Round(time.Millisecond), victim.id, unshared.Round(time.Millisecond), maxPause)
			} else {
				excused++
			}
		}
	}
	t.Logf("F8 survivors: %d connections on %s/%s without error; longest pause over %v: %v, longest not shared with the control connection %v (bound %v); %d/%d connections on %s stopped",
		survivors, hops[1].id, hops[2].id, nhGapMin, worst.Round(time.Millisecond), worstUnshared.Round(time.Millisecond), maxPause, disrupted, victims, victim.id)
	if excused > 0 {
		t.Logf("%d pauses over %v on surviving connections were shared with the control connection: the machine stalled, not the route", excused, maxPause)
	}
	if victimErrs > 0 {
		t.Logf("%d/%d connections on %s ended with an error, e.g. %v after the down: %v", victimErrs, victims, victim.id, victimErrAt.Round(time.Millisecond), victimErr)
	}
	if disrupted != victims {
		t.Errorf("%d of %d connections on %s went on after its eth0 went down: the test did not kill the member", victims-disrupted, victims, victim.id)
	}
	if !failed && t.Failed() {
		nhLogCounters(t, d)
	}
}
