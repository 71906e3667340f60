package packet

import "testing"

// Benchmarks for the per-packet costs behind SPEC P3.

func BenchmarkDecodeTCP4(b *testing.B) {
	pkt := tcp4(b, "10.0.0.1", 1234, "10.0.0.2", 80, false, true, make([]byte, 1400))
	var p Parsed
	b.ReportAllocs()
	for b.Loop() {
		if p.Decode(pkt) != OK {
			b.Fatal("decode")
		}
	}
}

func BenchmarkDecodeUDP6(b *testing.B) {
	pkt := udp6(b, "fd00::1", 1, "fd00::2", 2, make([]byte, 64))
	var p Parsed
	b.ReportAllocs()
	for b.Loop() {
		p.Decode(pkt)
	}
}

func BenchmarkFlowHash(b *testing.B) {
	var p Parsed
	p.Decode(tcp4(b, "10.0.0.1", 1234, "10.0.0.2", 80, false, true, nil))
	var sink uint64
	b.ReportAllocs()
	for b.Loop() {
		sink += p.FlowHash(sink)
	}
}

func BenchmarkFlowHash6(b *testing.B) {
	var p Parsed
	p.Decode(udp6(b, "fd00::1", 1, "fd00::2", 2, nil))
	var sink uint64
	b.ReportAllocs()
	for b.Loop() {
		sink += p.FlowHash(sink)
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var sink uint16
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		sink += Checksum(buf, 0)
	}
	_ = sink
}

// BenchmarkChecksum1500Naive is the 16-bit reference loop, for comparison.
func BenchmarkChecksum1500Naive(b *testing.B) {
	buf := make([]byte, 1500)
	var sink uint16
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		sink += refChecksum(buf)
	}
	_ = sink
}

func BenchmarkDecTTL(b *testing.B) {
	pkt := tcp4(b, "10.0.0.1", 1234, "10.0.0.2", 80, false, true, nil)
	b.ReportAllocs()
	for b.Loop() {
		pkt[8] = 64
		DecTTL(pkt)
	}
}

func BenchmarkBuildICMPv4Error(b *testing.B) {
	pkt := tcp4(b, "10.0.0.1", 1234, "10.0.0.2", 80, false, true, make([]byte, 1400))
	dst := make([]byte, 1500)
	gw := addr("10.0.0.254")
	b.ReportAllocs()
	for b.Loop() {
		BuildICMPv4Error(dst, gw, 1, pkt, ICMPDestUnreach, ICMPFragNeeded, 1400)
	}
}

func BenchmarkFragmentIPv4(b *testing.B) {
	pkt := udp4(b, "10.0.0.1", 1, "10.0.0.2", 2, make([]byte, 8000))
	out, sizes := fragBufs(8, 1500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FragmentIPv4(pkt, 1500, out, sizes); err != nil {
			b.Fatal(err)
		}
	}
}
