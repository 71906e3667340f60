package secgroup

import (
	"fmt"
	"net/netip"
	"testing"
)

// bigPolicy builds an ENI in 5 groups with 200 rules each (the V19 quotas:
// 1,000 rules), mixing CIDR and group peers, none of which matches the
// benchmark's probe packet unless hit is set.
func bigPolicy(tb testing.TB) (*ENIPolicy, *Input, []string) {
	in := &Input{Groups: map[string]*Group{}, Members: map[string][]netip.Addr{}}
	var groups []string
	for g := range 5 {
		id := fmt.Sprintf("sg-%d", g)
		groups = append(groups, id)
		grp := &Group{ID: id}
		for i := range 200 {
			r := Rule{
				Index: i, Direction: Ingress, Policy: Policy(1 + i%2), Priority: uint8(1 + (i*7+g)%100),
				Proto: []Proto{ProtoTCP, ProtoUDP, ProtoAll, ProtoTCP}[i%4],
			}
			if r.Proto.hasPorts() {
				r.PortLo = uint16(1000 + i)
				r.PortHi = r.PortLo + 10
			}
			if i%10 == 0 {
				r.PeerGroup = groups[0]
			} else {
				r.Peer = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(g), byte(i), 0}), 24)
			}
			grp.Rules = append(grp.Rules, r)
		}
		in.Groups[id] = grp
		for m := range 50 {
			in.Members[id] = append(in.Members[id], netip.AddrFrom4([4]byte{172, 16, byte(g), byte(m)}))
		}
	}
	p, err := Compile(in, groups)
	if err != nil {
		tb.Fatal(err)
	}
	return p, in, groups
}

// TestCheckAllocs: Check is on the new-flow path; it must not allocate
// (house rule 4).
func TestCheckAllocs(t *testing.T) {
	p, _, _ := bigPolicy(t)
	self, miss := netip.MustParseAddr("172.16.0.1"), netip.MustParseAddr("203.0.113.1")
	v6 := netip.MustParseAddr("2001:db8::1")
	hitGroup := netip.MustParseAddr("172.16.0.7")
	allocs := testing.AllocsPerRun(1000, func() {
		p.Check(Ingress, self, miss, 6, 22)
		p.Check(Egress, self, miss, 17, 53)
		p.Check(Ingress, self, v6, 1, 0)
		p.Check(Ingress, self, hitGroup, 6, 1005)
	})
	if allocs != 0 {
		t.Fatalf("Check allocates %.1f times per run", allocs)
	}
}

// BenchmarkCheck1000Rules: 1,000 ingress rules over 5 groups.
func BenchmarkCheck1000Rules(b *testing.B) {
	p, _, _ := bigPolicy(b)
	self := netip.MustParseAddr("172.16.0.1")
	for _, bc := range []struct {
		name  string
		peer  netip.Addr
		proto uint8
		dport uint16
	}{
		{"miss-all-tcp", netip.MustParseAddr("203.0.113.1"), 6, 22},
		{"miss-all-icmp", netip.MustParseAddr("203.0.113.1"), 1, 0},
		{"group-peer-hit", netip.MustParseAddr("172.16.0.7"), 6, 1005},
		{"cidr-hit-late", netip.MustParseAddr("10.4.199.9"), 17, 1199},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				p.Check(Ingress, self, bc.peer, bc.proto, bc.dport)
			}
		})
	}
	b.Run("inner-access", func(b *testing.B) {
		in := &Input{
			Groups:  map[string]*Group{"sg-a": {ID: "sg-a", InnerAccept: true}},
			Members: map[string][]netip.Addr{},
		}
		for m := range 1000 {
			in.Members["sg-a"] = append(in.Members["sg-a"], netip.AddrFrom4([4]byte{192, 168, byte(m >> 8), byte(m)}))
		}
		p, err := Compile(in, []string{"sg-a"})
		if err != nil {
			b.Fatal(err)
		}
		a, c := in.Members["sg-a"][3], in.Members["sg-a"][700]
		for b.Loop() {
			p.Check(Egress, a, c, 6, 80)
		}
	})
}
