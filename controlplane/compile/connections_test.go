package compile

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// Pure tests of SPEC §7 C1–C4: configuration → snapshot → Forward
// decisions, with no TUN and no root.

func example(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../configs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func cut(t *testing.T, yaml, line string) string {
	t.Helper()
	if !strings.Contains(yaml, line) {
		t.Fatalf("line %q not in the config", line)
	}
	return strings.Replace(yaml, line, "", 1)
}

// want is the expected outcome of one Forward call.
type want struct {
	verdict dataplane.Verdict
	reason  stats.DropReason // for drops and ICMP errors
	out     string           // for forwards: the egress port
	hops    uint8            // for forwards: VRouters/VBRs crossed (F6, C1)
}

type step struct {
	name     string
	from     string // ingress port name
	src, dst string
	proto    uint8
	sport    uint16
	dport    uint16
	flags    uint8
	ttl      uint8 // 0: 64
	want     want
}

func runSteps(t *testing.T, s *dataplane.Snapshot, steps []step) {
	t.Helper()
	for i, c := range steps {
		p := parsed(c.src, c.dst, c.proto, c.sport, c.dport, c.flags)
		if c.ttl != 0 {
			p.TTL = c.ttl
		}
		d := forward(s, portByName(t, s, c.from), p, int64(i+1))
		got := want{verdict: d.Verdict, reason: d.Reason, hops: d.Hops}
		if d.Verdict == dataplane.VerdictForward {
			got.out = s.Ports[d.Out].Name
		} else {
			got.hops = c.want.hops
		}
		if d.Verdict == dataplane.VerdictToRouter {
			got.reason = c.want.reason
		}
		if got != c.want {
			t.Errorf("%s: %s→%s from %s: got %v reason %v out %q hops %d, want %v reason %v out %q hops %d",
				c.name, c.src, c.dst, c.from, got.verdict, got.reason, got.out, got.hops,
				c.want.verdict, c.want.reason, c.want.out, c.want.hops)
		}
	}
}

func fwd(out string, hops uint8) want {
	return want{verdict: dataplane.VerdictForward, out: out, hops: hops}
}

func icmpErr(r stats.DropReason) want { return want{verdict: dataplane.VerdictICMPError, reason: r} }

func dropped(r stats.DropReason) want { return want{verdict: dataplane.VerdictDrop, reason: r} }

var toRouter = want{verdict: dataplane.VerdictToRouter}

// TestC1RouterInterfacesBothSides: the two-VPC example of C1 works with
// routes on both sides; without the return route the reply is dropped as
// unrouted (net unreachable); each VRouter crossed decrements TTL (F6).
func TestC1RouterInterfacesBothSides(t *testing.T) {
	full := example(t, "two-vpcs-router-interfaces.yaml")
	oneSided := cut(t, full, "          - {dst: 192.168.0.0/16, next_hop: ri-vpc2}\n")
	neither := cut(t, oneSided, "          - {dst: 172.16.0.0/12, next_hop: ri-vpc1}\n")
	udp := packet.ProtoUDP
	for _, c := range []struct {
		name  string
		yaml  string
		steps []step
	}{
		{"both routes", full, []step{
			{name: "request", from: "i-one", src: "192.168.1.10", dst: "172.16.1.10", proto: udp, sport: 1000, dport: 53, want: fwd("i-two", 2)},
			{name: "reply", from: "i-two", src: "172.16.1.10", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1000, want: fwd("i-one", 2)},
			{name: "new flow back", from: "i-two", src: "172.16.1.10", dst: "192.168.1.10", proto: udp, sport: 7, dport: 7, want: fwd("i-one", 2)},
			{name: "TTL 2 dies in the second VRouter", from: "i-one", src: "192.168.1.10", dst: "172.16.1.10", proto: udp, sport: 1001, dport: 53, ttl: 2, want: icmpErr(stats.DropTTLExceeded)},
			{name: "TTL 3 passes both", from: "i-one", src: "192.168.1.10", dst: "172.16.1.10", proto: udp, sport: 1002, dport: 53, ttl: 3, want: fwd("i-two", 2)},
			{name: "no such host in the peer VPC", from: "i-one", src: "192.168.1.10", dst: "172.16.1.99", proto: udp, sport: 1003, dport: 53, want: icmpErr(stats.DropHostUnreachable)},
			{name: "outside the peer's VSwitches", from: "i-one", src: "192.168.1.10", dst: "172.17.0.1", proto: udp, sport: 1004, dport: 53, want: icmpErr(stats.DropNoRoute)},
		}},
		{"only VPC1's route", oneSided, []step{
			{name: "request delivered", from: "i-one", src: "192.168.1.10", dst: "172.16.1.10", proto: udp, sport: 1000, dport: 53, want: fwd("i-two", 2)},
			{name: "reply unrouted", from: "i-two", src: "172.16.1.10", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1000, want: icmpErr(stats.DropNoRoute)},
		}},
		{"no routes (F11)", neither, []step{
			{name: "isolated", from: "i-one", src: "192.168.1.10", dst: "172.16.1.10", proto: udp, sport: 1000, dport: 53, want: icmpErr(stats.DropNoRoute)},
			{name: "isolated back", from: "i-two", src: "172.16.1.10", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1000, want: icmpErr(stats.DropNoRoute)},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, res := mustCompile(t, c.yaml, nil, conntrack.New(conntrack.DefaultConfig()))
			runSteps(t, res.Snapshot, c.steps)
		})
	}
}

const sameCIDR = `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 192.168.1.0/24}
  - id: vpc-b
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-b, zone: z, cidr: 192.168.1.0/24}
instances:
  - {id: i-a1, vswitch: vsw-a, ip: 192.168.1.10}
  - {id: i-a2, vswitch: vsw-a, ip: 192.168.1.11}
  - {id: i-b1, vswitch: vsw-b, ip: 192.168.1.10}
  - {id: i-b2, vswitch: vsw-b, ip: 192.168.1.20}
`

// TestF11SameCIDRIsolated: two VPCs using the same range never reach each
// other; every address resolves inside the sender's own VPC.
func TestF11SameCIDRIsolated(t *testing.T) {
	_, res := mustCompile(t, sameCIDR, nil, conntrack.New(conntrack.DefaultConfig()))
	udp := packet.ProtoUDP
	runSteps(t, res.Snapshot, []step{
		{name: "own VPC", from: "i-a1", src: "192.168.1.10", dst: "192.168.1.11", proto: udp, sport: 1, dport: 2, want: fwd("i-a2", 1)},
		{name: "address of B only", from: "i-a1", src: "192.168.1.10", dst: "192.168.1.20", proto: udp, sport: 1, dport: 2, want: icmpErr(stats.DropHostUnreachable)},
		{name: "same address in B", from: "i-b2", src: "192.168.1.20", dst: "192.168.1.10", proto: udp, sport: 1, dport: 2, want: fwd("i-b1", 1)},
		{name: "B to A's other host", from: "i-b1", src: "192.168.1.10", dst: "192.168.1.11", proto: udp, sport: 1, dport: 2, want: icmpErr(stats.DropHostUnreachable)},
	})
}

// TestC2VBRLeasedLine: a VPC reaches the IDC through a VBR and back (C1,
// C2); the leased line is an external port entering the VBR's table with
// no ENI-side checks; the ENI's groups apply statefully on its side only
// (S2); the router end answers the IDC (to-router).
func TestC2VBRLeasedLine(t *testing.T) {
	y := example(t, "vbr-idc.yaml")
	ct := conntrack.New(conntrack.DefaultConfig())
	cfg, res := mustCompile(t, y, nil, ct)
	s := res.Snapshot
	ll := portByName(t, s, "vbr-idc")
	vbr := s.Routers[ll.Router]
	if ll.Kind != dataplane.PortExternal || vbr.ID != "vbr-idc" || vbr.System != ll.Table || ll.Table.ID != "vbr-idc" ||
		ll.Gateway != netip.MustParseAddr("192.0.2.1") || ll.VSwitch != -1 || ll.Policy != nil || ll.MTU != config.DefaultMTU {
		t.Fatalf("leased line port %+v router %+v", ll, vbr)
	}
	if vbr.Zone == 0 || vbr.Zone == s.Routers[portByName(t, s, "i-cloud").Router].Zone {
		t.Errorf("VBR zone %d", vbr.Zone)
	}
	udp, icmp := packet.ProtoUDP, packet.ProtoICMP
	runSteps(t, s, []step{
		{name: "VPC to IDC", from: "i-cloud", src: "192.168.1.10", dst: "10.1.1.1", proto: udp, sport: 1000, dport: 53, want: fwd("vbr-idc", 2)},
		{name: "IDC to VPC", from: "vbr-idc", src: "10.1.1.1", dst: "192.168.1.10", proto: udp, sport: 2000, dport: 80, want: fwd("i-cloud", 2)},
		{name: "IDC spoofing is not checked on the external side", from: "vbr-idc", src: "10.9.9.9", dst: "192.168.1.10", proto: udp, sport: 2001, dport: 80, want: fwd("i-cloud", 2)},
		{name: "ping the router end", from: "vbr-idc", src: "192.0.2.2", dst: "192.0.2.1", proto: icmp, want: toRouter},
		{name: "IDC to an unrouted network", from: "vbr-idc", src: "10.1.1.1", dst: "172.16.0.1", proto: udp, sport: 1, dport: 2, want: icmpErr(stats.DropNoRoute)},
		{name: "IDC source outside sg-cloud's rules", from: "vbr-idc", src: "198.18.0.1", dst: "192.168.1.10", proto: udp, sport: 1, dport: 2, want: dropped(stats.DropSGIngress)},
	})

	// The router end of the port is where ICMP errors toward the IDC come
	// from (F3 for external ports), and the host spec is point-to-point.
	var spec *PortSpec
	specs := PortSpecs(cfg)
	for i := range specs {
		if specs[i].Name == "vbr-idc" {
			spec = &specs[i]
		}
	}
	if spec == nil || spec.Netns != "vr-idc" || spec.IfName != "ll0" || spec.Addr != netip.MustParsePrefix("192.0.2.2/32") ||
		spec.Peer != netip.MustParseAddr("192.0.2.1") || spec.Gateway.IsValid() || len(spec.Routes) != 0 || spec.MTU != config.DefaultMTU {
		t.Fatalf("leased line spec %+v", spec)
	}

	// Without the VBR's route back, the IDC's packets are unrouted.
	noBack := cut(t, y, "      - {dst: 192.168.0.0/16, next_hop: ri-idc}\n")
	_, res2 := mustCompile(t, noBack, nil, conntrack.New(conntrack.DefaultConfig()))
	runSteps(t, res2.Snapshot, []step{
		{name: "no VBR route to the VPC", from: "vbr-idc", src: "10.1.1.1", dst: "192.168.1.10", proto: udp, sport: 2000, dport: 80, want: icmpErr(stats.DropNoRoute)},
		{name: "VPC to IDC still works", from: "i-cloud", src: "192.168.1.10", dst: "10.1.1.1", proto: udp, sport: 1000, dport: 53, want: fwd("vbr-idc", 2)},
	})
}

// twoVBRs is a VPC with two leased lines to one IDC: 10.0.0.0/8 over the
// router interfaces toward both VBRs in the shape given (C2). sg-cloud has
// no rules: nothing from the IDC opens a flow toward i-cloud (S4).
func twoVBRs(hops string) string {
	return `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-cloud
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-cloud, zone: z, cidr: 192.168.1.0/24}
    route_tables:
      - id: vtb-cloud
        type: system
        routes:
          - dst: 10.0.0.0/8
            next_hops: ` + hops + `
            health_check: {interval: 200ms, timeout: 150ms, failures: 3, successes: 3}
    security_groups:
      - id: sg-cloud
vbrs:
  - id: vbr-one
    port: {netns: idc, ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.2}
    routes:
      - {dst: 10.0.0.0/8, next_hop: leased_line}
      - {dst: 192.168.0.0/16, next_hop: ri-v1}
  - id: vbr-two
    port: {netns: idc, ifname: ll1, ip: 192.0.2.5, peer_ip: 192.0.2.6}
    routes:
      - {dst: 10.0.0.0/8, next_hop: leased_line}
      - {dst: 192.168.0.0/16, next_hop: ri-v2}
router_interfaces:
  - {id: ri-c1, vpc: vpc-cloud, peer: ri-v1}
  - {id: ri-v1, vbr: vbr-one, peer: ri-c1}
  - {id: ri-c2, vpc: vpc-cloud, peer: ri-v2}
  - {id: ri-v2, vbr: vbr-two, peer: ri-c2}
instances:
  - {id: i-cloud, vswitch: vsw-cloud, ip: 192.168.1.10, security_groups: [sg-cloud]}
`
}

// TestC2ActiveStandbyOverVBRs: the health of a router interface toward a
// VBR is probed through the far VBR's leased line (peer_ip from ip); when
// it fails, traffic takes the standby VBR; the replies of a flow opened
// from the VPC are admitted whichever leased line they come back through
// (S2, S7: the flow lives in the ENI's zone).
func TestC2ActiveStandbyOverVBRs(t *testing.T) {
	ct := conntrack.New(conntrack.DefaultConfig())
	_, res := mustCompile(t, twoVBRs("[{id: ri-c1, weight: 100}, {id: ri-c2, weight: 0}]"), nil, ct)
	s := res.Snapshot
	byHop := map[string]HealthTarget{}
	for _, h := range res.Health {
		byHop[h.NextHop] = h
	}
	for _, c := range []struct{ hop, port, addr, src string }{
		{"ri-c1", "vbr-one", "192.0.2.2", "192.0.2.1"},
		{"ri-c2", "vbr-two", "192.0.2.6", "192.0.2.5"},
	} {
		h, ok := byHop[c.hop]
		if !ok {
			t.Fatalf("no health target for %s: %+v", c.hop, res.Health)
		}
		if s.Ports[h.Port].Name != c.port || h.Addr.String() != c.addr || h.Source.String() != c.src ||
			h.Table != "vtb-cloud" || h.Key != "vtb-cloud|10.0.0.0/8|"+c.hop || s.Health[h.Key] != h.Health || h.Check.Interval.Milliseconds() != 200 {
			t.Errorf("%s: target %+v", c.hop, h)
		}
	}
	udp := packet.ProtoUDP
	runSteps(t, s, []step{
		{name: "active VBR", from: "i-cloud", src: "192.168.1.10", dst: "10.1.1.1", proto: udp, sport: 1000, dport: 53, want: fwd("vbr-one", 2)},
		{name: "reply on the active line", from: "vbr-one", src: "10.1.1.1", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1000, want: fwd("i-cloud", 2)},
		{name: "reply on the other line", from: "vbr-two", src: "10.1.1.1", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1000, want: fwd("i-cloud", 2)},
		{name: "IDC cannot open a flow", from: "vbr-one", src: "10.1.1.1", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1001, want: dropped(stats.DropSGIngress)},
		{name: "probe reply from the far end", from: "vbr-one", src: "192.0.2.2", dst: "192.0.2.1", proto: packet.ProtoICMP, want: toRouter},
	})
	byHop["ri-c1"].Health.Set(false)
	runSteps(t, s, []step{
		{name: "standby VBR", from: "i-cloud", src: "192.168.1.10", dst: "10.1.1.1", proto: udp, sport: 1000, dport: 53, want: fwd("vbr-two", 2)},
		{name: "reply via the standby", from: "vbr-two", src: "10.1.1.1", dst: "192.168.1.10", proto: udp, sport: 53, dport: 1000, want: fwd("i-cloud", 2)},
	})
	byHop["ri-c2"].Health.Set(false)
	runSteps(t, s, []step{
		{name: "both down", from: "i-cloud", src: "192.168.1.10", dst: "10.1.1.1", proto: udp, sport: 1000, dport: 53, want: icmpErr(stats.DropNextHopDown)},
	})

	// Health flags survive a reload (house rule 2).
	_, res2 := mustCompile(t, twoVBRs("[{id: ri-c1, weight: 100}, {id: ri-c2, weight: 0}]"), s, ct)
	if res2.Snapshot.Health["vtb-cloud|10.0.0.0/8|ri-c1"] != byHop["ri-c1"].Health {
		t.Error("health flag of ri-c1 not carried over")
	}
}

// TestC2LoadBalancingOverVBRs: equal weights spread flows over both VBRs
// (F8 through router interfaces), and a flow sticks to its VBR.
func TestC2LoadBalancingOverVBRs(t *testing.T) {
	_, res := mustCompile(t, twoVBRs("[{id: ri-c1, weight: 1}, {id: ri-c2, weight: 1}]"), nil, nil)
	s := res.Snapshot
	if len(res.Health) != 2 {
		t.Fatalf("health targets %+v", res.Health)
	}
	in := portByName(t, s, "i-cloud")
	count := map[string]int{}
	for sp := uint16(1000); sp < 3000; sp++ {
		p := parsed("192.168.1.10", "10.1.1.1", packet.ProtoUDP, sp, 53, 0)
		d := forward(s, in, p, 1)
		if d.Verdict != dataplane.VerdictForward || d.Hops != 2 {
			t.Fatalf("flow %d: %v %v", sp, d.Verdict, d.Reason)
		}
		count[s.Ports[d.Out].Name]++
		if again := forward(s, in, p, 2); again.Out != d.Out {
			t.Fatalf("flow %d moved", sp)
		}
	}
	for _, n := range []string{"vbr-one", "vbr-two"} {
		if count[n] < 900 || count[n] > 1100 {
			t.Errorf("F8: %s got %d of 2000 flows", n, count[n])
		}
	}
}

// TestC3VPNGateway: routes to vpn-… leave through its port; packets from
// it enter the VPC's system table unchanged and meet the destination
// ENI's ingress groups; the router end answers pings and sources errors.
func TestC3VPNGateway(t *testing.T) {
	ct := conntrack.New(conntrack.DefaultConfig())
	cfg, res := mustCompile(t, example(t, "vpn-gateway.yaml"), nil, ct)
	s := res.Snapshot
	vpn, hq := portByName(t, s, "vpn-branch"), portByName(t, s, "i-hq")
	if vpn.Kind != dataplane.PortExternal || vpn.Router != hq.Router || vpn.Table.ID != cfg.VPCByID("vpc-hq").SystemTable().ID ||
		vpn.Gateway != netip.MustParseAddr("198.51.100.1") || vpn.Policy != nil {
		t.Fatalf("vpn port %+v", vpn)
	}
	tcp := packet.ProtoTCP
	runSteps(t, s, []step{
		{name: "to the branch", from: "i-hq", src: "172.16.1.10", dst: "10.20.3.4", proto: tcp, sport: 40000, dport: 22, flags: packet.TCPSyn, want: fwd("vpn-branch", 1)},
		{name: "its reply", from: "vpn-branch", src: "10.20.3.4", dst: "172.16.1.10", proto: tcp, sport: 22, dport: 40000, flags: packet.TCPSyn | packet.TCPAck, want: fwd("i-hq", 1)},
		{name: "branch opens 443", from: "vpn-branch", src: "10.20.3.4", dst: "172.16.1.10", proto: tcp, sport: 50000, dport: 443, flags: packet.TCPSyn, want: fwd("i-hq", 1)},
		{name: "branch opens 22", from: "vpn-branch", src: "10.20.3.4", dst: "172.16.1.10", proto: tcp, sport: 50001, dport: 22, flags: packet.TCPSyn, want: dropped(stats.DropSGIngress)},
		{name: "other source", from: "vpn-branch", src: "10.30.0.1", dst: "172.16.1.10", proto: tcp, sport: 50002, dport: 443, flags: packet.TCPSyn, want: dropped(stats.DropSGIngress)},
		{name: "ping the router end", from: "vpn-branch", src: "198.51.100.2", dst: "198.51.100.1", proto: packet.ProtoICMP, want: toRouter},
		{name: "no such VSwitch", from: "vpn-branch", src: "10.20.3.4", dst: "172.16.9.9", proto: tcp, sport: 1, dport: 2, flags: packet.TCPSyn, want: icmpErr(stats.DropNoRoute)},
		{name: "off-VPC from the VPC", from: "i-hq", src: "172.16.1.10", dst: "10.21.0.1", proto: tcp, sport: 1, dport: 2, flags: packet.TCPSyn, want: icmpErr(stats.DropNoRoute)},
	})
}

const cenConfig = `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 192.168.1.0/24}
  - id: vpc-b
    cidr: 172.16.0.0/12
    vswitches:
      - {id: vsw-b, zone: z, cidr: 172.16.1.0/24}
    route_tables:
      - id: vtb-b
        type: system
        routes:
          - {dst: 192.168.1.0/24, next_hop: i-b2}
  - id: vpc-c
    cidr: 10.0.0.0/8
    vswitches:
      - {id: vsw-c1, zone: z, cidr: 10.1.1.0/24}
      - {id: vsw-c2, zone: z, cidr: 10.3.0.0/16}
vbrs:
  - id: vbr-x
    port: {netns: dc, ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.2}
    routes:
      - {dst: 10.1.1.0/24, next_hop: leased_line}
      - {dst: 10.2.0.0/16, next_hop: leased_line}
cens:
  - {id: cen-x, attachments: [vpc-a, vpc-b, vpc-c, vbr-x]}
instances:
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10}
  - {id: i-b, vswitch: vsw-b, ip: 172.16.1.10}
  - {id: i-b2, vswitch: vsw-b, ip: 172.16.1.20}
  - {id: i-c, vswitch: vsw-c2, ip: 10.3.0.10}
`

// TestC4CENLearning: every attachment learns the others' VSwitch CIDRs
// and VBR static routes as CEN entries; a custom entry with the same
// destination wins; 10.1.1.0/24, announced by vpc-c and vbr-x, is
// installed for neither and reported.
func TestC4CENLearning(t *testing.T) {
	// Without a conntrack table no security group applies: this is
	// about routes.
	_, res := mustCompile(t, cenConfig, nil, nil)
	s := res.Snapshot
	wantConflicts := []CENConflict{{CEN: "cen-x", Dst: netip.MustParsePrefix("10.1.1.0/24"), From: []string{"vpc-c", "vbr-x"}}}
	if len(res.CENConflicts) != 1 || res.CENConflicts[0].CEN != "cen-x" || res.CENConflicts[0].Dst != wantConflicts[0].Dst ||
		!slices.Equal(res.CENConflicts[0].From, wantConflicts[0].From) {
		t.Fatalf("conflicts %+v", res.CENConflicts)
	}
	if m := res.CENConflicts[0].String(); !strings.Contains(m, "10.1.1.0/24") || !strings.Contains(m, "vpc-c and vbr-x") {
		t.Errorf("conflict message %q", m)
	}
	learned := func(table string) []string {
		var out []string
		for _, r := range res.CENRoutes[table] {
			if r.Table != table || r.CEN != "cen-x" {
				t.Errorf("%s: %+v", table, r)
			}
			out = append(out, r.Dst.String()+"<"+r.From)
		}
		return out
	}
	for table, want := range map[string][]string{
		"vtb-sys-a": {"10.2.0.0/16<vbr-x", "10.3.0.0/16<vpc-c", "172.16.1.0/24<vpc-b"},
		"vtb-b":     {"10.2.0.0/16<vbr-x", "10.3.0.0/16<vpc-c"}, // its custom 192.168.1.0/24 wins
		"vtb-sys-c": {"10.2.0.0/16<vbr-x", "172.16.1.0/24<vpc-b", "192.168.1.0/24<vpc-a"},
		"vbr-x":     {"10.3.0.0/16<vpc-c", "172.16.1.0/24<vpc-b", "192.168.1.0/24<vpc-a"},
	} {
		if got := learned(table); !slices.Equal(got, want) {
			t.Errorf("%s learned %v, want %v", table, got, want)
		}
	}
	// The snapshot tables hold them as type CEN handing over to the owner.
	var tb *fib.Table
	for _, r := range s.Routers {
		if r.ID == "vrt-a" {
			tb = r.System
		}
	}
	r, ok := tb.Get(netip.MustParsePrefix("172.16.1.0/24"))
	if !ok || r.Type != fib.CEN || r.Group.Members[0].ID != "vpc-b" || r.Group.Members[0].Kind != fib.MemberRouterInterface {
		t.Fatalf("CEN entry %+v", r)
	}
	if _, ok := tb.Get(netip.MustParsePrefix("10.1.1.0/24")); ok {
		t.Error("conflicting 10.1.1.0/24 installed in vpc-a")
	}
	udp := packet.ProtoUDP
	runSteps(t, s, []step{
		{name: "a to b", from: "i-a", src: "192.168.1.10", dst: "172.16.1.10", proto: udp, sport: 1, dport: 2, want: fwd("i-b", 2)},
		{name: "b's reply takes its custom entry", from: "i-b", src: "172.16.1.10", dst: "192.168.1.10", proto: udp, sport: 2, dport: 1, want: fwd("i-b2", 1)},
		{name: "c to a", from: "i-c", src: "10.3.0.10", dst: "192.168.1.10", proto: udp, sport: 3, dport: 4, want: fwd("i-a", 2)},
		{name: "a to c", from: "i-a", src: "192.168.1.10", dst: "10.3.0.10", proto: udp, sport: 4, dport: 3, want: fwd("i-c", 2)},
		{name: "a to the VBR's network", from: "i-a", src: "192.168.1.10", dst: "10.2.0.1", proto: udp, sport: 5, dport: 6, want: fwd("vbr-x", 2)},
		{name: "DC to a", from: "vbr-x", src: "10.2.0.1", dst: "192.168.1.10", proto: udp, sport: 6, dport: 5, want: fwd("i-a", 2)},
		{name: "conflict not installed", from: "i-a", src: "192.168.1.10", dst: "10.1.1.5", proto: udp, sport: 7, dport: 8, want: icmpErr(stats.DropNoRoute)},
	})
}

// TestConnectionExamples: the §7 examples of configs/ compile, and their
// ports are all there.
func TestConnectionExamples(t *testing.T) {
	for _, c := range []struct {
		file  string
		ports []string
	}{
		{"two-vpcs-router-interfaces.yaml", []string{"i-one", "i-two"}},
		{"vbr-idc.yaml", []string{"i-cloud", "vbr-idc"}},
		{"vpn-gateway.yaml", []string{"i-hq", "vpn-branch"}},
		{"cen.yaml", []string{"i-east", "i-west", "vbr-dc"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			cfg, res := mustCompile(t, example(t, c.file), nil, conntrack.New(conntrack.DefaultConfig()))
			var names []string
			for _, ps := range PortSpecs(cfg) {
				names = append(names, ps.Name)
				portByName(t, res.Snapshot, ps.Name)
			}
			if !slices.Equal(names, c.ports) {
				t.Errorf("ports %v, want %v", names, c.ports)
			}
			if len(res.CENConflicts) != 0 {
				t.Errorf("conflicts %v", res.CENConflicts)
			}
		})
	}
	_, res := mustCompile(t, example(t, "cen.yaml"), nil, nil)
	if got := len(res.CENRoutes["vtb-sys-east"]); got != 2 {
		t.Errorf("cen.yaml: vpc-east learned %d routes, want 2 (vsw-west, 10.0.0.0/8): %+v", got, res.CENRoutes)
	}
}

// TestConnectionPortIDsStable: adding a connection keeps the ids of the
// existing ports and the zones of the existing routers (R3, S7).
func TestConnectionPortIDsStable(t *testing.T) {
	y := example(t, "vbr-idc.yaml")
	_, r1 := mustCompile(t, y, nil, nil)
	y2 := y + `vpn_gateways:
  - {id: vpn-x, vpc: vpc-cloud, port: {netns: vr-x, ifname: vpn0, ip: 198.51.100.1, peer_ip: 198.51.100.2}}
`
	_, r2 := mustCompile(t, y2, r1.Snapshot, nil)
	for _, n := range []string{"i-cloud", "vbr-idc"} {
		if portByName(t, r1.Snapshot, n).ID != portByName(t, r2.Snapshot, n).ID {
			t.Errorf("%s changed id", n)
		}
	}
	for i, r := range r1.Snapshot.Routers {
		if r2.Snapshot.Routers[i].ID != r.ID || r2.Snapshot.Routers[i].Zone != r.Zone {
			t.Errorf("router %s: zone %d → %d", r.ID, r.Zone, r2.Snapshot.Routers[i].Zone)
		}
	}
	if portByName(t, r2.Snapshot, "vpn-x").Kind != dataplane.PortExternal {
		t.Error("vpn-x not external")
	}
}

// TestConnectionForwardAllocs: the hot path across a router interface to
// a leased line, and back through conntrack, allocates nothing (DESIGN
// house rule 4).
func TestConnectionForwardAllocs(t *testing.T) {
	ct := conntrack.New(conntrack.DefaultConfig())
	_, res := mustCompile(t, example(t, "vbr-idc.yaml"), nil, ct)
	s := res.Snapshot
	cloud, ll := portByName(t, s, "i-cloud"), portByName(t, s, "vbr-idc")
	out := parsed("192.168.1.10", "10.1.1.1", packet.ProtoUDP, 1000, 53, 0)
	back := parsed("10.1.1.1", "192.168.1.10", packet.ProtoUDP, 53, 1000, 0)
	echo := parsed("192.0.2.2", "192.0.2.1", packet.ProtoICMP, 0, 0, 0)
	var hdr tun.VirtioNetHdr
	if d := s.Forward(cloud, out, 60, &hdr, 1, nil); d.Verdict != dataplane.VerdictForward {
		t.Fatal(d.Verdict, d.Reason)
	}
	a := testing.AllocsPerRun(500, func() {
		s.Forward(cloud, out, 60, &hdr, 2, nil)
		s.Forward(ll, back, 60, &hdr, 2, nil)
		s.Forward(ll, echo, 60, &hdr, 2, nil)
	})
	if a != 0 {
		t.Errorf("%v allocations per round", a)
	}
}
