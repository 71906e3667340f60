package secgroup

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
)

// Protocol classes: each direction keeps one pre-filtered rule list per class
// so that Check scans only rules that can match the packet's protocol.
const (
	classTCP = iota
	classUDP
	classICMP
	classGRE
	classOther // rules for any other protocol number; Check still compares it
	numClasses
)

func classOf(proto uint8) int {
	switch proto {
	case 6:
		return classTCP
	case 17:
		return classUDP
	case 1:
		return classICMP
	case 47:
		return classGRE
	}
	return classOther
}

// Peer kinds of a compiled rule.
const (
	peer4   uint8 = iota + 1 // IPv4 CIDR: a4/m4
	peer6                    // IPv6 CIDR: a6hi/a6lo under m6hi/m6lo
	peerSet                  // group peer: sets[set]
)

// crule is a rule compiled for evaluation: integers only, one cache line.
type crule struct {
	kind     uint8
	proto    uint8 // 0: any
	accept   bool
	plo, phi uint16 // destination port range, 0..65535 when the rule has none
	set      uint32
	a4, m4   uint32
	a6hi     uint64
	a6lo     uint64
	m6hi     uint64
	m6lo     uint64
	rule     *Rule
}

type u128 struct{ hi, lo uint64 }

func (a u128) compare(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// addrSet is the sorted, duplicate-free member address set of a peer group.
type addrSet struct {
	v4 []uint32
	v6 []u128
}

type inner4 struct {
	a    uint32
	mask uint64
}

type inner6 struct {
	a    u128
	mask uint64
}

// ENIPolicy is the compiled security-group policy of one ENI. It is immutable
// after Compile and safe for concurrent use.
type ENIPolicy struct {
	groups  []string
	ordered [2][]Rule              // rules in evaluation order, by dirIndex
	lists   [2][numClasses][]crule // compiled rules, by dirIndex and class
	sets    []addrSet

	// Inner access (S5): addresses of members of the ENI's inner_access
	// accept groups, each with a mask of the groups (bit i = innerGroups[i]).
	innerGroups []string
	inner4      []inner4
	inner6      []inner6
}

func dirIndex(d Direction) int {
	if d == Egress {
		return 1
	}
	return 0
}

// Groups returns the ENI's group ids in configured order (a copy).
func (p *ENIPolicy) Groups() []string { return slices.Clone(p.groups) }

// Rules returns the rules of one direction in evaluation order (S3), as
// copies, for `vrouterctl lint` and traces.
func (p *ENIPolicy) Rules(dir Direction) []Rule {
	return slices.Clone(p.ordered[dirIndex(dir)])
}

// addr is a packet address decoded once per Check.
type addr struct {
	fam    uint8 // 4, 6, or 0 for an address that matches nothing
	a4     uint32
	hi, lo uint64
}

func decode(a netip.Addr) addr {
	switch {
	case a.Is4():
		return addr{fam: 4, a4: v4(a)}
	case a.Is6() && a.Zone() == "":
		hi, lo := v6(a)
		return addr{fam: 6, hi: hi, lo: lo}
	}
	return addr{}
}

// Check decides a NEW flow (S3–S6). For Egress, peer is the destination and
// self the source; for Ingress, peer is the source and self the destination.
// dport is the destination port for tcp and udp, 0 otherwise. Any direction
// other than Egress is treated as Ingress. Check allocates nothing.
func (p *ENIPolicy) Check(dir Direction, self, peer netip.Addr, proto uint8, dport uint16) Decision {
	pa := decode(peer)
	if p.inner4 != nil || p.inner6 != nil {
		if m := p.innerMask(decode(self)) & p.innerMask(pa); m != 0 {
			return Decision{Accept: true, Group: p.innerGroups[bits.TrailingZeros64(m)], Reason: InnerAccess}
		}
	}
	d := dirIndex(dir)
	rules := p.lists[d][classOf(proto)]
	// Membership of the peer in each of the first 64 peer-group sets is
	// computed at most once per Check: many rules share a few groups.
	var setDone, setHit uint64
	for i := range rules {
		r := &rules[i]
		if r.proto != 0 && r.proto != proto {
			continue
		}
		if dport < r.plo || dport > r.phi {
			continue
		}
		var hit bool
		switch r.kind {
		case peer4:
			hit = pa.fam == 4 && pa.a4&r.m4 == r.a4
		case peer6:
			hit = pa.fam == 6 && pa.hi&r.m6hi == r.a6hi && pa.lo&r.m6lo == r.a6lo
		case peerSet:
			if r.set >= 64 {
				hit = p.sets[r.set].contains(&pa)
				break
			}
			bit := uint64(1) << r.set
			if setDone&bit == 0 {
				setDone |= bit
				if p.sets[r.set].contains(&pa) {
					setHit |= bit
				}
			}
			hit = setHit&bit != 0
		}
		if hit {
			return Decision{Accept: r.accept, Rule: r.rule, Group: r.rule.Group, Reason: RuleMatch}
		}
	}
	if d == 1 {
		return Decision{Accept: true, Reason: DefaultEgressAccept}
	}
	return Decision{Reason: DefaultIngressDrop}
}

func (p *ENIPolicy) innerMask(a addr) uint64 {
	switch a.fam {
	case 4:
		s := p.inner4
		lo, hi := 0, len(s)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s[m].a < a.a4 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(s) && s[lo].a == a.a4 {
			return s[lo].mask
		}
	case 6:
		s := p.inner6
		k := u128{a.hi, a.lo}
		lo, hi := 0, len(s)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if s[m].a.compare(k) < 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < len(s) && s[lo].a == k {
			return s[lo].mask
		}
	}
	return 0
}

func (s *addrSet) contains(a *addr) bool {
	switch a.fam {
	case 4:
		_, ok := slices.BinarySearch(s.v4, a.a4)
		return ok
	case 6:
		_, ok := slices.BinarySearchFunc(s.v6, u128{a.hi, a.lo}, u128.compare)
		return ok
	}
	return false
}
