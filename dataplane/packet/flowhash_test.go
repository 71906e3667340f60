package packet

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func randAddr(r *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		var a [16]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		a[0] = 0xfd
		return netip.AddrFrom16(a)
	}
	var a [4]byte
	for i := range a {
		a[i] = byte(r.Uint32())
	}
	return netip.AddrFrom4(a)
}

func randFlow(r *rand.Rand) Parsed {
	v6 := r.IntN(4) == 0
	p := Parsed{Version: 4, Src: randAddr(r, v6), Dst: randAddr(r, v6), SrcPort: uint16(r.Uint32()),
		DstPort: uint16(r.Uint32()), Proto: []uint8{ProtoTCP, ProtoUDP, ProtoICMP}[r.IntN(3)]}
	if v6 {
		p.Version = 6
	}
	return p
}

func swapped(p Parsed) Parsed {
	p.Src, p.Dst = p.Dst, p.Src
	p.SrcPort, p.DstPort = p.DstPort, p.SrcPort
	return p
}

// TestFlowHashSymmetric: both directions of a flow pick the same ECMP member
// (SPEC F8).
func TestFlowHashSymmetric(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 20000; i++ {
		p := randFlow(r)
		if i%7 == 0 {
			p.Dst = p.Src // equal addresses: ports decide the order
		}
		q := swapped(p)
		seed := r.Uint64()
		if p.FlowHash(seed) != q.FlowHash(seed) {
			t.Fatalf("asymmetric: %v vs %v", &p, &q)
		}
	}
	// Symmetric on real decoded packets too.
	var a, b Parsed
	a.Decode(tcp4(t, "10.0.0.1", 40000, "10.0.1.1", 443, true, false, nil))
	b.Decode(tcp4(t, "10.0.1.1", 443, "10.0.0.1", 40000, true, true, nil))
	if a.FlowHash(1) != b.FlowHash(1) {
		t.Error("request and reply hash differently")
	}
}

// TestFlowHashCovers checks that every field of the 5-tuple and the seed
// change the hash, and that swapping only the ports (not a reversed flow)
// does too.
func TestFlowHashCovers(t *testing.T) {
	base := Parsed{Version: 4, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), Proto: ProtoTCP, SrcPort: 1000, DstPort: 80}
	h := base.FlowHash(0)
	for name, mut := range map[string]func(p *Parsed){
		"proto":      func(p *Parsed) { p.Proto = ProtoUDP },
		"src":        func(p *Parsed) { p.Src = addr("10.0.0.3") },
		"dst":        func(p *Parsed) { p.Dst = addr("10.0.0.3") },
		"sport":      func(p *Parsed) { p.SrcPort++ },
		"dport":      func(p *Parsed) { p.DstPort++ },
		"ports only": func(p *Parsed) { p.SrcPort, p.DstPort = p.DstPort, p.SrcPort },
		"family":     func(p *Parsed) { p.Src, p.Dst, p.Version = addr("::ffff:10.0.0.1"), addr("::ffff:10.0.0.2"), 6 },
	} {
		p := base
		mut(&p)
		if p.FlowHash(0) == h {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	if base.FlowHash(1) == h {
		t.Error("seed does not change the hash")
	}
}

// TestFlowHashFragments: all fragments of a datagram hash alike, so they take
// the same ECMP member even though only the first carries ports.
func TestFlowHashFragments(t *testing.T) {
	first := Parsed{Version: 4, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), Proto: ProtoUDP, MF: true, SrcPort: 5, DstPort: 6}
	middle := Parsed{Version: 4, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), Proto: ProtoUDP, MF: true, FragOff: 1480}
	last := Parsed{Version: 4, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), Proto: ProtoUDP, FragOff: 2960}
	if first.FlowHash(3) != middle.FlowHash(3) || middle.FlowHash(3) != last.FlowHash(3) {
		t.Error("fragments of one datagram hash differently")
	}
}

// chiSquare returns the chi-square statistic of counts against a uniform
// distribution.
func chiSquare(counts []int, total int) float64 {
	exp := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - exp
		x += d * d / exp
	}
	return x
}

// TestFlowHashDistribution: 10,000 flows into 256 buckets pass a chi-square
// sanity check (255 degrees of freedom: mean 255, sd 22.6; the bound is about
// 5 sd), for random flows and for flows that differ only in a sequential source
// port or address (the realistic worst case for weak hashes). Also the even
// spread of SPEC F8 over 2..8 members.
func TestFlowHashDistribution(t *testing.T) {
	const flows, buckets, bound = 10000, 256, 370.0
	r := rand.New(rand.NewPCG(13, 14))
	gens := []struct {
		name string
		gen  func(i int) Parsed
	}{
		{"random", func(int) Parsed { return randFlow(r) }},
		{"sequential source port", func(i int) Parsed {
			return Parsed{Version: 4, Src: addr("10.0.0.1"), Dst: addr("10.0.1.1"), Proto: ProtoTCP,
				SrcPort: uint16(10000 + i), DstPort: 443}
		}},
		{"sequential source address", func(i int) Parsed {
			return Parsed{Version: 4, Src: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Dst: addr("10.0.1.1"),
				Proto: ProtoUDP, SrcPort: 5000, DstPort: 53}
		}},
		{"sequential ipv6 interface id", func(i int) Parsed {
			a := addr("fd00::").As16()
			a[14], a[15] = byte(i>>8), byte(i)
			return Parsed{Version: 6, Src: netip.AddrFrom16(a), Dst: addr("fd00:1::1"), Proto: ProtoTCP,
				SrcPort: 40000, DstPort: 80}
		}},
	}
	for _, g := range gens {
		name, gen := g.name, g.gen
		counts := make([]int, buckets)
		members := make([][]int, 9)
		for n := 2; n <= 8; n++ {
			members[n] = make([]int, n)
		}
		for i := 0; i < flows; i++ {
			p := gen(i)
			h := p.FlowHash(0x5eed)
			counts[h%buckets]++
			for n := 2; n <= 8; n++ {
				members[n][h%uint64(n)]++
			}
		}
		x := chiSquare(counts, flows)
		t.Logf("%s: chi-square %.1f", name, x)
		if x > bound {
			t.Errorf("%s: chi-square %.1f over %d buckets exceeds %.0f", name, x, buckets, bound)
		}
		for n := 2; n <= 8; n++ {
			exp := float64(flows) / float64(n)
			for m, c := range members[n] {
				if math.Abs(float64(c)-exp) > 0.1*exp {
					t.Errorf("%s: member %d of %d gets %d flows, want %.0f ± 10%% (SPEC F8)", name, m, n, c, exp)
				}
			}
		}
	}
}

// TestFlowHashAvalanche: flipping any single input bit flips about half of the
// output bits.
func TestFlowHashAvalanche(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	var flips, trials int
	perBit := make([]int, 64)
	for i := 0; i < 300; i++ {
		p := randFlow(r)
		p.Version = 4
		p.Src, p.Dst = randAddr(r, false), randAddr(r, false)
		h := p.FlowHash(0)
		for bit := 0; bit < 32+32+16+16+8; bit++ {
			q := p
			switch {
			case bit < 32:
				a := q.Src.As4()
				a[bit/8] ^= 1 << (bit % 8)
				q.Src = netip.AddrFrom4(a)
			case bit < 64:
				a := q.Dst.As4()
				a[(bit-32)/8] ^= 1 << (bit % 8)
				q.Dst = netip.AddrFrom4(a)
			case bit < 80:
				q.SrcPort ^= 1 << (bit - 64)
			case bit < 96:
				q.DstPort ^= 1 << (bit - 80)
			default:
				q.Proto ^= 1 << (bit - 96)
			}
			d := h ^ q.FlowHash(0)
			flips += bits.OnesCount64(d)
			for b := 0; b < 64; b++ {
				perBit[b] += int(d >> b & 1)
			}
			trials++
		}
	}
	avg := float64(flips) / float64(trials)
	t.Logf("average output bits flipped per input bit: %.2f", avg)
	if avg < 31 || avg > 33 {
		t.Errorf("average output bits flipped per input bit = %.2f, want ~32", avg)
	}
	for b, c := range perBit {
		if f := float64(c) / float64(trials); f < 0.45 || f > 0.55 {
			t.Errorf("output bit %d flips with probability %.3f", b, f)
		}
	}
}
