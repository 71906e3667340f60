package packet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// checkWithGopacket decodes an IPv4/ICMPv4 packet with gopacket, re-serializes
// it with gopacket computing lengths and checksums, and requires the bytes to
// be identical: both checksums and lengths are what gopacket computes.
func checkWithGopacket(t *testing.T, b []byte) (*layers.IPv4, *layers.ICMPv4) {
	t.Helper()
	g := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	if el := g.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	ip, _ := g.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := g.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || ic == nil {
		t.Fatalf("gopacket found no IPv4/ICMPv4 in %x", b)
	}
	ipc, icc := *ip, *ic
	re := serialize(t, &ipc, &icc, gopacket.Payload(ic.Payload))
	if !bytes.Equal(re, b) {
		t.Fatalf("gopacket re-serialization differs (lengths or checksums):\n got %x\nwant %x", b, re)
	}
	return ip, ic
}

// TestBuildICMPv4Error covers the quoting rules of RFC 1812 4.3.2.3 (SPEC F5,
// F6, F7 errors) and the RFC 1191 MTU field.
func TestBuildICMPv4Error(t *testing.T) {
	gw := addr("10.0.0.254")
	udpN := func(n int) []byte { return udp4(t, "10.0.0.1", 4000, "10.9.9.9", 53, make([]byte, n-28)) }
	lying := udpN(1500)[:200] // total length field 1500, only 200 bytes present
	padded := append(udpN(100), make([]byte, 200)...)
	withOpts := rawIPv4(ProtoUDP, "10.0.0.1", "10.9.9.9", []byte{IPv4OptRouterAlert, 4, 0, 0}, 0,
		[]byte{0, 9, 0, 10, 0, 8, 0, 0})
	firstFrag := rawIPv4(ProtoUDP, "10.0.0.1", "10.9.9.9", nil, 0x2000, append([]byte{0, 9, 0, 10, 5, 0xdc, 0, 0}, make([]byte, 1000)...))

	cases := []struct {
		name       string
		orig       []byte
		dstLen     int
		typ, code  uint8
		mtu        uint16
		wantLen    int
		wantQuoted int
		bytes47    [4]byte // ICMP bytes 4-7
	}{
		{"whole small datagram quoted", udpN(100), 2048, ICMPDestUnreach, ICMPHostUnreach, 0, 128, 100, [4]byte{}},
		{"576-byte cap", udpN(1500), 2048, ICMPDestUnreach, ICMPNetUnreach, 0, 576, 548, [4]byte{}},
		{"exactly fits the cap", udpN(548), 2048, ICMPTimeExceeded, ICMPTTLExceeded, 0, 576, 548, [4]byte{}},
		{"length field larger than packet", lying, 2048, ICMPTimeExceeded, ICMPTTLExceeded, 0, 228, 200, [4]byte{}},
		{"bytes beyond total length not quoted", padded, 2048, ICMPDestUnreach, ICMPPortUnreach, 0, 128, 100, [4]byte{}},
		{"limited by buffer", udpN(1500), 100, ICMPDestUnreach, ICMPAdminProhibited, 0, 100, 72, [4]byte{}},
		{"buffer holds header + 8 exactly", udpN(1500), 56, ICMPDestUnreach, ICMPHostUnreach, 0, 56, 28, [4]byte{}},
		{"buffer one byte short of header + 8", udpN(1500), 55, ICMPDestUnreach, ICMPHostUnreach, 0, 0, 0, [4]byte{}},
		{"tiny buffer", udpN(100), 10, ICMPDestUnreach, ICMPHostUnreach, 0, 0, 0, [4]byte{}},
		{"frag needed carries mtu", udpN(1500), 2048, ICMPDestUnreach, ICMPFragNeeded, 1400, 576, 548, [4]byte{0, 0, 0x05, 0x78}},
		{"mtu ignored for other codes", udpN(100), 2048, ICMPDestUnreach, ICMPHostUnreach, 1400, 128, 100, [4]byte{}},
		{"parameter problem pointer", udpN(100), 2048, ICMPParamProblem, 0, 20, 128, 100, [4]byte{20, 0, 0, 0}},
		{"original with options", withOpts, 2048, ICMPDestUnreach, ICMPHostUnreach, 0, 60, 32, [4]byte{}},
		{"first fragment may get an error", firstFrag, 2048, ICMPTimeExceeded, 0, 0, 576, 548, [4]byte{}},
		{"echo request may get an error", icmp4(t, "10.0.0.1", "10.9.9.9", ICMPEcho, 0, 1, 1, nil), 2048,
			ICMPDestUnreach, ICMPHostUnreach, 0, 56, 28, [4]byte{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]byte, tc.dstLen)
			n := BuildICMPv4Error(dst, gw, 0x9999, tc.orig, tc.typ, tc.code, tc.mtu)
			if n != tc.wantLen {
				t.Fatalf("BuildICMPv4Error = %d, want %d", n, tc.wantLen)
			}
			if n == 0 {
				return
			}
			out := dst[:n]
			ip, ic := checkWithGopacket(t, out)
			if ip.TTL != 64 || ip.Flags&layers.IPv4DontFragment != 0 || ip.Id != 0x9999 || ip.Protocol != layers.IPProtocolICMPv4 ||
				!ip.SrcIP.Equal(gw.AsSlice()) || !ip.DstIP.Equal(tc.orig[12:16]) || ip.IHL != 5 {
				t.Errorf("IP header: %+v", ip)
			}
			if ic.TypeCode.Type() != tc.typ || ic.TypeCode.Code() != tc.code {
				t.Errorf("type/code %v", ic.TypeCode)
			}
			if got := [4]byte(out[24:28]); got != tc.bytes47 {
				t.Errorf("ICMP bytes 4-7 = %v, want %v", got, tc.bytes47)
			}
			if q := out[28:]; len(q) != tc.wantQuoted || !bytes.Equal(q, tc.orig[:tc.wantQuoted]) {
				t.Errorf("quoted %d bytes, want the first %d of the original", len(q), tc.wantQuoted)
			}
			var p Parsed
			if st := p.Decode(out); st != OK {
				t.Fatalf("Decode of the error: %v", st)
			}
			if !p.HasInner || p.InnerSrc != netip.AddrFrom4([4]byte(tc.orig[12:16])) || p.InnerProto != tc.orig[9] {
				t.Errorf("inner not recognised: %v", &p)
			}
		})
	}
}

// TestBuildICMPv4ErrorRefused covers RFC 1812 4.3.2.7: no error about errors,
// non-first fragments, non-unicast sources or multicast/broadcast destinations.
func TestBuildICMPv4ErrorRefused(t *testing.T) {
	gw := addr("10.0.0.254")
	inner := udp4(t, "10.9.9.9", 53, "10.0.0.1", 4000, nil)
	mk := func(src, dst string) []byte { return udp4(t, src, 1, dst, 2, []byte("x")) }
	bad := func(f func(b []byte)) []byte {
		b := mk("10.0.0.1", "10.9.9.9")
		f(b)
		return b
	}
	cases := []struct {
		name string
		orig []byte
		src  netip.Addr
	}{
		{"dest unreachable", icmp4(t, "10.0.0.1", "10.9.9.9", ICMPDestUnreach, 1, 0, 0, inner), gw},
		{"source quench", icmp4(t, "10.0.0.1", "10.9.9.9", ICMPSourceQuench, 0, 0, 0, inner), gw},
		{"redirect", icmp4(t, "10.0.0.1", "10.9.9.9", ICMPRedirect, 0, 0, 0, inner), gw},
		{"time exceeded", icmp4(t, "10.0.0.1", "10.9.9.9", ICMPTimeExceeded, 0, 0, 0, inner), gw},
		{"parameter problem", icmp4(t, "10.0.0.1", "10.9.9.9", ICMPParamProblem, 0, 0, 0, inner), gw},
		{"unknown icmp type", icmp4(t, "10.0.0.1", "10.9.9.9", 100, 0, 0, 0, nil), gw},
		{"icmp without a type byte", rawIPv4(ProtoICMP, "10.0.0.1", "10.9.9.9", nil, 0, nil), gw},
		{"non-first fragment", rawIPv4(ProtoUDP, "10.0.0.1", "10.9.9.9", nil, 0x2000|10, make([]byte, 64)), gw},
		{"last fragment", rawIPv4(ProtoUDP, "10.0.0.1", "10.9.9.9", nil, 10, make([]byte, 64)), gw},
		{"source unspecified", mk("0.0.0.0", "10.9.9.9"), gw},
		{"source loopback", mk("127.0.0.1", "10.9.9.9"), gw},
		{"source multicast", mk("224.0.0.5", "10.9.9.9"), gw},
		{"source multicast high", mk("239.255.255.255", "10.9.9.9"), gw},
		{"source class e", mk("240.0.0.1", "10.9.9.9"), gw},
		{"source limited broadcast", mk("255.255.255.255", "10.9.9.9"), gw},
		{"destination multicast", mk("10.0.0.1", "239.1.1.1"), gw},
		{"destination limited broadcast", mk("10.0.0.1", "255.255.255.255"), gw},
		{"ipv6 original", udp6(t, "fd00::1", 1, "fd00::2", 2, nil), gw},
		{"short original", mk("10.0.0.1", "10.9.9.9")[:19], gw},
		{"ihl 4", bad(func(b []byte) { b[0] = 0x44 }), gw},
		{"ihl beyond packet", bad(func(b []byte) { b[0] = 0x4f }), gw},
		{"total length below ihl", bad(func(b []byte) { b[3] = 12 }), gw},
		{"ipv6 source address", mk("10.0.0.1", "10.9.9.9"), addr("fd00::1")},
		{"invalid source address", mk("10.0.0.1", "10.9.9.9"), netip.Addr{}},
	}
	dst := make([]byte, 1500)
	for _, tc := range cases {
		if n := BuildICMPv4Error(dst, tc.src, 1, tc.orig, ICMPDestUnreach, ICMPHostUnreach, 0); n != 0 {
			t.Errorf("%s: BuildICMPv4Error = %d, want 0", tc.name, n)
		}
	}
}

// TestBuildEchoReply covers SPEC F3 (the gateway answers echo).
func TestBuildEchoReply(t *testing.T) {
	payload := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	req := icmp4(t, "10.0.0.1", "10.0.0.254", ICMPEcho, 0, 0x1111, 7, payload)
	reqOpts := rawIPv4(ProtoICMP, "10.0.0.1", "10.0.0.254", []byte{IPv4OptRecordRoute, 7, 4, 0, 0, 0, 0, 0}, 0,
		req[20:])
	check := func(t *testing.T, out []byte) {
		t.Helper()
		ip, ic := checkWithGopacket(t, out)
		if !ip.SrcIP.Equal(addr("10.0.0.254").AsSlice()) || !ip.DstIP.Equal(addr("10.0.0.1").AsSlice()) || ip.TTL != 64 ||
			ip.IHL != 5 || ip.Flags != 0 {
			t.Errorf("IP header %+v", ip)
		}
		if ic.TypeCode.Type() != ICMPEchoReply || ic.TypeCode.Code() != 0 || ic.Id != 0x1111 || ic.Seq != 7 ||
			!bytes.Equal(ic.Payload, payload) {
			t.Errorf("ICMP %+v", ic)
		}
	}
	t.Run("separate buffer", func(t *testing.T) {
		dst := make([]byte, 1500)
		n := BuildEchoReply(dst, req)
		if n != len(req) {
			t.Fatalf("n = %d, want %d", n, len(req))
		}
		check(t, dst[:n])
	})
	t.Run("in place", func(t *testing.T) {
		b := append([]byte(nil), req...)
		n := BuildEchoReply(b, b)
		check(t, b[:n])
	})
	t.Run("options dropped, in place", func(t *testing.T) {
		b := append([]byte(nil), reqOpts...)
		n := BuildEchoReply(b, b)
		if n != len(reqOpts)-8 {
			t.Fatalf("n = %d", n)
		}
		check(t, b[:n])
	})
	refuse := map[string][]byte{
		"echo reply":   icmp4(t, "10.0.0.1", "10.0.0.254", ICMPEchoReply, 0, 1, 1, nil),
		"udp":          udp4(t, "10.0.0.1", 1, "10.0.0.254", 2, nil),
		"ipv6":         tcp6(t, "fd00::1", 1, "fd00::2", 2, nil),
		"bad checksum": func() []byte { b := append([]byte(nil), req...); b[30] ^= 1; return b }(),
		"fragment": rawIPv4(ProtoICMP, "10.0.0.1", "10.0.0.254", nil, 0x2000,
			append([]byte{ICMPEcho, 0, 0xf7, 0xff, 0, 0, 0, 0}, make([]byte, 8)...)),
		"truncated": req[:27],
	}
	for name, b := range refuse {
		if n := BuildEchoReply(make([]byte, 1500), b); n != 0 {
			t.Errorf("%s: BuildEchoReply = %d, want 0", name, n)
		}
	}
	if n := BuildEchoReply(make([]byte, len(req)-1), req); n != 0 {
		t.Errorf("short dst: BuildEchoReply = %d, want 0", n)
	}
}

// TestBuildEchoRequest covers the health probe packet of SPEC F9.
func TestBuildEchoRequest(t *testing.T) {
	dst := make([]byte, 100)
	payload := []byte("vrouter-probe")
	n := BuildEchoRequest(dst, addr("10.0.0.254"), addr("10.0.0.7"), 0xbeef, 42, payload)
	if n != 28+len(payload) {
		t.Fatalf("n = %d", n)
	}
	ip, ic := checkWithGopacket(t, dst[:n])
	if !ip.SrcIP.Equal(addr("10.0.0.254").AsSlice()) || !ip.DstIP.Equal(addr("10.0.0.7").AsSlice()) || ip.TTL != 64 {
		t.Errorf("IP header %+v", ip)
	}
	if ic.TypeCode.Type() != ICMPEcho || ic.Id != 0xbeef || ic.Seq != 42 || !bytes.Equal(ic.Payload, payload) {
		t.Errorf("ICMP %+v", ic)
	}
	// The reply to our own request is what the probe will receive.
	reply := make([]byte, 100)
	if m := BuildEchoReply(reply, dst[:n]); m != n || binary.BigEndian.Uint16(reply[24:26]) != 0xbeef {
		t.Errorf("echo reply of the probe: n=%d", m)
	}
	for name, f := range map[string]func() int{
		"short dst": func() int {
			return BuildEchoRequest(make([]byte, 40), addr("10.0.0.1"), addr("10.0.0.2"), 1, 1, payload)
		},
		"ipv6 src":       func() int { return BuildEchoRequest(dst, addr("fd00::1"), addr("10.0.0.2"), 1, 1, nil) },
		"invalid dst ip": func() int { return BuildEchoRequest(dst, addr("10.0.0.1"), netip.Addr{}, 1, 1, nil) },
		"too large": func() int {
			return BuildEchoRequest(make([]byte, 70000), addr("10.0.0.1"), addr("10.0.0.2"), 1, 1, make([]byte, 65510))
		},
	} {
		if n := f(); n != 0 {
			t.Errorf("%s: BuildEchoRequest = %d, want 0", name, n)
		}
	}
}
