package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestSumMatchesReference compares the 8-bytes-at-a-time sum with the naive
// RFC 1071 loop for every length up to 300 (all tail cases) and random data.
func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2100)
	for n := 0; n <= 2100; n++ {
		if n > 300 && n%97 != 0 {
			continue
		}
		for i := range buf[:n] {
			buf[i] = byte(r.Uint32())
		}
		initial := r.Uint32()
		if n%3 == 0 {
			initial = 0
		}
		if got, want := Sum(buf[:n], initial), uint32(refSum(buf[:n], initial)); got != want {
			t.Fatalf("len %d initial %#x: Sum = %#x, want %#x", n, initial, got, want)
		}
		if got, want := Checksum(buf[:n], initial), ^refSum(buf[:n], initial); got != want {
			t.Fatalf("len %d: Checksum = %#x, want %#x", n, got, want)
		}
	}
}

func TestSumEdgeValues(t *testing.T) {
	ff := make([]byte, 1500)
	for i := range ff {
		ff[i] = 0xff
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		initial uint32
		sum     uint32
	}{
		{"empty", nil, 0, 0},
		{"empty with initial", nil, 0x1_2345, 0x2346},
		{"all ones stays negative zero", ff, 0, 0xffff},
		{"all ones with max initial", ff, 0xffffffff, 0xffff},
		{"single byte is high byte", []byte{0xab}, 0, 0xab00},
		{"carry wraps", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
	} {
		if got := Sum(tc.b, tc.initial); got != tc.sum {
			t.Errorf("%s: Sum = %#x, want %#x", tc.name, got, tc.sum)
		}
	}
}

// TestSumChains checks that partial sums over even-length pieces add up.
func TestSumChains(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 1501)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for split := 0; split <= len(b); split += 2 {
		if Sum(b[split:], Sum(b[:split], 0)) != Sum(b, 0) {
			t.Fatalf("split at %d: chained sum differs", split)
		}
	}
}

// TestChecksumAgainstGopacket verifies IPv4 header, TCP and UDP checksums
// (IPv4 and IPv6 pseudo headers) computed by gopacket.
func TestChecksumAgainstGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 200; i++ {
		payload := make([]byte, r.IntN(1400))
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		src4 := netip.AddrFrom4([4]byte{10, byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
		dst4 := netip.AddrFrom4([4]byte{172, 16, byte(r.Uint32()), byte(r.Uint32())})
		sport, dport := uint16(r.Uint32()), uint16(r.Uint32())
		pkts := [][]byte{
			tcp4(t, src4.String(), sport, dst4.String(), dport, i%2 == 0, true, payload),
			udp4(t, src4.String(), sport, dst4.String(), dport, payload),
			tcp6(t, "fd00::"+src4.String(), sport, "2001:db8::"+dst4.String(), dport, payload),
			udp6(t, "fd00::"+src4.String(), sport, "2001:db8::"+dst4.String(), dport, payload),
		}
		for k, pkt := range pkts {
			var p Parsed
			if st := p.Decode(pkt); st != OK {
				t.Fatalf("pkt %d/%d: Decode %v", i, k, st)
			}
			if p.Version == 4 {
				h := append([]byte(nil), pkt[:p.HdrLen]...)
				want := binary.BigEndian.Uint16(h[10:12])
				h[10], h[11] = 0, 0
				if got := Checksum(h, 0); got != want {
					t.Fatalf("pkt %d/%d: IPv4 header checksum %#x, gopacket %#x", i, k, got, want)
				}
			}
			l4 := pkt[p.L4Off:p.TotalLen]
			ph := PseudoHeaderSum(p.Proto, p.Src, p.Dst, len(l4))
			if got := Checksum(l4, ph); got != 0 {
				t.Fatalf("pkt %d/%d (%v): L4 checksum verification = %#x, want 0", i, k, &p, got)
			}
			off := 16 // TCP checksum field
			if p.Proto == ProtoUDP {
				off = 6
			}
			c := append([]byte(nil), l4...)
			want := binary.BigEndian.Uint16(c[off:])
			c[off], c[off+1] = 0, 0
			if got := Checksum(c, ph); got != want {
				t.Fatalf("pkt %d/%d: L4 checksum %#x, gopacket %#x", i, k, got, want)
			}
		}
	}
}

// TestUpdateChecksum16RFC1624 is the worked example of RFC 1624 section 4.
func TestUpdateChecksum16RFC1624(t *testing.T) {
	if got := UpdateChecksum16(0xdd2f, 0x5555, 0x3285); got != 0x0000 {
		t.Errorf("UpdateChecksum16 = %#04x, want 0x0000", got)
	}
}

// TestIncrementalMatchesFull is a property test: for random headers and
// random changes of one 16-bit word or one 4-byte address, the incremental
// update (RFC 1624) equals a full recompute.
func TestIncrementalMatchesFull(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		h := make([]byte, 20+4*r.IntN(11))
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		h[10], h[11] = 0, 0
		csum := Checksum(h, 0)
		binary.BigEndian.PutUint16(h[10:12], csum)

		if i%2 == 0 {
			w := 2 * r.IntN(len(h)/2)
			if w == 10 {
				continue
			}
			old := binary.BigEndian.Uint16(h[w:])
			nw := uint16(r.Uint32())
			binary.BigEndian.PutUint16(h[w:], nw)
			inc := UpdateChecksum16(csum, old, nw)
			h[10], h[11] = 0, 0
			if full := Checksum(h, 0); inc != full {
				t.Fatalf("word %d %#x->%#x: incremental %#x, full %#x", w, old, nw, inc, full)
			}
		} else {
			w := 12 + 4*r.IntN(2) // source or destination address
			old := [4]byte(h[w : w+4])
			var nw [4]byte
			binary.BigEndian.PutUint32(nw[:], r.Uint32())
			copy(h[w:], nw[:])
			inc := UpdateChecksum32(csum, old, nw)
			h[10], h[11] = 0, 0
			if full := Checksum(h, 0); inc != full {
				t.Fatalf("addr at %d %v->%v: incremental %#x, full %#x", w, old, nw, inc, full)
			}
		}
	}
}

// TestUpdateChecksum32PseudoHeader rewrites a UDP packet's source address
// (the NAT case) and checks the transport checksum incrementally.
func TestUpdateChecksum32PseudoHeader(t *testing.T) {
	pkt := udp4(t, "10.0.0.1", 1000, "8.8.8.8", 53, []byte("some query bytes"))
	var p Parsed
	if p.Decode(pkt) != OK {
		t.Fatal("decode")
	}
	ip, udp := IPv4(pkt), UDP(pkt[p.L4Off:])
	old, nw := p.Src.As4(), addr("203.0.113.7").As4()
	ip.SetSrc(addr("203.0.113.7"))
	ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, nw))
	udp.SetChecksum(UpdateChecksum32(udp.Checksum(), old, nw))
	if !ip.IsChecksumValid() {
		t.Error("IPv4 checksum invalid after incremental update")
	}
	if Checksum(udp[:udp.Length()], PseudoHeaderSum(ProtoUDP, ip.Src(), ip.Dst(), int(udp.Length()))) != 0 {
		t.Error("UDP checksum invalid after incremental update")
	}
}

// TestDecTTL covers SPEC F6: TTL decremented by one, checksum stays valid
// (verified by gopacket's checksum too).
func TestDecTTL(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 5000; i++ {
		ttl := uint8(1 + r.IntN(255))
		pkt := rawIPv4(uint8(r.Uint32()), "10.0.0.1", "10.0.0.2", nil, uint16(r.Uint32()), nil)
		binary.BigEndian.PutUint32(pkt[12:], r.Uint32())
		pkt[8] = ttl
		fixIPv4Checksum(pkt)
		DecTTL(pkt)
		if pkt[8] != ttl-1 {
			t.Fatalf("TTL %d -> %d", ttl, pkt[8])
		}
		if Checksum(pkt[:20], 0) != 0 {
			t.Fatalf("checksum invalid after DecTTL from %d", ttl)
		}
		if i%10 == 0 { // gopacket recomputes the header checksum from its decode
			var g layers.IPv4
			if err := g.DecodeFromBytes(pkt, gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			want := g.Checksum
			re := serialize(t, &g)
			if got := binary.BigEndian.Uint16(re[10:]); got != want {
				t.Fatalf("DecTTL checksum %#x, gopacket %#x", want, got)
			}
		}
	}
	zero := rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", nil, 0, nil)
	zero[8] = 0
	fixIPv4Checksum(zero)
	before := append([]byte(nil), zero...)
	DecTTL(zero)
	if string(zero) != string(before) {
		t.Error("DecTTL changed a packet with TTL 0")
	}
	short := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64}
	DecTTL(short) // must not panic
	if short[8] != 64 {
		t.Error("DecTTL changed a short slice")
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	// IPv4: 10.0.0.1 + 10.0.0.2 + proto 17 + length 8.
	want := refSum([]byte{10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 8}, 0)
	if got := PseudoHeaderSum(17, addr("10.0.0.1"), addr("10.0.0.2"), 8); got != uint32(want) {
		t.Errorf("v4 pseudo header sum %#x, want %#x", got, want)
	}
	s, d := addr("2001:db8::1").As16(), addr("fe80::2").As16()
	ph := append(append(s[:], d[:]...), 0, 1, 0, 4, 0, 0, 0, 58)
	if got, want := PseudoHeaderSum(58, addr("2001:db8::1"), addr("fe80::2"), 65540), uint32(refSum(ph, 0)); got != want {
		t.Errorf("v6 pseudo header sum %#x, want %#x", got, want)
	}
	// Mixed or invalid addresses do not panic.
	_ = PseudoHeaderSum(6, addr("10.0.0.1"), addr("::1"), 20)
	_ = PseudoHeaderSum(6, netip.Addr{}, netip.Addr{}, 20)
}
