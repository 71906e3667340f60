package packet

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestViewsAgainstGopacket reads every accessor of the header views on
// gopacket-built packets and compares with what gopacket decodes; the setters
// are then checked by decoding the modified packet with gopacket again.
func TestViewsAgainstGopacket(t *testing.T) {
	t.Run("ipv4+tcp", func(t *testing.T) {
		ip := &layers.IPv4{Version: 4, TOS: 0xb8, Id: 777, Flags: layers.IPv4DontFragment, TTL: 9,
			Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 1, 2, 3}, DstIP: net.IP{192, 0, 2, 1},
			Options: []layers.IPv4Option{{OptionType: IPv4OptRouterAlert, OptionLength: 4, OptionData: []byte{0, 0}}}}
		tcp := &layers.TCP{SrcPort: 3333, DstPort: 22, Seq: 0x01020304, Ack: 0x0a0b0c0d, SYN: true, ACK: true, ECE: true,
			Window: 4242, Urgent: 5, Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
				OptionData: []byte{5, 0xb4}}}}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		pkt := serialize(t, ip, tcp, gopacket.Payload("data"))
		v := IPv4(pkt)
		if !v.IsValid(len(pkt)) || v.IsValid(len(pkt)-1) || !v.IsChecksumValid() {
			t.Fatal("IsValid/IsChecksumValid")
		}
		if v.Version() != 4 || v.HeaderLen() != 24 || v.TOS() != 0xb8 || v.TotalLen() != uint16(len(pkt)) || v.ID() != 777 ||
			!v.DF() || v.MF() || v.FragmentOffset() != 0 || v.TTL() != 9 || v.Protocol() != ProtoTCP ||
			v.Checksum() != ip.Checksum || v.Src() != addr("10.1.2.3") || v.Dst() != addr("192.0.2.1") ||
			!bytes.Equal(v.Options(), []byte{IPv4OptRouterAlert, 4, 0, 0}) || len(v.Payload()) != 28 {
			t.Errorf("IPv4 accessors disagree with gopacket %+v", ip)
		}
		tv := TCP(v.Payload())
		if !tv.IsValid() || tv.SrcPort() != 3333 || tv.DstPort() != 22 || tv.Seq() != 0x01020304 || tv.Ack() != 0x0a0b0c0d ||
			tv.DataOffset() != 24 || tv.Flags() != TCPSyn|TCPAck|TCPEce || tv.Window() != 4242 || tv.UrgentPtr() != 5 ||
			tv.Checksum() != tcp.Checksum || !bytes.Equal(tv.Options(), []byte{2, 4, 5, 0xb4}) ||
			string(tv.Payload()) != "data" {
			t.Errorf("TCP accessors disagree with gopacket %+v", tcp)
		}
		if TCP(pkt[24:40]).IsValid() {
			t.Error("TCP.IsValid on 16 bytes")
		}

		v.SetTOS(0)
		v.SetID(1)
		v.SetFragment(false, true, 1480)
		v.SetTTL(200)
		v.SetProtocol(ProtoUDP)
		v.SetSrc(addr("10.9.9.9"))
		v.SetDst(addr("10.8.8.8"))
		v.UpdateChecksum()
		tv.SetSrcPort(1)
		tv.SetDstPort(2)
		tv.SetFlags(TCPRst)
		tv.SetChecksum(0xabcd)
		var g layers.IPv4
		if err := g.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if g.TOS != 0 || g.Id != 1 || g.Flags != layers.IPv4MoreFragments || g.FragOffset != 185 || g.TTL != 200 ||
			g.Protocol != layers.IPProtocolUDP || !g.SrcIP.Equal(net.IP{10, 9, 9, 9}) || !g.DstIP.Equal(net.IP{10, 8, 8, 8}) ||
			!v.IsChecksumValid() || v.FragmentOffset() != 1480 || !v.MF() || v.DF() {
			t.Errorf("IPv4 setters: gopacket sees %+v", g)
		}
		if tv.SrcPort() != 1 || tv.DstPort() != 2 || tv.Flags() != TCPRst || tv.Checksum() != 0xabcd {
			t.Error("TCP setters")
		}
	})

	t.Run("ipv6+udp", func(t *testing.T) {
		ip := gpIPv6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP)
		ip.TrafficClass, ip.FlowLabel = 0x2e, 0xbeef1
		udp := &layers.UDP{SrcPort: 53, DstPort: 5353}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		pkt := serialize(t, ip, udp, gopacket.Payload("answer"))
		v := IPv6(pkt)
		if !v.IsValid(len(pkt)) || v.IsValid(len(pkt)-1) || v.Version() != 6 || v.TrafficClass() != 0x2e ||
			v.FlowLabel() != 0xbeef1 || v.PayloadLen() != 14 || v.NextHeader() != ProtoUDP || v.HopLimit() != 63 ||
			v.Src() != addr("2001:db8::1") || v.Dst() != addr("2001:db8::2") {
			t.Error("IPv6 accessors disagree with gopacket")
		}
		u := UDP(pkt[40:])
		if !u.IsValid() || u.SrcPort() != 53 || u.DstPort() != 5353 || u.Length() != 14 || u.Checksum() != udp.Checksum ||
			string(u.Payload()) != "answer" {
			t.Error("UDP accessors disagree with gopacket")
		}
		v.SetHopLimit(1)
		v.SetNextHeader(ProtoNoNext)
		v.SetPayloadLen(8)
		v.SetSrc(addr("fd00::a"))
		v.SetDst(addr("fd00::b"))
		u.SetSrcPort(7)
		u.SetDstPort(8)
		u.SetLength(8)
		u.SetChecksum(0)
		var g layers.IPv6
		if err := g.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if g.HopLimit != 1 || g.NextHeader != layers.IPProtocolNoNextHeader || g.Length != 8 ||
			!g.SrcIP.Equal(net.ParseIP("fd00::a")) || !g.DstIP.Equal(net.ParseIP("fd00::b")) {
			t.Errorf("IPv6 setters: gopacket sees %+v", g)
		}
		if u.SrcPort() != 7 || u.DstPort() != 8 || u.Length() != 8 || u.Checksum() != 0 || len(u.Payload()) != 0 {
			t.Error("UDP setters")
		}
		if UDP(pkt[40:47]).IsValid() || (UDP{0, 0, 0, 0, 0, 7, 0, 0}).IsValid() || IPv6(pkt[:39]).IsValid(39) {
			t.Error("IsValid accepts short headers")
		}
	})

	t.Run("icmpv4", func(t *testing.T) {
		pkt := icmp4(t, "10.0.0.1", "10.0.0.2", ICMPDestUnreach, ICMPFragNeeded, 0, 1400, []byte("quoted"))
		ic := ICMPv4(pkt[20:])
		if !ic.IsValid() || ic.Type() != 3 || ic.Code() != 4 || ic.MTU() != 1400 || ic.Seq() != 1400 || ic.Ident() != 0 ||
			ic.Pointer() != 0 || string(ic.Payload()) != "quoted" || !ic.IsChecksumValid() || ic.Checksum() == 0 {
			t.Error("ICMPv4 accessors")
		}
		ic.SetType(ICMPEcho)
		ic.SetCode(0)
		ic.SetIdent(9)
		ic.SetSeq(10)
		ic.SetChecksum(0)
		if ic.IsChecksumValid() {
			t.Error("zeroed checksum still valid")
		}
		ic.UpdateChecksum()
		_, g := checkWithGopacket(t, pkt)
		if g.TypeCode.Type() != ICMPEcho || g.Id != 9 || g.Seq != 10 {
			t.Errorf("ICMPv4 setters: gopacket sees %+v", g)
		}
		ic.SetMTU(576)
		if ic.MTU() != 576 || ICMPv4(pkt[20:27]).IsValid() {
			t.Error("SetMTU / IsValid")
		}
	})

	t.Run("invalid ipv4 views", func(t *testing.T) {
		good := udp4(t, "10.0.0.1", 1, "10.0.0.2", 2, nil)
		for name, b := range map[string][]byte{
			"short":         good[:19],
			"version 6":     append([]byte{0x65}, good[1:]...),
			"ihl 4":         append([]byte{0x44}, good[1:]...),
			"total too big": append(append([]byte(nil), good[:2]...), append([]byte{0xff, 0xff}, good[4:]...)...),
		} {
			if IPv4(b).IsValid(len(b)) {
				t.Errorf("%s: IsValid true", name)
			}
		}
		if IPv4(good).IsValid(1000) != true {
			t.Error("pktSize larger than the slice must be clamped, not rejected")
		}
	})
}
