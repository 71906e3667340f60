package dataplane

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
	"github.com/vrouter/vrouter/dataplane/tun/tuntest"
)

var (
	llIP   = netip.MustParseAddr("192.0.2.1") // the router's end of the leased line
	llPeer = netip.MustParseAddr("192.0.2.2") // the IDC's end
	idcIP  = netip.MustParseAddr("10.1.1.1")
)

// withVBR adds to the test network a VBR (router 1, zone 2) whose table
// sends 10.0.0.0/8 to its leased line (an external port) and
// 192.168.0.0/16 across a router interface to the VPC (C1, C2).
func withVBR(t *testing.T, n *testNet) *Port {
	t.Helper()
	dev := tuntest.New("vbr-1", 8)
	ll := &Port{ID: 4, Name: "vbr-1", Kind: PortExternal, Router: 1, VSwitch: -1, Gateway: llIP, MTU: 1500,
		Counters: &stats.Port{}, Dev: dev}
	n.devs[ll.ID] = dev
	vbr := fib.NewTable("vbr-1")
	line, err := fib.NewGroup(fib.Single, []fib.Member{{ID: "leased_line", Kind: fib.MemberPort, Port: ll.ID, Addr: llPeer}})
	if err != nil {
		t.Fatal(err)
	}
	toVPC, err := fib.NewGroup(fib.Single, []fib.Member{{ID: "ri-v", Kind: fib.MemberRouterInterface, Peer: 0, Port: fib.NoPort}})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, vbr, &fib.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Type: fib.Custom, Action: fib.ActionForward, Group: line, VSwitch: -1})
	mustInsert(t, vbr, &fib.Route{Dst: netip.MustParsePrefix("192.168.0.0/16"), Type: fib.Custom, Action: fib.ActionForward, Group: toVPC, VSwitch: -1})
	ll.Table = vbr
	n.s.Routers = append(n.s.Routers, &Router{ID: "vbr-1", Zone: 2, System: vbr})
	n.s.Ports = append(n.s.Ports, ll)
	return ll
}

func echoReply(t *testing.T, src, dst netip.Addr, id, seq uint16) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: id, Seq: seq}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, icmp, gopacket.Payload([]byte("probe"))); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestExternalPortWorker runs packets from a leased line through a worker:
// the router's end answers pings from itself and hands probe replies to
// OnEchoReply (C2); IDC traffic crosses the VBR and the VRouter (two TTL
// decrements, C1) without anti-spoofing; ICMP errors toward the IDC come
// from the router's end (F3 for external ports).
func TestExternalPortWorker(t *testing.T) {
	n := newTestNet(t)
	ll := withVBR(t, n)
	e := New()
	type reply struct {
		src, dst netip.Addr
		id, seq  uint16
	}
	var got []reply
	e.OnEchoReply = func(src, dst netip.Addr, id, seq uint16) { got = append(got, reply{src, dst, id, seq}) }
	e.snap.Store(n.s)
	w := newWorker(e, ll.Dev, ll.ID)
	out := n.devs[ll.ID]

	// Ping of the router's end from the IDC.
	runBatch(t, e, w, n, buildPkt(t, llPeer, llIP, pktOpt{icmp: true}))
	back := out.Written()
	if len(back) != 1 {
		t.Fatalf("leased line got %d packets back", len(back))
	}
	pk := gopacket.NewPacket(back[0].Data, layers.LayerTypeIPv4, gopacket.Default)
	ip4, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip4 == nil || ic == nil || ic.TypeCode.Type() != 0 || !ip4.SrcIP.Equal(llIP.AsSlice()) || !ip4.DstIP.Equal(llPeer.AsSlice()) {
		t.Fatalf("bad echo reply: %v", pk)
	}

	// A probe's answer reaches the prober and nothing is written.
	runBatch(t, e, w, n, echoReply(t, llPeer, llIP, 77, 5))
	if len(got) != 1 || got[0] != (reply{llPeer, llIP, 77, 5}) {
		t.Fatalf("OnEchoReply got %+v", got)
	}
	if len(out.Written()) != 0 {
		t.Fatal("probe reply was answered")
	}

	// IDC → VPC: two routers crossed, no anti-spoofing on the external side.
	for _, src := range []netip.Addr{idcIP, netip.MustParseAddr("198.18.0.1")} {
		runBatch(t, e, w, n, buildPkt(t, src, aWeb, pktOpt{ttl: 9}))
		web := n.devs[n.web.ID].Written()
		if len(web) != 1 || web[0].Data[8] != 7 {
			t.Fatalf("from %v: web got %d packets (ttl %v)", src, len(web), web)
		}
	}

	// Unrouted: net unreachable from the router's end of the port.
	runBatch(t, e, w, n, buildPkt(t, idcIP, netip.MustParseAddr("172.16.0.1"), pktOpt{}))
	back = out.Written()
	if len(back) != 1 {
		t.Fatalf("leased line got %d packets back", len(back))
	}
	pk = gopacket.NewPacket(back[0].Data, layers.LayerTypeIPv4, gopacket.Default)
	ip4, _ = pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ = pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic == nil || ic.TypeCode.Type() != 3 || ic.TypeCode.Code() != 0 || !ip4.SrcIP.Equal(llIP.AsSlice()) {
		t.Fatalf("want net unreachable from %v, got %v", llIP, pk)
	}
	if v := ll.Counters.Drops[stats.DropNoRoute].Load(); v != 1 {
		t.Errorf("no_route counter %d", v)
	}
}

// TestExternalDecisions: the pure decision for the VPC side: out across
// the router interface to the leased line; other traffic addressed to the
// router's end is the router's (to-router, then dropped by the worker).
func TestExternalDecisions(t *testing.T) {
	n := newTestNet(t)
	ll := withVBR(t, n)
	// The VPC's system table sends 10.0.0.0/8 to the VBR.
	toVBR, err := fib.NewGroup(fib.Single, []fib.Member{{ID: "ri-c", Kind: fib.MemberRouterInterface, Peer: 1, Port: fib.NoPort}})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, n.system, &fib.Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Type: fib.Custom, Action: fib.ActionForward, Group: toVBR, VSwitch: -1})
	for _, c := range []struct {
		name    string
		in      *Port
		src     netip.Addr
		dst     netip.Addr
		o       pktOpt
		verdict Verdict
		out     fib.PortID
		hops    uint8
	}{
		{"VPC to IDC", n.web, aWeb, idcIP, pktOpt{}, VerdictForward, ll.ID, 2},
		{"UDP to the router's end", ll, llPeer, llIP, pktOpt{}, VerdictToRouter, fib.NoPort, 0},
		{"router's end from another source", ll, idcIP, llIP, pktOpt{icmp: true}, VerdictToRouter, fib.NoPort, 0},
	} {
		d := decide(t, n.s, c.in, buildPkt(t, c.src, c.dst, c.o))
		if d.Verdict != c.verdict || (c.verdict == VerdictForward && (d.Out != c.out || d.Hops != c.hops)) {
			t.Errorf("%s: %v out %d hops %d reason %v", c.name, d.Verdict, d.Out, d.Hops, d.Reason)
		}
	}
	tr := &Trace{}
	var p packet.Parsed
	p.Decode(buildPkt(t, llPeer, llIP, pktOpt{icmp: true}))
	var hdr tun.VirtioNetHdr
	n.s.Forward(ll, &p, 60, &hdr, 0, tr)
	if last := tr.Steps[len(tr.Steps)-1]; last.Result != "to-router" || last.Detail != "router end 192.0.2.1 of vbr-1" {
		t.Errorf("trace %+v", tr.Steps)
	}
}

// TestZoneOfExternal: a flow between an ENI and an external port is keyed
// in the ENI's zone whichever side sends (S7, S2); a flow between ENIs of
// two VPCs in a zone made of both (C1); an ENI-only flow in its VPC's.
func TestZoneOfExternal(t *testing.T) {
	n := newTestNet(t)
	ll := withVBR(t, n)
	s := n.s
	s.Routers = append(s.Routers, &Router{ID: "vrt-2", Zone: 3})
	other := &Port{ID: 5, Name: "i-other", Kind: PortENI, Router: 2}
	ll2 := &Port{ID: 6, Name: "vbr-2", Kind: PortExternal, Router: 2}
	for _, c := range []struct {
		name    string
		in, out *Port
		want    uint16
	}{
		{"ENI to leased line", n.web, ll, 1},
		{"leased line to ENI", ll, n.web, 1},
		{"reply through another VBR", ll2, n.web, 1},
		{"other VPC to leased line", other, ll, 3},
		{"same VPC", n.web, n.app, 1},
		{"across VPCs", n.web, other, 1<<8 | 3},
		{"across VPCs, reverse", other, n.web, 1<<8 | 3},
		{"external to external", ll, ll2, 2<<8 | 3},
	} {
		if z := s.zoneOf(c.in, c.out); z != c.want {
			t.Errorf("%s: zone %#x, want %#x", c.name, z, c.want)
		}
	}
}
