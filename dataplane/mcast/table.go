package mcast

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/vrouter/vrouter/dataplane/fib"
)

// Limits are the multicast limits of M2 (V17), raised by `quotas:`.
type Limits struct {
	MembersPerGroup int // configured plus dynamic members of one group
	GroupsPerMember int // groups one ENI receives, configured plus dynamic
}

// DefaultLimits are the cloud's defaults: 128 members per group, 10 groups
// per member (V17, V19).
func DefaultLimits() Limits { return Limits{MembersPerGroup: 128, GroupsPerMember: 10} }

// Client is a client entry of a member (M3 `mcast client -A -i SERVER_IP -p
// PORT -m GROUP`): the member accepts the group's packets from Server to
// UDP destination Port.
type Client struct {
	Server netip.Addr
	Port   uint16
	Stats  *ClientStats
}

// Member is one receiver of a group: a configured member (from the file or
// the runtime overlay, compiled) or a dynamic one (joined by IGMP, M5).
type Member struct {
	ENI  string     // the member's ENI id; a dynamic member is valid only while its port carries this name
	Port fib.PortID // the ENI's port
	// Addr is the member address, the `self` of its ingress security-group
	// check: the configured ENI address, or the source of its IGMP report.
	Addr  netip.Addr
	Stats *MemberStats
	// Filtered is true when the member has client entries (M3): it then
	// receives only packets matching one of Clients, which may be empty
	// for this group.
	Filtered bool
	Clients  []Client
	expires  *atomic.Int64 // unix ns; nil for configured members
}

// Dynamic reports whether the member joined by IGMP.
func (m *Member) Dynamic() bool { return m.expires != nil }

// Live reports whether the member receives copies at time now (unix ns):
// configured members always, dynamic members until 260 s after their last
// report (M5).
func (m *Member) Live(now int64) bool { return m.expires == nil || m.expires.Load() > now }

// Expires returns when a dynamic member expires (unix ns), 0 for configured
// members.
func (m *Member) Expires() int64 {
	if m.expires == nil {
		return 0
	}
	return m.expires.Load()
}

// Accepts reports whether the member takes a packet from src to UDP/TCP
// destination port dport, and the client entry that matched (nil when the
// member has no client entries).
func (m *Member) Accepts(src netip.Addr, dport uint16) (*Client, bool) {
	if !m.Filtered {
		return nil, true
	}
	for i := range m.Clients {
		c := &m.Clients[i]
		if c.Server == src && c.Port == dport {
			return c, true
		}
	}
	return nil, false
}

// Group is one compiled multicast group (M1). It is immutable; its dynamic
// members live in the Membership (Dynamic).
type Group struct {
	VPC         string
	Router      int // index of the VPC's VRouter in the snapshot
	Addr        netip.Addr
	Server      string       // instance id
	ServerPorts []fib.PortID // the server's ENI ports, sorted
	IGMP        bool         // members may join and leave by IGMP (M5)
	Stats       *GroupStats
	members     []Member     // configured, sorted by port
	ports       []fib.PortID // ports of members, sorted, for IsConfigured
	dyn         *slot        // nil unless IGMP
}

// ID is the group's printable id, "VPC/GROUP/SERVER" (config.McastGroup.ID).
func (g *Group) ID() string { return groupID(g.VPC, g.Addr, g.Server) }

func groupID(vpc string, addr netip.Addr, server string) string {
	return vpc + "/" + addr.String() + "/" + server
}

// Members returns the configured members, sorted by port. The slice is
// shared: do not modify it.
func (g *Group) Members() []Member { return g.members }

// Dynamic returns the members that joined by IGMP, as published now; some
// may have expired (check Live) or may also be configured (check
// IsConfigured: such a member gets its copy through Members). The slice is
// shared and immutable. It allocates nothing.
func (g *Group) Dynamic() []Member {
	if g.dyn == nil {
		return nil
	}
	if l := g.dyn.members.Load(); l != nil {
		return *l
	}
	return nil
}

// IsConfigured reports whether port is a configured member of g.
func (g *Group) IsConfigured(port fib.PortID) bool {
	_, ok := slices.BinarySearch(g.ports, port)
	return ok
}

// isServer reports whether port is one of the server's ports.
func (g *Group) isServer(port fib.PortID) bool {
	_, ok := slices.BinarySearch(g.ServerPorts, port)
	return ok
}

// senderKey finds the group a server port sends to: comparable, so a map
// lookup allocates nothing.
type senderKey struct {
	port fib.PortID
	addr [4]byte
}

// addrKey finds the groups of one address in one VPC.
type addrKey struct {
	router uint16
	addr   [4]byte
}

// Table is the compiled multicast state of one snapshot. It is immutable
// and safe for concurrent use; see the package documentation.
type Table struct {
	groups     []*Group
	bySender   map[senderKey]*Group
	byAddr     map[addrKey][]*Group
	configured map[string]int // ENI id → groups it is a configured member of
	igmpRouter []bool         // by router index: some group has igmp: true
	limits     Limits
	ms         *Membership
}

// GroupSpec describes one group for Build.
type GroupSpec struct {
	VPC         string
	Router      int
	Addr        netip.Addr
	Server      string
	ServerPorts []fib.PortID
	Members     []MemberSpec
	IGMP        bool
}

// MemberSpec describes one configured member for Build.
type MemberSpec struct {
	ENI  string
	Port fib.PortID
	Addr netip.Addr
	// Filtered and Clients are the member's client entries for this
	// group (M3); Filtered with no Clients means the member has entries
	// for other groups only and receives nothing of this one.
	Filtered bool
	Clients  []ClientSpec
}

// ClientSpec is one client entry for Build.
type ClientSpec struct {
	Server netip.Addr
	Port   uint16
}

// Build compiles specs into a Table whose counters and dynamic members live
// in ms (created when nil). It rejects what config validation rejects too
// (V17: addresses, duplicates, limits), so a Table never holds an
// inconsistent group. Build creates counters and membership slots in ms but
// never changes membership.
func Build(ms *Membership, limits Limits, specs []GroupSpec) (*Table, error) {
	if ms == nil {
		ms = NewMembership()
	}
	if limits.MembersPerGroup <= 0 || limits.GroupsPerMember <= 0 {
		d := DefaultLimits()
		if limits.MembersPerGroup <= 0 {
			limits.MembersPerGroup = d.MembersPerGroup
		}
		if limits.GroupsPerMember <= 0 {
			limits.GroupsPerMember = d.GroupsPerMember
		}
	}
	t := &Table{
		bySender:   make(map[senderKey]*Group, len(specs)),
		byAddr:     make(map[addrKey][]*Group, len(specs)),
		configured: map[string]int{},
		limits:     limits,
		ms:         ms,
	}
	local := netip.MustParsePrefix("224.0.0.0/24")
	seen := map[string]bool{}
	for _, sp := range specs {
		id := groupID(sp.VPC, sp.Addr, sp.Server)
		switch {
		case !sp.Addr.Is4() || !sp.Addr.IsMulticast() || local.Contains(sp.Addr):
			return nil, fmt.Errorf("%s: group %s must be in 224.0.0.0/4 but not in 224.0.0.0/24", id, sp.Addr)
		case sp.Router < 0 || sp.Router > 0xffff:
			return nil, fmt.Errorf("%s: router index %d out of range", id, sp.Router)
		case seen[id]:
			return nil, fmt.Errorf("%s: group defined twice", id)
		case len(sp.Members) > limits.MembersPerGroup:
			return nil, fmt.Errorf("%s: %d members; a group has at most %d (mcast_members_per_group)", id, len(sp.Members), limits.MembersPerGroup)
		}
		seen[id] = true
		g := &Group{
			VPC: sp.VPC, Router: sp.Router, Addr: sp.Addr, Server: sp.Server, IGMP: sp.IGMP,
			ServerPorts: slices.Clone(sp.ServerPorts),
			Stats:       ms.groupStats(id),
		}
		slices.Sort(g.ServerPorts)
		g.ServerPorts = slices.Compact(g.ServerPorts)
		for _, m := range sp.Members {
			if !m.Addr.Is4() || m.Port == fib.NoPort || m.ENI == "" {
				return nil, fmt.Errorf("%s: member %s (%s) has no IPv4 address or no port", id, m.Addr, m.ENI)
			}
			mem := Member{ENI: m.ENI, Port: m.Port, Addr: m.Addr, Stats: ms.memberStats(id, m.ENI), Filtered: m.Filtered}
			for _, c := range m.Clients {
				mem.Clients = append(mem.Clients, Client{Server: c.Server, Port: c.Port, Stats: ms.clientStats(id, m.ENI, c)})
			}
			g.members = append(g.members, mem)
		}
		sort.Slice(g.members, func(i, j int) bool { return g.members[i].Port < g.members[j].Port })
		for i, m := range g.members {
			if i > 0 && g.members[i-1].Port == m.Port {
				return nil, fmt.Errorf("%s: ENI %s listed twice", id, m.ENI)
			}
			g.ports = append(g.ports, m.Port)
			t.configured[m.ENI]++
			if t.configured[m.ENI] > limits.GroupsPerMember {
				return nil, fmt.Errorf("%s: member %s receives more than %d groups (mcast_groups_per_member)", id, m.ENI, limits.GroupsPerMember)
			}
		}
		if g.IGMP {
			g.dyn = ms.slot(id)
			for len(t.igmpRouter) <= g.Router {
				t.igmpRouter = append(t.igmpRouter, false)
			}
			t.igmpRouter[g.Router] = true
		}
		a4 := g.Addr.As4()
		for _, p := range g.ServerPorts {
			k := senderKey{p, a4}
			if other, dup := t.bySender[k]; dup {
				return nil, fmt.Errorf("%s: port %d already sends %s for %s", id, p, g.Addr, other.ID())
			}
			t.bySender[k] = g
		}
		ak := addrKey{uint16(g.Router), a4}
		t.byAddr[ak] = append(t.byAddr[ak], g)
		t.groups = append(t.groups, g)
	}
	return t, nil
}

// Sender returns the group that packets from port to addr are replicated
// to, or nil when port is not a server port of a group with that address
// (M1: only the server's packets are replicated). It allocates nothing.
func (t *Table) Sender(port fib.PortID, addr netip.Addr) *Group {
	if t == nil || len(t.bySender) == 0 || !addr.Is4() {
		return nil
	}
	return t.bySender[senderKey{port, addr.As4()}]
}

// Groups returns every group in build order. The slice is shared.
func (t *Table) Groups() []*Group {
	if t == nil {
		return nil
	}
	return t.groups
}

// Membership returns the long-lived membership the table was built with.
func (t *Table) Membership() *Membership {
	if t == nil {
		return nil
	}
	return t.ms
}

// Limits returns the limits the table enforces on joins.
func (t *Table) Limits() Limits { return t.limits }

// IGMPRouter reports whether the VRouter with index router has a group
// with igmp: true, so its ENIs are sent general queries.
func (t *Table) IGMPRouter(router int) bool {
	return t != nil && router >= 0 && router < len(t.igmpRouter) && t.igmpRouter[router]
}
