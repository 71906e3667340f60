package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Kind names a kind of resource in a Diff.
type Kind string

// Resource kinds reported by Compare. Route entries have the id
// "<table or vbr id> <dst>"; multicast groups McastGroup.ID(); external
// ports the id of their owner (vbr-…, vpn-…, or "internet").
const (
	KindVPC                  Kind = "vpc"
	KindVSwitch              Kind = "vswitch"
	KindRouteTable           Kind = "route_table"
	KindRouteEntry           Kind = "route_entry"
	KindSecurityGroup        Kind = "security_group"
	KindENI                  Kind = "eni"
	KindMcastGroup           Kind = "mcast_group"
	KindMcastClient          Kind = "mcast_client" // id McastClient.ID()
	KindExternalPort         Kind = "external_port"
	KindEIP                  Kind = "eip"
	KindNATGateway           Kind = "nat_gateway"
	KindRouterInterface      Kind = "router_interface"
	KindVBR                  Kind = "vbr"
	KindVPNGateway           Kind = "vpn_gateway"
	KindCEN                  Kind = "cen"
	KindClassicInstance      Kind = "classic_instance"
	KindClassicSecurityGroup Kind = "classic_security_group"
	KindQuotas               Kind = "quotas"
	KindConntrack            Kind = "conntrack"
)

// Op is what happened to a resource.
type Op string

// Ops.
const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
)

// Change is one added, removed or changed resource. Fields lists the keys
// whose values differ (Changed only), e.g. "ip", "security_groups",
// "netns", "ifname", "mtu" for an ENI.
type Change struct {
	Kind   Kind
	ID     string
	Op     Op
	Fields []string
}

func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s", c.Op, c.Kind, c.ID)
	if len(c.Fields) > 0 {
		s += " (" + strings.Join(c.Fields, ", ") + ")"
	}
	return s
}

// Diff is the difference between two configurations. Changes are sorted by
// kind (in the order of the Kind constants), then by id. Immutable holds the
// V4 violations (see ValidateTransition).
type Diff struct {
	Changes   []Change
	Immutable []*Diag
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool { return len(d.Changes) == 0 && len(d.Immutable) == 0 }

// Of returns the ids of kind with op.
func (d *Diff) Of(kind Kind, op Op) []string {
	var out []string
	for _, c := range d.Changes {
		if c.Kind == kind && c.Op == op {
			out = append(out, c.ID)
		}
	}
	return out
}

// Find returns the change of kind and id, if any.
func (d *Diff) Find(kind Kind, id string) (Change, bool) {
	for _, c := range d.Changes {
		if c.Kind == kind && c.ID == id {
			return c, true
		}
	}
	return Change{}, false
}

// String is a summary line ("2 added, 1 removed, 3 changed") followed by
// one line per change.
func (d *Diff) String() string {
	if d.Empty() {
		return "no changes"
	}
	n := map[Op]int{}
	for _, c := range d.Changes {
		n[c.Op]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d added, %d removed, %d changed", n[Added], n[Removed], n[Changed])
	if len(d.Immutable) > 0 {
		fmt.Fprintf(&b, ", %d immutable violations", len(d.Immutable))
	}
	for _, c := range d.Changes {
		b.WriteString("\n  " + c.String())
	}
	for _, e := range d.Immutable {
		b.WriteString("\n  " + e.Error())
	}
	return b.String()
}

var kindOrder = map[Kind]int{
	KindQuotas: 0, KindConntrack: 1, KindVPC: 2, KindVSwitch: 3, KindRouteTable: 4, KindRouteEntry: 5,
	KindSecurityGroup: 6, KindENI: 7, KindMcastGroup: 8, KindRouterInterface: 9, KindVBR: 10,
	KindVPNGateway: 11, KindExternalPort: 12, KindCEN: 13, KindClassicSecurityGroup: 14,
	KindClassicInstance: 15, KindEIP: 16, KindNATGateway: 17, KindMcastClient: 18,
}

type fieldSet struct {
	keys []string
	vals map[string]string
}

func fs(kv ...string) fieldSet {
	f := fieldSet{vals: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.keys = append(f.keys, kv[i])
		f.vals[kv[i]] = kv[i+1]
	}
	return f
}

// snapshot flattens a configuration into kind → id → fields.
func snapshot(c *Config) map[Kind]map[string]fieldSet {
	m := map[Kind]map[string]fieldSet{}
	put := func(k Kind, id string, f fieldSet) {
		if m[k] == nil {
			m[k] = map[string]fieldSet{}
		}
		if _, dup := m[k][id]; !dup {
			m[k][id] = f
		}
	}
	if c == nil {
		return m
	}
	put(KindQuotas, "quotas", fs("values", fmt.Sprint(c.Quotas.VPCsPerRegion, c.Quotas.VSwitchesPerVPC, c.Quotas.RouteTablesPerVPC,
		c.Quotas.CustomRoutesPerTable, c.Quotas.RulesPerGroup, c.Quotas.GroupsPerENI, c.Quotas.ClassicLinksPerVPC,
		c.Quotas.McastGroupsPerServer, c.Quotas.McastMembersPerGroup, c.Quotas.McastGroupsPerMember, c.Quotas.LBNextHopsMax)))
	t := c.Conntrack
	put(KindConntrack, "conntrack", fs("max_entries", itoa(t.MaxEntries), "timeouts", fmt.Sprint(t.TCPEstablishedTimeout,
		t.TCPHandshakeTimeout, t.TCPClosingTimeout, t.UDPTimeout, t.UDPStreamTimeout, t.ICMPTimeout)))
	routes := func(table string, rs []*RouteEntry) {
		for _, r := range rs {
			hc := ""
			if r.HealthCheck != nil {
				hc = fmt.Sprint(*r.HealthCheck)
			}
			put(KindRouteEntry, table+" "+r.Dst.String(), fs("type", string(r.Type), "next_hop", r.NextHop,
				"next_hops", fmt.Sprint(r.NextHops), "health_check", hc, "name", r.Name, "description", r.Description))
		}
	}
	port := func(owner string, p ExternalPort) {
		put(KindExternalPort, owner, fs("netns", p.Netns, "ifname", p.IfName, "ip", p.IP.String(), "peer_ip", p.PeerIP.String()))
	}
	for _, v := range c.VPCs {
		put(KindVPC, v.ID, fs("name", v.Name, "description", v.Description, "cidr", v.CIDR.String(),
			"classic_link", fmt.Sprint(v.ClassicLink), "vrouter", fmt.Sprint(v.VRouter.ID, "|", v.VRouter.Name, "|", v.VRouter.Description)))
		for _, s := range v.VSwitches {
			put(KindVSwitch, s.ID, fs("vpc", s.VPC, "name", s.Name, "description", s.Description, "zone", s.Zone,
				"cidr", s.CIDR.String(), "route_table", s.RouteTable))
		}
		for _, rt := range v.RouteTables {
			put(KindRouteTable, rt.ID, fs("vpc", rt.VPC, "name", rt.Name, "description", rt.Description, "type", string(rt.Type)))
			routes(rt.ID, rt.Routes)
		}
		for _, g := range v.SecurityGroups {
			put(KindSecurityGroup, g.ID, fs("vpc", g.VPC, "name", g.Name, "description", g.Description,
				"inner_access", string(g.InnerAccess), "rules", rulesString(g.Rules)))
		}
	}
	for _, e := range c.ENIs() {
		put(KindENI, e.ID, fs("instance", e.InstanceID, "vpc", e.VPC, "vswitch", e.VSwitch, "ip", e.IP.String(),
			"secondary_ips", fmt.Sprint(e.SecondaryIPs), "security_groups", strings.Join(e.SecurityGroups, ","),
			"netns", e.Netns, "ifname", e.IfName, "mtu", itoa(e.MTU), "source_dest_check", fmt.Sprint(e.SourceDestCheck)))
	}
	for _, g := range c.Multicast {
		put(KindMcastGroup, g.ID(), fs("members", fmt.Sprint(g.Members), "igmp", fmt.Sprint(g.IGMP)))
	}
	for _, m := range c.McastClients {
		put(KindMcastClient, m.ID(), fs("group", m.Group.String()))
	}
	for _, r := range c.RouterInterfaces {
		put(KindRouterInterface, r.ID, fs("vpc", r.VPC, "vbr", r.VBR, "peer", r.Peer, "name", r.Name, "description", r.Description))
	}
	for _, b := range c.VBRs {
		put(KindVBR, b.ID, fs("name", b.Name, "description", b.Description))
		port(b.ID, b.Port)
		routes(b.ID, b.Routes)
	}
	for _, g := range c.VPNGateways {
		put(KindVPNGateway, g.ID, fs("vpc", g.VPC, "name", g.Name, "description", g.Description))
		port(g.ID, g.Port)
	}
	if c.Internet != nil {
		port("internet", c.Internet.Port)
	}
	for _, n := range c.CENs {
		put(KindCEN, n.ID, fs("attachments", strings.Join(n.Attachments, ","), "name", n.Name, "description", n.Description))
	}
	if c.Classic != nil {
		for _, g := range c.Classic.SecurityGroups {
			var clr []string
			for _, r := range g.ClassicLinkRules {
				clr = append(clr, fmt.Sprint(r.VPCSecurityGroups, r.Mode, r.Policy, r.Protocol, r.PortRange, r.Priority))
			}
			put(KindClassicSecurityGroup, g.ID, fs("name", g.Name, "description", g.Description, "rules", rulesString(g.Rules),
				"classic_link_rules", strings.Join(clr, ";")))
		}
		for _, ci := range c.Classic.Instances {
			put(KindClassicInstance, ci.ID, fs("ip", ci.IP.String(), "netns", ci.Netns, "ifname", ci.IfName, "mtu", itoa(ci.MTU),
				"security_groups", strings.Join(ci.SecurityGroups, ","), "link", ci.Link))
		}
	}
	for _, e := range c.EIPs {
		put(KindEIP, e.ID, fs("ip", e.IP.String(), "instance", e.Instance, "name", e.Name, "description", e.Description))
	}
	for _, g := range c.NATGateways {
		var sn, dn []string
		for _, s := range g.SNAT {
			sn = append(sn, s.Source+">"+s.EIP+"("+s.SourceCIDR.String()+")")
		}
		for _, d := range g.DNAT {
			dn = append(dn, fmt.Sprint(d.EIP, d.Protocol, d.ExternalPort, d.InternalIP, d.InternalPort))
		}
		put(KindNATGateway, g.ID, fs("vpc", g.VPC, "snat", strings.Join(sn, ","), "dnat", strings.Join(dn, ","),
			"name", g.Name, "description", g.Description))
	}
	return m
}

func rulesString(rs []*Rule) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s %s %d %s %s %s %s;", r.Direction, r.Policy, r.Priority, r.Protocol, r.PortRange, r.PeerCIDR, r.PeerGroup)
	}
	return b.String()
}

// Compare lists what differs between old and new (either may be nil) by
// kind and id, and the V4 immutability violations (see ValidateTransition).
// Both configurations should have had ApplyDefaults run (Parse does).
func Compare(old, new *Config) *Diff {
	a, b := snapshot(old), snapshot(new)
	d := &Diff{}
	kinds := map[Kind]bool{}
	for k := range a {
		kinds[k] = true
	}
	for k := range b {
		kinds[k] = true
	}
	for k := range kinds {
		for id, fo := range a[k] {
			fn, ok := b[k][id]
			if !ok {
				d.Changes = append(d.Changes, Change{Kind: k, ID: id, Op: Removed})
				continue
			}
			var changed []string
			for _, key := range fo.keys {
				if fo.vals[key] != fn.vals[key] {
					changed = append(changed, key)
				}
			}
			if len(changed) > 0 {
				d.Changes = append(d.Changes, Change{Kind: k, ID: id, Op: Changed, Fields: changed})
			}
		}
		for id := range b[k] {
			if _, ok := a[k][id]; !ok {
				d.Changes = append(d.Changes, Change{Kind: k, ID: id, Op: Added})
			}
		}
	}
	sort.Slice(d.Changes, func(i, j int) bool {
		x, y := d.Changes[i], d.Changes[j]
		if kindOrder[x.Kind] != kindOrder[y.Kind] {
			return kindOrder[x.Kind] < kindOrder[y.Kind]
		}
		return x.ID < y.ID
	})
	d.Immutable = immutable(old, new)
	return d
}

// ValidateTransition returns the V4 errors of replacing old by new (a
// reload, R3, or an API change, R5): an existing VPC id whose CIDR changed,
// an existing VSwitch id whose CIDR or VPC changed. They must be deleted and
// recreated. Positions are in the new file. nil when the transition is
// allowed.
func ValidateTransition(old, new *Config) error {
	return joinDiags(immutable(old, new))
}

func immutable(old, new *Config) []*Diag {
	if old == nil || new == nil {
		return nil
	}
	var out []*Diag
	mk := func(p Pos, id, msg string, args ...any) {
		out = append(out, &Diag{File: new.File, Line: p.Line, Col: p.Col, ID: id, Rule: "V4", Msg: fmt.Sprintf(msg, args...)})
	}
	// Ids are unique in a valid file; should they not be, the first
	// occurrence counts, as in the lookup index.
	oldVPC := map[string]netip.Prefix{}
	oldSW := map[string]*VSwitch{}
	for _, v := range old.VPCs {
		if _, dup := oldVPC[v.ID]; !dup && v.ID != "" {
			oldVPC[v.ID] = v.CIDR
		}
		for _, s := range v.VSwitches {
			if _, dup := oldSW[s.ID]; !dup && s.ID != "" {
				oldSW[s.ID] = s
			}
		}
	}
	seen := map[string]bool{}
	for _, v := range new.VPCs {
		if seen[v.ID] || v.ID == "" {
			continue
		}
		seen[v.ID] = true
		if oc, ok := oldVPC[v.ID]; ok && oc.IsValid() && v.CIDR.IsValid() && oc != v.CIDR {
			mk(at(v.KeyPos, "cidr", v.Pos), v.ID, "cidr changed from %s to %s; a VPC CIDR is immutable: delete and recreate the VPC", oc, v.CIDR)
		}
		for _, s := range v.VSwitches {
			os, ok := oldSW[s.ID]
			if !ok || seen["\x00"+s.ID] {
				continue
			}
			seen["\x00"+s.ID] = true
			if os.CIDR.IsValid() && s.CIDR.IsValid() && os.CIDR != s.CIDR {
				mk(at(s.KeyPos, "cidr", s.Pos), s.ID, "cidr changed from %s to %s; a VSwitch CIDR is immutable: delete and recreate the VSwitch", os.CIDR, s.CIDR)
			}
			if os.VPC != s.VPC && os.VPC != "" && s.VPC != "" {
				mk(s.Pos, s.ID, "moved from %s to %s; a VSwitch cannot change VPC: delete and recreate it", os.VPC, s.VPC)
			}
		}
	}
	SortDiags(out)
	return out
}
