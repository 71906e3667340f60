package packet

import (
	"testing"
)

// TestZeroAllocs enforces DESIGN house rule 4 (zero allocations per forwarded
// packet, SPEC P3) for the fast-path functions and for the slow-path builders,
// which write into caller buffers.
func TestZeroAllocs(t *testing.T) {
	tcp := tcp4(t, "10.0.0.1", 1234, "10.0.0.2", 80, false, true, make([]byte, 1400))
	v6 := rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoHopByHop, len8: 1}, {typ: ProtoFragment, frag: 1}},
		ProtoUDP, []byte{0, 1, 0, 2, 0, 8, 0, 0})
	icmpErr := icmp4(t, "10.0.0.254", "10.0.0.1", ICMPDestUnreach, ICMPPortUnreach, 0, 0,
		udp4(t, "10.0.0.1", 1, "10.0.0.9", 2, nil))
	igmp := rawIPv4(ProtoIGMP, "10.0.0.5", "239.1.1.1", []byte{IPv4OptRouterAlert, 4, 0, 0}, 0,
		[]byte{IGMPv2MembershipReport, 0, 0, 0, 239, 1, 1, 1})
	echo := icmp4(t, "10.0.0.1", "10.0.0.254", ICMPEcho, 0, 1, 2, make([]byte, 56))
	big := udp4(t, "10.0.0.1", 1, "10.0.0.2", 2, make([]byte, 3000))
	pkt := append([]byte(nil), tcp...)
	dst := make([]byte, 1500)
	out, sizes := fragBufs(4, 1500)
	var p Parsed
	var sink uint64

	cases := map[string]func(){
		"Decode tcp4": func() { p.Decode(tcp) },
		"Decode ipv6 ext headers": func() {
			p.Decode(v6)
		},
		"Decode icmp error": func() { p.Decode(icmpErr) },
		"Decode igmp":       func() { p.Decode(igmp) },
		"FlowHash": func() {
			sink += p.FlowHash(7)
		},
		"DecTTL": func() {
			DecTTL(pkt)
			pkt[8] = 64
		},
		"UpdateChecksum16": func() { sink += uint64(UpdateChecksum16(uint16(sink), 1, 2)) },
		"UpdateChecksum32": func() { sink += uint64(UpdateChecksum32(uint16(sink), [4]byte{1}, [4]byte{2})) },
		"Checksum":         func() { sink += uint64(Checksum(tcp, 0)) },
		"PseudoHeaderSum":  func() { sink += uint64(PseudoHeaderSum(6, p.Src, p.Dst, 20)) },
		"BuildICMPv4Error": func() {
			BuildICMPv4Error(dst, p.Dst, 1, tcp, ICMPDestUnreach, ICMPFragNeeded, 1400)
		},
		"BuildEchoReply":   func() { BuildEchoReply(dst, echo) },
		"BuildEchoRequest": func() { BuildEchoRequest(dst, p.Src, p.Dst, 1, 2, tcp[:32]) },
		"FragmentIPv4": func() {
			if _, err := FragmentIPv4(big, 1500, out, sizes); err != nil {
				t.Fatal(err)
			}
		},
		"FragmentIPv4 error": func() { _, _ = FragmentIPv4(big, 10, out, sizes) },
	}
	if p.Decode(tcp) != OK {
		t.Fatal("decode")
	}
	for name, f := range cases {
		if a := testing.AllocsPerRun(200, f); a != 0 {
			t.Errorf("%s: %.1f allocs per run, want 0", name, a)
		}
	}
	_ = sink
}
