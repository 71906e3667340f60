package tun

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// refSum is a deliberately naive one's complement sum (RFC 1071) used as the
// golden model for sum/fold.
func refSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = (s & 0xffff) + (s >> 16)
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = (s & 0xffff) + (s >> 16)
	}
	return uint16(s)
}

func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if n%7 == 0 {
			for i := range b {
				b[i] = 0xff
			}
		}
		got, want := fold(sum(b, 0)), refSum(b)
		// 0x0000 and 0xffff are the two zeros of one's complement.
		if got != want && !(got|want == 0xffff && got&want == 0) {
			t.Fatalf("len %d: fold(sum) = %#04x, want %#04x", n, got, want)
		}
	}
}

// partialPacket serialises an IPv4/IPv6 TCP/UDP packet with gopacket, then turns
// it into what a CHECKSUM_PARTIAL packet from a TUN looks like: the L4 checksum
// field holds the folded pseudo-header sum and the header says where to finish.
func partialPacket(t *testing.T, v6, udp bool, payload []byte) (pkt []byte, h VirtioNetHdr, want uint16) {
	t.Helper()
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if v6 {
		l := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		l.NextHeader = layers.IPProtocolTCP
		if udp {
			l.NextHeader = layers.IPProtocolUDP
		}
		ip, ipl = l, l
	} else {
		l := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 1, 2)}
		l.Protocol = layers.IPProtocolTCP
		if udp {
			l.Protocol = layers.IPProtocolUDP
		}
		ip, ipl = l, l
	}
	var l4 gopacket.SerializableLayer
	csumOff := 16
	if udp {
		u := &layers.UDP{SrcPort: 4000, DstPort: 53}
		u.SetNetworkLayerForChecksum(ip)
		l4, csumOff = u, 6
	} else {
		tc := &layers.TCP{SrcPort: 4000, DstPort: 80, Seq: 7, Ack: 9, ACK: true, PSH: true, Window: 512}
		tc.SetNetworkLayerForChecksum(ip)
		l4 = tc
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ipl, l4, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	pkt = buf.Bytes()
	start := 20
	if v6 {
		start = 40
	}
	want = binary.BigEndian.Uint16(pkt[start+csumOff:])
	// Pseudo-header: addresses, protocol, L4 length.
	var ph []byte
	l4len := len(pkt) - start
	if v6 {
		ph = append(ph, pkt[8:40]...)
		ph = binary.BigEndian.AppendUint32(ph, uint32(l4len))
		ph = append(ph, 0, 0, 0, pkt[6])
	} else {
		ph = append(ph, pkt[12:20]...)
		ph = append(ph, 0, pkt[9])
		ph = binary.BigEndian.AppendUint16(ph, uint16(l4len))
	}
	binary.BigEndian.PutUint16(pkt[start+csumOff:], refSum(ph))
	h = VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, CsumStart: uint16(start), CsumOffset: uint16(csumOff)}
	return pkt, h, want
}

// TestFinishChecksum: a device without vnet header must hand the kernel complete
// checksums (SPEC F1 fallback); golden values come from gopacket.
func TestFinishChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, n := range []int{0, 1, 2, 3, 31, 32, 33, 1399, 1400, 9000} {
				payload := make([]byte, n)
				for i := range payload {
					payload[i] = byte(r.Uint32())
				}
				pkt, h, want := partialPacket(t, v6, udp, payload)
				if err := FinishChecksum(pkt, &h); err != nil {
					t.Fatalf("v6=%v udp=%v len=%d: %v", v6, udp, n, err)
				}
				got := binary.BigEndian.Uint16(pkt[int(h.CsumStart)+int(h.CsumOffset):])
				if got != want && !(want == 0 && got == 0xffff) {
					t.Errorf("v6=%v udp=%v len=%d: checksum %#04x, want %#04x", v6, udp, n, got, want)
				}
				if h.Flags&VirtioNetHdrFNeedsCsum != 0 {
					t.Errorf("NeedsCsum still set after FinishChecksum")
				}
			}
		}
	}
}

func TestFinishChecksumEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		h       VirtioNetHdr
		wantErr error
		want    []byte
	}{
		{"no flag leaves packet alone", []byte{1, 2, 3, 4}, VirtioNetHdr{CsumStart: 9, CsumOffset: 9}, nil, []byte{1, 2, 3, 4}},
		{"field past end", []byte{1, 2, 3, 4}, VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 2, CsumOffset: 1}, ErrBadPacket, []byte{1, 2, 3, 4}},
		{"start past end", []byte{1, 2, 3, 4}, VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 4}, ErrBadPacket, []byte{1, 2, 3, 4}},
		// sum of 0xffff and 0x0000 → complement 0 → stored as 0xffff (RFC 768).
		{"zero becomes ffff", []byte{0xff, 0xff, 0, 0}, VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 0, CsumOffset: 2}, nil, []byte{0xff, 0xff, 0xff, 0xff}},
		{"simple", []byte{0x12, 0x34, 0, 0}, VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 0, CsumOffset: 2}, nil, []byte{0x12, 0x34, 0xed, 0xcb}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := FinishChecksum(tt.pkt, &tt.h)
			if err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(tt.pkt) != string(tt.want) {
				t.Fatalf("packet = % x, want % x", tt.pkt, tt.want)
			}
		})
	}
}

func TestFinishChecksumNoAllocs(t *testing.T) {
	pkt, h0, _ := partialPacket(t, false, false, make([]byte, 1400))
	if a := testing.AllocsPerRun(100, func() {
		h := h0
		if err := FinishChecksum(pkt, &h); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("FinishChecksum allocates %v times", a)
	}
}

func FuzzSum(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := fold(sum(b, 0)), refSum(b)
		if got != want && !(got|want == 0xffff && got&want == 0) {
			t.Fatalf("fold(sum(% x)) = %#04x, want %#04x", b, got, want)
		}
	})
}
