package packet

import (
	"bytes"
	"testing"
)

// Fuzz targets for SPEC Q1 (no input crashes vrouterd). The committed seed
// corpus lives in testdata/fuzz/<Target>; `go test` runs it, `go test
// -fuzz=FuzzDecode` explores further.

func fuzzSeeds(f *testing.F) {
	f.Add(tcp4(f, "10.0.0.1", 1, "10.0.0.2", 2, true, false, []byte("x")))
	f.Add(udp4(f, "10.0.0.1", 1, "10.0.0.2", 2, nil))
	f.Add(icmp4(f, "10.0.0.1", "10.0.0.2", ICMPDestUnreach, 3, 0, 0, udp4(f, "10.0.0.2", 3, "10.0.0.1", 4, nil)))
	f.Add(rawIPv6("fd00::1", "fd00::2", []ext6{{typ: ProtoHopByHop, len8: 1}, {typ: ProtoFragment, frag: 1}},
		ProtoTCP, make([]byte, 20)))
	f.Add(rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", []byte{IPv4OptLSRR, 7, 4, 1, 2, 3, 4, 0}, 0x2000,
		make([]byte, 100)))
}

// withFixedChecksum returns a copy of b whose IPv4 header checksum is right
// when b has a plausible IPv4 header, so that the fuzzer gets past the
// checksum check into options and transport headers; nil otherwise.
func withFixedChecksum(b []byte) []byte {
	if len(b) < 20 || b[0]>>4 != 4 || int(b[0]&0x0f)*4 < 20 || int(b[0]&0x0f)*4 > len(b) {
		return nil
	}
	c := append([]byte(nil), b...)
	IPv4(c).UpdateChecksum()
	return c
}

// FuzzDecode: Decode never panics and, on OK, its invariants hold.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		if c := withFixedChecksum(b); c != nil {
			checkDecode(t, c)
		}
	})
}

func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	orig := append([]byte(nil), b...)
	var p Parsed
	st := p.Decode(b)
	if !bytes.Equal(b, orig) {
		t.Fatal("Decode modified its input")
	}
	if st >= numStatus {
		t.Fatalf("status %d out of range", st)
	}
	var again Parsed
	again.Decode([]byte{0x45})
	if again.Decode(b) != st || again != p {
		t.Fatal("Decode not deterministic or not reset")
	}
	if st != OK {
		return
	}
	if p.HdrLen <= 0 || p.L4Off != p.HdrLen || p.HdrLen > p.TotalLen || p.TotalLen > len(b) {
		t.Fatalf("length invariants broken: hdr=%d l4=%d total=%d len=%d", p.HdrLen, p.L4Off, p.TotalLen, len(b))
	}
	switch p.Version {
	case 4:
		if p.HdrLen < 20 || p.HdrLen > 60 || p.HdrLen%4 != 0 || !p.Src.Is4() || !p.Dst.Is4() {
			t.Fatalf("ipv4 invariants broken: %v", &p)
		}
		if !IPv4(b).IsValid(len(b)) || !IPv4(b).IsChecksumValid() {
			t.Fatal("Decode OK but the IPv4 view disagrees")
		}
	case 6:
		if p.HdrLen < 40 || p.HdrLen%8 != 0 || !p.Src.Is6() || !p.Dst.Is6() || !IPv6(b).IsValid(len(b)) {
			t.Fatalf("ipv6 invariants broken: %v", &p)
		}
	default:
		t.Fatalf("version %d", p.Version)
	}
	if p.FragOff%8 != 0 {
		t.Fatalf("fragment offset %d", p.FragOff)
	}
	if !p.IsFirstFragment() && (p.SrcPort != 0 || p.DstPort != 0 || p.TCPFlags != 0 || p.HasInner) {
		t.Fatalf("non-first fragment has transport fields: %v", &p)
	}
	if p.HasInner && (!p.InnerSrc.IsValid() || !p.InnerDst.IsValid()) {
		t.Fatal("inner header without addresses")
	}
	if p.Proto == ProtoTCP && p.IsFirstFragment() && !TCP(b[p.L4Off:p.TotalLen]).IsValid() && !p.MF {
		t.Fatal("Decode OK but the TCP view disagrees")
	}
	if p.Proto == ProtoUDP && p.IsFirstFragment() && !p.MF && !UDP(b[p.L4Off:p.TotalLen]).IsValid() {
		t.Fatal("Decode OK but the UDP view disagrees")
	}
	q := p
	q.Src, q.Dst, q.SrcPort, q.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	if p.FlowHash(99) != q.FlowHash(99) {
		t.Fatal("FlowHash not symmetric")
	}
	_ = p.String()
}

// FuzzBuildICMPv4Error: the builder never panics, and what it builds is a
// valid IPv4 ICMP error within the 576-byte cap that quotes a prefix of orig.
func FuzzBuildICMPv4Error(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, orig []byte) {
		for _, dstLen := range []int{0, 47, 56, 100, 2000} {
			dst := make([]byte, dstLen)
			n := BuildICMPv4Error(dst, addr("10.0.0.254"), 7, orig, ICMPDestUnreach, ICMPFragNeeded, 1280)
			if n == 0 {
				continue
			}
			if n > MaxICMPErrorLen || n > dstLen || n < 48 {
				t.Fatalf("n = %d (dst %d)", n, dstLen)
			}
			var p Parsed
			if st := p.Decode(dst[:n]); st != OK || p.Proto != ProtoICMP || p.ICMPType != ICMPDestUnreach {
				t.Fatalf("built error does not decode: %v %v", st, &p)
			}
			if Checksum(dst[20:n], 0) != 0 {
				t.Fatal("ICMP checksum wrong")
			}
			if !bytes.Equal(dst[28:n], orig[:n-28]) {
				t.Fatal("quote is not a prefix of the original")
			}
		}
	})
}

// FuzzFragmentIPv4: fragmentation never panics and the fragments reassemble
// into the original data.
func FuzzFragmentIPv4(f *testing.F) {
	f.Add(udp4(f, "10.0.0.1", 1, "10.0.0.2", 2, make([]byte, 1000)), 300)
	f.Add(rawIPv4(ProtoUDP, "10.0.0.1", "10.0.0.2", []byte{IPv4OptLSRR, 7, 4, 1, 2, 3, 4, 0}, 0x2000|8,
		make([]byte, 500)), 68)
	out, sizes := fragBufs(1400, 1500) // enough for 65535 bytes at mtu 68; reused
	f.Fuzz(func(t *testing.T, pkt []byte, mtu int) {
		// Steer most inputs to plausible packets: the total length fits, the
		// checksum is right and (for even mtu) DF is clear.
		if c := withFixedChecksum(pkt); c != nil {
			if IPv4(c).TotalLen() > uint16(len(c)) {
				IPv4(c).SetTotalLen(uint16(len(c)))
			}
			if mtu%2 == 0 {
				c[6] &^= ipv4FlagDF
			}
			IPv4(c).UpdateChecksum()
			pkt = c
		}
		n, err := FragmentIPv4(pkt, mtu, out, sizes)
		if err != nil {
			return
		}
		var whole, p Parsed
		if whole.decodeIPv4Header(pkt) != OK {
			t.Fatal("fragmented an invalid packet")
		}
		var data []byte
		next := int(whole.FragOff)
		for i := 0; i < n; i++ {
			frag := out[i][:sizes[i]]
			if len(frag) > mtu {
				t.Fatalf("fragment %d larger than mtu", i)
			}
			if p.decodeIPv4Header(frag) != OK || int(p.FragOff) != next {
				t.Fatalf("fragment %d: bad header or offset %d, want %d", i, p.FragOff, next)
			}
			if i < n-1 && !p.MF || i == n-1 && p.MF != whole.MF {
				t.Fatalf("fragment %d: MF %t", i, p.MF)
			}
			data = append(data, frag[p.HdrLen:p.TotalLen]...)
			next += p.TotalLen - p.HdrLen
		}
		if !bytes.Equal(data, pkt[whole.HdrLen:whole.TotalLen]) {
			t.Fatal("reassembly differs")
		}
	})
}
