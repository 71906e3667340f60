package compile

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// Pure tests of SPEC C6: configs/nat-gateway-eip.yaml compiled and run
// through Forward.

// natFwd is a forward through the internet port with the rewritten
// source or destination.
func natStep(t *testing.T, s *dataplane.Snapshot, from, src string, sport uint16, dst string, dport uint16, proto uint8, flags uint8) dataplane.Decision {
	t.Helper()
	return forward(s, portByName(t, s, from), parsed(src, dst, proto, sport, dport, flags), 1)
}

// TestC6InternetPort: the internet port is an external port in the
// internet namespace with a /32 route per EIP in use (an unused EIP gets
// none), entering the empty "internet" table.
func TestC6InternetPort(t *testing.T) {
	yaml := example(t, "nat-gateway-eip.yaml")
	yaml = strings.Replace(yaml, "  - {id: eip-dnat, ip: 198.51.100.30}\n", "  - {id: eip-dnat, ip: 198.51.100.30}\n  - {id: eip-spare, ip: 198.51.100.99}\n", 1)
	cfg, res := mustCompile(t, yaml, nil, conntrack.New(conntrack.DefaultConfig()))
	var spec *PortSpec
	for _, ps := range PortSpecs(cfg) {
		if ps.Name == InternetPort {
			spec = &ps
		}
	}
	if spec == nil {
		t.Fatal("no internet port spec")
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.51.100.10/32"), netip.MustParsePrefix("198.51.100.20/32"), netip.MustParsePrefix("198.51.100.30/32")}
	if spec.Netns != "vr-inet" || spec.IfName != "inet0" || spec.Peer != netip.MustParseAddr("203.0.113.1") ||
		spec.Addr != netip.MustParsePrefix("203.0.113.2/32") || !slices.Equal(spec.Routes, want) || spec.Gateway.IsValid() {
		t.Errorf("internet port spec %+v", *spec)
	}
	s := res.Snapshot
	p := portByName(t, s, InternetPort)
	if p.Kind != dataplane.PortExternal || p.Table == nil || p.Table.Len() != 0 || s.Routers[p.Router].ID != "internet" || p.Gateway != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("internet port %+v", p)
	}
	if s.NAT == nil || s.NAT.Port != p.ID || s.NAT.EIP(netip.MustParseAddr("198.51.100.99")) != nil || s.NAT.EIP(netip.MustParseAddr("198.51.100.10")) == nil {
		t.Errorf("NAT state %+v", s.NAT)
	}
}

// TestC6ExampleDecisions runs the example's EIP, SNAT and DNAT both ways.
func TestC6ExampleDecisions(t *testing.T) {
	_, res := mustCompile(t, example(t, "nat-gateway-eip.yaml"), nil, conntrack.New(conntrack.DefaultConfig()))
	s := res.Snapshot
	tcp, udp := packet.ProtoTCP, packet.ProtoUDP
	inet := portByName(t, s, InternetPort)
	out := func(d dataplane.Decision) string {
		if d.Verdict != dataplane.VerdictForward {
			return d.Verdict.String() + " " + d.Reason.String()
		}
		return s.Ports[d.Out].Name
	}
	src := func(d dataplane.Decision) netip.Addr { return netip.AddrFrom4(d.NAT.Src) }
	dst := func(d dataplane.Decision) netip.Addr { return netip.AddrFrom4(d.NAT.Dst) }

	// EIP: i-web's traffic leaves from 198.51.100.10, its port kept.
	d := natStep(t, s, "i-web", "192.168.1.10", 40000, "8.8.8.8", 80, tcp, packet.TCPSyn)
	if out(d) != InternetPort || src(d) != netip.MustParseAddr("198.51.100.10") || d.NAT.Flags&dataplane.RewriteSrcPort != 0 || d.Hops != 1 {
		t.Fatalf("EIP out: %s %+v", out(d), d.NAT)
	}
	d = natStep(t, s, InternetPort, "8.8.8.8", 80, "198.51.100.10", 40000, tcp, packet.TCPSyn|packet.TCPAck)
	if out(d) != "i-web" || dst(d) != netip.MustParseAddr("192.168.1.10") {
		t.Fatalf("EIP reply: %s %+v", out(d), d.NAT)
	}
	// Reachable subject to sg-web: 80 yes, 22 no (S2).
	if d = natStep(t, s, InternetPort, "1.2.3.4", 5000, "198.51.100.10", 80, tcp, packet.TCPSyn); out(d) != "i-web" {
		t.Errorf("EIP port 80: %s", out(d))
	}
	if d = natStep(t, s, InternetPort, "1.2.3.4", 5001, "198.51.100.10", 22, tcp, packet.TCPSyn); d.Reason != stats.DropSGIngress {
		t.Errorf("EIP port 22: %s", out(d))
	}

	// SNAT: vsw-private shares eip-snat with distinct ports.
	ports := map[uint16]bool{}
	for i, from := range []string{"i-worker", "i-app"} {
		a := []string{"192.168.2.10", "192.168.2.20"}[i]
		d = natStep(t, s, from, a, 5353, "8.8.8.8", 53, udp, 0)
		if out(d) != InternetPort || src(d) != netip.MustParseAddr("198.51.100.20") || d.NAT.Flags&dataplane.RewriteSrcPort == 0 || ports[d.NAT.SrcPort] {
			t.Fatalf("SNAT %s: %s %+v", from, out(d), d.NAT)
		}
		ports[d.NAT.SrcPort] = true
		r := natStep(t, s, InternetPort, "8.8.8.8", 53, "198.51.100.20", d.NAT.SrcPort, udp, 0)
		if out(r) != from || dst(r) != netip.MustParseAddr(a) || r.NAT.DstPort != 5353 {
			t.Fatalf("SNAT reply to %s: %s %+v", from, out(r), r.NAT)
		}
	}

	// DNAT: 198.51.100.30:8080 → i-app:80, the client's address kept.
	d = natStep(t, s, InternetPort, "1.2.3.4", 6000, "198.51.100.30", 8080, tcp, packet.TCPSyn)
	if out(d) != "i-app" || dst(d) != netip.MustParseAddr("192.168.2.20") || d.NAT.DstPort != 80 || d.NAT.Flags&dataplane.RewriteSrc != 0 {
		t.Fatalf("DNAT: %s %+v", out(d), d.NAT)
	}
	d = natStep(t, s, "i-app", "192.168.2.20", 80, "1.2.3.4", 6000, tcp, packet.TCPSyn|packet.TCPAck)
	if out(d) != InternetPort || src(d) != netip.MustParseAddr("198.51.100.30") || d.NAT.SrcPort != 8080 {
		t.Fatalf("DNAT reply: %s %+v", out(d), d.NAT)
	}
	if d = natStep(t, s, InternetPort, "1.2.3.4", 6001, "198.51.100.30", 8081, tcp, packet.TCPSyn); d.Reason != stats.DropNoRoute {
		t.Errorf("unmapped port: %s", out(d))
	}
	// Not an EIP in use: net unreachable from the internet port's end.
	if d = natStep(t, s, InternetPort, "1.2.3.4", 6002, "198.51.100.77", 80, tcp, packet.TCPSyn); d.Verdict != dataplane.VerdictICMPError || d.Reason != stats.DropNoRoute {
		t.Errorf("unknown EIP: %s", out(d))
	}
	_ = inet
}

// TestC6Routing: a route may name a NAT gateway; without one a source that
// is neither EIP-bound nor SNAT-covered is unrouted (C6).
func TestC6Routing(t *testing.T) {
	yaml := example(t, "nat-gateway-eip.yaml")
	yaml = strings.Replace(yaml, "      - {id: vsw-private, zone: cn-hangzhou-b, cidr: 192.168.2.0/24}\n",
		"      - {id: vsw-private, zone: cn-hangzhou-b, cidr: 192.168.2.0/24}\n      - {id: vsw-other, zone: cn-hangzhou-b, cidr: 192.168.3.0/24, route_table: vtb-other}\n"+
			"    route_tables:\n      - id: vtb-other\n        routes:\n          - {dst: 9.0.0.0/8, next_hop: ngw-inet}\n", 1)
	yaml += "  - {id: i-other, vswitch: vsw-other, ip: 192.168.3.10, netns: vr-other}\n"
	_, res := mustCompile(t, yaml, nil, conntrack.New(conntrack.DefaultConfig()))
	s := res.Snapshot
	udp := packet.ProtoUDP
	// i-other is not covered by the SNAT entry (vsw-private only).
	d := natStep(t, s, "i-other", "192.168.3.10", 1, "9.9.9.9", 53, udp, 0)
	if d.Verdict != dataplane.VerdictICMPError || d.Reason != stats.DropNoRoute {
		t.Errorf("route to ngw, uncovered source: %v %v", d.Verdict, d.Reason)
	}
	if d = natStep(t, s, "i-other", "192.168.3.10", 1, "8.8.8.8", 53, udp, 0); d.Verdict != dataplane.VerdictICMPError || d.Reason != stats.DropNoRoute {
		t.Errorf("unrouted, uncovered source: %v %v", d.Verdict, d.Reason)
	}
	// Covered by SNAT after the entry is widened to the VPC CIDR.
	yaml2 := strings.Replace(yaml, "{source: vsw-private, eip: eip-snat}", "{source: 192.168.0.0/16, eip: eip-snat}", 1)
	_, res2 := mustCompile(t, yaml2, res.Snapshot, conntrack.New(conntrack.DefaultConfig()))
	d = natStep(t, res2.Snapshot, "i-other", "192.168.3.10", 1, "9.9.9.9", 53, udp, 0)
	if d.Verdict != dataplane.VerdictForward || res2.Snapshot.Ports[d.Out].Name != InternetPort || netip.AddrFrom4(d.NAT.Src) != netip.MustParseAddr("198.51.100.20") {
		t.Errorf("route to ngw, covered: %v %v %+v", d.Verdict, d.Reason, d.NAT)
	}
	// The EIP wins over SNAT even through the gateway's route.
	if d = natStep(t, res2.Snapshot, "i-web", "192.168.1.10", 1, "9.9.9.9", 53, udp, 0); netip.AddrFrom4(d.NAT.Src) != netip.MustParseAddr("198.51.100.10") {
		t.Errorf("EIP vs SNAT: %+v", d.NAT)
	}
	// S8: the NAT configuration is part of the policy fingerprint, and the
	// SNAT port pools survive the reload.
	if res2.Snapshot.PolicyGen == res.Snapshot.PolicyGen {
		t.Error("changing an SNAT entry did not bump the policy generation")
	}
	if res2.Snapshot.NAT.Ports != res.Snapshot.NAT.Ports {
		t.Error("SNAT port pools not carried over")
	}
}

// TestC6DNATAll: a DNAT entry of protocol all makes the EIP its internal
// address's own, 1:1 both ways: every port in, and the address's own flows
// out from the EIP with their ports kept (winning over SNAT).
func TestC6DNATAll(t *testing.T) {
	yaml := strings.Replace(example(t, "nat-gateway-eip.yaml"),
		"{eip: eip-dnat, protocol: tcp, external_port: 8080, internal_ip: 192.168.2.20, internal_port: 80}",
		"{eip: eip-dnat, protocol: all, internal_ip: 192.168.2.20}", 1)
	_, res := mustCompile(t, yaml, nil, conntrack.New(conntrack.DefaultConfig()))
	s := res.Snapshot
	d := natStep(t, s, InternetPort, "1.2.3.4", 7000, "198.51.100.30", 80, packet.ProtoTCP, packet.TCPSyn)
	if d.Verdict != dataplane.VerdictForward || s.Ports[d.Out].Name != "i-app" || d.NAT.Flags != dataplane.RewriteDst {
		t.Fatalf("in: %v %v %+v", d.Verdict, d.Reason, d.NAT)
	}
	d = natStep(t, s, "i-app", "192.168.2.20", 5353, "8.8.8.8", 53, packet.ProtoUDP, 0)
	if d.Verdict != dataplane.VerdictForward || netip.AddrFrom4(d.NAT.Src) != netip.MustParseAddr("198.51.100.30") || d.NAT.Flags != dataplane.RewriteSrc {
		t.Fatalf("out: %v %v %+v", d.Verdict, d.Reason, d.NAT)
	}
	// Its neighbour in vsw-private still shares eip-snat.
	d = natStep(t, s, "i-worker", "192.168.2.10", 5353, "8.8.8.8", 53, packet.ProtoUDP, 0)
	if netip.AddrFrom4(d.NAT.Src) != netip.MustParseAddr("198.51.100.20") {
		t.Fatalf("neighbour: %+v", d.NAT)
	}
}
