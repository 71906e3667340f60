package health

import (
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
)

// Test fixtures shared by the test files.
var (
	t0  = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	gw  = netip.MustParseAddr("192.168.1.1")
	gw2 = netip.MustParseAddr("192.168.2.1")
	fw1 = netip.MustParseAddr("192.168.1.30")
	fw2 = netip.MustParseAddr("192.168.1.31")
	dst = netip.MustParsePrefix("172.16.0.0/12")
)

// hc is a probe configuration (interval, timeout, failures, successes).
type hc struct {
	interval, timeout time.Duration
	failures, succ    int
}

func (c hc) String() string {
	return fmt.Sprintf("%v/%v/%d/%d", c.interval, c.timeout, c.failures, c.succ)
}

// defaultHC is SPEC F9's default probe.
var defaultHC = hc{time.Second, 500 * time.Millisecond, 3, 3}

// mkTarget builds a probed next hop with a fresh flag in state up.
func mkTarget(key string, addr netip.Addr, c hc, up bool) Target {
	return Target{
		Key: key, Table: "vtb-b", Dst: dst, NextHop: key, Addr: addr, Source: gw, Port: 7,
		Interval: c.interval, Timeout: c.timeout, Failures: c.failures, Successes: c.succ,
		Flag: fib.NewHealth(up),
	}
}

// sentProbe is a probe seen on the wire, decoded independently of the
// package (gopacket) and checked.
type sentProbe struct {
	port     uint16
	src, dst netip.Addr
	id, seq  uint16
	at       time.Time // sent, or (for a queued reply) delivered
}

// parseProbe decodes pkt with gopacket and fails tb unless it is a valid
// IPv4 ICMP echo request with correct checksums.
func parseProbe(tb testing.TB, pkt []byte) sentProbe {
	tb.Helper()
	g := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
	if e := g.ErrorLayer(); e != nil {
		tb.Fatalf("probe does not decode: %v", e.Error())
	}
	ip, _ := g.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := g.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || ic == nil {
		tb.Fatalf("probe is not IPv4/ICMPv4: %v", g)
	}
	if ip.Version != 4 || ip.IHL != 5 || int(ip.Length) != len(pkt) || ip.TTL == 0 || ip.Protocol != layers.IPProtocolICMPv4 ||
		ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		tb.Fatalf("bad IPv4 header: %+v", ip)
	}
	if ic.TypeCode != layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0) {
		tb.Fatalf("ICMP type/code %v, want echo request", ic.TypeCode)
	}
	if packet.Checksum(pkt[:20], 0) != 0 {
		tb.Fatalf("IPv4 header checksum %#04x is wrong", ip.Checksum)
	}
	if packet.Checksum(pkt[20:], 0) != 0 {
		tb.Fatalf("ICMP checksum %#04x is wrong", ic.Checksum)
	}
	src, _ := netip.AddrFromSlice(ip.SrcIP)
	to, _ := netip.AddrFromSlice(ip.DstIP)
	return sentProbe{src: src.Unmap(), dst: to.Unmap(), id: ic.Id, seq: ic.Seq}
}

// flip is a flag change the simulator observed, with the target's state
// right after it.
type flip struct {
	key string
	at  time.Time
	up  bool
	st  State
}

// sim drives a Prober in virtual time: it plays the role of Run (Step at
// every event) and of the network (a reply rtt after each answered probe).
type sim struct {
	t       testing.TB
	p       *Prober
	now     time.Time
	rtt     time.Duration
	answer  func(pr sentProbe, n int) bool // n: index of pr among probes to pr.dst
	sendErr error

	sent    []sentProbe
	perDst  map[netip.Addr]int
	replies []sentProbe // queued, by delivery time
	flags   map[string]*fib.Health
	last    map[string]bool
	flips   []flip
	matched int // HandleReply calls that returned true
}

func newSim(tb testing.TB, rtt time.Duration, answer func(sentProbe, int) bool) *sim {
	s := &sim{t: tb, now: t0, rtt: rtt, answer: answer, perDst: map[netip.Addr]int{},
		flags: map[string]*fib.Health{}, last: map[string]bool{}}
	s.p = New(nil, s, WithClock(func() time.Time { return s.now }))
	return s
}

// Send implements Sender.
func (s *sim) Send(port uint16, pkt []byte) error {
	pr := parseProbe(s.t, pkt)
	pr.port, pr.at = port, s.now
	n := s.perDst[pr.dst]
	s.perDst[pr.dst]++
	s.sent = append(s.sent, pr)
	if s.sendErr != nil {
		return s.sendErr
	}
	if s.answer(pr, n) {
		r := pr
		r.at = s.now.Add(s.rtt)
		i := sort.Search(len(s.replies), func(i int) bool { return s.replies[i].at.After(r.at) })
		s.replies = append(s.replies, sentProbe{})
		copy(s.replies[i+1:], s.replies[i:])
		s.replies[i] = r
	}
	return nil
}

// update passes targets to the Prober and watches their flags.
func (s *sim) update(ts ...Target) {
	s.flags = map[string]*fib.Health{}
	for _, t := range ts {
		s.flags[t.Key] = t.Flag
		if _, ok := s.last[t.Key]; !ok {
			s.last[t.Key] = t.Flag.Up()
		}
	}
	s.p.Update(ts)
}

func (s *sim) state(key string) State {
	for _, st := range s.p.States() {
		if st.Key == key {
			return st
		}
	}
	s.t.Fatalf("no state for %q", key)
	return State{}
}

func (s *sim) observe() {
	for key, f := range s.flags {
		if up := f.Up(); up != s.last[key] {
			s.last[key] = up
			s.flips = append(s.flips, flip{key: key, at: s.now, up: up, st: s.state(key)})
		}
	}
}

// run advances virtual time event by event up to and including until.
func (s *sim) run(until time.Time) {
	for {
		next, ok := s.p.nextAt()
		if len(s.replies) > 0 && (!ok || s.replies[0].at.Before(next)) {
			next, ok = s.replies[0].at, true
		}
		if !ok || next.After(until) {
			s.now = until
			return
		}
		if next.After(s.now) { // an overdue event happens now
			s.now = next
		}
		for len(s.replies) > 0 && !s.replies[0].at.After(s.now) {
			r := s.replies[0]
			s.replies = s.replies[1:]
			// The reply comes from the probed address to the gateway.
			if s.p.HandleReply(r.dst, r.src, r.id, r.seq, s.now) {
				s.matched++
			}
			s.observe()
		}
		s.p.Step(s.now)
		s.observe()
	}
}

// runUntilFlip runs until the next flag change, failing after limit.
func (s *sim) runUntilFlip(limit time.Duration) flip {
	s.t.Helper()
	end := s.now.Add(limit)
	n := len(s.flips)
	for len(s.flips) == n && s.now.Before(end) {
		next := s.now.Add(time.Millisecond)
		s.run(next)
	}
	if len(s.flips) == n {
		s.t.Fatalf("no flag change within %v", limit)
	}
	return s.flips[n]
}
