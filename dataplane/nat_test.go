package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
	"github.com/vrouter/vrouter/dataplane/tun/tuntest"
)

// Tests of SPEC C6: NAT rewrite and checksums, SNAT port allocation, and
// the EIP / SNAT / DNAT pipeline on the in-memory TUN.

var (
	inetIP  = netip.MustParseAddr("203.0.113.1") // router's end of the internet port
	eipWeb  = netip.MustParseAddr("198.51.100.10")
	eipSNAT = netip.MustParseAddr("198.51.100.20")
	eipDNAT = netip.MustParseAddr("198.51.100.30")
	server  = netip.MustParseAddr("8.8.8.8")
	client  = netip.MustParseAddr("1.2.3.4")
	aOther  = netip.MustParseAddr("192.168.1.40") // in VSwitch A, covered by no SNAT entry
)

// reserialize decodes pkt with gopacket and serializes its layers again
// with ComputeChecksums: equal bytes mean every checksum of pkt is what
// gopacket computes. An ICMP error's quote is checked the same way when it
// holds a whole packet.
func reserialize(t *testing.T, pkt []byte) []byte {
	t.Helper()
	pk := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	opts := gopacket.SerializeOptions{ComputeChecksums: true}
	buf := gopacket.NewSerializeBuffer()
	var err error
	switch {
	case ip.FragOffset != 0:
		err = gopacket.SerializeLayers(buf, opts, ip, gopacket.Payload(ip.Payload))
	case pk.Layer(layers.LayerTypeTCP) != nil:
		tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		tcp.SetNetworkLayerForChecksum(ip)
		err = gopacket.SerializeLayers(buf, opts, ip, tcp, gopacket.Payload(tcp.Payload))
	case pk.Layer(layers.LayerTypeUDP) != nil:
		udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		udp.SetNetworkLayerForChecksum(ip)
		err = gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(udp.Payload))
	default:
		ic := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		err = gopacket.SerializeLayers(buf, opts, ip, ic, gopacket.Payload(ic.Payload))
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkChecksums fails unless every checksum of pkt (and of a whole quoted
// packet inside an ICMP error) is right, per gopacket.
func checkChecksums(t *testing.T, what string, pkt []byte) {
	t.Helper()
	if got := reserialize(t, pkt); !bytes.Equal(got, pkt) {
		t.Errorf("%s: checksums differ from gopacket's:\n ours %x\n want %x", what, pkt, got)
	}
	var p packet.Parsed
	if p.Decode(pkt) == packet.OK && p.Proto == packet.ProtoICMP && p.HasInner {
		q := pkt[p.L4Off+8:]
		if int(binary.BigEndian.Uint16(q[2:4])) == len(q) { // a whole packet is quoted
			if got := reserialize(t, q); !bytes.Equal(got, q) {
				t.Errorf("%s: quoted packet's checksums differ from gopacket's:\n ours %x\n want %x", what, q, got)
			}
		}
	}
}

func tcpPkt(t *testing.T, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, syn bool) []byte {
	t.Helper()
	return buildPkt(t, src, dst, pktOpt{proto: "tcp", sport: sport, dport: dport, tcpSyn: syn})
}

func udpPkt(t *testing.T, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	t.Helper()
	return buildPkt(t, src, dst, pktOpt{sport: sport, dport: dport})
}

func echoPkt(t *testing.T, src, dst netip.Addr, typ uint8, id uint16) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: 3}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, icmp, gopacket.Payload([]byte("echo-data"))); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// icmpErr builds the ICMP error from src quoting orig (whole).
func icmpErr(t *testing.T, src netip.Addr, orig []byte, typ, code uint8) []byte {
	t.Helper()
	b := make([]byte, 1500)
	n := packet.BuildICMPv4Error(b, src, 9, orig, typ, code, 0)
	if n == 0 {
		t.Fatal("BuildICMPv4Error failed")
	}
	return b[:n]
}

// fields decodes the addresses and ports of pkt (ports: echo id for echo).
func fields(t *testing.T, pkt []byte) (src, dst netip.Addr, sport, dport uint16) {
	t.Helper()
	var p packet.Parsed
	if st := p.Decode(pkt); st != packet.OK {
		t.Fatalf("decode: %v", st)
	}
	return p.Src, p.Dst, p.SrcPort, p.DstPort
}

func a4(s string) [4]byte { return netip.MustParseAddr(s).As4() }

// TestNATRewriteChecksums: every rewrite C6 needs leaves checksums gopacket
// agrees with (RFC 1624 incremental updates), including the quoted header
// of ICMP errors; a UDP checksum of 0 stays 0 (RFC 768).
func TestNATRewriteChecksums(t *testing.T) {
	udpOrig := udpPkt(t, eipSNAT, 40000, server, 53)
	tcpOrig := tcpPkt(t, eipSNAT, 40001, server, 80, true)
	echoOrig := echoPkt(t, eipSNAT, server, packet.ICMPEcho, 2000)
	noCsum := udpPkt(t, aNat, 5000, server, 53)
	binary.BigEndian.PutUint16(noCsum[20+6:], 0)
	frag := buildPkt(t, aWeb, server, pktOpt{size: 1400})
	views, sizes := [][]byte{make([]byte, 1500), make([]byte, 1500)}, make([]int, 2)
	if n, err := packet.FragmentIPv4(frag, 1000, views, sizes); err != nil || n != 2 {
		t.Fatalf("fragment: %d %v", n, err)
	}
	second := views[1][:sizes[1]]
	for _, c := range []struct {
		name string
		pkt  []byte
		rw   Rewrite
		want [4]string // src, dst, sport, dport after the rewrite ("" = unchecked)
	}{
		{"TCP SNAT source and port", tcpPkt(t, aNat, 33000, server, 80, true),
			Rewrite{Flags: RewriteSrc | RewriteSrcPort, Src: eipSNAT.As4(), SrcPort: 1024}, [4]string{"198.51.100.20", "8.8.8.8", "1024", "80"}},
		{"TCP DNAT destination and port", tcpPkt(t, client, 5555, eipDNAT, 8080, true),
			Rewrite{Flags: RewriteDst | RewriteDstPort, Dst: aNat.As4(), DstPort: 80}, [4]string{"1.2.3.4", "192.168.1.20", "5555", "80"}},
		{"TCP both addresses and ports", tcpPkt(t, client, 5555, eipDNAT, 8080, false),
			Rewrite{Flags: RewriteSrc | RewriteDst | RewriteSrcPort | RewriteDstPort, Src: a4("9.9.9.9"), Dst: aNat.As4(), SrcPort: 1, DstPort: 65535}, [4]string{"9.9.9.9", "192.168.1.20", "1", "65535"}},
		{"UDP SNAT", udpPkt(t, aNat, 5353, server, 53),
			Rewrite{Flags: RewriteSrc | RewriteSrcPort, Src: eipSNAT.As4(), SrcPort: 61000}, [4]string{"198.51.100.20", "8.8.8.8", "61000", "53"}},
		{"UDP reply reversed", udpPkt(t, server, 53, eipSNAT, 61000),
			Rewrite{Flags: RewriteDst | RewriteDstPort, Dst: aNat.As4(), DstPort: 5353}, [4]string{"8.8.8.8", "192.168.1.20", "53", "5353"}},
		{"ICMP echo id and source", echoPkt(t, aNat, server, packet.ICMPEcho, 77),
			Rewrite{Flags: RewriteSrc | RewriteSrcPort | RewriteDstPort, Src: eipSNAT.As4(), SrcPort: 2000, DstPort: 2000}, [4]string{"198.51.100.20", "8.8.8.8", "2000", "2000"}},
		{"ICMP echo reply id and destination", echoPkt(t, server, eipSNAT, packet.ICMPEchoReply, 2000),
			Rewrite{Flags: RewriteDst | RewriteSrcPort | RewriteDstPort, Dst: aNat.As4(), SrcPort: 77, DstPort: 77}, [4]string{"8.8.8.8", "192.168.1.20", "77", "77"}},
		{"EIP 1:1 keeps ports", tcpPkt(t, aWeb, 40000, server, 443, true),
			Rewrite{Flags: RewriteSrc, Src: eipWeb.As4()}, [4]string{"198.51.100.10", "8.8.8.8", "40000", "443"}},
		{"ICMP error quoting UDP", icmpErr(t, server, udpOrig, packet.ICMPDestUnreach, 3),
			Rewrite{Flags: RewriteDst | RewriteInnerSrc | RewriteInnerSrcPort, Dst: aNat.As4(), InnerSrc: aNat.As4(), InnerSrcPort: 5353}, [4]string{"8.8.8.8", "192.168.1.20", "", ""}},
		{"ICMP error quoting TCP", icmpErr(t, netip.MustParseAddr("9.9.9.9"), tcpOrig, packet.ICMPTimeExceeded, 0),
			Rewrite{Flags: RewriteDst | RewriteInnerSrc | RewriteInnerSrcPort, Dst: aNat.As4(), InnerSrc: aNat.As4(), InnerSrcPort: 33000}, [4]string{"9.9.9.9", "192.168.1.20", "", ""}},
		{"ICMP error quoting an echo", icmpErr(t, server, echoOrig, packet.ICMPDestUnreach, 1),
			Rewrite{Flags: RewriteDst | RewriteInnerSrc | RewriteInnerSrcPort | RewriteInnerDstPort, Dst: aNat.As4(), InnerSrc: aNat.As4(), InnerSrcPort: 77, InnerDstPort: 77}, [4]string{"8.8.8.8", "192.168.1.20", "", ""}},
		{"ICMP error from an instance about a DNAT flow", icmpErr(t, aNat, udpPkt(t, client, 7000, aNat, 80), packet.ICMPDestUnreach, 3),
			Rewrite{Flags: RewriteSrc | RewriteInnerDst | RewriteInnerDstPort, Src: eipDNAT.As4(), InnerDst: eipDNAT.As4(), InnerDstPort: 8080}, [4]string{"198.51.100.30", "1.2.3.4", "", ""}},
		{"non-first fragment: addresses only", second,
			Rewrite{Flags: RewriteSrc | RewriteSrcPort, Src: eipWeb.As4(), SrcPort: 9}, [4]string{"198.51.100.10", "8.8.8.8", "0", "0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkt := append([]byte(nil), c.pkt...)
			c.rw.Apply(pkt, nil)
			checkChecksums(t, c.name, pkt)
			src, dst, sp, dp := fields(t, pkt)
			got := [4]string{src.String(), dst.String(), itoa(sp), itoa(dp)}
			for i, w := range c.want {
				if w != "" && got[i] != w {
					t.Errorf("field %d = %s, want %s (all: %v)", i, got[i], w, got)
				}
			}
		})
	}
	// The quoted header of an error carries the translation too.
	e := append([]byte(nil), icmpErr(t, server, udpOrig, packet.ICMPDestUnreach, 3)...)
	(&Rewrite{Flags: RewriteDst | RewriteInnerSrc | RewriteInnerSrcPort, Dst: aNat.As4(), InnerSrc: aNat.As4(), InnerSrcPort: 5353}).Apply(e, nil)
	var p packet.Parsed
	p.Decode(e)
	if p.InnerSrc != aNat || p.InnerSrcPort != 5353 || p.InnerDst != server || p.InnerDstPort != 53 {
		t.Errorf("quoted header %v:%d → %v:%d", p.InnerSrc, p.InnerSrcPort, p.InnerDst, p.InnerDstPort)
	}
	// RFC 768: no UDP checksum stays none.
	(&Rewrite{Flags: RewriteSrc | RewriteSrcPort, Src: eipSNAT.As4(), SrcPort: 1024}).Apply(noCsum, nil)
	if c := binary.BigEndian.Uint16(noCsum[20+6:]); c != 0 {
		t.Errorf("UDP checksum 0 became %#x", c)
	}
	if !packet.IPv4(noCsum).IsChecksumValid() {
		t.Error("IP checksum wrong after rewriting a checksum-less UDP packet")
	}
}

func itoa(v uint16) string { return netip.AddrPortFrom(netip.IPv4Unspecified(), v).String()[8:] }

// partialPkt returns p with its L4 checksum replaced by the partial
// pseudo-header sum of a VIRTIO_NET_HDR_F_NEEDS_CSUM packet, and the header.
func partialPkt(t *testing.T, pkt []byte) ([]byte, tun.VirtioNetHdr) {
	t.Helper()
	var p packet.Parsed
	if p.Decode(pkt) != packet.OK {
		t.Fatal("decode")
	}
	off := 16
	if p.Proto == packet.ProtoUDP {
		off = 6
	}
	out := append([]byte(nil), pkt...)
	sum := packet.PseudoHeaderSum(p.Proto, p.Src, p.Dst, p.TotalLen-p.L4Off)
	binary.BigEndian.PutUint16(out[p.L4Off+off:], uint16(sum))
	return out, tun.VirtioNetHdr{Flags: tun.VirtioNetHdrFNeedsCsum, CsumStart: uint16(p.L4Off), CsumOffset: uint16(off)}
}

// TestNATRewritePartialChecksum: with VIRTIO_NET_HDR_F_NEEDS_CSUM the L4
// field holds the non-complemented pseudo-header sum; after the rewrite
// the receiver's completion of the sum must give the checksum gopacket
// computes for the translated packet. Updating the field the complemented
// way would not.
func TestNATRewritePartialChecksum(t *testing.T) {
	for _, c := range []struct {
		name string
		pkt  []byte
		rw   Rewrite
	}{
		{"TCP SNAT", tcpPkt(t, aNat, 33000, server, 80, false), Rewrite{Flags: RewriteSrc | RewriteSrcPort, Src: eipSNAT.As4(), SrcPort: 1500}},
		{"TCP DNAT", tcpPkt(t, client, 5555, eipDNAT, 8080, false), Rewrite{Flags: RewriteDst | RewriteDstPort, Dst: aNat.As4(), DstPort: 80}},
		{"UDP SNAT", udpPkt(t, aNat, 5353, server, 53), Rewrite{Flags: RewriteSrc | RewriteSrcPort, Src: eipSNAT.As4(), SrcPort: 61000}},
		{"UDP EIP reply", udpPkt(t, server, 53, eipWeb, 5353), Rewrite{Flags: RewriteDst, Dst: aWeb.As4()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkt, hdr := partialPkt(t, c.pkt)
			wrong := append([]byte(nil), pkt...)
			c.rw.Apply(pkt, &hdr)
			if err := tun.FinishChecksum(pkt, &hdr); err != nil {
				t.Fatal(err)
			}
			checkChecksums(t, c.name, pkt)

			// The full-checksum update on a partial field is wrong: the
			// test tells the two cases apart.
			c.rw.Apply(wrong, nil)
			if err := tun.FinishChecksum(wrong, &hdr); err != nil {
				t.Fatal(err)
			}
			if got := reserialize(t, wrong); bytes.Equal(got, wrong) {
				t.Error("updating a partial checksum as a full one gave the right checksum: the test cannot tell the cases apart")
			}
		})
	}
}

// TestNATPortAllocation: SNAT ports of one (EIP, protocol) never collide,
// skip DNAT external ports and ports of flows the pool did not hand out,
// and a port is reused only after its flow has left the table (C6).
func TestNATPortAllocation(t *testing.T) {
	ct := conntrack.New(conntrack.Config{MaxEntries: 1 << 20})
	e := &EIP{ID: "eip-snat", Addr: eipSNAT, Gateway: &NATGateway{ID: "ngw"},
		DNAT: []DNATRule{{Proto: packet.ProtoTCP, External: 1026, Internal: aNat, InternalPort: 80}}}
	np := NewNATPorts()
	key := func(i int) conntrack.Key {
		src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		return conntrack.MakeKey(1, packet.ProtoTCP, src, server, 40000, 80)
	}
	tmpl := func(k conntrack.Key) conntrack.Key {
		return conntrack.Key{Src: k.Dst, Dst: eipSNAT.As16(), SrcPort: k.DstPort, DstPort: k.SrcPort, Zone: 1, Proto: k.Proto}
	}
	// A flow the pool did not hand out holds 1025 toward the server.
	foreign := conntrack.MakeKey(1, packet.ProtoTCP, server, eipSNAT, 80, 1025)
	if _, res := ct.Insert(&foreign, nil, packet.TCPSyn, conntrack.Meta{}, 1); res != conntrack.Inserted {
		t.Fatal(res)
	}
	const total = NATPortHi - NATPortLo + 1
	free := total - 2 // 1025 (foreign flow) and 1026 (DNAT)
	used := map[uint16]int{}
	handles := make([]conntrack.Handle, 0, free)
	for i := 0; i < free; i++ {
		k := key(i)
		h, port, res := np.claim(ct, e, &k, tmpl(k), false, packet.TCPSyn, conntrack.Meta{NAT: natSNAT}, 1)
		if res != conntrack.Inserted {
			t.Fatalf("flow %d: %v", i, res)
		}
		if port < NATPortLo || port == 1025 || port == 1026 {
			t.Fatalf("flow %d got port %d", i, port)
		}
		if j, dup := used[port]; dup {
			t.Fatalf("port %d given to flows %d and %d", port, j, i)
		}
		used[port] = i
		handles = append(handles, h)
	}
	if n := np.InUse(ct, eipSNAT, packet.ProtoTCP); n != free+1 { // with the foreign flow's port
		t.Errorf("InUse = %d, want %d", n, free+1)
	}
	// Every port is held: the next flow is refused.
	k := key(free)
	if _, _, res := np.claim(ct, e, &k, tmpl(k), false, packet.TCPSyn, conntrack.Meta{}, 2); res != conntrack.Refused {
		t.Fatalf("claim with every port held: %v", res)
	}
	// A flow ends: exactly its port is given again.
	o, _, _ := ct.Keys(handles[100])
	ct.Delete(handles[100])
	want := uint16(0)
	for p, i := range used {
		if i == 100 {
			want = p
		}
	}
	h, port, res := np.claim(ct, e, &k, tmpl(k), false, packet.TCPSyn, conntrack.Meta{}, 3)
	if res != conntrack.Inserted || port != want {
		t.Fatalf("after flow 100 (%v) ended: %v port %d, want %d", o, res, port, want)
	}
	// An unfinished handshake expires (60 s): its ports are reused only
	// once the table has removed the flows.
	later := int64(3) + int64(2*time.Minute)
	k2 := key(free + 1)
	if _, _, res := np.claim(ct, e, &k2, tmpl(k2), false, packet.TCPSyn, conntrack.Meta{}, later); res != conntrack.Refused {
		t.Fatalf("expired but tracked flows must keep their ports until removed: %v", res)
	}
	for ct.GC(later, 1<<20) > 0 {
	}
	if _, port2, res := np.claim(ct, e, &k2, tmpl(k2), false, packet.TCPSyn, conntrack.Meta{}, later); res != conntrack.Inserted || port2 == port {
		t.Fatalf("after expiry: %v port %d", res, port2)
	}
	_ = h
}

// TestNATPortAllocationConcurrent: workers of different ports claiming at
// once never share a port (race detector on).
func TestNATPortAllocationConcurrent(t *testing.T) {
	ct := conntrack.New(conntrack.DefaultConfig())
	e := &EIP{ID: "eip-snat", Addr: eipSNAT, Gateway: &NATGateway{ID: "ngw"}}
	np := NewNATPorts()
	const workers, each = 8, 500
	ports := make([][]uint16, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				k := conntrack.MakeKey(1, packet.ProtoUDP, netip.AddrFrom4([4]byte{192, 168, byte(w), byte(i % 200)}), server, uint16(1000+i), 53)
				r := conntrack.Key{Src: k.Dst, Dst: eipSNAT.As16(), SrcPort: 53, Zone: 1, Proto: k.Proto}
				_, port, res := np.claim(ct, e, &k, r, false, 0, conntrack.Meta{}, 1)
				if res != conntrack.Inserted {
					t.Errorf("worker %d flow %d: %v", w, i, res)
					return
				}
				ports[w] = append(ports[w], port)
			}
		}(w)
	}
	wg.Wait()
	seen := map[uint16]bool{}
	for _, ps := range ports {
		for _, p := range ps {
			if seen[p] {
				t.Fatalf("port %d handed out twice", p)
			}
			seen[p] = true
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ports for %d flows", len(seen), workers*each)
	}
}

// natNet is the test network with an internet port (id 4, router
// "internet") and C6 state: i-web bound to eipWeb; a NAT gateway of the
// VPC whose SNAT entry 192.168.1.16/28 (covering i-nat) uses eipSNAT and
// whose DNAT entry maps eipDNAT tcp 8080 to i-nat:80; a port i-other
// (192.168.1.40) that nothing covers.
func natNet(t *testing.T) (*testNet, *Port, *Port) {
	t.Helper()
	n := newTestNet(t)
	s := n.s
	s.Conntrack = conntrack.New(conntrack.DefaultConfig())
	s.Frags = conntrack.NewFrags(0, 0)
	s.SecurityGroups = true
	s.PolicyGen = 1
	dev := tuntest.New("internet", 8)
	inet := &Port{ID: 4, Name: "internet", Kind: PortExternal, Router: 1, VSwitch: -1, Gateway: inetIP, MTU: 1500,
		Counters: &stats.Port{}, Dev: dev, Table: fib.NewTable("internet")}
	n.devs[inet.ID] = dev
	s.Routers = append(s.Routers, &Router{ID: "internet", Zone: 2, System: inet.Table})
	odev := tuntest.New("i-other", 8)
	other := &Port{ID: 5, Name: "i-other", Kind: PortENI, Router: 0, VSwitch: 0, Gateway: gwA, MTU: 1500,
		Addrs: []netip.Addr{aOther}, SourceDestCheck: true, Counters: &stats.Port{}, Dev: odev, Table: n.system}
	n.devs[other.ID] = odev
	s.VSwitches[0].SetOwner(aOther, other.ID)
	s.Ports = append(s.Ports, inet, other)
	s.NAT = natState(inet.ID, true, nil)
	return n, inet, other
}

// natState builds the C6 state of natNet; bound says whether eipWeb is
// bound to i-web.
func natState(port fib.PortID, bound bool, ports *NATPorts) *NAT {
	gw := &NATGateway{ID: "ngw-1", Router: 0}
	snat := &EIP{ID: "eip-snat", Addr: eipSNAT, Router: 0, Gateway: gw, Port: fib.NoPort}
	dnat := &EIP{ID: "eip-dnat", Addr: eipDNAT, Router: 0, Gateway: gw, Port: fib.NoPort,
		DNAT: []DNATRule{{Proto: packet.ProtoTCP, External: 8080, Internal: aNat, InternalPort: 80}}}
	gw.SNAT = []SNATRule{{Source: netip.MustParsePrefix("192.168.1.16/28"), EIP: snat}}
	eips := []*EIP{snat, dnat}
	if bound {
		eips = append(eips, &EIP{ID: "eip-web", Addr: eipWeb, Router: 0, Instance: aWeb, Port: 0})
	}
	return NewNAT(port, eips, []*NATGateway{gw}, ports)
}

// pass runs pkt from port in through a worker and returns what port out
// received (exactly one packet expected).
func pass(t *testing.T, e *Engine, n *testNet, in *Port, out fib.PortID, pkt []byte, hdr tun.VirtioNetHdr) tuntest.Packet {
	t.Helper()
	w := newWorker(e, in.Dev, in.ID)
	n.devs[in.ID].Inject(pkt, hdr)
	cnt, err := w.dev.Read(w.bufs, w.sizes, Headroom)
	if err != nil {
		t.Fatal(err)
	}
	w.batch(e.snap.Load(), cnt, time.Now().UnixNano())
	got := n.devs[out].Written()
	if len(got) != 1 {
		t.Fatalf("port %d received %d packets", out, len(got))
	}
	return got[0]
}

func expect(t *testing.T, what string, pkt []byte, src, dst string, sport, dport uint16) {
	t.Helper()
	s, d, sp, dp := fields(t, pkt)
	if s.String() != src || d.String() != dst || sp != sport || dp != dport {
		t.Errorf("%s: %s:%d → %s:%d, want %s:%d → %s:%d", what, s, sp, d, dp, src, sport, dst, dport)
	}
	checkChecksums(t, what, pkt)
}

// TestNATPipeline runs C6 through workers: EIP 1:1 both ways, SNAT with a
// port, ICMP echo ids, ICMP errors quoting a translated packet, DNAT
// keeping the client's address, unrouted sources, partial checksums,
// fragments, and an EIP unbound at runtime (S8).
func TestNATPipeline(t *testing.T) {
	n, inet, other := natNet(t)
	e := New()
	e.snap.Store(n.s)
	web, nat := n.web, n.nat

	// EIP 1:1: out with the EIP as source, back to the instance.
	got := pass(t, e, n, web, inet.ID, tcpPkt(t, aWeb, 40000, server, 80, true), tun.VirtioNetHdr{})
	expect(t, "EIP out", got.Data, "198.51.100.10", "8.8.8.8", 40000, 80)
	if got.Data[8] != 63 {
		t.Errorf("EIP out: TTL %d, want 63", got.Data[8])
	}
	got = pass(t, e, n, inet, web.ID, tcpPkt(t, server, 80, eipWeb, 40000, false), tun.VirtioNetHdr{})
	expect(t, "EIP reply", got.Data, "8.8.8.8", "192.168.1.10", 80, 40000)
	// Reachable from the internet (new flow, any protocol).
	got = pass(t, e, n, inet, web.ID, echoPkt(t, client, eipWeb, packet.ICMPEcho, 5), tun.VirtioNetHdr{})
	expect(t, "ping to the EIP", got.Data, "1.2.3.4", "192.168.1.10", 5, 5)
	got = pass(t, e, n, web, inet.ID, echoPkt(t, aWeb, client, packet.ICMPEchoReply, 5), tun.VirtioNetHdr{})
	expect(t, "its reply", got.Data, "198.51.100.10", "1.2.3.4", 5, 5)

	// SNAT: a public port, reversed for the reply.
	got = pass(t, e, n, nat, inet.ID, udpPkt(t, aNat, 5353, server, 53), tun.VirtioNetHdr{})
	_, _, pub, _ := fields(t, got.Data)
	expect(t, "SNAT out", got.Data, "198.51.100.20", "8.8.8.8", pub, 53)
	if pub < NATPortLo {
		t.Errorf("SNAT port %d", pub)
	}
	got = pass(t, e, n, inet, nat.ID, udpPkt(t, server, 53, eipSNAT, pub), tun.VirtioNetHdr{})
	expect(t, "SNAT reply", got.Data, "8.8.8.8", "192.168.1.20", 53, 5353)
	// An ICMP error quoting the translated datagram reaches the instance
	// with the quoted header translated back.
	quoted := udpPkt(t, eipSNAT, pub, server, 53)
	got = pass(t, e, n, inet, nat.ID, icmpErr(t, server, quoted, packet.ICMPDestUnreach, 3), tun.VirtioNetHdr{})
	checkChecksums(t, "related error", got.Data)
	var p packet.Parsed
	p.Decode(got.Data)
	if p.Dst != aNat || p.InnerSrc != aNat || p.InnerSrcPort != 5353 || p.InnerDst != server || p.InnerDstPort != 53 {
		t.Errorf("related error: to %v quoting %v:%d → %v:%d", p.Dst, p.InnerSrc, p.InnerSrcPort, p.InnerDst, p.InnerDstPort)
	}

	// SNAT of an ICMP echo: the identifier is allocated and restored.
	got = pass(t, e, n, nat, inet.ID, echoPkt(t, aNat, server, packet.ICMPEcho, 77), tun.VirtioNetHdr{})
	_, _, id, _ := fields(t, got.Data)
	expect(t, "echo out", got.Data, "198.51.100.20", "8.8.8.8", id, id)
	got = pass(t, e, n, inet, nat.ID, echoPkt(t, server, eipSNAT, packet.ICMPEchoReply, id), tun.VirtioNetHdr{})
	expect(t, "echo reply", got.Data, "8.8.8.8", "192.168.1.20", 77, 77)

	// DNAT keeps the client's address; the reply leaves from the EIP port.
	got = pass(t, e, n, inet, nat.ID, tcpPkt(t, client, 5555, eipDNAT, 8080, true), tun.VirtioNetHdr{})
	expect(t, "DNAT in", got.Data, "1.2.3.4", "192.168.1.20", 5555, 80)
	got = pass(t, e, n, nat, inet.ID, tcpPkt(t, aNat, 80, client, 5555, false), tun.VirtioNetHdr{})
	expect(t, "DNAT reply", got.Data, "198.51.100.30", "1.2.3.4", 8080, 5555)
	// A port no DNAT entry maps is dropped.
	w := newWorker(e, inet.Dev, inet.ID)
	runBatch(t, e, w, n, tcpPkt(t, client, 5556, eipDNAT, 9999, true))
	if v := inet.Counters.Drops[stats.DropNoRoute].Load(); v != 1 {
		t.Errorf("unmapped DNAT port: no_route = %d", v)
	}

	// No private source leaves: a source neither EIP-bound nor covered.
	got = pass(t, e, n, other, other.ID, udpPkt(t, aOther, 1, server, 53), tun.VirtioNetHdr{})
	var q packet.Parsed
	q.Decode(got.Data)
	if q.Proto != packet.ProtoICMP || q.ICMPType != packet.ICMPDestUnreach || q.ICMPCode != packet.ICMPNetUnreach {
		t.Errorf("uncovered source: got %v, want net unreachable", &q)
	}
	if len(n.devs[inet.ID].Written()) != 0 {
		t.Fatal("a private source left through the internet port")
	}

	// Partial checksums (vnet header) on the worker path.
	pkt, hdr := partialPkt(t, tcpPkt(t, aNat, 33333, server, 443, false))
	got = pass(t, e, n, nat, inet.ID, pkt, hdr)
	if got.Hdr.Flags&tun.VirtioNetHdrFNeedsCsum == 0 {
		t.Fatal("the vnet header was lost")
	}
	fin := append([]byte(nil), got.Data...)
	if err := tun.FinishChecksum(fin, &got.Hdr); err != nil {
		t.Fatal(err)
	}
	_, _, pp, _ := fields(t, fin)
	expect(t, "partial checksum SNAT", fin, "198.51.100.20", "8.8.8.8", pp, 443)

	// Fragments of an EIP flow: every fragment leaves from the EIP.
	big := buildPkt(t, aWeb, server, pktOpt{size: 1400, sport: 7000, dport: 7001})
	views, sizes := [][]byte{make([]byte, 1500), make([]byte, 1500)}, make([]int, 2)
	if _, err := packet.FragmentIPv4(big, 1000, views, sizes); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		got = pass(t, e, n, web, inet.ID, views[i][:sizes[i]], tun.VirtioNetHdr{})
		if s, _, _, _ := fields(t, got.Data); s != eipWeb || !packet.IPv4(got.Data).IsChecksumValid() {
			t.Errorf("fragment %d: source %v", i, s)
		}
	}

	// S8: the EIP is unbound at runtime; its tracked flow ends at the
	// next packet and nothing reaches i-web through the EIP any more.
	s2 := *n.s
	s2.NAT = natState(inet.ID, false, n.s.NAT.Ports)
	s2.PolicyGen++
	e.snap.Store(&s2)
	w = newWorker(e, inet.Dev, inet.ID)
	runBatch(t, e, w, n, tcpPkt(t, server, 80, eipWeb, 40000, false))
	if got := n.devs[web.ID].Written(); len(got) != 0 {
		t.Fatalf("after unbinding, %d packets reached i-web", len(got))
	}
	n.devs[inet.ID].Written()
	// The SNAT flow is still admitted under the new generation.
	got = pass(t, e, n, inet, nat.ID, udpPkt(t, server, 53, eipSNAT, pub), tun.VirtioNetHdr{})
	expect(t, "SNAT reply after the change", got.Data, "8.8.8.8", "192.168.1.20", 53, 5353)
}

// TestNATRoutes: a route naming a NAT gateway leaves through the internet
// port with that gateway's SNAT; the EIP wins over SNAT; a source the
// named gateway does not cover is unrouted; unrouted after a router
// interface is not the ENI's table, so no NAT applies (C6).
func TestNATRoutes(t *testing.T) {
	n, inet, other := natNet(t)
	s := n.s
	g, err := fib.NewGroup(fib.Single, []fib.Member{{ID: "ngw-1", Kind: fib.MemberPort, Port: inet.ID}})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, n.system, &fib.Route{Dst: netip.MustParsePrefix("8.0.0.0/8"), Type: fib.Custom, Action: fib.ActionForward, Group: g, VSwitch: -1})
	for _, c := range []struct {
		name   string
		in     *Port
		src    netip.Addr
		dst    string
		want   Verdict
		reason stats.DropReason
		nsrc   netip.Addr
	}{
		{"ngw route, covered source", n.nat, aNat, "8.8.8.8", VerdictForward, 0, eipSNAT},
		{"ngw route, EIP wins", n.web, aWeb, "8.8.4.4", VerdictForward, 0, eipWeb},
		{"ngw route, uncovered source", other, aOther, "8.8.8.8", VerdictICMPError, stats.DropNoRoute, netip.Addr{}},
		{"unrouted, covered source", n.nat, aNat, "9.9.9.9", VerdictForward, 0, eipSNAT},
		{"unrouted, uncovered source", other, aOther, "9.9.9.9", VerdictICMPError, stats.DropNoRoute, netip.Addr{}},
	} {
		d := decide(t, s, c.in, udpPkt(t, c.src, 999, netip.MustParseAddr(c.dst), 53))
		if d.Verdict != c.want || d.Reason != c.reason {
			t.Errorf("%s: %v %v, want %v %v", c.name, d.Verdict, d.Reason, c.want, c.reason)
			continue
		}
		if c.want == VerdictForward && (d.Out != inet.ID || d.NAT.Flags&RewriteSrc == 0 || netip.AddrFrom4(d.NAT.Src) != c.nsrc || d.Hops != 1) {
			t.Errorf("%s: out %d hops %d rewrite %+v", c.name, d.Out, d.Hops, d.NAT)
		}
	}
	// A trace shows the translation and creates no flow.
	before := s.Conntrack.Stats().Entries
	var p packet.Parsed
	p.Decode(udpPkt(t, aNat, 4444, server, 53))
	tr := &Trace{}
	s.Forward(n.nat, &p, 60, &tun.VirtioNetHdr{}, 1, tr)
	if s.Conntrack.Stats().Entries != before || !bytes.Contains([]byte(tr.String()), []byte("SNAT eip-snat")) {
		t.Errorf("trace created state or lacks the translation:\n%s", tr)
	}
}

// TestNATZeroAllocs: an established translated flow costs no allocation
// in either direction (decision and rewrite; DESIGN house rule 4).
func TestNATZeroAllocs(t *testing.T) {
	n, inet, _ := natNet(t)
	s := n.s
	out := tcpPkt(t, aNat, 33000, server, 80, true)
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	p.Decode(out)
	d := s.Forward(n.nat, &p, len(out), &hdr, 1, nil)
	if d.Verdict != VerdictForward || d.Out != inet.ID {
		t.Fatalf("%+v", d)
	}
	pub := d.NAT.SrcPort
	back := tcpPkt(t, server, 80, eipSNAT, pub, false)
	buf := make([]byte, 2048)
	if a := testing.AllocsPerRun(1000, func() {
		p.Decode(out)
		d := s.Forward(n.nat, &p, len(out), &hdr, 2, nil)
		copy(buf, out)
		d.NAT.Apply(buf[:len(out)], &hdr)
		p.Decode(back)
		d = s.Forward(inet, &p, len(back), &hdr, 2, nil)
		copy(buf, back)
		d.NAT.Apply(buf[:len(back)], &hdr)
		if d.Out != n.nat.ID {
			panic("reply not delivered")
		}
	}); a != 0 {
		t.Errorf("established NAT flow allocates %.1f per round trip", a)
	}
}
