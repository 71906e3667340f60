package dataplane

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
	"github.com/vrouter/vrouter/dataplane/tun/tuntest"
)

var (
	aWeb  = netip.MustParseAddr("192.168.1.10")
	aNat  = netip.MustParseAddr("192.168.1.20")
	aApp  = netip.MustParseAddr("192.168.2.10")
	aFw   = netip.MustParseAddr("192.168.2.30")
	gwA   = netip.MustParseAddr("192.168.1.253")
	gwB   = netip.MustParseAddr("192.168.2.253")
	pfxA  = netip.MustParsePrefix("192.168.1.0/24")
	pfxB  = netip.MustParsePrefix("192.168.2.0/24")
	extIP = netip.MustParseAddr("10.0.0.1")
)

// testNet is a hand-built snapshot (the dataplane never imports the
// compiler): VSwitch A (system table) with web and nat, VSwitch B (custom
// table: 0.0.0.0/0 → nat, 10.0.0.0/24 → fw) with app and fw.
type testNet struct {
	s                 *Snapshot
	web, nat, app, fw *Port
	devs              map[fib.PortID]*tuntest.Device
	system, custom    *fib.Table
}

func newTestNet(t testing.TB) *testNet {
	t.Helper()
	n := &testNet{devs: map[fib.PortID]*tuntest.Device{}}
	s := &Snapshot{HashSeed: 1, ICMPRate: 1e6, ICMPBurst: 1e6}
	s.Routers = []*Router{{ID: "vrt-1", Zone: 1}}
	va, vb := NewVSwitch("vsw-a", pfxA, 0), NewVSwitch("vsw-b", pfxB, 0)
	s.VSwitches = []*VSwitch{va, vb}
	mk := func(id fib.PortID, name string, vsw int, addr netip.Addr, sdc bool) *Port {
		dev := tuntest.New(name, 8)
		n.devs[id] = dev
		p := &Port{ID: id, Name: name, Kind: PortENI, Router: 0, VSwitch: vsw, Gateway: s.VSwitches[vsw].Gateway,
			MTU: 1500, Addrs: []netip.Addr{addr}, SourceDestCheck: sdc, Counters: &stats.Port{}, Dev: dev}
		s.VSwitches[vsw].SetOwner(addr, id)
		return p
	}
	n.web = mk(0, "i-web", 0, aWeb, true)
	n.nat = mk(1, "i-nat", 0, aNat, false)
	n.app = mk(2, "i-app", 1, aApp, true)
	n.fw = mk(3, "i-fw", 1, aFw, false)
	s.Ports = []*Port{n.web, n.nat, n.app, n.fw}

	sys := func(t2 *fib.Table) {
		mustInsert(t, t2, &fib.Route{Dst: netip.MustParsePrefix("100.64.0.0/10"), Type: fib.System, Action: fib.ActionReserved, VSwitch: -1})
		mustInsert(t, t2, &fib.Route{Dst: pfxA, Type: fib.System, Action: fib.ActionLocal, VSwitch: 0})
		mustInsert(t, t2, &fib.Route{Dst: pfxB, Type: fib.System, Action: fib.ActionLocal, VSwitch: 1})
	}
	n.system = fib.NewTable("vtb-sys")
	sys(n.system)
	n.custom = fib.NewTable("vtb-b")
	sys(n.custom)
	single := func(p *Port) *fib.Group {
		g, err := fib.NewGroup(fib.Single, []fib.Member{{ID: p.Name, Kind: fib.MemberPort, Port: p.ID, Addr: p.Addrs[0]}})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	// SPEC F5 example: 0.0.0.0/0 → nat, 10.0.0.0/24 → fw.
	mustInsert(t, n.custom, &fib.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: fib.Custom, Action: fib.ActionForward, Group: single(n.nat), VSwitch: -1})
	mustInsert(t, n.custom, &fib.Route{Dst: netip.MustParsePrefix("10.0.0.0/24"), Type: fib.Custom, Action: fib.ActionForward, Group: single(n.fw), VSwitch: -1})
	n.web.Table, n.nat.Table = n.system, n.system
	n.app.Table, n.fw.Table = n.custom, n.custom
	s.Routers[0].System = n.system
	n.s = s
	return n
}

func mustInsert(t testing.TB, tb *fib.Table, r *fib.Route) {
	t.Helper()
	if err := tb.Insert(r); err != nil {
		t.Fatal(err)
	}
}

type pktOpt struct {
	ttl    uint8
	df     bool
	size   int // total IP length for UDP packets (payload padded)
	icmp   bool
	proto  string
	sport  uint16
	dport  uint16
	tcpSyn bool
}

func buildPkt(t testing.TB, src, dst netip.Addr, o pktOpt) []byte {
	t.Helper()
	if o.ttl == 0 {
		o.ttl = 64
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: o.ttl, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Id: 7}
	if o.df {
		ip.Flags = layers.IPv4DontFragment
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var err error
	switch {
	case o.icmp:
		ip.Protocol = layers.IPProtocolICMPv4
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 99, Seq: 1}
		err = gopacket.SerializeLayers(buf, opts, ip, icmp, gopacket.Payload([]byte("ping-payload")))
	case o.proto == "tcp":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(o.sport), DstPort: layers.TCPPort(o.dport), SYN: o.tcpSyn, ACK: !o.tcpSyn, Window: 1000}
		tcp.SetNetworkLayerForChecksum(ip)
		err = gopacket.SerializeLayers(buf, opts, ip, tcp)
	default:
		ip.Protocol = layers.IPProtocolUDP
		if o.sport == 0 {
			o.sport, o.dport = 1000, 2000
		}
		udp := &layers.UDP{SrcPort: layers.UDPPort(o.sport), DstPort: layers.UDPPort(o.dport)}
		udp.SetNetworkLayerForChecksum(ip)
		pl := 16
		if o.size > 28 {
			pl = o.size - 28
		}
		err = gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(make([]byte, pl)))
	}
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func decide(t testing.TB, s *Snapshot, in *Port, pkt []byte) Decision {
	t.Helper()
	var p packet.Parsed
	if st := p.Decode(pkt); st != packet.OK {
		t.Fatalf("decode: %v", st)
	}
	var hdr tun.VirtioNetHdr
	return s.Forward(in, &p, len(pkt), &hdr, 0, nil)
}

// TestForwardDecisions covers F3–F7 and F12 on the pure decision.
func TestForwardDecisions(t *testing.T) {
	n := newTestNet(t)
	n.app.MTU = 1500
	small := n.fw
	cases := []struct {
		name   string
		in     *Port
		src    netip.Addr
		dst    netip.Addr
		opt    pktOpt
		setup  func()
		want   Verdict
		out    *Port
		reason stats.DropReason
		icmp   [2]uint8
	}{
		{name: "F5 same VSwitch", in: n.web, src: aWeb, dst: aNat, want: VerdictForward, out: n.nat},
		{name: "F5 across VSwitches", in: n.web, src: aWeb, dst: aApp, want: VerdictForward, out: n.app},
		{name: "F5 LPM 10.0.0.1 to the /24 next hop", in: n.app, src: aApp, dst: netip.MustParseAddr("10.0.0.1"), want: VerdictForward, out: n.fw},
		{name: "F5 LPM 10.0.1.1 to the default next hop", in: n.app, src: aApp, dst: netip.MustParseAddr("10.0.1.1"), want: VerdictForward, out: n.nat},
		{name: "F5 no route: net unreachable", in: n.web, src: aWeb, dst: netip.MustParseAddr("198.51.100.1"), want: VerdictICMPError, reason: stats.DropNoRoute, icmp: [2]uint8{3, 0}},
		{name: "F5 free address: host unreachable", in: n.web, src: aWeb, dst: netip.MustParseAddr("192.168.2.99"), want: VerdictICMPError, reason: stats.DropHostUnreachable, icmp: [2]uint8{3, 1}},
		{name: "F5 cloud services reserved", in: n.web, src: aWeb, dst: netip.MustParseAddr("100.100.2.136"), want: VerdictDrop, reason: stats.DropCloudService},
		{name: "F3 gateway of own VSwitch", in: n.web, src: aWeb, dst: gwA, opt: pktOpt{icmp: true}, want: VerdictToRouter},
		{name: "F3 gateway of other VSwitch", in: n.web, src: aWeb, dst: gwB, opt: pktOpt{icmp: true}, want: VerdictToRouter},
		{name: "F3 gateway answers with TTL 1", in: n.web, src: aWeb, dst: gwA, opt: pktOpt{icmp: true, ttl: 1}, want: VerdictToRouter},
		{name: "F6 TTL 1 forwarded: time exceeded", in: n.web, src: aWeb, dst: aApp, opt: pktOpt{ttl: 1}, want: VerdictICMPError, reason: stats.DropTTLExceeded, icmp: [2]uint8{11, 0}},
		{name: "F4 spoofed source", in: n.web, src: netip.MustParseAddr("192.168.1.99"), dst: aApp, want: VerdictDrop, reason: stats.DropSpoofed},
		{name: "F4 next hop skips anti-spoofing", in: n.nat, src: netip.MustParseAddr("203.0.113.5"), dst: aApp, want: VerdictForward, out: n.app},
		{name: "F12 martian source 127/8", in: n.nat, src: netip.MustParseAddr("127.0.0.1"), dst: aApp, want: VerdictDrop, reason: stats.DropMartian},
		{name: "F12 martian destination 169.254/16", in: n.web, src: aWeb, dst: netip.MustParseAddr("169.254.1.1"), want: VerdictDrop, reason: stats.DropMartian},
		{name: "F12 src equals dst", in: n.web, src: aWeb, dst: aWeb, want: VerdictDrop, reason: stats.DropMartian},
		{name: "F12 limited broadcast", in: n.web, src: aWeb, dst: netip.MustParseAddr("255.255.255.255"), want: VerdictDrop, reason: stats.DropBroadcast},
		{name: "F12 directed broadcast", in: n.web, src: aWeb, dst: netip.MustParseAddr("192.168.2.255"), want: VerdictDrop, reason: stats.DropBroadcast},
		{name: "F7 DF too big: frag needed", in: n.web, src: aWeb, dst: aFw, opt: pktOpt{df: true, size: 1400}, setup: func() { small.MTU = 1280 }, want: VerdictICMPError, reason: stats.DropFragNeeded, icmp: [2]uint8{3, 4}},
		{name: "F7 no DF too big: fragment", in: n.web, src: aWeb, dst: aFw, opt: pktOpt{size: 1400}, setup: func() { small.MTU = 1280 }, want: VerdictFragment, out: n.fw},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			small.MTU = 1500
			if c.setup != nil {
				c.setup()
			}
			d := decide(t, n.s, c.in, buildPkt(t, c.src, c.dst, c.opt))
			if d.Verdict != c.want {
				t.Fatalf("verdict %v (reason %v), want %v", d.Verdict, d.Reason, c.want)
			}
			if c.out != nil && d.Out != c.out.ID {
				t.Errorf("out port %d, want %s (%d)", d.Out, c.out.Name, c.out.ID)
			}
			if c.want == VerdictDrop || c.want == VerdictICMPError {
				if d.Reason != c.reason {
					t.Errorf("reason %v, want %v", d.Reason, c.reason)
				}
			}
			if c.want == VerdictICMPError && (d.ICMPType != c.icmp[0] || d.ICMPCode != c.icmp[1]) {
				t.Errorf("icmp %d/%d, want %d/%d", d.ICMPType, d.ICMPCode, c.icmp[0], c.icmp[1])
			}
			if c.reason == stats.DropFragNeeded && d.MTU != 1280 {
				t.Errorf("frag needed MTU %d, want 1280", d.MTU)
			}
		})
	}
}

// TestForwardGSO: a TCP super-packet larger than the MTU passes whole when
// its segments fit (F7), and gets frag-needed when they do not.
func TestForwardGSO(t *testing.T) {
	n := newTestNet(t)
	pkt := buildPkt(t, aWeb, aApp, pktOpt{proto: "tcp", sport: 40000, dport: 5201, df: true})
	var p packet.Parsed
	p.Decode(pkt)
	hdr := tun.VirtioNetHdr{GSOType: tun.GSOTCPv4, GSOSize: 1448, HdrLen: 52}
	d := n.s.Forward(n.web, &p, 64000, &hdr, 0, nil)
	if d.Verdict != VerdictForward || d.Out != n.app.ID {
		t.Fatalf("GSO fitting: %+v", d)
	}
	n.app.MTU = 1280
	d = n.s.Forward(n.web, &p, 64000, &hdr, 0, nil)
	if d.Verdict != VerdictICMPError || d.Reason != stats.DropFragNeeded || d.MTU != 1280 {
		t.Fatalf("GSO too big: %+v", d)
	}
}

// runWorker drives one worker synchronously over packets injected into its
// device, the in-memory TUN path of DESIGN "Testing conventions" level 2.
func runBatch(t testing.TB, e *Engine, w *worker, n *testNet, pkts ...[]byte) {
	t.Helper()
	for _, p := range pkts {
		n.devs[fib.PortID(w.id.Load())].Inject(p, tun.VirtioNetHdr{})
	}
	cnt, err := w.dev.Read(w.bufs, w.sizes, Headroom)
	if err != nil {
		t.Fatal(err)
	}
	w.batch(e.snap.Load(), cnt, time.Now().UnixNano())
}

func TestWorkerForwardsAndAnswers(t *testing.T) {
	n := newTestNet(t)
	e := New()
	e.snap.Store(n.s)
	w := newWorker(e, n.web.Dev, n.web.ID)

	// A packet to app is written to app's device with TTL decremented.
	runBatch(t, e, w, n, buildPkt(t, aWeb, aApp, pktOpt{ttl: 9}))
	got := n.devs[n.app.ID].Written()
	if len(got) != 1 {
		t.Fatalf("app got %d packets", len(got))
	}
	if ttl := got[0].Data[8]; ttl != 8 {
		t.Errorf("TTL %d, want 8", ttl)
	}
	if !packet.IPv4(got[0].Data).IsChecksumValid() {
		t.Error("bad IPv4 checksum after TTL decrement")
	}

	// Echo to the gateway is answered from the gateway (F3).
	runBatch(t, e, w, n, buildPkt(t, aWeb, gwA, pktOpt{icmp: true}))
	back := n.devs[n.web.ID].Written()
	if len(back) != 1 {
		t.Fatalf("web got %d packets back", len(back))
	}
	pk := gopacket.NewPacket(back[0].Data, layers.LayerTypeIPv4, gopacket.Default)
	ip4, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip4 == nil || ic == nil || ic.TypeCode.Type() != 0 || !ip4.SrcIP.Equal(gwA.AsSlice()) || !ip4.DstIP.Equal(aWeb.AsSlice()) {
		t.Fatalf("bad echo reply: %v", pk)
	}

	// TTL 1 → time exceeded from the ingress gateway (F6, F3).
	runBatch(t, e, w, n, buildPkt(t, aWeb, aApp, pktOpt{ttl: 1}))
	back = n.devs[n.web.ID].Written()
	pk = gopacket.NewPacket(back[0].Data, layers.LayerTypeIPv4, gopacket.Default)
	ip4, _ = pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ = pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic == nil || ic.TypeCode.Type() != 11 || !ip4.SrcIP.Equal(gwA.AsSlice()) {
		t.Fatalf("want time exceeded from %v, got %v", gwA, pk)
	}
	if v := n.web.Counters.Drops[stats.DropTTLExceeded].Load(); v != 1 {
		t.Errorf("ttl_exceeded counter %d", v)
	}
	// Spoofed source is counted, nothing written.
	runBatch(t, e, w, n, buildPkt(t, netip.MustParseAddr("192.168.1.77"), aApp, pktOpt{}))
	if len(n.devs[n.app.ID].Written()) != 0 {
		t.Error("spoofed packet forwarded")
	}
	if v := n.web.Counters.Drops[stats.DropSpoofed].Load(); v != 1 {
		t.Errorf("spoofed counter %d", v)
	}
	if rx := n.web.Counters.RxPackets.Load(); rx != 4 {
		t.Errorf("rx %d, want 4", rx)
	}
}

// TestWorkerFragments: a 1,400-byte packet without DF toward a 1,280-MTU
// port arrives as fragments that reassemble to the original (F7).
func TestWorkerFragments(t *testing.T) {
	n := newTestNet(t)
	n.fw.MTU = 1280
	e := New()
	e.snap.Store(n.s)
	w := newWorker(e, n.web.Dev, n.web.ID)
	orig := buildPkt(t, aWeb, aFw, pktOpt{size: 1400})
	runBatch(t, e, w, n, orig)
	frags := n.devs[n.fw.ID].Written()
	if len(frags) != 2 {
		t.Fatalf("%d fragments, want 2", len(frags))
	}
	var payload []byte
	for _, f := range frags {
		if len(f.Data) > 1280 {
			t.Errorf("fragment of %d bytes exceeds MTU", len(f.Data))
		}
		ip := packet.IPv4(f.Data)
		payload = append(payload, ip.Payload()...)
	}
	if string(payload) != string(packet.IPv4(orig).Payload()) {
		t.Error("fragments do not reassemble to the original payload")
	}
}

// TestZeroAllocs enforces DESIGN house rule 4 on the pure decision and the
// in-memory TUN path (read, forward, write).
func TestZeroAllocs(t *testing.T) {
	n := newTestNet(t)
	pkt := buildPkt(t, aWeb, aApp, pktOpt{proto: "tcp", sport: 40000, dport: 80})
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	if a := testing.AllocsPerRun(1000, func() {
		p.Decode(pkt)
		n.s.Forward(n.web, &p, len(pkt), &hdr, 0, nil)
	}); a != 0 {
		t.Errorf("Forward allocates %.1f per packet", a)
	}

	e := New()
	e.snap.Store(n.s)
	w := newWorker(e, n.web.Dev, n.web.ID)
	n.devs[n.app.ID].SetWriteHook(func([]byte, tun.VirtioNetHdr) {})
	in := n.devs[n.web.ID]
	// Warm up: egress batch slices and every slot of the device ring
	// allocate once.
	for i := 0; i < 200; i++ {
		in.Inject(pkt, hdr)
		cnt, _ := w.dev.Read(w.bufs, w.sizes, Headroom)
		w.batch(n.s, cnt, 1)
	}
	if a := testing.AllocsPerRun(1000, func() {
		in.Inject(pkt, hdr)
		cnt, _ := w.dev.Read(w.bufs, w.sizes, Headroom)
		w.batch(n.s, cnt, 1)
	}); a != 0 {
		t.Errorf("worker path allocates %.1f per packet", a)
	}
}

// TestEngineApply starts and stops workers as ports come and go.
func TestEngineApply(t *testing.T) {
	n := newTestNet(t)
	e := New()
	e.Apply(n.s)
	n.devs[n.web.ID].Inject(buildPkt(t, aWeb, aApp, pktOpt{}), tun.VirtioNetHdr{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.devs[n.app.ID].WaitWritten(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Drop the fw port: its worker stops and its device is closed.
	s2 := *n.s
	s2.Ports = []*Port{n.web, n.nat, n.app, nil}
	e.Apply(&s2)
	if _, err := n.devs[n.fw.ID].Read([][]byte{make([]byte, 2048)}, make([]int, 1), Headroom); err != tun.ErrClosed {
		t.Errorf("removed port's device not closed: %v", err)
	}
	e.Stop()
}

// TestNoControlPlaneImports enforces DESIGN: the data plane never imports
// controlplane, YAML, cobra or netlink.
func TestNoControlPlaneImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/vrouter/vrouter/dataplane/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"/controlplane", "yaml", "spf13/cobra", "vishvananda/netlink"} {
			if strings.Contains(dep, bad) {
				t.Errorf("dataplane depends on %s", dep)
			}
		}
	}
}

var _ = net.IPv4len

// sgNet is newTestNet with security groups and connection tracking on.
func sgNet(b testing.TB) *testNet {
	n := newTestNet(b)
	n.s.SecurityGroups = true
	n.s.Conntrack = conntrack.New(conntrack.Config{MaxEntries: 1 << 20})
	n.s.Frags = conntrack.NewFrags(0, 0)
	in := &secgroup.Input{Groups: map[string]*secgroup.Group{
		"sg-cli": {ID: "sg-cli"},
		"sg-srv": {ID: "sg-srv", Rules: []secgroup.Rule{{Group: "sg-srv", Direction: secgroup.Ingress, Policy: secgroup.Accept,
			Priority: 1, Proto: secgroup.ProtoTCP, PortLo: 80, PortHi: 80, Peer: netip.MustParsePrefix("0.0.0.0/0")}}},
	}}
	var err error
	if n.web.Policy, err = secgroup.Compile(in, []string{"sg-cli"}); err != nil {
		b.Fatal(err)
	}
	if n.app.Policy, err = secgroup.Compile(in, []string{"sg-srv"}); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkForwardEstablished is the established-flow path of issue 4: a
// conntrack hit, no rule evaluation (S1). It must not allocate.
func BenchmarkForwardEstablished(b *testing.B) {
	n := sgNet(b)
	pkt := buildPkt(b, aWeb, aApp, pktOpt{proto: "tcp", sport: 40000, dport: 80, tcpSyn: true})
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	p.Decode(pkt)
	if d := n.s.Forward(n.web, &p, len(pkt), &hdr, 1, nil); d.Verdict != VerdictForward {
		b.Fatalf("first packet: %v %v", d.Verdict, d.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Decode(pkt)
		n.s.Forward(n.web, &p, len(pkt), &hdr, 2, nil)
	}
}

// BenchmarkForwardNewFlow is the new-flow path: both policies evaluated and
// a conntrack insert per packet (each iteration uses a new source port).
func BenchmarkForwardNewFlow(b *testing.B) {
	n := sgNet(b)
	pkt := buildPkt(b, aWeb, aApp, pktOpt{proto: "tcp", sport: 1, dport: 80, tcpSyn: true})
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt[20], pkt[21] = byte(i>>8), byte(i) // source port (Decode does not verify L4 checksums)
		pkt[12] = 10 + byte(i>>16)             // and the source address, beyond 65,536 flows
		packet.IPv4(pkt).UpdateChecksum()
		p.Decode(pkt)
		if d := n.s.Forward(n.nat, &p, len(pkt), &hdr, 1, nil); d.Verdict != VerdictForward {
			b.Fatalf("new flow %d: %v %v", i, d.Verdict, d.Reason)
		}
	}
}

// TestEstablishedZeroAllocs: DESIGN house rule 4 with security groups on.
func TestEstablishedZeroAllocs(t *testing.T) {
	n := sgNet(t)
	pkt := buildPkt(t, aWeb, aApp, pktOpt{proto: "tcp", sport: 40000, dport: 80, tcpSyn: true})
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	p.Decode(pkt)
	n.s.Forward(n.web, &p, len(pkt), &hdr, 1, nil)
	if a := testing.AllocsPerRun(1000, func() {
		p.Decode(pkt)
		n.s.Forward(n.web, &p, len(pkt), &hdr, 2, nil)
	}); a != 0 {
		t.Errorf("established path allocates %.1f per packet", a)
	}
}

// TestAccountingIdentity: every packet read from a port is forwarded,
// consumed or dropped for a named reason, exactly once (issue 10, P6).
func TestAccountingIdentity(t *testing.T) {
	n := newTestNet(t)
	n.fw.MTU = 1280
	e := New()
	e.snap.Store(n.s)
	w := newWorker(e, n.web.Dev, n.web.ID)
	pkts := [][]byte{
		buildPkt(t, aWeb, aApp, pktOpt{}),                                   // forwarded
		buildPkt(t, aWeb, gwA, pktOpt{icmp: true}),                          // consumed (echo)
		buildPkt(t, aWeb, aApp, pktOpt{ttl: 1}),                             // ttl_exceeded
		buildPkt(t, aWeb, netip.MustParseAddr("198.51.100.1"), pktOpt{}),    // no_route
		buildPkt(t, netip.MustParseAddr("192.168.1.77"), aApp, pktOpt{}),    // spoofed
		buildPkt(t, aWeb, aFw, pktOpt{size: 1400}),                          // fragmented: forwarded once
		buildPkt(t, aWeb, aFw, pktOpt{size: 1400, df: true}),                // frag_needed
		buildPkt(t, aWeb, netip.MustParseAddr("100.100.100.100"), pktOpt{}), // cloud_service
		{0x45, 0, 0, 20, 0, 0},                                              // malformed
		{0x60, 0, 0, 0, 0, 0, 17, 64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, // ipv6
	}
	runBatch(t, e, w, n, pkts...)
	// One more with the destination's queue full: forwarded, then lost at
	// the egress port and counted there.
	n.devs[n.app.ID].FailWrites(1, nil)
	runBatch(t, e, w, n, buildPkt(t, aWeb, aApp, pktOpt{}))
	c := n.web.Counters
	var drops uint64
	for i := range c.Drops {
		drops += c.Drops[i].Load()
	}
	rx, fwd, cons := c.RxPackets.Load(), c.Forwarded.Load(), c.Consumed.Load()
	if rx != uint64(len(pkts)+1) || rx != fwd+cons+drops {
		t.Fatalf("rx %d != forwarded %d + consumed %d + dropped %d", rx, fwd, cons, drops)
	}
	if fwd != 3 || cons != 1 {
		t.Errorf("forwarded %d consumed %d, want 3 and 1", fwd, cons)
	}
	if v := n.app.Counters.EgressDrops[stats.DropPortError].Load(); v != 1 {
		t.Errorf("egress port_error %d, want 1", v)
	}
}
