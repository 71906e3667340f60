package dataplane

// ClassicLink (SPEC C5). Classic instances are ports of kind PortClassic:
// anti-spoofing applies as for an ENI, their packets enter the classic
// router, and the security policy of their classic groups (compiled like a
// VPC group, §5) decides between classic instances. Each classic port's
// table (compiled) holds a /32 entry per classic instance and, for an
// instance linked to a VPC, that VPC's VSwitch CIDRs handed to the VPC's
// VRouter; every table of a VPC with classic_link: true sends 10.0.0.0/8
// to a per-VPC link router whose table holds only the instances linked to
// that VPC. Routing therefore already keeps VPC ENIs away from classic
// instances that are not linked to their VPC (net unreachable); classicLink
// below enforces it again when a flow is admitted.
//
// A new flow between a classic instance C and a VPC ENI E (classicLink,
// called from admit for flows crossing the classic/VPC boundary, and from
// reverify, S8) is admitted when
//   - C is linked to E's VPC and E is an ENI (no external port reaches a
//     classic instance);
//   - E's own security groups admit it on E's side (egress when E opens,
//     ingress when C opens; S2);
//   - the ClassicLink rules of C's groups admit it: evaluated together by
//     priority, drop before accept at equal priority (S3), the first rule
//     whose mode allows the side that opens the flow (both, classic_to_vpc:
//     C opens, vpc_to_classic: E opens), whose protocol and destination port
//     range match and which names one of E's groups decides; no match drops.
//
// The flow is then tracked (S1): replies and related ICMP errors pass
// without rule evaluation, in a zone made of the classic router's and the
// VPC's (S7).
//
// Synchronisation: a Classic value is immutable once published.

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// LinkMode says which side may open a flow across ClassicLink (C5).
type LinkMode uint8

// ClassicLink modes.
const (
	LinkBoth         LinkMode = iota // either side
	LinkClassicToVPC                 // the classic instance opens
	LinkVPCToClassic                 // the VPC ENI opens
)

func (m LinkMode) String() string {
	switch m {
	case LinkClassicToVPC:
		return "classic_to_vpc"
	case LinkVPCToClassic:
		return "vpc_to_classic"
	}
	return "both"
}

// LinkRule is one compiled ClassicLink rule of a classic group.
type LinkRule struct {
	Group    string   // the classic group (traces)
	Index    int      // index in the group's classic_link_rules (traces)
	Groups   []uint32 // dense ids of the VPC groups it names (see NewClassic)
	Mode     LinkMode
	Accept   bool
	Priority uint8
	Proto    uint8  // IP protocol; 0 matches every protocol
	PortLo   uint16 // destination port range; 0–0 matches every port
	PortHi   uint16
}

func (r *LinkRule) matches(classicOpens bool, proto uint8, dport uint16, groups []uint32) bool {
	switch r.Mode {
	case LinkClassicToVPC:
		if !classicOpens {
			return false
		}
	case LinkVPCToClassic:
		if classicOpens {
			return false
		}
	}
	if r.Proto != 0 && r.Proto != proto {
		return false
	}
	if r.PortHi != 0 && (dport < r.PortLo || dport > r.PortHi) {
		return false
	}
	for _, g := range r.Groups {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}

// ClassicInstance is the ClassicLink state of one classic port.
type ClassicInstance struct {
	ID string
	// Link is the index in Snapshot.Routers of the VRouter of the VPC the
	// instance is linked to, -1 when it is not linked.
	Link int
	// Rules are the ClassicLink rules of the instance's groups, in the
	// order of evaluation once NewClassic sorted them.
	Rules []LinkRule
}

// Classic is the compiled classic network of a snapshot (C5).
type Classic struct {
	// Gateway is the classic instances' gateway address (the default
	// route of their namespaces, the source of the router's ICMP errors
	// and echo replies toward them).
	Gateway   netip.Addr
	instances map[fib.PortID]*ClassicInstance
	eniGroups map[fib.PortID][]uint32
}

// NewClassic builds the classic network from its instances by port and,
// for each VPC ENI of a ClassicLink VPC, the dense ids of its security
// groups as the instances' rules name them. Each instance's rules are
// sorted for evaluation: priority first, drop before accept at equal
// priority, then in the order given (S3).
func NewClassic(gateway netip.Addr, instances map[fib.PortID]*ClassicInstance, eniGroups map[fib.PortID][]uint32) *Classic {
	for _, ci := range instances {
		slices.SortStableFunc(ci.Rules, func(a, b LinkRule) int {
			if a.Priority != b.Priority {
				return int(a.Priority) - int(b.Priority)
			}
			if a.Accept != b.Accept {
				if a.Accept {
					return 1
				}
				return -1
			}
			return 0
		})
	}
	return &Classic{Gateway: gateway, instances: instances, eniGroups: eniGroups}
}

// Instance returns the ClassicLink state of classic port id, or nil.
func (c *Classic) Instance(id fib.PortID) *ClassicInstance { return c.instances[id] }

// classicGateway hands a packet addressed to the classic gateway to the
// router (F3 for classic instances: echo is answered, anything else drops).
func (s *Snapshot) classicGateway(d Decision, in *Port, tr *Trace) Decision {
	d.Verdict = VerdictToRouter
	if tr != nil {
		tr.step("verdict", "to-router", "classic gateway "+in.Gateway.String())
	}
	return d
}

// classicLink decides a new flow from oin to oout of which exactly one is a
// classic port (see the file comment). src, dst, proto and dport are the
// flow's original direction.
func (s *Snapshot) classicLink(oin, oout *Port, src, dst netip.Addr, proto uint8, dport uint16, tr *Trace) (stats.DropReason, bool) {
	c := s.Classic
	cp, ep, classicOpens := oin, oout, true
	if oout.Kind == PortClassic {
		cp, ep, classicOpens = oout, oin, false
	}
	ci := c.instances[cp.ID]
	if ci == nil || ci.Link < 0 || ep.Kind != PortENI || ep.Router != ci.Link {
		if tr != nil {
			tr.step("classic-link", "drop", cp.Name+" is not linked to the VPC of "+ep.Name)
		}
		return stats.DropHostUnreachable, false
	}
	// S2 on the VPC side: E's own groups.
	if ep.Policy != nil {
		var dec secgroup.Decision
		if classicOpens {
			dec = ep.Policy.Check(secgroup.Ingress, dst, src, proto, dport)
			tr.sgStep("ingress", ep.Name, dec)
			s.countVerdict(secgroup.Ingress, dec, tr)
			if !dec.Accept {
				return stats.DropSGIngress, false
			}
		} else {
			dec = ep.Policy.Check(secgroup.Egress, src, dst, proto, dport)
			tr.sgStep("egress", ep.Name, dec)
			s.countVerdict(secgroup.Egress, dec, tr)
			if !dec.Accept {
				return stats.DropSGEgress, false
			}
		}
	}
	// The ClassicLink rules of C's groups.
	refused := stats.DropSGIngress // E opens: C's side receives
	if classicOpens {
		refused = stats.DropSGEgress
	}
	groups := c.eniGroups[ep.ID]
	for i := range ci.Rules {
		r := &ci.Rules[i]
		if !r.matches(classicOpens, proto, dport, groups) {
			continue
		}
		if tr != nil {
			verdict := "accept"
			if !r.Accept {
				verdict = "drop"
			}
			tr.step("classic-link", cp.Name+": "+verdict, r.Group+"#"+strconv.Itoa(r.Index)+" mode "+r.Mode.String()+
				" priority "+strconv.Itoa(int(r.Priority)))
		}
		if r.Accept {
			return 0, true
		}
		return refused, false
	}
	if tr != nil {
		tr.step("classic-link", cp.Name+": drop", "no ClassicLink rule matches")
	}
	return refused, false
}
