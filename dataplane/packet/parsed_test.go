package packet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// want lists the Parsed fields a test case checks; zero-valued fields are
// checked too (for example ports of a non-first fragment must be 0).
type want struct {
	version            uint8
	src, dst           string
	proto, ttl         uint8
	hdrLen, totalLen   int
	df, mf             bool
	fragOff            uint16
	options            bool
	sport, dport       uint16
	tcpFlags           uint8
	icmpType, icmpCode uint8
	inner              bool
	innerProto         uint8
	innerSrc, innerDst string
	innerSport         uint16
	innerDport         uint16
	igmpType           uint8
	igmpGroup          string
}

func (w want) check(t *testing.T, p *Parsed) {
	t.Helper()
	opt := func(s string) netip.Addr {
		if s == "" {
			return netip.Addr{}
		}
		return addr(s)
	}
	got := want{p.Version, p.Src.String(), p.Dst.String(), p.Proto, p.TTL, p.HdrLen, p.TotalLen, p.DF, p.MF,
		p.FragOff, p.HasOptions, p.SrcPort, p.DstPort, p.TCPFlags, p.ICMPType, p.ICMPCode, p.HasInner,
		p.InnerProto, "", "", p.InnerSrcPort, p.InnerDstPort, p.IGMPType, ""}
	exp := w
	exp.src, exp.dst = opt(w.src).String(), opt(w.dst).String()
	if p.InnerSrc != opt(w.innerSrc) || p.InnerDst != opt(w.innerDst) {
		t.Errorf("inner addrs = %v > %v, want %q > %q", p.InnerSrc, p.InnerDst, w.innerSrc, w.innerDst)
	}
	if p.IGMPGroup != opt(w.igmpGroup) {
		t.Errorf("IGMPGroup = %v, want %q", p.IGMPGroup, w.igmpGroup)
	}
	exp.innerSrc, exp.innerDst, exp.igmpGroup = "", "", ""
	if got != exp {
		t.Errorf("decoded\n got  %+v\n want %+v", got, exp)
	}
	if p.L4Off != p.HdrLen {
		t.Errorf("L4Off %d != HdrLen %d", p.L4Off, p.HdrLen)
	}
}

func withPayload(b []byte, n int) []byte { return append(b, make([]byte, n)...) }

func icmpErrorOf(t *testing.T, typ, code uint8, quote []byte) []byte {
	return icmp4(t, "192.168.0.1", "10.0.0.1", typ, code, 0, 0, quote)
}

// TestDecodeValid covers SPEC F4 (parse), F13 (IPv6 parsed), M5 (IGMP) with
// gopacket-built and hand-built packets.
func TestDecodeValid(t *testing.T) {
	syn := tcp4(t, "10.0.0.1", 1234, "10.0.0.2", 80, true, false, nil)
	udp := udp4(t, "10.0.0.1", 5353, "10.0.1.9", 53, []byte("query"))
	innerUDP := udp4(t, "10.0.0.1", 40000, "10.9.9.9", 33434, bytes.Repeat([]byte{7}, 40))
	innerTCP := tcp4(t, "10.0.0.1", 40001, "10.9.9.9", 443, true, false, nil)
	innerEcho := icmp4(t, "10.0.0.1", "10.9.9.9", ICMPEcho, 0, 0x7777, 1, []byte("ping"))
	innerUDP6 := udp6(t, "fd00::1", 40000, "fd00::9", 53, []byte("x"))

	tcpSeg := func(sport, dport uint16, doff uint8, n int) []byte {
		h := make([]byte, n)
		binary.BigEndian.PutUint16(h[0:], sport)
		binary.BigEndian.PutUint16(h[2:], dport)
		h[12] = doff << 4
		h[13] = TCPAck
		return h
	}
	udpSeg := func(sport, dport uint16, ulen uint16, n int) []byte {
		h := make([]byte, n)
		binary.BigEndian.PutUint16(h[0:], sport)
		binary.BigEndian.PutUint16(h[2:], dport)
		binary.BigEndian.PutUint16(h[4:], ulen)
		return h
	}
	igmp := func(typ uint8, group string, rest ...byte) []byte {
		g := addr(group).As4()
		m := append([]byte{typ, 0, 0, 0}, g[:]...)
		m = append(m, rest...)
		binary.BigEndian.PutUint16(m[2:], refChecksum(m))
		return m
	}
	routerAlert := []byte{IPv4OptRouterAlert, 4, 0, 0}
	igmpV3 := func(nrec uint16, group string) []byte {
		g := addr(group).As4()
		m := []byte{IGMPv3MembershipReport, 0, 0, 0, 0, 0, byte(nrec >> 8), byte(nrec), 4, 0, 0, 0}
		m = append(m, g[:]...)
		return m
	}
	ip6 := gpIPv6("fd00::1", "fd00::2", layers.IPProtocolICMPv6)
	ic6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6EchoRequest, 0)}
	if err := ic6.SetNetworkLayerForChecksum(ip6); err != nil {
		t.Fatal(err)
	}
	ipv6Echo := serialize(t, ip6, ic6, &layers.ICMPv6Echo{Identifier: 0xabcd, SeqNumber: 3})

	cases := []struct {
		name string
		pkt  []byte
		want want
	}{
		{"ipv4 tcp syn", syn, want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 6, ttl: 64, hdrLen: 20,
			totalLen: 40, sport: 1234, dport: 80, tcpFlags: TCPSyn}},
		{"ipv4 udp", udp, want{version: 4, src: "10.0.0.1", dst: "10.0.1.9", proto: 17, ttl: 64, hdrLen: 20,
			totalLen: 33, sport: 5353, dport: 53}},
		{"ipv4 link padding beyond total length", withPayload(udp, 13), want{version: 4, src: "10.0.0.1",
			dst: "10.0.1.9", proto: 17, ttl: 64, hdrLen: 20, totalLen: 33, sport: 5353, dport: 53}},
		{"icmp echo request id in ports", icmp4(t, "10.0.0.1", "10.0.0.254", ICMPEcho, 0, 0x1234, 9, []byte("abc")),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.254", proto: 1, ttl: 64, hdrLen: 20, totalLen: 31,
				sport: 0x1234, dport: 0x1234, icmpType: ICMPEcho}},
		{"icmp echo reply", icmp4(t, "10.0.0.254", "10.0.0.1", ICMPEchoReply, 0, 0x4321, 9, nil),
			want{version: 4, src: "10.0.0.254", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 28,
				sport: 0x4321, dport: 0x4321, icmpType: ICMPEchoReply}},
		{"icmp timestamp has no ports", icmp4(t, "10.0.0.1", "10.0.0.2", ICMPTimestamp, 0, 5, 5, make([]byte, 12)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 1, ttl: 64, hdrLen: 20, totalLen: 40,
				icmpType: ICMPTimestamp}},
		{"gre has no ports", rawIPv4(ProtoGRE, "10.0.0.1", "10.0.0.2", nil, 0, make([]byte, 8)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 47, ttl: 64, hdrLen: 20, totalLen: 28}},
		{"df set", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0x4000, tcpSeg(1, 2, 5, 20)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 6, ttl: 64, hdrLen: 20, totalLen: 40, df: true,
				sport: 1, dport: 2, tcpFlags: TCPAck}},
		{"options nop router-alert eol", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2",
			[]byte{IPv4OptNOP, IPv4OptRouterAlert, 4, 0, 0, 0, 0, 0}, 0, udpSeg(7, 8, 8, 8)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, ttl: 64, hdrLen: 28, totalLen: 36,
				options: true, sport: 7, dport: 8}},
		{"options record route and timestamp", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2",
			[]byte{IPv4OptRecordRoute, 7, 4, 0, 0, 0, 0, IPv4OptTimestamp, 8, 5, 0, 0, 0, 0, 0, IPv4OptEOL}, 0,
			udpSeg(7, 8, 8, 8)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, ttl: 64, hdrLen: 36, totalLen: 44,
				options: true, sport: 7, dport: 8}},
		{"options full record route (pointer past end)", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2",
			[]byte{IPv4OptRecordRoute, 7, 8, 1, 2, 3, 4, IPv4OptEOL}, 0, udpSeg(7, 8, 8, 8)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, ttl: 64, hdrLen: 28, totalLen: 36,
				options: true, sport: 7, dport: 8}},
		{"first fragment keeps ports", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0x2000, tcpSeg(1000, 22, 5, 1480)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 6, ttl: 64, hdrLen: 20, totalLen: 1500, mf: true,
				sport: 1000, dport: 22, tcpFlags: TCPAck}},
		{"first fragment tcp options continue in next fragment", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil,
			0x2000, tcpSeg(1000, 22, 15, 48)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 6, ttl: 64, hdrLen: 20, totalLen: 68, mf: true,
				sport: 1000, dport: 22, tcpFlags: TCPAck}},
		{"first fragment udp length covers whole datagram", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0x2000,
			udpSeg(53, 5353, 3000, 1480)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, ttl: 64, hdrLen: 20, totalLen: 1500, mf: true,
				sport: 53, dport: 5353}},
		{"middle fragment has no ports", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0x2000|185, make([]byte, 1480)),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 6, ttl: 64, hdrLen: 20, totalLen: 1500, mf: true,
				fragOff: 1480}},
		{"last fragment of 1 byte", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 370, []byte{1}),
			want{version: 4, src: "10.0.0.1", dst: "10.0.0.2", proto: 17, ttl: 64, hdrLen: 20, totalLen: 21,
				fragOff: 2960}},
		// ICMP errors with quoted headers.
		{"port unreachable quoting udp", icmpErrorOf(t, ICMPDestUnreach, ICMPPortUnreach, innerUDP[:28]),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 56,
				icmpType: 3, icmpCode: 3, inner: true, innerProto: 17, innerSrc: "10.0.0.1", innerDst: "10.9.9.9",
				innerSport: 40000, innerDport: 33434}},
		{"time exceeded quoting tcp", icmpErrorOf(t, ICMPTimeExceeded, 0, innerTCP),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 68,
				icmpType: 11, inner: true, innerProto: 6, innerSrc: "10.0.0.1", innerDst: "10.9.9.9",
				innerSport: 40001, innerDport: 443}},
		{"frag needed quoting echo", icmpErrorOf(t, ICMPDestUnreach, ICMPFragNeeded, innerEcho),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 60,
				icmpType: 3, icmpCode: 4, inner: true, innerProto: 1, innerSrc: "10.0.0.1", innerDst: "10.9.9.9",
				innerSport: 0x7777, innerDport: 0x7777}},
		{"icmp error quoting a truncated ip header", icmpErrorOf(t, ICMPDestUnreach, ICMPHostUnreach, innerUDP[:19]),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 47,
				icmpType: 3, icmpCode: 1}},
		{"icmp error quoting ip header and 3 bytes", icmpErrorOf(t, ICMPParamProblem, 0, innerUDP[:23]),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 51,
				icmpType: 12, inner: true, innerProto: 17, innerSrc: "10.0.0.1", innerDst: "10.9.9.9"}},
		{"icmp error quoting a non-first fragment", icmpErrorOf(t, ICMPTimeExceeded, 1,
			rawIPv4(ProtoUDP, "10.0.0.7", "10.0.0.8", nil, 100, udpSeg(1, 2, 8, 8))),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 56,
				icmpType: 11, icmpCode: 1, inner: true, innerProto: 17, innerSrc: "10.0.0.7", innerDst: "10.0.0.8"}},
		{"icmp error quoting ipv6 is not inner", icmpErrorOf(t, ICMPDestUnreach, 0, innerUDP6[:48]),
			want{version: 4, src: "192.168.0.1", dst: "10.0.0.1", proto: 1, ttl: 64, hdrLen: 20, totalLen: 76,
				icmpType: 3}},
		// IGMP (SPEC M5), with the router alert option IGMP carries.
		{"igmpv2 report", rawIPv4(ProtoIGMP, "10.0.0.5", "239.1.2.3", routerAlert, 0,
			igmp(IGMPv2MembershipReport, "239.1.2.3")),
			want{version: 4, src: "10.0.0.5", dst: "239.1.2.3", proto: 2, ttl: 64, hdrLen: 24, totalLen: 32,
				options: true, igmpType: 0x16, igmpGroup: "239.1.2.3"}},
		{"igmpv2 leave", rawIPv4(ProtoIGMP, "10.0.0.5", "224.0.0.2", routerAlert, 0,
			igmp(IGMPv2LeaveGroup, "239.1.2.3")),
			want{version: 4, src: "10.0.0.5", dst: "224.0.0.2", proto: 2, ttl: 64, hdrLen: 24, totalLen: 32,
				options: true, igmpType: 0x17, igmpGroup: "239.1.2.3"}},
		{"igmp general query", rawIPv4(ProtoIGMP, "10.0.0.254", "224.0.0.1", nil, 0,
			igmp(IGMPMembershipQuery, "0.0.0.0")),
			want{version: 4, src: "10.0.0.254", dst: "224.0.0.1", proto: 2, ttl: 64, hdrLen: 20, totalLen: 28,
				igmpType: 0x11, igmpGroup: "0.0.0.0"}},
		{"igmpv3 report first record", rawIPv4(ProtoIGMP, "10.0.0.5", "224.0.0.22", routerAlert, 0,
			append(igmpV3(2, "239.9.9.9"), 4, 0, 0, 0, 239, 8, 8, 8)),
			want{version: 4, src: "10.0.0.5", dst: "224.0.0.22", proto: 2, ttl: 64, hdrLen: 24, totalLen: 48,
				options: true, igmpType: 0x22, igmpGroup: "239.9.9.9"}},
		{"igmpv3 report without records", rawIPv4(ProtoIGMP, "10.0.0.5", "224.0.0.22", nil, 0,
			igmpV3(0, "239.9.9.9")[:8]),
			want{version: 4, src: "10.0.0.5", dst: "224.0.0.22", proto: 2, ttl: 64, hdrLen: 20, totalLen: 28,
				igmpType: 0x22}},
		{"igmp truncated to its type", rawIPv4(ProtoIGMP, "10.0.0.5", "224.0.0.22", nil, 0, []byte{0x16, 0, 0}),
			want{version: 4, src: "10.0.0.5", dst: "224.0.0.22", proto: 2, ttl: 64, hdrLen: 20, totalLen: 23,
				igmpType: 0x16}},
		// IPv6 (SPEC F13).
		{"ipv6 tcp", tcp6(t, "fd00::1", 5555, "fd00::2", 443, []byte("hi")),
			want{version: 6, src: "fd00::1", dst: "fd00::2", proto: 6, ttl: 63, hdrLen: 40, totalLen: 62,
				sport: 5555, dport: 443, tcpFlags: TCPAck | TCPPsh}},
		{"ipv6 hop-by-hop, dest opts, udp", rawIPv6("fd00::1", "ff02::16", []ext6{{typ: ProtoHopByHop, len8: 1},
			{typ: ProtoDestOpts, len8: 2}}, ProtoUDP, udpSeg(546, 547, 12, 12)),
			want{version: 6, src: "fd00::1", dst: "ff02::16", proto: 17, ttl: 64, hdrLen: 64, totalLen: 76,
				options: true, sport: 546, dport: 547}},
		{"ipv6 routing, first fragment, tcp", rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoRouting, len8: 3},
			{typ: ProtoFragment, frag: 1}}, ProtoTCP, tcpSeg(80, 9999, 5, 100)),
			want{version: 6, src: "fd00::1", dst: "fd00::2", proto: 6, ttl: 64, hdrLen: 72, totalLen: 172,
				options: true, mf: true, sport: 80, dport: 9999, tcpFlags: TCPAck}},
		{"ipv6 non-first fragment", rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoFragment, frag: 1448}},
			ProtoUDP, make([]byte, 64)),
			want{version: 6, src: "fd00::1", dst: "fd00::2", proto: 17, ttl: 64, hdrLen: 48, totalLen: 112,
				fragOff: 1448}},
		{"ipv6 atomic fragment", rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoFragment, frag: 0}},
			ProtoUDP, udpSeg(1, 2, 8, 8)),
			want{version: 6, src: "fd00::1", dst: "fd00::2", proto: 17, ttl: 64, hdrLen: 48, totalLen: 56,
				sport: 1, dport: 2}},
		{"ipv6 no next header", rawIPv6("fd00::1", "fd00::2", nil, ProtoNoNext, nil),
			want{version: 6, src: "fd00::1", dst: "fd00::2", proto: 59, ttl: 64, hdrLen: 40, totalLen: 40}},
		{"icmpv6 echo request", ipv6Echo,
			want{version: 6, src: "fd00::1", dst: "fd00::2", proto: 58, ttl: 63, hdrLen: 40, totalLen: 48,
				sport: 0xabcd, dport: 0xabcd, icmpType: ICMPv6EchoRequest}},
		{"icmpv6 dest unreachable quoting udp", rawIPv6("fd00::ff", "fd00::1", nil, ProtoICMPv6,
			append([]byte{ICMPv6DestUnreach, 4, 0, 0, 0, 0, 0, 0}, innerUDP6...)),
			want{version: 6, src: "fd00::ff", dst: "fd00::1", proto: 58, ttl: 64, hdrLen: 40, totalLen: 97,
				icmpType: 1, icmpCode: 4, inner: true, innerProto: 17, innerSrc: "fd00::1", innerDst: "fd00::9",
				innerSport: 40000, innerDport: 53}},
		{"icmpv6 packet too big quoting dest opts, fragment, tcp ports", rawIPv6("fd00::ff", "fd00::1", nil, ProtoICMPv6,
			append([]byte{ICMPv6PacketTooBig, 0, 0, 0, 0, 0, 5, 0}, rawIPv6("fd00::1", "fd00::2",
				[]ext6{{typ: ProtoDestOpts, len8: 1}, {typ: ProtoFragment, frag: 1}}, ProtoTCP, tcpSeg(7, 8, 5, 20))[:60]...)),
			want{version: 6, src: "fd00::ff", dst: "fd00::1", proto: 58, ttl: 64, hdrLen: 40, totalLen: 108,
				icmpType: 2, inner: true, innerProto: 6, innerSrc: "fd00::1", innerDst: "fd00::2", innerSport: 7,
				innerDport: 8}},
		{"icmpv6 error quoting half a port pair", rawIPv6("fd00::ff", "fd00::1", nil, ProtoICMPv6,
			append([]byte{ICMPv6TimeExceeded, 0, 0, 0, 0, 0, 0, 0}, innerUDP6[:42]...)),
			want{version: 6, src: "fd00::ff", dst: "fd00::1", proto: 58, ttl: 64, hdrLen: 40, totalLen: 90,
				icmpType: 3, inner: true, innerProto: 17, innerSrc: "fd00::1", innerDst: "fd00::9"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Parsed
			if st := p.Decode(tc.pkt); st != OK {
				t.Fatalf("Decode = %v, want ok", st)
			}
			tc.want.check(t, &p)
			crossCheckGopacket(t, tc.pkt, &p)
		})
	}
}

// crossCheckGopacket decodes pkt with gopacket (the reference decoder) and
// compares what both decoders report.
func crossCheckGopacket(t *testing.T, pkt []byte, p *Parsed) {
	t.Helper()
	first := layers.LayerTypeIPv4
	if p.Version == 6 {
		first = layers.LayerTypeIPv6
	}
	g := gopacket.NewPacket(pkt, first, gopacket.Default)
	if nl := g.NetworkLayer(); nl != nil {
		src, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
		dst, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
		if src != p.Src || dst != p.Dst {
			t.Errorf("gopacket addrs %v > %v, Decode %v > %v", src, dst, p.Src, p.Dst)
		}
	}
	if !p.IsFirstFragment() {
		return
	}
	if tl := g.Layer(layers.LayerTypeTCP); tl != nil && p.Proto == ProtoTCP {
		tcp := tl.(*layers.TCP)
		if uint16(tcp.SrcPort) != p.SrcPort || uint16(tcp.DstPort) != p.DstPort {
			t.Errorf("gopacket tcp ports %d>%d, Decode %d>%d", tcp.SrcPort, tcp.DstPort, p.SrcPort, p.DstPort)
		}
	}
	if ul := g.Layer(layers.LayerTypeUDP); ul != nil && p.Proto == ProtoUDP {
		udp := ul.(*layers.UDP)
		if uint16(udp.SrcPort) != p.SrcPort || uint16(udp.DstPort) != p.DstPort {
			t.Errorf("gopacket udp ports %d>%d, Decode %d>%d", udp.SrcPort, udp.DstPort, p.SrcPort, p.DstPort)
		}
	}
	if il := g.Layer(layers.LayerTypeIGMP); il != nil {
		switch m := il.(type) {
		case *layers.IGMPv1or2:
			if m.Type == layers.IGMPType(p.IGMPType) && netip.AddrFrom4([4]byte(m.GroupAddress.To4())) != p.IGMPGroup {
				t.Errorf("gopacket igmp group %v, Decode %v", m.GroupAddress, p.IGMPGroup)
			}
		case *layers.IGMP:
			if len(m.GroupRecords) > 0 && netip.AddrFrom4([4]byte(m.GroupRecords[0].MulticastAddress.To4())) != p.IGMPGroup {
				t.Errorf("gopacket igmpv3 group %v, Decode %v", m.GroupRecords[0].MulticastAddress, p.IGMPGroup)
			}
		}
	}
}

// TestDecodeStatus covers every malformed-input Status of SPEC F12.
func TestDecodeStatus(t *testing.T) {
	good := udp4(t, "10.0.0.1", 1, "10.0.0.2", 2, []byte("payload"))
	mod := func(b []byte, f func(b []byte), fix bool) []byte {
		c := append([]byte(nil), b...)
		f(c)
		if fix {
			fixIPv4Checksum(c)
		}
		return c
	}
	withOpts := func(opts ...byte) []byte {
		for len(opts)%4 != 0 {
			opts = append(opts, 0)
		}
		return rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", opts, 0, []byte{0, 1, 0, 2, 0, 8, 0, 0})
	}
	tcpHdr := func(doff uint8, n int) []byte {
		h := make([]byte, n)
		if n > 12 {
			h[12] = doff << 4
		}
		return h
	}
	udpHdr := func(ulen uint16, n int) []byte {
		h := make([]byte, n)
		binary.BigEndian.PutUint16(h[4:], ulen)
		return h
	}
	v6 := tcp6(t, "fd00::1", 1, "fd00::2", 2, nil)

	cases := []struct {
		name string
		pkt  []byte
		want Status
	}{
		{"ok", good, OK},
		{"empty", nil, ErrTruncated},
		{"ipv4 19 bytes", good[:19], ErrTruncated},
		{"ipv6 39 bytes", v6[:39], ErrTruncated},
		{"version 0", mod(good, func(b []byte) { b[0] = 0x05 }, false), ErrBadVersion},
		{"version 5", mod(good, func(b []byte) { b[0] = 0x55 }, false), ErrBadVersion},
		{"version 15", []byte{0xff}, ErrBadVersion},
		{"ihl 4", mod(good, func(b []byte) { b[0] = 0x44 }, false), ErrBadIHL},
		{"ihl 0", mod(good, func(b []byte) { b[0] = 0x40 }, false), ErrBadIHL},
		{"ihl beyond packet", mod(good, func(b []byte) { b[0] = 0x4f }, false)[:40], ErrBadIHL},
		{"total length below ihl", mod(good, func(b []byte) { b[2], b[3] = 0, 19 }, true), ErrBadTotalLen},
		{"total length larger than packet", mod(good, func(b []byte) { b[2], b[3] = 0x05, 0xdc }, true), ErrBadTotalLen},
		{"total length one past packet", mod(good, func(b []byte) { b[3]++ }, true), ErrBadTotalLen},
		{"ipv6 payload length larger than packet", mod(v6, func(b []byte) { b[5]++ }, false), ErrBadTotalLen},
		{"bad checksum", mod(good, func(b []byte) { b[10] ^= 0x01 }, false), ErrBadChecksum},
		{"bad checksum after ttl change", mod(good, func(b []byte) { b[8]-- }, false), ErrBadChecksum},
		{"option length 0", withOpts(IPv4OptRecordRoute, 0, 4, 0), ErrBadOptions},
		{"option length 1", withOpts(IPv4OptSecurity, 1, 0, 0), ErrBadOptions},
		{"option runs past ihl", withOpts(IPv4OptNOP, IPv4OptLSRR, 7, 4), ErrBadOptions},
		{"option length byte missing", withOpts(IPv4OptNOP, IPv4OptNOP, IPv4OptNOP, IPv4OptStreamID), ErrBadOptions},
		{"record route pointer 3", withOpts(IPv4OptRecordRoute, 7, 3, 0, 0, 0, 0), ErrBadOptions},
		{"source route length 2", withOpts(IPv4OptSSRR, 2, IPv4OptNOP, IPv4OptNOP), ErrBadOptions},
		{"timestamp pointer 4", withOpts(IPv4OptTimestamp, 8, 4, 0, 0, 0, 0, 0), ErrBadOptions},
		{"timestamp length 3", withOpts(IPv4OptTimestamp, 3, 5, 0), ErrBadOptions},
		{"router alert length 6", withOpts(IPv4OptRouterAlert, 6, 0, 0, 0, 0, 0, 0), ErrBadOptions},
		{"unknown option well formed", withOpts(0x9e, 4, 1, 2), OK},
		{"eol then garbage ignored", withOpts(IPv4OptEOL, 0xff, 0xff, 0xff), OK},
		{"tcp header truncated", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0, tcpHdr(5, 19)), ErrBadL4},
		{"tcp data offset 4", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0, tcpHdr(4, 20)), ErrBadL4},
		{"tcp data offset beyond packet", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0, tcpHdr(6, 20)), ErrBadL4},
		{"tcp tiny first fragment", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0x2000, tcpHdr(5, 16)), ErrBadL4},
		{"tcp first fragment data offset 4", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 0x2000, tcpHdr(4, 40)), ErrBadL4},
		{"tcp garbage in non-first fragment is fine", rawIPv4(ProtoTCP, "10.0.0.1", "10.0.0.2", nil, 1, tcpHdr(0, 3)), OK},
		{"udp header truncated", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0, udpHdr(8, 7)[:7]), ErrBadL4},
		{"udp length 7", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0, udpHdr(7, 8)), ErrBadL4},
		{"udp length beyond packet", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0, udpHdr(17, 16)), ErrBadL4},
		{"udp length shorter than packet", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0, udpHdr(9, 16)), OK},
		{"udp first fragment length 0", rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0x2000, udpHdr(0, 16)), ErrBadL4},
		{"icmp 7 bytes", rawIPv4(ProtoICMP, "10.0.0.1", "10.0.0.2", nil, 0, make([]byte, 7)), ErrBadL4},
		{"ipv6 hop-by-hop not first", rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoDestOpts, len8: 1},
			{typ: ProtoHopByHop, len8: 1}}, ProtoUDP, udpHdr(8, 8)), ErrBadOptions},
		{"ipv6 extension header past payload", mod(rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoRouting, len8: 2}},
			ProtoUDP, udpHdr(8, 8)), func(b []byte) { b[41] = 3 }, false), ErrTruncated},
		{"ipv6 extension header cut short", rawIPv6("fd00::1", "fd00::2", nil, ProtoHopByHop, []byte{17, 0, 1, 2}),
			ErrTruncated},
		{"ipv6 fragment header cut short", rawIPv6("fd00::1", "fd00::2", nil, ProtoFragment, []byte{17, 0, 0, 0}),
			ErrTruncated},
		{"ipv6 udp length beyond payload", rawIPv6("fd00::1", "fd00::2", nil, ProtoUDP, udpHdr(9, 8)), ErrBadL4},
		{"ipv6 tcp truncated", v6[:50], ErrBadTotalLen},
		{"ipv6 tcp header too short", rawIPv6("fd00::1", "fd00::2", nil, ProtoTCP, tcpHdr(5, 12)), ErrBadL4},
		{"icmpv6 truncated", rawIPv6("fd00::1", "fd00::2", nil, ProtoICMPv6, []byte{128, 0, 0, 0}), ErrBadL4},
	}
	seen := map[Status]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var p Parsed
			got := p.Decode(tc.pkt)
			if got != tc.want {
				t.Fatalf("Decode = %v, want %v", got, tc.want)
			}
			if len(tc.pkt) > 0 && (tc.pkt[0]>>4 == 4 || tc.pkt[0]>>4 == 6) && p.Version != tc.pkt[0]>>4 {
				t.Errorf("Version = %d on %v", p.Version, got)
			}
			seen[got] = true
		})
	}
	for s := Status(0); s < numStatus; s++ {
		if !seen[s] {
			t.Errorf("no test case yields %v", s)
		}
	}
}

// TestDecodeResets checks that Decode clears every field of a reused Parsed
// (DESIGN "Packet path": one Parsed per worker).
func TestDecodeResets(t *testing.T) {
	inner := udp4(t, "10.0.0.1", 1, "10.0.0.2", 2, nil)
	busy := icmpErrorOf(t, ICMPDestUnreach, ICMPPortUnreach, inner)
	plain := rawIPv4(ProtoGRE, "10.1.1.1", "10.2.2.2", nil, 0, nil)
	var p, fresh Parsed
	if p.Decode(busy) != OK || !p.HasInner {
		t.Fatal("setup")
	}
	if fresh.Decode(plain) != OK || p.Decode(plain) != OK {
		t.Fatal("decode")
	}
	if p != fresh {
		t.Errorf("reused Parsed differs from fresh:\n%v\n%v", &p, &fresh)
	}
	if p.Decode([]byte{0x70}) != ErrBadVersion || p != (Parsed{}) {
		t.Errorf("failed decode left fields set: %v", &p)
	}
}

func TestStatusString(t *testing.T) {
	names := map[string]bool{}
	for s := Status(0); s < numStatus; s++ {
		n := s.String()
		if n == "" || names[n] {
			t.Errorf("Status %d has empty or duplicate name %q", s, n)
		}
		names[n] = true
	}
	if got := Status(200).String(); got != "status(200)" {
		t.Errorf("unknown status = %q", got)
	}
	if NumStatus != 8 {
		t.Errorf("NumStatus = %d", NumStatus)
	}
}

func TestFragmentPredicates(t *testing.T) {
	for _, tc := range []struct {
		mf          bool
		off         uint16
		first, frag bool
	}{
		{false, 0, true, false},
		{true, 0, true, true},
		{true, 8, false, true},
		{false, 8, false, true},
	} {
		p := Parsed{MF: tc.mf, FragOff: tc.off}
		if p.IsFirstFragment() != tc.first || p.IsFragment() != tc.frag {
			t.Errorf("mf=%t off=%d: first=%t frag=%t", tc.mf, tc.off, p.IsFirstFragment(), p.IsFragment())
		}
	}
}

func TestParsedString(t *testing.T) {
	var p Parsed
	inner := tcp4(t, "10.0.0.1", 1, "10.0.0.2", 2, true, false, nil)
	if p.Decode(icmpErrorOf(t, ICMPDestUnreach, 1, inner)) != OK {
		t.Fatal("decode")
	}
	s := p.String()
	for _, sub := range []string{"192.168.0.1", "icmp=3/1", "inner(proto=6 10.0.0.1:1 > 10.0.0.2:2)"} {
		if !bytes.Contains([]byte(s), []byte(sub)) {
			t.Errorf("String() = %q, missing %q", s, sub)
		}
	}
}
