package dataplane

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun/tuntest"
)

// Tests of SPEC C5 on a hand-built snapshot: classic instances C1
// (10.1.0.10, linked to the VPC) and C2 (10.1.0.11, not linked), i-web in
// sg-web (dense id 0), i-nat in no group the ClassicLink rules name.

var (
	aC1 = netip.MustParseAddr("10.1.0.10")
	aC2 = netip.MustParseAddr("10.1.0.11")
	cGW = netip.MustParseAddr("10.255.255.253")
)

func mustPolicy(t *testing.T, in *secgroup.Input, groups ...string) *secgroup.ENIPolicy {
	t.Helper()
	p, err := secgroup.Compile(in, groups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func classicNet(t *testing.T) (n *testNet, c1, c2 *Port) {
	t.Helper()
	n = newTestNet(t)
	s := n.s
	s.Conntrack = conntrack.New(conntrack.DefaultConfig())
	s.SecurityGroups = true
	s.PolicyGen = 1
	tcp := secgroup.Proto(packet.ProtoTCP)
	vpcIn := &secgroup.Input{Groups: map[string]*secgroup.Group{
		"sg-web": {ID: "sg-web", InnerAccept: true, Rules: []secgroup.Rule{
			{Group: "sg-web", Direction: secgroup.Ingress, Policy: secgroup.Accept, Priority: 1, Proto: secgroup.Proto(packet.ProtoICMP), Peer: netip.MustParsePrefix("10.0.0.0/8")},
			{Group: "sg-web", Direction: secgroup.Ingress, Policy: secgroup.Accept, Priority: 1, Proto: tcp, PortLo: 8080, PortHi: 8080, Peer: netip.MustParsePrefix("10.0.0.0/8")},
			{Group: "sg-web", Direction: secgroup.Ingress, Policy: secgroup.Accept, Priority: 1, Proto: tcp, PortLo: 3306, PortHi: 3306, Peer: netip.MustParsePrefix("10.0.0.0/8")},
		}},
		"sg-nat": {ID: "sg-nat", InnerAccept: true},
	}, Members: map[string][]netip.Addr{"sg-web": {aWeb}, "sg-nat": {aNat}}}
	n.web.Policy = mustPolicy(t, vpcIn, "sg-web")
	n.nat.Policy = mustPolicy(t, vpcIn, "sg-nat")
	classicIn := &secgroup.Input{Groups: map[string]*secgroup.Group{"sg-c": {ID: "sg-c", InnerAccept: true}},
		Members: map[string][]netip.Addr{"sg-c": {aC1, aC2}}}

	// Routers 1 (classic, zone 3) and 2 (classic-link: empty table).
	classicT := fib.NewTable("classic")
	linked := fib.NewTable("classic:vpc")
	empty := fib.NewTable("classic-link")
	s.Routers = append(s.Routers, &Router{ID: "classic", Zone: 3, System: classicT}, &Router{ID: "classic-link", Zone: 3, System: empty})
	mk := func(id fib.PortID, name string, a netip.Addr, table *fib.Table) *Port {
		dev := tuntest.New(name, 8)
		n.devs[id] = dev
		return &Port{ID: id, Name: name, Kind: PortClassic, Router: 1, VSwitch: -1, Gateway: cGW, MTU: 1500,
			Addrs: []netip.Addr{a}, SourceDestCheck: true, Counters: &stats.Port{}, Dev: dev, Table: table,
			Policy: mustPolicy(t, classicIn, "sg-c")}
	}
	c1 = mk(4, "i-c1", aC1, linked)
	c2 = mk(5, "i-c2", aC2, classicT)
	s.Ports = append(s.Ports, c1, c2)
	host := func(tb *fib.Table, p *Port) {
		g, err := fib.NewGroup(fib.Single, []fib.Member{{ID: p.Name, Kind: fib.MemberPort, Port: p.ID}})
		if err != nil {
			t.Fatal(err)
		}
		mustInsert(t, tb, &fib.Route{Dst: netip.PrefixFrom(p.Addrs[0], 32), Type: fib.System, Action: fib.ActionForward, Group: g, VSwitch: -1})
	}
	for _, tb := range []*fib.Table{classicT, linked} {
		host(tb, c1)
		host(tb, c2)
	}
	mustInsert(t, linked, &fib.Route{Dst: pfxA, Type: fib.System, Action: fib.ActionLocal, VSwitch: 0})
	host(n.system, c1)
	toLink, err := fib.NewGroup(fib.Single, []fib.Member{{ID: "classic-link", Kind: fib.MemberRouterInterface, Peer: 2, Port: fib.NoPort}})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, n.system, &fib.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Type: fib.System, Action: fib.ActionForward, Group: toLink, VSwitch: -1})

	rule := func(mode LinkMode, accept bool, prio uint8, proto uint8, lo, hi uint16) LinkRule {
		return LinkRule{Group: "sg-c", Groups: []uint32{0}, Mode: mode, Accept: accept, Priority: prio, Proto: proto, PortLo: lo, PortHi: hi}
	}
	rules := []LinkRule{
		rule(LinkBoth, true, 10, packet.ProtoTCP, 20, 30),
		rule(LinkVPCToClassic, true, 1, packet.ProtoTCP, 3306, 3306),
		rule(LinkClassicToVPC, true, 1, packet.ProtoTCP, 8080, 8080),
		rule(LinkClassicToVPC, true, 1, packet.ProtoTCP, 9090, 9090),
		rule(LinkBoth, true, 2, packet.ProtoICMP, 0, 0),
		rule(LinkBoth, false, 5, packet.ProtoTCP, 22, 22),
		rule(LinkBoth, true, 3, packet.ProtoUDP, 53, 53),
		rule(LinkBoth, false, 3, packet.ProtoUDP, 53, 53),
	}
	s.Classic = NewClassic(cGW, map[fib.PortID]*ClassicInstance{
		c1.ID: {ID: "i-c1", Link: 0, Rules: rules},
		c2.ID: {ID: "i-c2", Link: -1, Rules: append([]LinkRule(nil), rules...)},
	}, map[fib.PortID][]uint32{n.web.ID: {0}})
	return n, c1, c2
}

// TestClassicLinkDecisions: modes, rule order (priority, drop before
// accept), the VPC side's own groups, statefulness, unlinked instances
// and anti-spoofing (C5, S1–S3).
func TestClassicLinkDecisions(t *testing.T) {
	n, c1, c2 := classicNet(t)
	s := n.s
	type c struct {
		name     string
		in       *Port
		src, dst netip.Addr
		o        pktOpt
		want     Verdict
		reason   stats.DropReason
	}
	tcp := func(sport, dport uint16) pktOpt {
		return pktOpt{proto: "tcp", sport: sport, dport: dport, tcpSyn: true}
	}
	for i, x := range []c{
		{"vpc_to_classic: the ENI opens", n.web, aWeb, aC1, tcp(40000, 3306), VerdictForward, 0},
		{"vpc_to_classic: the classic instance may not", c1, aC1, aWeb, tcp(40000, 3306), VerdictDrop, stats.DropSGEgress},
		{"classic_to_vpc: the classic instance opens", c1, aC1, aWeb, tcp(40001, 8080), VerdictForward, 0},
		{"classic_to_vpc: the ENI may not", n.web, aWeb, aC1, tcp(40001, 8080), VerdictDrop, stats.DropSGIngress},
		{"the VPC side's groups still apply (S2)", c1, aC1, aWeb, tcp(40002, 9090), VerdictDrop, stats.DropSGIngress},
		{"both: ICMP from the ENI", n.web, aWeb, aC1, pktOpt{icmp: true}, VerdictForward, 0},
		{"both: ICMP from the classic instance", c1, aC1, aWeb, pktOpt{icmp: true}, VerdictForward, 0},
		{"priority 5 drop before priority 10 accept", n.web, aWeb, aC1, tcp(40003, 22), VerdictDrop, stats.DropSGIngress},
		{"priority 10 accept", n.web, aWeb, aC1, tcp(40004, 23), VerdictForward, 0},
		{"drop beats accept at equal priority", n.web, aWeb, aC1, pktOpt{sport: 999, dport: 53}, VerdictDrop, stats.DropSGIngress},
		{"an ENI in no named group", n.nat, aNat, aC1, pktOpt{icmp: true}, VerdictDrop, stats.DropSGIngress},
		{"VPC ENIs reach no unlinked instance", n.web, aWeb, aC2, pktOpt{icmp: true}, VerdictICMPError, stats.DropNoRoute},
		{"an unlinked instance reaches no VPC", c2, aC2, aWeb, pktOpt{icmp: true}, VerdictICMPError, stats.DropNoRoute},
		{"classic instances per their groups", c1, aC1, aC2, tcp(40005, 5000), VerdictForward, 0},
		{"anti-spoofing", c1, netip.MustParseAddr("10.1.0.99"), aWeb, pktOpt{icmp: true}, VerdictDrop, stats.DropSpoofed},
		{"the classic gateway answers", c1, aC1, cGW, pktOpt{icmp: true}, VerdictToRouter, 0},
	} {
		d := decide(t, s, x.in, buildPkt(t, x.src, x.dst, x.o))
		if d.Verdict != x.want || d.Reason != x.reason {
			t.Errorf("%d %s: %v %v, want %v %v", i, x.name, d.Verdict, d.Reason, x.want, x.reason)
		}
		if d.Verdict == VerdictForward && d.Hops != 1 {
			t.Errorf("%s: %d hops, want 1", x.name, d.Hops)
		}
	}
	// S1: the reply of an admitted flow passes without rule evaluation,
	// although the rules would refuse it as a new flow.
	reply := pktOpt{proto: "tcp", sport: 3306, dport: 40000}
	if d := decide(t, s, c1, buildPkt(t, aC1, aWeb, reply)); d.Verdict != VerdictForward || d.Out != n.web.ID {
		t.Errorf("reply of the admitted flow: %v %v", d.Verdict, d.Reason)
	}
	// The zone of a ClassicLink flow is made of both routers' (S7).
	if z := s.zoneOf(c1, n.web); z != 1<<8|3 {
		t.Errorf("zone %#x", z)
	}

	// S8: after unlinking C1 (and bumping the generation) the tracked
	// flow ends at its next packet.
	s2 := *s
	s2.PolicyGen++
	s2.Classic = NewClassic(cGW, map[fib.PortID]*ClassicInstance{c1.ID: {ID: "i-c1", Link: -1}, c2.ID: {ID: "i-c2", Link: -1}}, nil)
	if d := decide(t, &s2, c1, buildPkt(t, aC1, aWeb, reply)); d.Verdict != VerdictDrop {
		t.Errorf("after unlinking: %v, want drop", d.Verdict)
	}
	// A trace names the deciding rule.
	var p packet.Parsed
	p.Decode(buildPkt(t, aWeb, aC1, tcp(41000, 22)))
	tr := &Trace{}
	s.Forward(n.web, &p, 60, nil, 1, tr)
	if out := tr.String(); !strings.Contains(out, "classic-link") || !strings.Contains(out, "sg-c#0") {
		t.Errorf("trace:\n%s", out)
	}
}

// TestLinkRuleOrder: NewClassic sorts by priority, drop before accept at
// equal priority, configured order otherwise (S3).
func TestLinkRuleOrder(t *testing.T) {
	rs := []LinkRule{
		{Index: 0, Priority: 5, Accept: true},
		{Index: 1, Priority: 1, Accept: true},
		{Index: 2, Priority: 5, Accept: false},
		{Index: 3, Priority: 1, Accept: true},
	}
	c := NewClassic(cGW, map[fib.PortID]*ClassicInstance{1: {Rules: rs}}, nil)
	var got []int
	for _, r := range c.Instance(1).Rules {
		got = append(got, r.Index)
	}
	if want := []int{1, 3, 2, 0}; !equalInts(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
