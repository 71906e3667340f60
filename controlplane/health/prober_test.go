package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
)

const rtt = 3 * time.Millisecond

// TestF9FailoverAndRecovery: an up next hop that stops answering goes down
// after exactly `failures` lost probes, within failures×interval+timeout of
// its last answered probe (SPEC F9), and comes back after exactly
// `successes` good probes, within successes×interval+rtt of answering again.
// The death time is placed at every phase of the probe cycle.
func TestF9FailoverAndRecovery(t *testing.T) {
	cfgs := []hc{
		defaultHC, // SPEC F9 default: detection ≤ 3.5 s
		{200 * time.Millisecond, 150 * time.Millisecond, 3, 3}, // SPEC §2 example
		{100 * time.Millisecond, 250 * time.Millisecond, 2, 4}, // timeout > interval
		{50 * time.Millisecond, 10 * time.Millisecond, 1, 1},
		{30 * time.Millisecond, 20 * time.Millisecond, 5, 2},
	}
	for _, c := range cfgs {
		for _, phase := range []time.Duration{0, 1, c.interval / 2, c.interval - 1} {
			t.Run(fmt.Sprintf("%v/phase=%v", c, phase), func(t *testing.T) {
				I, T := c.interval, c.timeout
				var death, revive time.Time
				s := newSim(t, rtt, func(pr sentProbe, _ int) bool {
					return pr.at.Before(death) || !revive.IsZero() && !pr.at.Before(revive)
				})
				s.update(mkTarget("k", fw1, c, true))
				death = t0.Add(3*I + phase)

				down := s.runUntilFlip(time.Duration(c.failures+10) * I)
				if down.up || down.key != "k" {
					t.Fatalf("first flip %+v, want k down", down)
				}
				if down.st.Lost != uint64(c.failures) || down.st.ConsecutiveFailures != c.failures {
					t.Errorf("down after lost=%d consecutive=%d, want exactly %d", down.st.Lost, down.st.ConsecutiveFailures, c.failures)
				}
				lat := down.at.Sub(death)
				lo, hi := time.Duration(c.failures-1)*I+T, time.Duration(c.failures)*I+T
				if lat < lo || lat > hi {
					t.Errorf("failover took %v after the hop died, want within [%v, %v] (F9)", lat, lo, hi)
				}
				lost := 0
				for _, pr := range s.sent {
					if !pr.at.Before(death) && !pr.at.Add(T).After(down.at) {
						lost++
					}
				}
				if lost != c.failures {
					t.Errorf("%d probes lost before the flip, want %d", lost, c.failures)
				}

				revive = down.at.Add(phase + 7*time.Millisecond)
				up := s.runUntilFlip(time.Duration(c.succ+10)*I + T)
				if !up.up {
					t.Fatalf("second flip %+v, want up", up)
				}
				if up.st.ConsecutiveSuccesses != c.succ {
					t.Errorf("up after %d consecutive successes, want %d", up.st.ConsecutiveSuccesses, c.succ)
				}
				lat = up.at.Sub(revive)
				lo, hi = time.Duration(c.succ-1)*I+rtt, time.Duration(c.succ)*I+rtt
				if lat < lo || lat > hi {
					t.Errorf("recovery took %v, want within [%v, %v]", lat, lo, hi)
				}
				if up.st.LastRTT != rtt {
					t.Errorf("last RTT %v, want %v", up.st.LastRTT, rtt)
				}
				if n := s.p.Transitions(); n != 2 || up.st.Transitions != 2 || !up.st.LastChange.Equal(up.at) {
					t.Errorf("transitions total %d, target %d, last change %v; want 2, 2, %v", n, up.st.Transitions, up.st.LastChange, up.at)
				}
				if len(s.flips) != 2 {
					t.Errorf("flips %+v, want exactly 2", s.flips)
				}
			})
		}
	}
}

// TestF9Hysteresis: results that flap below the thresholds change nothing;
// runs that reach them flip the flag, each flip after exactly the threshold.
func TestF9Hysteresis(t *testing.T) {
	c33 := hc{100 * time.Millisecond, 50 * time.Millisecond, 3, 3}
	c11 := hc{100 * time.Millisecond, 50 * time.Millisecond, 1, 1}
	tests := []struct {
		name    string
		c       hc
		startUp bool
		pattern string // answer per probe, cyclic: s = answered, f = lost
		probes  int
		want    []bool // flag values at each flip
	}{
		{"up, ssf", c33, true, "ssf", 30, nil},
		{"up, sff", c33, true, "sff", 30, nil},
		{"up, ffs", c33, true, "ffs", 30, nil},
		{"down, ssf", c33, false, "ssf", 30, nil},
		{"down, sfs", c33, false, "sfs", 30, nil},
		{"down, ffssf", c33, false, "ffssf", 30, nil},
		{"up, all lost", c33, true, "f", 30, []bool{false}},
		{"down, all good", c33, false, "s", 30, []bool{true}},
		{"up, fffsss", c33, true, "fffsss", 12, []bool{false, true, false, true}},
		{"up, ffsfff", c33, true, "ffsfff", 6, []bool{false}},
		{"1/1, fs", c11, true, "fs", 6, []bool{false, true, false, true, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, rtt, func(_ sentProbe, n int) bool { return tc.pattern[n%len(tc.pattern)] == 's' })
			s.update(mkTarget("k", fw1, tc.c, tc.startUp))
			// The last probe is sent at (probes-1)×interval and resolved
			// by its timeout.
			s.run(t0.Add(time.Duration(tc.probes-1)*tc.c.interval + tc.c.timeout))
			if len(s.sent) != tc.probes {
				t.Fatalf("%d probes sent, want %d", len(s.sent), tc.probes)
			}
			var got []bool
			for _, f := range s.flips {
				got = append(got, f.up)
				if f.up && f.st.ConsecutiveSuccesses != tc.c.succ || !f.up && f.st.ConsecutiveFailures != tc.c.failures {
					t.Errorf("flip to %v with %d successes / %d failures in a row", f.up, f.st.ConsecutiveSuccesses, f.st.ConsecutiveFailures)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("flips %v, want %v", got, tc.want)
			}
			if s.p.Transitions() != uint64(len(tc.want)) {
				t.Errorf("Transitions() = %d, want %d", s.p.Transitions(), len(tc.want))
			}
		})
	}
}

// TestLateReply: a reply at or after the timeout counts as nothing — the
// probe is lost and HandleReply reports false.
func TestLateReply(t *testing.T) {
	c := hc{100 * time.Millisecond, 40 * time.Millisecond, 3, 3}
	tests := []struct {
		name   string
		rtt    time.Duration
		good   bool
		sticky bool // flag stays up
	}{
		{"just in time", c.timeout - 1, true, true},
		{"at the timeout", c.timeout, false, false},
		{"after the timeout", c.timeout + 5*time.Millisecond, false, false},
		{"after the next probe", c.interval + 10*time.Millisecond, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, tc.rtt, func(sentProbe, int) bool { return true })
			s.update(mkTarget("k", fw1, c, true))
			s.run(t0.Add(10*c.interval + 200*time.Millisecond))
			st := s.state("k")
			// 13 probes (0 … 1.2 s); the last is still outstanding.
			if tc.good {
				if s.matched != 12 || st.Received != 12 || st.Late != 0 || st.Lost != 0 || !st.Up {
					t.Fatalf("matched %d of %d, state %+v", s.matched, len(s.sent), st)
				}
				return
			}
			if s.matched != 0 || st.Received != 0 {
				t.Errorf("late replies matched: %d, received %d", s.matched, st.Received)
			}
			if st.Lost != 12 || st.Late < 11 || st.Late > 12 {
				t.Errorf("late %d, lost %d; want 11–12 late and 12 lost", st.Late, st.Lost)
			}
			if st.Up || len(s.flips) != 1 {
				t.Errorf("up=%v flips=%+v: late replies must not keep the hop up", st.Up, s.flips)
			}
		})
	}
}

// TestHandleReplyMatching: only a reply from the probed address to the
// probing gateway with the probe's identifier and sequence matches.
func TestHandleReplyMatching(t *testing.T) {
	mapped := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	tests := []struct {
		name string
		mod  func(r *sentProbe)
		want bool
	}{
		{"exact", func(*sentProbe) {}, true},
		{"IPv4-mapped addresses", func(r *sentProbe) { r.src, r.dst = mapped(r.src), mapped(r.dst) }, true},
		{"other next hop", func(r *sentProbe) { r.dst = fw2 }, false},
		{"other gateway", func(r *sentProbe) { r.src = gw2 }, false},
		{"other identifier", func(r *sentProbe) { r.id++ }, false},
		{"other sequence", func(r *sentProbe) { r.seq++ }, false},
		{"earlier sequence", func(r *sentProbe) { r.seq-- }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, rtt, func(sentProbe, int) bool { return false })
			s.update(mkTarget("k", fw1, defaultHC, true))
			s.p.Step(t0)
			if len(s.sent) != 1 {
				t.Fatalf("%d probes sent at start, want 1", len(s.sent))
			}
			r := s.sent[0]
			tc.mod(&r)
			at := t0.Add(rtt)
			if got := s.p.HandleReply(r.dst, r.src, r.id, r.seq, at); got != tc.want {
				t.Fatalf("HandleReply = %v, want %v", got, tc.want)
			}
			// A duplicate never matches.
			if s.p.HandleReply(r.dst, r.src, r.id, r.seq, at) {
				t.Fatal("duplicate reply matched")
			}
			st := s.state("k")
			if tc.want && (st.Received != 1 || st.Late != 1 || st.LastRTT != rtt) {
				t.Errorf("state after a good and a duplicate reply: %+v", st)
			}
			if !tc.want && st.Received != 0 {
				t.Errorf("unmatched reply counted: %+v", st)
			}
		})
	}
	t.Run("no targets", func(t *testing.T) {
		p := New(nil, &sim{})
		if p.HandleReply(fw1, gw, 1, 1, t0) {
			t.Fatal("matched with no targets")
		}
	})
}

// TestResultsInSendOrder: with several probes outstanding (timeout >
// interval), a good reply first resolves the older outstanding probes as lost,
// so results count in send order (F9's "consecutive" probes) and the older
// probes' deadlines count nothing more.
func TestResultsInSendOrder(t *testing.T) {
	c := hc{100 * time.Millisecond, 350 * time.Millisecond, 3, 3}
	s := newSim(t, rtt, func(_ sentProbe, n int) bool { return n >= 2 })
	s.update(mkTarget("k", fw1, c, true))
	s.run(t0.Add(200*time.Millisecond + rtt)) // probes 0, 1 unanswered, 2 answered
	st := s.state("k")
	if st.Sent != 3 || st.Lost != 2 || st.Received != 1 || st.ConsecutiveSuccesses != 1 || st.ConsecutiveFailures != 0 {
		t.Fatalf("after a reply overtaking two probes: %+v", st)
	}
	s.run(t0.Add(time.Second))
	st = s.state("k")
	if st.Lost != 2 || st.ConsecutiveFailures != 0 || st.Late != 0 || !st.Up {
		t.Errorf("the overtaken probes counted again at their deadlines: %+v", st)
	}
}

// TestProbePacket: a probe is a valid IPv4 ICMP echo request from the
// gateway to the next hop, written to the target's port, byte-identical to
// the one gopacket builds; identifiers are stable and sequences increment.
func TestProbePacket(t *testing.T) {
	var pkts [][]byte
	var ports []uint16
	snd := senderFunc(func(port uint16, pkt []byte) error {
		pkts = append(pkts, bytes.Clone(pkt))
		ports = append(ports, port)
		return nil
	})
	now := t0
	p := New(nil, snd, WithClock(func() time.Time { return now }))
	tg := mkTarget("k", fw1, defaultHC, true)
	tg.Source, tg.Port = gw2, 42
	p.Update([]Target{tg})
	for i := 0; i < 3; i++ {
		p.Step(now)
		now = now.Add(time.Second)
	}
	if len(pkts) != 3 {
		t.Fatalf("%d probes, want 3", len(pkts))
	}
	var first sentProbe
	for i, pkt := range pkts {
		pr := parseProbe(t, pkt)
		if ports[i] != 42 || pr.src != gw2 || pr.dst != fw1 {
			t.Errorf("probe %d: port %d %v → %v, want port 42 %v → %v", i, ports[i], pr.src, pr.dst, gw2, fw1)
		}
		if i == 0 {
			first = pr
		} else if pr.id != first.id || pr.seq != first.seq+uint16(i) {
			t.Errorf("probe %d: id %d seq %d, want id %d seq %d", i, pr.id, pr.seq, first.id, first.seq+uint16(i))
		}
		ip := packet.IPv4(pkt)
		ref := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(ref, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			&layers.IPv4{Version: 4, IHL: 5, TOS: ip.TOS(), Id: ip.ID(), TTL: ip.TTL(), Protocol: layers.IPProtocolICMPv4,
				SrcIP: gw2.AsSlice(), DstIP: fw1.AsSlice()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: pr.id, Seq: pr.seq},
			gopacket.Payload(pkt[28:]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ref.Bytes(), pkt) {
			t.Errorf("probe %d differs from gopacket's:\n got %x\nwant %x", i, pkt, ref.Bytes())
		}
	}
}

// senderFunc adapts a function to Sender.
type senderFunc func(port uint16, pkt []byte) error

func (f senderFunc) Send(port uint16, pkt []byte) error { return f(port, pkt) }

// TestUpdateKeepsState: a reload that keeps a key keeps the target's state
// (DESIGN "state outlives configuration"), applies its new configuration,
// and a removed key stops probing and no longer matches replies.
func TestUpdateKeepsState(t *testing.T) {
	c := hc{100 * time.Millisecond, 50 * time.Millisecond, 3, 3}
	alive := map[netip.Addr]bool{fw1: false, fw2: true}
	s := newSim(t, rtt, func(pr sentProbe, _ int) bool { return alive[pr.dst] })
	a, b := mkTarget("a", fw1, c, true), mkTarget("b", fw2, c, true)
	s.update(a, b)
	s.run(t0.Add(time.Second))
	if st := s.state("a"); st.Up || a.Flag.Up() || st.Transitions != 1 {
		t.Fatalf("a should be down after 10 lost probes: %+v", st)
	}
	before := s.state("a")
	idOf := func(addr netip.Addr) uint16 {
		for i := len(s.sent) - 1; i >= 0; i-- {
			if s.sent[i].dst == addr {
				return s.sent[i].id
			}
		}
		t.Fatalf("no probe to %v", addr)
		return 0
	}
	idA := idOf(fw1)

	// Reload: same key and flag, new labels, thresholds and interval; b removed.
	a2 := a
	a2.Table, a2.NextHop, a2.Port = "vtb-c", "i-fw9", 9
	a2.Interval, a2.Successes = 50*time.Millisecond, 2
	s.update(a2)
	after := s.state("a")
	if after.Up || after.ConsecutiveFailures != before.ConsecutiveFailures || after.Transitions != 1 ||
		after.Sent != before.Sent || after.Lost != before.Lost || after.Table != "vtb-c" || after.Port != 9 ||
		after.Interval != 50*time.Millisecond || after.Successes != 2 {
		t.Fatalf("state across reload:\nbefore %+v\nafter  %+v", before, after)
	}
	if sts := s.p.States(); len(sts) != 1 || sts[0].Key != "a" {
		t.Fatalf("removed target still reported: %+v", sts)
	}
	var lastB sentProbe
	for _, pr := range s.sent {
		if pr.dst == fw2 {
			lastB = pr
		}
	}
	if s.p.HandleReply(fw2, gw, lastB.id, lastB.seq, s.now) {
		t.Error("reply to a removed target matched")
	}

	// The new interval applies from the last probe on.
	var lastA sentProbe
	for _, pr := range s.sent {
		if pr.dst == fw1 {
			lastA = pr
		}
	}
	if at, _ := s.p.nextAt(); !at.Equal(lastA.at.Add(50*time.Millisecond)) && !at.Equal(lastA.at.Add(c.timeout)) {
		t.Errorf("next event at %v, want the next probe at %v (or the deadline)", at, lastA.at.Add(50*time.Millisecond))
	}
	n := len(s.sent)
	alive[fw1] = true
	f := s.runUntilFlip(time.Second)
	if !f.up || f.key != "a" || f.st.ConsecutiveSuccesses != 2 {
		t.Fatalf("flip %+v, want a up after 2 successes", f)
	}
	for _, pr := range s.sent[n:] {
		if pr.dst != fw1 || pr.id != idA || pr.port != 9 {
			t.Fatalf("probe after reload %+v, want to %v id %d port 9", pr, fw1, idA)
		}
	}
	if s.p.Transitions() != 2 {
		t.Errorf("Transitions() = %d, want 2", s.p.Transitions())
	}

	// Removing a target leaves the total alone.
	s.update()
	if len(s.p.States()) != 0 || s.p.Transitions() != 2 {
		t.Errorf("after removing all: %d states, %d transitions", len(s.p.States()), s.p.Transitions())
	}
	if _, ok := s.p.nextAt(); ok {
		t.Error("schedule not empty after removing all targets")
	}
}

// TestUpdateNewFlag: a kept key given a different flag pointer writes the
// target's state into it.
func TestUpdateNewFlag(t *testing.T) {
	c := hc{100 * time.Millisecond, 50 * time.Millisecond, 1, 1}
	s := newSim(t, rtt, func(sentProbe, int) bool { return false })
	a := mkTarget("a", fw1, c, true)
	s.update(a)
	s.run(t0.Add(100 * time.Millisecond))
	if a.Flag.Up() {
		t.Fatal("a should be down")
	}
	a.Flag = fib.NewHealth(true)
	s.update(a)
	if a.Flag.Up() || s.state("a").Up {
		t.Fatal("new flag not set to the kept state")
	}
}

// TestUpdateAddrChange: a kept key whose address changes probes the new
// address, forgets outstanding probes and restarts its counts, keeping up/down.
func TestUpdateAddrChange(t *testing.T) {
	c := hc{100 * time.Millisecond, 50 * time.Millisecond, 3, 3}
	s := newSim(t, rtt, func(sentProbe, int) bool { return false })
	a := mkTarget("a", fw1, c, true)
	s.update(a)
	s.run(t0.Add(120 * time.Millisecond)) // one probe lost, the second pending
	old := s.sent[len(s.sent)-1]
	if st := s.state("a"); st.ConsecutiveFailures != 1 || len(s.sent) != 2 {
		t.Fatalf("consecutive failures %d after %d probes, want 1 after 2", st.ConsecutiveFailures, len(s.sent))
	}
	a.Addr = fw2
	s.update(a)
	if st := s.state("a"); !st.Up || st.ConsecutiveFailures != 0 || st.Addr != fw2 {
		t.Fatalf("after address change: %+v", st)
	}
	if s.p.HandleReply(old.dst, old.src, old.id, old.seq, s.now) {
		t.Error("reply from the old address matched")
	}
	s.run(t0.Add(250 * time.Millisecond))
	last := s.sent[len(s.sent)-1]
	if last.dst != fw2 || !last.at.Equal(t0.Add(200*time.Millisecond)) {
		t.Errorf("probe after change %+v, want to %v at +200ms", last, fw2)
	}
	if st := s.state("a"); !st.Up || st.ConsecutiveFailures != 1 || st.Lost != 2 {
		t.Errorf("after one lost probe to the new address (the pending old one forgotten): %+v", st)
	}
}

// TestUpdateValidation: unusable targets are skipped, defaults fill zero
// fields (SPEC F9), a flag that starts down starts the target down, and the
// first probes of a batch are spread over one interval.
func TestUpdateValidation(t *testing.T) {
	s := newSim(t, rtt, func(sentProbe, int) bool { return true })
	good := mkTarget("good", fw1, hc{}, true)
	down := mkTarget("down", fw2, hc{}, false)
	noKey := mkTarget("", fw1, hc{}, true)
	noFlag := mkTarget("noflag", fw1, hc{}, true)
	noFlag.Flag = nil
	v6 := mkTarget("v6", netip.MustParseAddr("2001:db8::1"), hc{}, true)
	dup := mkTarget("good", fw2, hc{}, true)
	s.update(good, noKey, noFlag, v6, dup, down)
	sts := s.p.States()
	if len(sts) != 2 || sts[0].Key != "down" || sts[1].Key != "good" {
		t.Fatalf("states %+v, want down and good", sts)
	}
	g := sts[1]
	if g.Addr != fw1 || g.Interval != DefaultInterval || g.Timeout != DefaultTimeout ||
		g.Failures != DefaultFailures || g.Successes != DefaultSuccesses || !g.Up {
		t.Errorf("defaults not applied: %+v", g)
	}
	if sts[0].Up {
		t.Error("target with a down flag starts up")
	}
	if f := s.runUntilFlip(5 * time.Second); f.key != "down" || !f.up || f.st.ConsecutiveSuccesses != DefaultSuccesses {
		t.Errorf("flip %+v, want down→up after 3 good probes", f)
	}
	if dup.Flag.Up() != true {
		t.Error("skipped duplicate's flag touched")
	}

	t.Run("spread", func(t *testing.T) {
		s := newSim(t, rtt, func(sentProbe, int) bool { return true })
		var ts []Target
		addrs := []netip.Addr{fw1, fw2, gw2, netip.MustParseAddr("192.168.1.32")}
		for i, a := range addrs {
			ts = append(ts, mkTarget(fmt.Sprint("t", i), a, defaultHC, true))
		}
		s.update(ts...)
		s.run(t0.Add(999 * time.Millisecond))
		if len(s.sent) != 4 {
			t.Fatalf("%d probes in the first interval, want 4", len(s.sent))
		}
		for i, pr := range s.sent {
			if want := t0.Add(time.Duration(i) * 250 * time.Millisecond); pr.dst != addrs[i] || !pr.at.Equal(want) {
				t.Errorf("probe %d to %v at %v, want to %v at %v", i, pr.dst, pr.at.Sub(t0), addrs[i], want.Sub(t0))
			}
		}
	})
}

// TestUpdateIntervalChange: a changed interval takes effect at the next
// probe: it is due one new interval after the previous probe.
func TestUpdateIntervalChange(t *testing.T) {
	tests := []struct {
		name     string
		newI     time.Duration
		updateAt time.Duration // after t0; the last probe was at 0
		wantNext time.Duration
	}{
		{"shorter", 100 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond},
		{"shorter, already due", 100 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond},
		{"longer", 5 * time.Second, 600 * time.Millisecond, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, rtt, func(sentProbe, int) bool { return true })
			a := mkTarget("a", fw1, defaultHC, true)
			s.update(a)
			s.run(t0.Add(tc.updateAt))
			if len(s.sent) != 1 {
				t.Fatalf("%d probes, want 1", len(s.sent))
			}
			a.Interval = tc.newI
			s.update(a)
			s.run(t0.Add(tc.wantNext))
			if len(s.sent) != 2 || !s.sent[1].at.Equal(t0.Add(tc.wantNext)) {
				t.Fatalf("second probe %+v, want at +%v", s.sent[1:], tc.wantNext)
			}
		})
	}
}

// TestLogs (SPEC R9): one Info line per transition with its fields, never
// one per probe; a failing Sender logs once when failing starts and once
// when it stops, and its probes count as lost.
func TestLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s := newSim(t, rtt, func(pr sentProbe, n int) bool { return n < 5 || n >= 20 })
	s.p = New(zap.New(core), s, WithClock(func() time.Time { return s.now }))
	s.update(mkTarget("vtb-b|172.16.0.0/12|i-fw1", fw1, defaultHC, true))
	s.run(t0.Add(30 * time.Second))
	trans := logs.FilterMessageSnippet("next hop").AllUntimed()
	if len(trans) != 2 {
		t.Fatalf("%d transition lines, want 2: %+v", len(trans), trans)
	}
	want := []map[string]any{
		{"key": "vtb-b|172.16.0.0/12|i-fw1", "table": "vtb-b", "dst": "172.16.0.0/12", "next_hop": "vtb-b|172.16.0.0/12|i-fw1",
			"addr": "192.168.1.30", "from": "up", "to": "down", "consecutive_failures": int64(3)},
		{"from": "down", "to": "up", "consecutive_successes": int64(3)},
	}
	for i, e := range trans {
		if e.Level != zapcore.InfoLevel {
			t.Errorf("line %d level %v", i, e.Level)
		}
		m := e.ContextMap()
		for k, v := range want[i] {
			if fmt.Sprint(m[k]) != fmt.Sprint(v) {
				t.Errorf("line %d %q: field %s = %v, want %v", i, e.Message, k, m[k], v)
			}
		}
	}
	if n := logs.Len(); n != 2+1 { // + one Debug line for the added target
		t.Errorf("%d log lines in total, want 3: %+v", n, logs.AllUntimed())
	}

	t.Run("send errors", func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		s := newSim(t, rtt, func(sentProbe, int) bool { return true })
		s.p = New(zap.New(core), s, WithClock(func() time.Time { return s.now }))
		s.update(mkTarget("k", fw1, defaultHC, true))
		s.sendErr = errors.New("port gone")
		s.run(t0.Add(10 * time.Second))
		st := s.state("k")
		if st.Up || st.SendErrors != st.Sent || st.Lost < 3 {
			t.Errorf("state with a failing sender: %+v", st)
		}
		s.sendErr = nil
		s.run(t0.Add(20 * time.Second))
		if !s.state("k").Up {
			t.Error("not up after sends recovered")
		}
		if n := logs.FilterMessage("health probe send failing").Len(); n != 1 {
			t.Errorf("%d 'send failing' lines, want 1", n)
		}
		if n := logs.FilterMessage("health probe send recovered").Len(); n != 1 {
			t.Errorf("%d 'send recovered' lines, want 1", n)
		}
		if n := logs.Len(); n != 4 {
			t.Errorf("%d lines, want 4 (failing, down, recovered, up): %+v", n, logs.AllUntimed())
		}
	})
}

// TestRunNoLeak: Run probes on the real clock, picks up Update at once,
// and returns when its context is cancelled without leaving goroutines.
func TestRunNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	var p *Prober
	var sends atomic.Int64
	p = New(nil, senderFunc(func(port uint16, pkt []byte) error {
		sends.Add(1)
		ip := packet.IPv4(pkt)
		ic := packet.ICMPv4(ip.Payload())
		// Answer at once, from within Send (allowed: no lock is held).
		p.HandleReply(ip.Dst(), ip.Src(), ic.Ident(), ic.Seq(), time.Now())
		return nil
	}))
	c := hc{2 * time.Millisecond, 50 * time.Millisecond, 3, 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// A slow target leaves Run waiting on a one-hour timer: the fast
	// targets added next are only probed if Update wakes Run.
	slow := mkTarget("slow", gw2, hc{time.Hour, time.Hour, 3, 3}, true)
	p.Update([]Target{slow})
	waitFor("the slow target's probe", func() bool { return p.States()[0].Received == 1 })
	p.Update([]Target{mkTarget("a", fw1, c, false), mkTarget("b", fw2, c, true), slow})
	waitFor("probes and a recovery", func() bool {
		sts := p.States()
		return len(sts) == 3 && sts[0].Up && sts[0].Received >= 5 && sts[1].Received >= 5 && sts[2].Sent == 1
	})
	p.Update([]Target{mkTarget("c", fw1, c, true)})
	n := sends.Load()
	waitFor("probes of the new target", func() bool {
		sts := p.States()
		return len(sts) == 1 && sts[0].Received >= 5 && sends.Load() > n+5
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitFor("goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

// TestConcurrency runs HandleReply, States and Update from other goroutines
// while Step runs (meaningful under -race).
func TestConcurrency(t *testing.T) {
	replies := make(chan sentProbe, 1024)
	p := New(nil, senderFunc(func(port uint16, pkt []byte) error {
		pr := parseProbe(t, pkt)
		select {
		case replies <- pr:
		default:
		}
		return nil
	}))
	c := hc{10 * time.Millisecond, 5 * time.Millisecond, 2, 2}
	var ts []Target
	for i := range 50 {
		ts = append(ts, mkTarget(fmt.Sprint("t", i), netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), c, i%2 == 0))
	}
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	p.now = clock
	p.Update(ts)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case r := <-replies:
				p.HandleReply(r.dst, r.src, r.id, r.seq, clock())
				p.HandleReply(r.dst, r.src, r.id, r.seq+1, clock()) // unknown
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = p.States()
				_ = p.Transitions()
				runtime.Gosched()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				p.Update(ts[:len(ts)-i%10])
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for range 2000 {
		now.Add(int64(time.Millisecond))
		p.Step(clock())
	}
	close(stop)
	wg.Wait()
	total := uint64(0)
	probed := 0
	for _, st := range p.States() {
		if st.Sent > 0 {
			probed++
		}
		total += st.Transitions
	}
	if probed < 41 { // t0…t40 are never removed
		t.Errorf("%d targets probed, want at least 41", probed)
	}
	if total > p.Transitions() {
		t.Errorf("per-target transitions %d exceed the total %d", total, p.Transitions())
	}
}

// TestAllocs: HandleReply (the data plane's call) and a steady-state Step
// allocate nothing (DESIGN house rule 4).
func TestAllocs(t *testing.T) {
	var last sentProbe
	p := New(nil, senderFunc(func(port uint16, pkt []byte) error {
		ip := packet.IPv4(pkt)
		ic := packet.ICMPv4(ip.Payload())
		last = sentProbe{src: ip.Src(), dst: ip.Dst(), id: ic.Ident(), seq: ic.Seq()}
		return nil
	}))
	c := hc{100 * time.Millisecond, 50 * time.Millisecond, 3, 3}
	p.now = func() time.Time { return t0 }
	p.Update([]Target{mkTarget("a", fw1, c, true), mkTarget("b", fw2, c, true)})
	now := t0
	matched := 0
	// Every 50 ms one of the two targets sends a probe, answered 1 ms later.
	cycle := func() {
		p.Step(now)
		if p.HandleReply(last.dst, last.src, last.id, last.seq, now.Add(time.Millisecond)) {
			matched++
		}
		now = now.Add(50 * time.Millisecond)
	}
	for range 10 {
		cycle()
	}
	if a := testing.AllocsPerRun(200, cycle); a != 0 {
		t.Errorf("Step + HandleReply: %v allocs per cycle, want 0", a)
	}
	if a := testing.AllocsPerRun(200, func() { p.HandleReply(fw2, gw2, 1, 2, now) }); a != 0 {
		t.Errorf("unmatched HandleReply: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(200, func() { p.HandleReply(last.dst, last.src, last.id, last.seq-1, now) }); a != 0 {
		t.Errorf("late HandleReply: %v allocs, want 0", a)
	}
	if matched != 211 {
		t.Errorf("%d of 211 replies matched", matched)
	}
	for _, st := range p.States() {
		if st.Lost != 0 || !st.Up {
			t.Errorf("%s: %+v", st.Key, st)
		}
	}
}

// TestThousandTargets: 1,000 next hops on the default probe are each probed
// once per interval, spread evenly (no burst), and stay up when answered.
func TestThousandTargets(t *testing.T) {
	const n = 1000
	s := newSim(t, rtt, func(sentProbe, int) bool { return true })
	var ts []Target
	for i := range n {
		ts = append(ts, mkTarget(fmt.Sprint("t", i), netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), defaultHC, true))
	}
	s.p.Update(ts) // not s.update: no per-event flag scan
	s.run(t0.Add(10*time.Second - 1))
	if len(s.sent) != 10*n {
		t.Fatalf("%d probes in 10 intervals, want %d", len(s.sent), 10*n)
	}
	perMs := map[int64]int{}
	for _, pr := range s.sent {
		perMs[pr.at.Sub(t0).Milliseconds()]++
	}
	for ms, k := range perMs {
		if k > 1 {
			t.Fatalf("%d probes in millisecond %d: not spread", k, ms)
		}
	}
	for _, st := range s.p.States() {
		// The reply to the last probe of the final few targets is still
		// in flight at the end.
		if st.Sent != 10 || st.Received < 9 || st.Lost != 0 || !st.Up {
			t.Fatalf("%+v", st)
		}
	}
	if s.p.Transitions() != 0 {
		t.Errorf("%d transitions", s.p.Transitions())
	}
}

// BenchmarkStep measures one millisecond of probing 1,000 next hops on the
// default probe (one probe sent and one reply matched per op).
func BenchmarkStep(b *testing.B) {
	const n = 1000
	var last sentProbe
	p := New(nil, senderFunc(func(port uint16, pkt []byte) error {
		ip := packet.IPv4(pkt)
		ic := packet.ICMPv4(ip.Payload())
		last = sentProbe{src: ip.Src(), dst: ip.Dst(), id: ic.Ident(), seq: ic.Seq()}
		return nil
	}), WithClock(func() time.Time { return t0 }))
	var ts []Target
	for i := range n {
		ts = append(ts, mkTarget(fmt.Sprint("t", i), netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), defaultHC, true))
	}
	p.Update(ts)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		p.Step(now)
		p.HandleReply(last.dst, last.src, last.id, last.seq, now.Add(rtt))
		now = now.Add(time.Millisecond)
	}
}
