package secgroup

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// MaxInnerGroups is the largest number of inner_access accept groups one ENI
// may belong to (the SPEC default quota is 5 groups per ENI, V19); inner
// access is evaluated with one 64-bit group mask per address.
const MaxInnerGroups = 64

// Compile builds the policy of one ENI that is a member of the groups ids (in
// configured order, which breaks ties between equal rules, S3). Every group id
// and every rule's PeerGroup must exist in in.Groups. Rules are validated
// (V16 ranges) so that a policy can never silently differ from its
// configuration; the error names the group and rule index.
//
// Compile copies what it needs: in may be changed afterwards. Compile never
// fails for a configuration that passed the control plane's validation.
func Compile(in *Input, groups []string) (*ENIPolicy, error) {
	if in == nil {
		return nil, errors.New("secgroup: nil input")
	}
	p := &ENIPolicy{groups: slices.Clone(groups)}
	seen := make(map[string]bool, len(groups))
	var gs []*Group
	for _, id := range groups {
		if seen[id] {
			return nil, fmt.Errorf("secgroup: group %s listed twice", id)
		}
		seen[id] = true
		g := in.Groups[id]
		if g == nil {
			return nil, fmt.Errorf("secgroup: unknown group %s", id)
		}
		gs = append(gs, g)
	}

	// Member address sets, one per distinct peer group, shared by its rules.
	setIndex := map[string]uint32{}
	setFor := func(id string) (uint32, error) {
		if i, ok := setIndex[id]; ok {
			return i, nil
		}
		if in.Groups[id] == nil {
			return 0, fmt.Errorf("unknown peer group %s", id)
		}
		s, err := newAddrSet(in.Members[id])
		if err != nil {
			return 0, fmt.Errorf("members of %s: %w", id, err)
		}
		i := uint32(len(p.sets))
		p.sets = append(p.sets, s)
		setIndex[id] = i
		return i, nil
	}

	// Inner access (S5): one mask bit per inner_access accept group.
	innerMask := map[netip.Addr]uint64{}
	for _, g := range gs {
		if !g.InnerAccept {
			continue
		}
		if len(p.innerGroups) == MaxInnerGroups {
			return nil, fmt.Errorf("secgroup: more than %d inner_access groups", MaxInnerGroups)
		}
		bit := uint64(1) << len(p.innerGroups)
		p.innerGroups = append(p.innerGroups, g.ID)
		for _, a := range in.Members[g.ID] {
			if err := checkAddr(a); err != nil {
				return nil, fmt.Errorf("secgroup: members of %s: %w", g.ID, err)
			}
			innerMask[a] |= bit
		}
	}
	for a, m := range innerMask {
		if a.Is4() {
			p.inner4 = append(p.inner4, inner4{a: v4(a), mask: m})
		} else {
			hi, lo := v6(a)
			p.inner6 = append(p.inner6, inner6{a: u128{hi, lo}, mask: m})
		}
	}
	slices.SortFunc(p.inner4, func(x, y inner4) int { return cmp.Compare(x.a, y.a) })
	slices.SortFunc(p.inner6, func(x, y inner6) int { return x.a.compare(y.a) })

	// All rules of all groups, in group order then configured order.
	var ordered [2][]Rule
	for _, g := range gs {
		for i := range g.Rules {
			r := g.Rules[i]
			r.Group = g.ID
			if err := validateRule(&r); err != nil {
				return nil, fmt.Errorf("secgroup: %s rule %d: %w", g.ID, r.Index, err)
			}
			d := dirIndex(r.Direction)
			ordered[d] = append(ordered[d], r)
		}
	}
	for d := range ordered {
		// S3: priority ascending, drop before accept at equal priority; the
		// stable sort keeps group order and configured order for ties.
		slices.SortStableFunc(ordered[d], func(a, b Rule) int {
			if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
				return c
			}
			return cmp.Compare(policyRank(a.Policy), policyRank(b.Policy))
		})
		p.ordered[d] = ordered[d]
		for i := range p.ordered[d] {
			r := &p.ordered[d][i]
			cr, err := compileRule(r, setFor)
			if err != nil {
				return nil, fmt.Errorf("secgroup: %s rule %d: %w", r.Group, r.Index, err)
			}
			for c := range numClasses {
				if r.Proto == ProtoAll || classOf(uint8(r.Proto)) == c {
					p.lists[d][c] = append(p.lists[d][c], cr)
				}
			}
		}
	}
	return p, nil
}

func policyRank(p Policy) int {
	if p == Drop {
		return 0
	}
	return 1
}

func validateRule(r *Rule) error {
	if r.Direction != Ingress && r.Direction != Egress {
		return fmt.Errorf("invalid direction %d", r.Direction)
	}
	if r.Policy != Accept && r.Policy != Drop {
		return fmt.Errorf("invalid policy %d", r.Policy)
	}
	if r.Priority < 1 || r.Priority > 100 {
		return fmt.Errorf("priority %d outside 1-100", r.Priority)
	}
	if r.Proto.hasPorts() {
		if !(r.PortLo == 0 && r.PortHi == 0) && (r.PortLo == 0 || r.PortLo > r.PortHi) {
			return fmt.Errorf("port range %d/%d invalid", r.PortLo, r.PortHi)
		}
	} else if r.PortLo != 0 || r.PortHi != 0 {
		return fmt.Errorf("port range %d/%d given for protocol %s", r.PortLo, r.PortHi, r.Proto)
	}
	switch {
	case r.Peer.IsValid() && r.PeerGroup != "":
		return errors.New("both a CIDR peer and a group peer")
	case !r.Peer.IsValid() && r.PeerGroup == "":
		return errors.New("no peer")
	}
	return nil
}

func compileRule(r *Rule, setFor func(string) (uint32, error)) (crule, error) {
	cr := crule{
		proto:  uint8(r.Proto),
		accept: r.Policy == Accept,
		plo:    0,
		phi:    0xffff,
		rule:   r,
	}
	if r.Proto.hasPorts() && r.PortHi != 0 {
		cr.plo, cr.phi = r.PortLo, r.PortHi
	}
	if r.PeerGroup != "" {
		i, err := setFor(r.PeerGroup)
		if err != nil {
			return crule{}, err
		}
		cr.kind, cr.set = peerSet, i
		return cr, nil
	}
	pfx := r.Peer.Masked()
	bits := pfx.Bits()
	if pfx.Addr().Is4() {
		cr.kind = peer4
		cr.m4 = ^uint32(0) << (32 - bits)
		if bits == 0 {
			cr.m4 = 0
		}
		cr.a4 = v4(pfx.Addr()) & cr.m4
		return cr, nil
	}
	cr.kind = peer6
	hi, lo := v6(pfx.Addr())
	switch {
	case bits == 0:
	case bits <= 64:
		cr.m6hi = ^uint64(0) << (64 - bits)
	default:
		cr.m6hi = ^uint64(0)
		cr.m6lo = ^uint64(0) << (128 - bits)
	}
	cr.a6hi, cr.a6lo = hi&cr.m6hi, lo&cr.m6lo
	return cr, nil
}

func checkAddr(a netip.Addr) error {
	if !a.IsValid() {
		return errors.New("invalid address")
	}
	if a.Zone() != "" {
		return fmt.Errorf("address %s has a zone", a)
	}
	return nil
}

func newAddrSet(addrs []netip.Addr) (addrSet, error) {
	var s addrSet
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return addrSet{}, err
		}
		if a.Is4() {
			s.v4 = append(s.v4, v4(a))
		} else {
			hi, lo := v6(a)
			s.v6 = append(s.v6, u128{hi, lo})
		}
	}
	slices.Sort(s.v4)
	s.v4 = slices.Compact(s.v4)
	slices.SortFunc(s.v6, u128.compare)
	s.v6 = slices.Compact(s.v6)
	return s, nil
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func v6(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}
