package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Lint returns the warnings of `vrouterctl lint` (SPEC R6), sorted by
// position, every one with Warning set:
//
//	L1  shadowed security-group rule (S3)
//	L2  inner_access: accept hiding a drop rule (S5)
//	L3  route entry that can never match (F5)
//
// Lint assumes c passed Validate; on an invalid Config it still never
// panics but its findings are only indicative.
func Lint(c *Config) []*Diag {
	if c == nil {
		return nil
	}
	if c.idx == nil {
		ApplyDefaults(c)
	}
	l := &linter{c: c}
	for _, v := range c.VPCs {
		for _, g := range v.SecurityGroups {
			l.shadowed(g.ID, g.Rules)
		}
		for _, t := range v.RouteTables {
			l.neverMatch(t.ID, t.Routes)
		}
	}
	if c.Classic != nil {
		for _, g := range c.Classic.SecurityGroups {
			l.shadowed(g.ID, g.Rules)
		}
	}
	for _, b := range c.VBRs {
		l.neverMatch(b.ID, b.Routes)
	}
	l.innerAccess()
	return dedupDiags(l.out)
}

type linter struct {
	c   *Config
	out []*Diag
}

func (l *linter) warn(p Pos, id, rule, format string, args ...any) {
	id = idOr(id, "config")
	l.out = append(l.out, &Diag{File: l.c.File, Line: p.Line, Col: p.Col, ID: id, Rule: rule, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// RuleString describes a rule for people: "ingress accept tcp 22/22 from
// 10.0.0.0/8 priority 1".
func RuleString(r *Rule) string {
	peer := r.PeerGroup
	if r.PeerCIDR.IsValid() {
		peer = r.PeerCIDR.String()
	}
	dir := "from"
	if r.Direction == DirEgress {
		dir = "to"
	}
	return fmt.Sprintf("%s %s %s %s %s %s priority %d", r.Direction, r.Policy, r.Protocol, r.PortRange, dir, peer, r.Priority)
}

// matchCovers reports whether every packet r matches is matched by q
// (direction, protocol, ports, peer).
func matchCovers(q, r *Rule) bool {
	if q.Direction != r.Direction || q.Direction == "" {
		return false
	}
	switch {
	case q.Protocol == ProtoAll:
	case q.Protocol == r.Protocol:
		if q.Protocol.HasPorts() && !q.PortRange.Contains(r.PortRange) {
			return false
		}
	default:
		return false
	}
	switch {
	case q.PeerCIDR.IsValid() && q.PeerCIDR.Bits() == 0:
		return true
	case q.PeerCIDR.IsValid() && r.PeerCIDR.IsValid():
		return within(r.PeerCIDR.Masked(), q.PeerCIDR.Masked())
	case q.PeerGroup != "":
		return q.PeerGroup == r.PeerGroup
	}
	return false
}

// shadowed implements L1.
func (l *linter) shadowed(gid string, rules []*Rule) {
	for j, r := range rules {
		for i, q := range rules {
			if i == j || !matchCovers(q, r) {
				continue
			}
			var why string
			switch {
			case q.Priority < r.Priority:
				why = "a higher-priority rule"
			case q.Priority == r.Priority && q.Policy == PolicyDrop && r.Policy == PolicyAccept:
				why = "an equal-priority drop rule (drop beats accept)"
			case q.Priority == r.Priority && q.Policy == r.Policy && (!matchCovers(r, q) || i < j):
				why = "an equal-priority rule with the same policy (this one is redundant)"
			default:
				continue
			}
			l.warn(r.Pos, gid, "L1", "rule %q never decides: %s at line %d (%q) matches all its packets first", RuleString(r), why, q.Pos.Line, RuleString(q))
			break
		}
	}
}

// innerAccess implements L2.
func (l *linter) innerAccess() {
	c := l.c
	members := map[string][]*ENI{}
	for _, e := range c.ENIs() {
		for _, g := range e.SecurityGroups {
			members[g] = append(members[g], e)
		}
	}
	inGroup := func(e *ENI, g string) bool {
		for _, x := range e.SecurityGroups {
			if x == g {
				return true
			}
		}
		return false
	}
	for _, v := range c.VPCs {
		for _, h := range v.SecurityGroups {
			for _, r := range h.Rules {
				if r.Policy != PolicyDrop {
					continue
				}
				if r.PeerGroup == h.ID && h.InnerAccess == PolicyAccept {
					l.warn(r.Pos, h.ID, "L2", "drop rule %q names its own group, whose inner_access: accept admits traffic between members whatever the rules say", RuleString(r))
					continue
				}
				reported := map[string]bool{}
				for _, e := range members[h.ID] {
					for _, gid := range e.SecurityGroups {
						g := c.SecurityGroupByID(gid)
						if g == nil || g.InnerAccess != PolicyAccept || reported[gid] {
							continue
						}
						for _, f := range members[gid] {
							if f == e {
								continue
							}
							hit := netip.Addr{}
							for _, a := range f.Addrs() {
								if (r.PeerCIDR.IsValid() && r.PeerCIDR.Masked().Contains(a)) || (r.PeerGroup != "" && inGroup(f, r.PeerGroup)) {
									hit = a
									break
								}
							}
							if hit.IsValid() {
								l.warn(r.Pos, h.ID, "L2", "drop rule %q is hidden by inner_access: accept of %s for traffic between %s and %s (%s)", RuleString(r), gid, e.ID, f.ID, hit)
								reported[gid] = true
								break
							}
						}
					}
				}
			}
		}
	}
}

type span struct {
	lo, hi uint64
	p      netip.Prefix
}

// neverMatch implements L3: a custom entry all of whose addresses are
// covered by strictly more specific entries of the same table.
func (l *linter) neverMatch(tid string, routes []*RouteEntry) {
	var spans []span
	seen := map[netip.Prefix]bool{}
	for _, r := range routes {
		if !r.Dst.IsValid() || !r.Dst.Addr().Is4() {
			continue
		}
		p := r.Dst.Masked()
		if seen[p] {
			continue
		}
		seen[p] = true
		lo := uint64(u32(p.Addr()))
		spans = append(spans, span{lo, lo + 1<<(32-p.Bits()) - 1, p})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].lo != spans[j].lo {
			return spans[i].lo < spans[j].lo
		}
		return spans[i].p.Bits() < spans[j].p.Bits()
	})
	for _, r := range routes {
		if r.Type == EntrySystem || !r.Dst.IsValid() || !r.Dst.Addr().Is4() {
			continue
		}
		p := r.Dst.Masked()
		lo := uint64(u32(p.Addr()))
		hi := lo + 1<<(32-p.Bits()) - 1
		i := sort.Search(len(spans), func(i int) bool { return spans[i].lo >= lo })
		cur := lo
		covered := false
		var by []string
		for ; i < len(spans) && spans[i].lo <= hi; i++ {
			s := spans[i]
			if s.p.Bits() <= p.Bits() {
				continue // the entry itself
			}
			if s.lo > cur {
				break // a gap: some address reaches this entry
			}
			if s.hi+1 > cur {
				cur = s.hi + 1
				if len(by) < 4 {
					by = append(by, s.p.String())
				}
			}
			if cur > hi {
				covered = true
				break
			}
		}
		if covered {
			l.warn(at(r.KeyPos, "dst", r.Pos), tid, "L3", "route %s can never match: more specific entries cover every address of it (%s)", p, strings.Join(by, ", "))
		}
	}
}
