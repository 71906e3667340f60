package packet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test helpers: gopacket builds the reference packets; hand-built packets cover
// what gopacket will not produce (malformed headers, IPv6 extension chains,
// IGMP).

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func gpIPv4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x4242, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func gpIPv6(src, dst string, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: nh,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
}

// tcp4 builds an IPv4 TCP packet with gopacket.
func tcp4(t testing.TB, src string, sport uint16, dst string, dport uint16, syn, ack bool, payload []byte) []byte {
	ip := gpIPv4(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: syn, ACK: ack, Seq: 1, Window: 65535}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, ip, tcp, gopacket.Payload(payload))
}

// udp4 builds an IPv4 UDP packet with gopacket.
func udp4(t testing.TB, src string, sport uint16, dst string, dport uint16, payload []byte) []byte {
	ip := gpIPv4(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, ip, udp, gopacket.Payload(payload))
}

// icmp4 builds an IPv4 ICMP packet with gopacket.
func icmp4(t testing.TB, src, dst string, typ, code uint8, id, seq uint16, payload []byte) []byte {
	ip := gpIPv4(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}
	return serialize(t, ip, ic, gopacket.Payload(payload))
}

// tcp6 / udp6 build IPv6 packets with gopacket.
func tcp6(t testing.TB, src string, sport uint16, dst string, dport uint16, payload []byte) []byte {
	ip := gpIPv6(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true, PSH: true, Window: 100}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, ip, tcp, gopacket.Payload(payload))
}

func udp6(t testing.TB, src string, sport uint16, dst string, dport uint16, payload []byte) []byte {
	ip := gpIPv6(src, dst, layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return serialize(t, ip, udp, gopacket.Payload(payload))
}

// rawIPv4 hand-builds an IPv4 packet: options are used as given (their length
// must be a multiple of 4), flagsOff is bytes 6-7, the checksum is correct.
func rawIPv4(proto uint8, src, dst string, opts []byte, flagsOff uint16, payload []byte) []byte {
	hl := IPv4MinHeaderLen + len(opts)
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | uint8(hl/4)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:6], 0x1234)
	binary.BigEndian.PutUint16(b[6:8], flagsOff)
	b[8] = 64
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	copy(b[20:], opts)
	copy(b[hl:], payload)
	fixIPv4Checksum(b)
	return b
}

func fixIPv4Checksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:12], refChecksum(b[:hl]))
}

// refChecksum is a deliberately naive RFC 1071 checksum (16-bit words, 32-bit
// accumulator), the golden model for the fast one.
func refChecksum(b []byte) uint16 { return ^refSum(b, 0) }

func refSum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// ext6 is one hand-built IPv6 extension header.
type ext6 struct {
	typ  uint8  // ProtoHopByHop, ProtoRouting, ProtoDestOpts, ProtoFragment
	len8 int    // total length in 8-byte units (options headers); ignored for fragment
	frag uint16 // fragment: offset in bytes | M bit
}

// rawIPv6 hand-builds an IPv6 packet with the extension headers exts and the
// upper-layer bytes l4 of protocol proto.
func rawIPv6(src, dst string, exts []ext6, proto uint8, l4 []byte) []byte {
	var b []byte
	b = append(b, make([]byte, IPv6HeaderLen)...)
	b[0] = 0x60
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	nhPos := 6
	for _, e := range exts {
		b[nhPos] = e.typ
		start := len(b)
		if e.typ == ProtoFragment {
			h := make([]byte, 8)
			binary.BigEndian.PutUint16(h[2:4], e.frag)
			binary.BigEndian.PutUint32(h[4:8], 0xdeadbeef)
			b = append(b, h...)
		} else {
			h := make([]byte, e.len8*8)
			h[1] = uint8(e.len8 - 1)
			if e.typ == ProtoRouting {
				h[2] = 0 // routing type 0, segments left 0
			} else {
				h[2], h[3] = 1, uint8(len(h)-4) // one PadN option filling the header
			}
			b = append(b, h...)
		}
		nhPos = start
	}
	b[nhPos] = proto
	b = append(b, l4...)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)-IPv6HeaderLen))
	return b
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
