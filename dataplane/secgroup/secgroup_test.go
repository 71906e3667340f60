package secgroup

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

var (
	ip  = netip.MustParseAddr
	pfx = netip.MustParsePrefix
)

type probe struct {
	name        string
	dir         Direction
	self, peer  string
	proto       uint8
	dport       uint16
	accept      bool
	reason      DecisionReason
	group       string // deciding group, "" for defaults
	ruleIndex   int    // Rule.Index of the deciding rule, -1 for none
	description string // deciding rule's description, checked when not empty
}

func runProbes(t *testing.T, p *ENIPolicy, in *Input, groups []string, probes []probe) {
	t.Helper()
	for _, pr := range probes {
		t.Run(pr.name, func(t *testing.T) {
			d := p.Check(pr.dir, ip(pr.self), ip(pr.peer), pr.proto, pr.dport)
			if d.Accept != pr.accept || d.Reason != pr.reason || d.Group != pr.group {
				t.Fatalf("Check = accept %v reason %s group %q, want accept %v reason %s group %q",
					d.Accept, d.Reason, d.Group, pr.accept, pr.reason, pr.group)
			}
			idx := -1
			if d.Rule != nil {
				idx = d.Rule.Index
				if pr.description != "" && d.Rule.Description != pr.description {
					t.Errorf("rule description %q, want %q", d.Rule.Description, pr.description)
				}
			}
			if idx != pr.ruleIndex {
				t.Errorf("rule index %d, want %d", idx, pr.ruleIndex)
			}
			// Every hand-written case is also a golden case.
			if want := Reference(in, groups, pr.dir, ip(pr.self), ip(pr.peer), pr.proto, pr.dport); result(d) != want {
				t.Errorf("reference disagrees: %+v vs %+v", result(d), want)
			}
		})
	}
}

func mustCompile(t *testing.T, in *Input, groups ...string) *ENIPolicy {
	t.Helper()
	p, err := Compile(in, groups)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

const (
	web1 = "192.168.1.10"
	web2 = "192.168.1.11"
	db1  = "192.168.2.10"
	out  = "203.0.113.9"
)

// TestS10Scenario1 — same group: ENIs talk by default (inner access); a peer
// in another VPC reaches the ENI only with a rule (the connection's own side
// is the other VPC's business, S2).
func TestS10Scenario1(t *testing.T) {
	in := &Input{
		Groups: map[string]*Group{
			"sg-a": {ID: "sg-a", InnerAccept: true},
			"sg-b": {ID: "sg-b", InnerAccept: true, Rules: []Rule{
				{Index: 0, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoAll, Peer: pfx("172.16.0.0/12"), Description: "from vpc2"},
			}},
		},
		Members: map[string][]netip.Addr{
			"sg-a": {ip(web1), ip(web2), ip("192.168.1.50")}, // .50 is a secondary IP of web2
			"sg-b": {ip(db1)},
		},
	}
	a := mustCompile(t, in, "sg-a")
	runProbes(t, a, in, []string{"sg-a"}, []probe{
		{"egress to same group", Egress, web1, web2, 6, 22, true, InnerAccess, "sg-a", -1, ""},
		{"ingress from same group", Ingress, web2, web1, 6, 22, true, InnerAccess, "sg-a", -1, ""},
		{"ingress from secondary IP of member", Ingress, web1, "192.168.1.50", 17, 53, true, InnerAccess, "sg-a", -1, ""},
		{"ingress from other group", Ingress, web1, db1, 6, 22, false, DefaultIngressDrop, "", -1, ""},
		{"ingress from other VPC without rule", Ingress, web1, "172.16.0.5", 6, 22, false, DefaultIngressDrop, "", -1, ""},
		{"egress to other VPC", Egress, web1, "172.16.0.5", 6, 22, true, DefaultEgressAccept, "", -1, ""},
	})
	b := mustCompile(t, in, "sg-b")
	runProbes(t, b, in, []string{"sg-b"}, []probe{
		{"ingress from other VPC with rule", Ingress, db1, "172.16.0.5", 6, 22, true, RuleMatch, "sg-b", 0, "from vpc2"},
	})
	// inner_access drop isolates members unless rules allow.
	in.Groups["sg-a"].InnerAccept = false
	iso := mustCompile(t, in, "sg-a")
	runProbes(t, iso, in, []string{"sg-a"}, []probe{
		{"isolated ingress", Ingress, web2, web1, 6, 22, false, DefaultIngressDrop, "", -1, ""},
		{"isolated egress still default accept", Egress, web1, web2, 6, 22, true, DefaultEgressAccept, "", -1, ""},
	})
}

// TestS10Scenario2 — inbound drop of all ports, or of port 22, from
// 10.0.0.1/32, next to an accept of everything at the same priority.
func TestS10Scenario2(t *testing.T) {
	for _, tc := range []struct {
		name       string
		drop       Rule
		dropped22  bool
		dropped80  bool
		droppedUDP bool
	}{
		{"all ports", Rule{Proto: ProtoAll, Peer: pfx("10.0.0.1/32")}, true, true, true},
		{"port 22", Rule{Proto: ProtoTCP, PortLo: 22, PortHi: 22, Peer: pfx("10.0.0.1/32")}, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drop := tc.drop
			drop.Index, drop.Direction, drop.Policy, drop.Priority = 1, Ingress, Drop, 1
			in := &Input{Groups: map[string]*Group{"sg-web": {ID: "sg-web", Rules: []Rule{
				{Index: 0, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoAll, Peer: pfx("0.0.0.0/0")},
				drop,
			}}}}
			p := mustCompile(t, in, "sg-web")
			verdict := func(dropped bool) (bool, int) {
				if dropped {
					return false, 1
				}
				return true, 0
			}
			a22, i22 := verdict(tc.dropped22)
			a80, i80 := verdict(tc.dropped80)
			aU, iU := verdict(tc.droppedUDP)
			runProbes(t, p, in, []string{"sg-web"}, []probe{
				{"ssh from 10.0.0.1", Ingress, web1, "10.0.0.1", 6, 22, a22, RuleMatch, "sg-web", i22, ""},
				{"http from 10.0.0.1", Ingress, web1, "10.0.0.1", 6, 80, a80, RuleMatch, "sg-web", i80, ""},
				{"dns from 10.0.0.1", Ingress, web1, "10.0.0.1", 17, 53, aU, RuleMatch, "sg-web", iU, ""},
				{"ssh from 10.0.0.2", Ingress, web1, "10.0.0.2", 6, 22, true, RuleMatch, "sg-web", 0, ""},
			})
		})
	}
}

// TestS10Scenario3 — inbound SSH 22 / RDP 3389 from anywhere or from one
// address.
func TestS10Scenario3(t *testing.T) {
	for _, src := range []string{"0.0.0.0/0", "198.51.100.7/32"} {
		t.Run(src, func(t *testing.T) {
			in := &Input{Groups: map[string]*Group{"sg-admin": {ID: "sg-admin", Rules: []Rule{
				{Index: 0, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoTCP, PortLo: 22, PortHi: 22, Peer: pfx(src), Description: "ssh"},
				{Index: 1, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoTCP, PortLo: 3389, PortHi: 3389, Peer: pfx(src), Description: "rdp"},
			}}}}
			p := mustCompile(t, in, "sg-admin")
			other := src == "0.0.0.0/0"
			otherReason := DefaultIngressDrop
			otherGroup, otherIdx := "", -1
			if other {
				otherReason, otherGroup, otherIdx = RuleMatch, "sg-admin", 0
			}
			runProbes(t, p, in, []string{"sg-admin"}, []probe{
				{"ssh from the address", Ingress, web1, "198.51.100.7", 6, 22, true, RuleMatch, "sg-admin", 0, "ssh"},
				{"rdp from the address", Ingress, web1, "198.51.100.7", 6, 3389, true, RuleMatch, "sg-admin", 1, "rdp"},
				{"ssh from elsewhere", Ingress, web1, out, 6, 22, other, otherReason, otherGroup, otherIdx, ""},
				{"udp 22 is not ssh", Ingress, web1, "198.51.100.7", 17, 22, false, DefaultIngressDrop, "", -1, ""},
				{"http not opened", Ingress, web1, "198.51.100.7", 6, 80, false, DefaultIngressDrop, "", -1, ""},
				{"rdp neighbour port", Ingress, web1, "198.51.100.7", 6, 3390, false, DefaultIngressDrop, "", -1, ""},
			})
		})
	}
}

// TestS10Scenario4 — inbound HTTP 80 and HTTPS 443 from 0.0.0.0/0.
func TestS10Scenario4(t *testing.T) {
	in := &Input{Groups: map[string]*Group{"sg-web": {ID: "sg-web", Rules: []Rule{
		{Index: 0, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoTCP, PortLo: 80, PortHi: 80, Peer: pfx("0.0.0.0/0")},
		{Index: 1, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoTCP, PortLo: 443, PortHi: 443, Peer: pfx("0.0.0.0/0")},
	}}}}
	p := mustCompile(t, in, "sg-web")
	runProbes(t, p, in, []string{"sg-web"}, []probe{
		{"http", Ingress, web1, out, 6, 80, true, RuleMatch, "sg-web", 0, ""},
		{"https", Ingress, web1, out, 6, 443, true, RuleMatch, "sg-web", 1, ""},
		{"ssh", Ingress, web1, out, 6, 22, false, DefaultIngressDrop, "", -1, ""},
		{"icmp", Ingress, web1, out, 1, 0, false, DefaultIngressDrop, "", -1, ""},
		{"ipv6 client is not in 0.0.0.0/0", Ingress, web1, "2001:db8::1", 6, 80, false, DefaultIngressDrop, "", -1, ""},
		{"egress unaffected", Egress, web1, out, 6, 8080, true, DefaultEgressAccept, "", -1, ""},
	})
}

// TestS3PriorityAndGroups covers the ordering rules of S3 across several
// groups explicitly: lowest number first, drop before accept at equal
// priority, then group order and configured order.
func TestS3PriorityAndGroups(t *testing.T) {
	any4 := pfx("0.0.0.0/0")
	in := &Input{Groups: map[string]*Group{
		"sg-1": {ID: "sg-1", Rules: []Rule{
			{Index: 0, Direction: Ingress, Policy: Accept, Priority: 5, Proto: ProtoTCP, PortLo: 1, PortHi: 1000, Peer: any4, Description: "g1 accept p5"},
			{Index: 1, Direction: Ingress, Policy: Accept, Priority: 7, Proto: ProtoUDP, Peer: any4, Description: "g1 accept udp p7"},
			{Index: 2, Direction: Egress, Policy: Drop, Priority: 3, Proto: ProtoAll, Peer: pfx("10.9.0.0/16"), Description: "g1 egress drop"},
			{Index: 3, Direction: Ingress, Policy: Accept, Priority: 9, Proto: ProtoICMP, Peer: any4, Description: "g1 icmp p9"},
		}},
		"sg-2": {ID: "sg-2", Rules: []Rule{
			{Index: 0, Direction: Ingress, Policy: Drop, Priority: 5, Proto: ProtoTCP, PortLo: 22, PortHi: 22, Peer: any4, Description: "g2 drop ssh p5"},
			{Index: 1, Direction: Ingress, Policy: Drop, Priority: 8, Proto: ProtoUDP, Peer: any4, Description: "g2 drop udp p8"},
			{Index: 2, Direction: Egress, Policy: Accept, Priority: 3, Proto: ProtoAll, Peer: pfx("10.9.1.0/24"), Description: "g2 egress accept"},
			{Index: 3, Direction: Ingress, Policy: Accept, Priority: 9, Proto: ProtoICMP, Peer: any4, Description: "g2 icmp p9"},
		}},
		"sg-3": {ID: "sg-3", Rules: []Rule{
			{Index: 0, Direction: Ingress, Policy: Drop, Priority: 9, Proto: ProtoICMP, Peer: pfx("203.0.113.0/24"), Description: "g3 icmp drop p9"},
		}},
	}}
	groups := []string{"sg-1", "sg-2", "sg-3"}
	p := mustCompile(t, in, groups...)
	runProbes(t, p, in, groups, []probe{
		{"equal priority drop beats accept in another group", Ingress, web1, out, 6, 22, false, RuleMatch, "sg-2", 0, "g2 drop ssh p5"},
		{"accept where the drop does not match", Ingress, web1, out, 6, 80, true, RuleMatch, "sg-1", 0, "g1 accept p5"},
		{"lower number wins whatever the policy", Ingress, web1, out, 17, 53, true, RuleMatch, "sg-1", 1, "g1 accept udp p7"},
		{"egress drop at equal priority beats accept of the more specific peer", Egress, web1, "10.9.1.1", 6, 80, false, RuleMatch, "sg-1", 2, "g1 egress drop"},
		{"drop in a later group beats accepts of earlier groups", Ingress, web1, "203.0.113.5", 1, 0, false, RuleMatch, "sg-3", 0, "g3 icmp drop p9"},
		{"equal accepts: first group wins", Ingress, web1, "198.51.100.1", 1, 0, true, RuleMatch, "sg-1", 3, "g1 icmp p9"},
	})
	// Reversing the group order changes only the tie between equal accepts.
	rev := []string{"sg-3", "sg-2", "sg-1"}
	p = mustCompile(t, in, rev...)
	runProbes(t, p, in, rev, []probe{
		{"equal accepts: first group wins (reversed)", Ingress, web1, "198.51.100.1", 1, 0, true, RuleMatch, "sg-2", 3, "g2 icmp p9"},
		{"drop still beats accept", Ingress, web1, out, 6, 22, false, RuleMatch, "sg-2", 0, "g2 drop ssh p5"},
	})
	if got := p.Groups(); fmt.Sprint(got) != fmt.Sprint(rev) {
		t.Errorf("Groups() = %v, want %v", got, rev)
	}
	var order []string
	for _, r := range p.Rules(Ingress) {
		order = append(order, r.Description)
	}
	want := []string{"g2 drop ssh p5", "g1 accept p5", "g1 accept udp p7", "g2 drop udp p8", "g3 icmp drop p9", "g2 icmp p9", "g1 icmp p9"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("ingress evaluation order\n got %q\nwant %q", order, want)
	}
}

// TestS6GroupPeers: a group peer matches every address (primary and
// secondary) of every member of that group, and nothing else.
func TestS6GroupPeers(t *testing.T) {
	in := &Input{
		Groups: map[string]*Group{
			"sg-app": {ID: "sg-app", Rules: []Rule{
				{Index: 0, Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoTCP, PortLo: 5432, PortHi: 5432, PeerGroup: "sg-web"},
				{Index: 1, Direction: Egress, Policy: Drop, Priority: 1, Proto: ProtoAll, PeerGroup: "sg-empty"},
			}},
			"sg-web":   {ID: "sg-web"},
			"sg-empty": {ID: "sg-empty"},
		},
		Members: map[string][]netip.Addr{
			"sg-web": {ip(web1), ip("192.168.1.60"), ip("fd00::10")},
			"sg-app": {ip(db1)},
		},
	}
	p := mustCompile(t, in, "sg-app")
	runProbes(t, p, in, []string{"sg-app"}, []probe{
		{"primary address of member", Ingress, db1, web1, 6, 5432, true, RuleMatch, "sg-app", 0, ""},
		{"secondary address of member", Ingress, db1, "192.168.1.60", 6, 5432, true, RuleMatch, "sg-app", 0, ""},
		{"ipv6 address of member", Ingress, db1, "fd00::10", 6, 5432, true, RuleMatch, "sg-app", 0, ""},
		{"non-member", Ingress, db1, web2, 6, 5432, false, DefaultIngressDrop, "", -1, ""},
		{"mapped form of a member is not the member", Ingress, db1, "::ffff:192.168.1.10", 6, 5432, false, DefaultIngressDrop, "", -1, ""},
		{"empty group matches nothing", Egress, db1, web1, 6, 80, true, DefaultEgressAccept, "", -1, ""},
	})
}

// TestS5InnerAccessHidesDrop: inner access admits members whatever the rules
// say, in both directions, and needs a COMMON group.
func TestS5InnerAccessHidesDrop(t *testing.T) {
	in := &Input{
		Groups: map[string]*Group{
			"sg-a": {ID: "sg-a", InnerAccept: true, Rules: []Rule{
				{Index: 0, Direction: Ingress, Policy: Drop, Priority: 1, Proto: ProtoAll, Peer: pfx("0.0.0.0/0")},
				{Index: 1, Direction: Egress, Policy: Drop, Priority: 1, Proto: ProtoAll, Peer: pfx("0.0.0.0/0")},
			}},
			"sg-b": {ID: "sg-b", InnerAccept: true},
		},
		Members: map[string][]netip.Addr{
			"sg-a": {ip(web1), ip(web2)},
			"sg-b": {ip(web1), ip(db1)},
		},
	}
	groups := []string{"sg-a", "sg-b"}
	p := mustCompile(t, in, groups...)
	runProbes(t, p, in, groups, []probe{
		{"egress to sg-a member", Egress, web1, web2, 6, 22, true, InnerAccess, "sg-a", -1, ""},
		{"ingress from sg-b member", Ingress, web1, db1, 17, 9, true, InnerAccess, "sg-b", -1, ""},
		{"no common group", Ingress, web2, db1, 6, 22, false, RuleMatch, "sg-a", 0, ""},
		{"outsider dropped by rule", Ingress, web1, out, 6, 22, false, RuleMatch, "sg-a", 0, ""},
		{"egress outsider dropped by rule", Egress, web1, out, 6, 22, false, RuleMatch, "sg-a", 1, ""},
	})
}

func TestCompileErrors(t *testing.T) {
	ok := Rule{Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoTCP, PortLo: 1, PortHi: 2, Peer: pfx("0.0.0.0/0")}
	mod := func(f func(*Rule)) []Rule { r := ok; f(&r); return []Rule{r} }
	for _, tc := range []struct {
		name    string
		rules   []Rule
		members []netip.Addr
		groups  []string
		want    string
	}{
		{"unknown group", nil, nil, []string{"sg-x", "sg-nope"}, "unknown group sg-nope"},
		{"duplicate group", nil, nil, []string{"sg-x", "sg-x"}, "listed twice"},
		{"direction", mod(func(r *Rule) { r.Direction = 0 }), nil, nil, "invalid direction"},
		{"policy", mod(func(r *Rule) { r.Policy = 3 }), nil, nil, "invalid policy"},
		{"priority 0", mod(func(r *Rule) { r.Priority = 0 }), nil, nil, "priority 0"},
		{"priority 101", mod(func(r *Rule) { r.Priority = 101 }), nil, nil, "priority 101"},
		{"reversed ports", mod(func(r *Rule) { r.PortLo, r.PortHi = 9, 3 }), nil, nil, "port range 9/3"},
		{"port 0 low", mod(func(r *Rule) { r.PortLo, r.PortHi = 0, 3 }), nil, nil, "port range 0/3"},
		{"ports on icmp", mod(func(r *Rule) { r.Proto = ProtoICMP }), nil, nil, "given for protocol icmp"},
		{"two peers", mod(func(r *Rule) { r.PeerGroup = "sg-x" }), nil, nil, "both"},
		{"no peer", mod(func(r *Rule) { r.Peer = netip.Prefix{} }), nil, nil, "no peer"},
		{"unknown peer group", mod(func(r *Rule) { r.Peer = netip.Prefix{}; r.PeerGroup = "sg-y" }), nil, nil, "unknown peer group sg-y"},
		{"zoned member", nil, []netip.Addr{ip("fe80::1%eth0")}, nil, "zone"},
		{"invalid member", nil, []netip.Addr{{}}, nil, "invalid address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{
				Groups:  map[string]*Group{"sg-x": {ID: "sg-x", InnerAccept: true, Rules: tc.rules}},
				Members: map[string][]netip.Addr{"sg-x": tc.members},
			}
			groups := tc.groups
			if groups == nil {
				groups = []string{"sg-x"}
			}
			_, err := Compile(in, groups)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := Compile(nil, nil); err == nil {
		t.Error("Compile(nil) succeeded")
	}
	in := &Input{Groups: map[string]*Group{}}
	var many []string
	for i := range MaxInnerGroups + 1 {
		id := fmt.Sprintf("sg-%d", i)
		in.Groups[id] = &Group{ID: id, InnerAccept: true}
		many = append(many, id)
	}
	if _, err := Compile(in, many); err == nil || !strings.Contains(err.Error(), "inner_access") {
		t.Errorf("Compile with %d inner groups: %v", len(many), err)
	}
	if _, err := Compile(in, many[:MaxInnerGroups]); err != nil {
		t.Errorf("Compile with %d inner groups: %v", MaxInnerGroups, err)
	}
}

// TestCompileCopiesInput: the policy is immutable even if the caller reuses
// its input.
func TestCompileCopiesInput(t *testing.T) {
	in := &Input{
		Groups: map[string]*Group{"sg-x": {ID: "sg-x", Rules: []Rule{
			{Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoAll, PeerGroup: "sg-x", Description: "members"},
		}}},
		Members: map[string][]netip.Addr{"sg-x": {ip(web1)}},
	}
	groups := []string{"sg-x"}
	p := mustCompile(t, in, groups...)
	in.Groups["sg-x"].Rules[0].Policy = Drop
	in.Groups["sg-x"].Rules[0].Description = "changed"
	in.Members["sg-x"][0] = ip(web2)
	groups[0] = "sg-changed"
	d := p.Check(Ingress, ip(db1), ip(web1), 6, 80)
	if !d.Accept || d.Rule.Description != "members" {
		t.Fatalf("policy changed with its input: %+v", d)
	}
	if p.Groups()[0] != "sg-x" {
		t.Fatalf("Groups() = %v", p.Groups())
	}
}

// TestInvalidAndZonedPeers: an invalid or zoned peer matches no CIDR or group.
func TestInvalidAndZonedPeers(t *testing.T) {
	in := &Input{Groups: map[string]*Group{"sg-x": {ID: "sg-x", Rules: []Rule{
		{Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoAll, Peer: pfx("::/0")},
		{Direction: Ingress, Policy: Accept, Priority: 1, Proto: ProtoAll, Peer: pfx("0.0.0.0/0")},
	}}}}
	p := mustCompile(t, in, "sg-x")
	for _, peer := range []netip.Addr{{}, ip("fe80::1%eth0")} {
		if d := p.Check(Ingress, ip(web1), peer, 6, 80); d.Accept || d.Reason != DefaultIngressDrop {
			t.Errorf("peer %v: %+v", peer, d)
		}
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Ingress.String(), "ingress"}, {Egress.String(), "egress"}, {Direction(9).String(), "direction(9)"},
		{Accept.String(), "accept"}, {Drop.String(), "drop"}, {Policy(0).String(), "policy(0)"},
		{ProtoAll.String(), "all"}, {ProtoTCP.String(), "tcp"}, {ProtoUDP.String(), "udp"},
		{ProtoICMP.String(), "icmp"}, {ProtoGRE.String(), "gre"}, {Proto(132).String(), "132"},
		{RuleMatch.String(), "rule"}, {InnerAccess.String(), "inner_access"},
		{DefaultIngressDrop.String(), "default_ingress_drop"}, {DefaultEgressAccept.String(), "default_egress_accept"},
		{ReasonNone.String(), "none"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
