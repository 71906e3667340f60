package secgroup

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// gen draws random configurations and packets from a small address pool so
// that peers, members and CIDRs collide often.
type gen struct {
	r    *rand.Rand
	pool []netip.Addr
}

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := range 12 {
		g.pool = append(g.pool, netip.AddrFrom4([4]byte{10, 0, byte(i / 4), byte(1 + i)}))
	}
	for i := range 4 {
		g.pool = append(g.pool, netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i)}))
	}
	for i := range 4 {
		g.pool = append(g.pool, netip.MustParseAddr(fmt.Sprintf("fd00::%x", i+1)))
	}
	// An IPv4-mapped IPv6 address must never match IPv4 rules or members.
	g.pool = append(g.pool, netip.MustParseAddr("::ffff:10.0.0.1"))
	return g
}

func (g *gen) addr() netip.Addr {
	if g.r.IntN(8) == 0 {
		return netip.AddrFrom4([4]byte{byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(g.r.IntN(256))})
	}
	return g.pool[g.r.IntN(len(g.pool))]
}

func (g *gen) prefix() netip.Prefix {
	a := g.addr()
	if a.Is4() {
		bits := []int{0, 8, 16, 24, 30, 32, g.r.IntN(33)}[g.r.IntN(7)]
		return netip.PrefixFrom(a, bits) // not masked on purpose: Compile masks
	}
	bits := []int{0, 16, 64, 112, 126, 128, g.r.IntN(129)}[g.r.IntN(7)]
	return netip.PrefixFrom(a, bits)
}

var protos = []Proto{ProtoAll, ProtoICMP, ProtoTCP, ProtoUDP, ProtoGRE, 58}

func (g *gen) input() (*Input, []string) {
	nGroups := 1 + g.r.IntN(7)
	ids := make([]string, nGroups)
	for i := range ids {
		ids[i] = fmt.Sprintf("sg-%d", i)
	}
	in := &Input{Groups: map[string]*Group{}, Members: map[string][]netip.Addr{}}
	for _, id := range ids {
		grp := &Group{ID: id, InnerAccept: g.r.IntN(2) == 0}
		for k := range g.r.IntN(25) {
			r := Rule{
				Index:     k,
				Direction: Direction(1 + g.r.IntN(2)),
				Policy:    Policy(1 + g.r.IntN(2)),
				Proto:     protos[g.r.IntN(len(protos))],
			}
			if g.r.IntN(3) == 0 {
				r.Priority = uint8(1 + g.r.IntN(100))
			} else {
				r.Priority = uint8(1 + g.r.IntN(3)) // many ties
			}
			if r.Proto.hasPorts() && g.r.IntN(3) != 0 {
				r.PortLo = uint16(1 + g.r.IntN(12))
				r.PortHi = r.PortLo + uint16(g.r.IntN(4))
			}
			if g.r.IntN(3) == 0 {
				r.PeerGroup = ids[g.r.IntN(len(ids))]
			} else {
				r.Peer = g.prefix()
			}
			grp.Rules = append(grp.Rules, r)
		}
		in.Groups[id] = grp
		for range g.r.IntN(6) {
			in.Members[id] = append(in.Members[id], g.pool[g.r.IntN(len(g.pool))])
		}
	}
	// The ENI is a member of 1–5 of the groups, in random order.
	perm := g.r.Perm(nGroups)
	eni := make([]string, 0, 5)
	for _, i := range perm[:min(nGroups, 1+g.r.IntN(5))] {
		eni = append(eni, ids[i])
	}
	return in, eni
}

// TestGoldenS3toS6 compares Check with Reference on thousands of random rule
// sets (1–5 groups, many priority ties, mixed policies, port ranges, CIDR and
// group peers, inner_access mixes) and random packets.
func TestGoldenS3toS6(t *testing.T) {
	sets := 2000
	if testing.Short() || raceEnabled {
		sets = 400
	}
	var decided [5]int
	for seed := range uint64(sets) {
		g := newGen(seed)
		in, groups := g.input()
		p, err := Compile(in, groups)
		if err != nil {
			t.Fatalf("seed %d: Compile: %v", seed, err)
		}
		for range 200 {
			dir := Direction(1 + g.r.IntN(2))
			self, peer := g.pool[g.r.IntN(len(g.pool))], g.addr()
			proto := uint8(protos[1+g.r.IntN(len(protos)-1)])
			if g.r.IntN(10) == 0 {
				proto = uint8(g.r.IntN(256))
			}
			var dport uint16
			if proto == 6 || proto == 17 {
				dport = uint16(g.r.IntN(18))
			}
			got := result(p.Check(dir, self, peer, proto, dport))
			want := Reference(in, groups, dir, self, peer, proto, dport)
			if got != want {
				t.Fatalf("seed %d: Check(%s, self %s, peer %s, proto %d, dport %d) = %+v, reference %+v\ngroups %v\ninput %s",
					seed, dir, self, peer, proto, dport, got, want, groups, dumpInput(in))
			}
			decided[got.reason]++
		}
	}
	// The generator must exercise every outcome, or the test proves little.
	for r := RuleMatch; r <= DefaultEgressAccept; r++ {
		if decided[r] < sets/3 {
			t.Errorf("reason %s decided only %d times", r, decided[r])
		}
	}
	t.Logf("decisions by reason: %v", decided)
}

func dumpInput(in *Input) string {
	s := ""
	for id, g := range in.Groups {
		s += fmt.Sprintf("%s inner=%v members=%v\n", id, g.InnerAccept, in.Members[id])
		for _, r := range g.Rules {
			s += fmt.Sprintf("  %+v\n", r)
		}
	}
	return s
}
