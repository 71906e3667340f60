package secgroup

import (
	"net/netip"
	"slices"
	"sort"
)

// refResult is what the reference evaluator decides.
type refResult struct {
	accept bool
	reason DecisionReason
	group  string
	index  int // Rule.Index of the deciding rule, -1 when none
}

// Reference is a deliberately naive, independent evaluator of S3–S6 used as
// the golden model for Check: it walks the configuration as given, with no
// precomputation, using netip and slices for every comparison.
func Reference(in *Input, groups []string, dir Direction, self, peer netip.Addr, proto uint8, dport uint16) refResult {
	// S5: inner access wins over every rule, in both directions.
	for _, id := range groups {
		g := in.Groups[id]
		if g.InnerAccept && slices.Contains(in.Members[id], self) && slices.Contains(in.Members[id], peer) {
			return refResult{accept: true, reason: InnerAccess, group: id, index: -1}
		}
	}
	// S3: all rules of all groups together.
	type cand struct {
		r          Rule
		gpos, rpos int
	}
	var cands []cand
	for gpos, id := range groups {
		for rpos, r := range in.Groups[id].Rules {
			if r.Direction == dir || (dir != Egress && r.Direction == Ingress) {
				r.Group = id
				cands = append(cands, cand{r, gpos, rpos})
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.r.Priority != b.r.Priority {
			return a.r.Priority < b.r.Priority
		}
		if a.r.Policy != b.r.Policy {
			return a.r.Policy == Drop
		}
		if a.gpos != b.gpos {
			return a.gpos < b.gpos
		}
		return a.rpos < b.rpos
	})
	for _, c := range cands {
		r := c.r
		if r.Proto != ProtoAll && uint8(r.Proto) != proto {
			continue
		}
		if (r.Proto == ProtoTCP || r.Proto == ProtoUDP) && !(r.PortLo == 0 && r.PortHi == 0) {
			if dport < r.PortLo || dport > r.PortHi {
				continue
			}
		}
		var hit bool
		if r.PeerGroup != "" {
			hit = slices.Contains(in.Members[r.PeerGroup], peer)
		} else {
			hit = r.Peer.Contains(peer)
		}
		if hit {
			return refResult{accept: r.Policy == Accept, reason: RuleMatch, group: r.Group, index: r.Index}
		}
	}
	// S4 defaults.
	if dir == Egress {
		return refResult{accept: true, reason: DefaultEgressAccept, index: -1}
	}
	return refResult{reason: DefaultIngressDrop, index: -1}
}

// result converts a Decision to the reference's shape.
func result(d Decision) refResult {
	r := refResult{accept: d.Accept, reason: d.Reason, group: d.Group, index: -1}
	if d.Rule != nil {
		r.index = d.Rule.Index
		if d.Rule.Group != d.Group {
			r.group = "MISMATCH:" + d.Rule.Group + "/" + d.Group
		}
	}
	return r
}
