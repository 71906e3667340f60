package compile

// Connections (SPEC §7 C1–C4): VBRs as routers with their own table,
// external ports (VBR leased lines, VPN gateways), next hops across router
// interfaces, leased lines and VPN gateways, and the routes a CEN teaches
// its attachments.
//
// External ports share one shape (config.ExternalPort) and one compiled
// form: a dataplane.Port of Kind PortExternal whose packets enter the table
// of what the port belongs to, whose Gateway is the router's end `ip` (the
// source of ICMP errors, echo replies and probes) and which has no
// anti-spoofing addresses and no security-group policy (S2: checked on the
// ENI side only). externalPorts lists them; the internet port of C6 joins
// that list.

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// CENRoute is a route a CEN installed in one attachment's table (C4).
type CENRoute struct {
	CEN   string       // the CEN that taught it
	Table string       // the VPC's system table id, or the VBR id
	Dst   netip.Prefix // the learned destination
	From  string       // the attachment that announced it (vpc-… or vbr-…)
}

// CENConflict is a destination announced by two or more attachments of one
// CEN; it is installed for none of them (C4).
type CENConflict struct {
	CEN  string
	Dst  netip.Prefix
	From []string // the announcing attachments, in attachment order
}

func (c CENConflict) String() string {
	return fmt.Sprintf("%s: %s is announced by %s: learned from two attachments, it is installed for neither", c.CEN, c.Dst, strings.Join(c.From, " and "))
}

// externalPort is one port of an external attachment (SPEC §7).
type externalPort struct {
	id    string // attachment id: the port's name
	port  config.ExternalPort
	owner string // key of b.routers: the VPC or VBR whose router the packets enter
	table string // id of the compiled table the packets enter
	// routes are device routes in the outside namespace: the internet
	// port's EIP /32s (C6, nat.go).
	routes []netip.Prefix
}

// externalPorts lists the external ports of cfg in file order: VBR leased
// lines (entering the VBR's table, C2), then VPN gateways (entering their
// VPC's system table, C3), then the internet port (C6, nat.go).
func externalPorts(cfg *config.Config) []externalPort {
	var out []externalPort
	for _, v := range cfg.VBRs {
		out = append(out, externalPort{id: v.ID, port: v.Port, owner: v.ID, table: v.ID})
	}
	for _, g := range cfg.VPNGateways {
		x := externalPort{id: g.ID, port: g.Port, owner: g.VPC}
		if vpc := cfg.VPCByID(g.VPC); vpc != nil && vpc.SystemTable() != nil {
			x.table = vpc.SystemTable().ID
		}
		out = append(out, x)
	}
	if cfg.Internet != nil {
		out = append(out, externalPort{id: InternetPort, port: cfg.Internet.Port, owner: internetRouterID,
			table: internetRouterID, routes: internetRoutes(cfg)})
	}
	return out
}

// externalPortSpecs is what the host needs for the external ports: a TUN
// in the outside namespace configured point-to-point, the outside end
// holding peer_ip with the router's ip as its peer, and no default route
// (routes inside outside namespaces are the user's).
func externalPortSpecs(cfg *config.Config) []PortSpec {
	var out []PortSpec
	for _, x := range externalPorts(cfg) {
		ps := PortSpec{Name: x.id, Netns: x.port.Netns, IfName: x.port.IfName, MTU: config.DefaultMTU, Peer: x.port.IP, Routes: x.routes}
		if x.port.PeerIP.IsValid() {
			ps.Addr = netip.PrefixFrom(x.port.PeerIP, 32)
		}
		out = append(out, ps)
	}
	return out
}

// externalPortNames lists the external port names for assignPortIDs.
func externalPortNames(cfg *config.Config) []string {
	var out []string
	for _, x := range externalPorts(cfg) {
		out = append(out, x.id)
	}
	return out
}

// buildBorderRouters adds one router per VBR after the VPC routers (C2).
// A VBR keeps its previous conntrack zone when no VPC took it meanwhile;
// flows between an ENI and an external port live in the ENI's zone
// (Snapshot.zoneOf), so a VBR's zone never keys a flow and may change.
func (b *builder) buildBorderRouters() error {
	prevZone := map[string]uint16{}
	if prev := b.in.Prev; prev != nil {
		for _, r := range prev.Routers {
			prevZone[r.ID] = r.Zone
		}
	}
	used := map[uint16]bool{}
	for _, r := range b.snap.Routers {
		used[r.Zone] = true
	}
	zones := map[string]uint16{}
	for _, v := range b.cfg.VBRs {
		if z, ok := prevZone[v.ID]; ok && !used[z] {
			zones[v.ID] = z
			used[z] = true
		}
	}
	next := uint16(1)
	for _, v := range b.cfg.VBRs {
		z, ok := zones[v.ID]
		if !ok {
			for used[next] {
				next++
			}
			if next > 255 {
				return fmt.Errorf("%s: more than 255 routers", v.ID)
			}
			z = next
			used[z] = true
		}
		b.routers[v.ID] = len(b.snap.Routers)
		b.snap.Routers = append(b.snap.Routers, &dataplane.Router{ID: v.ID, Zone: z})
	}
	return nil
}

// buildConnections compiles what joins routers once every VPC table
// exists: the VBR tables (C2), the routes learned through CENs (C4) and the
// external ports wired to their tables (C2, C3).
func (b *builder) buildConnections() (cenRoutes map[string][]CENRoute, conflicts []CENConflict, err error) {
	if err := b.buildVBRTables(); err != nil {
		return nil, nil, err
	}
	cenRoutes, conflicts, err = b.buildCEN()
	if err != nil {
		return nil, nil, err
	}
	if err := b.buildExternalPorts(); err != nil {
		return nil, nil, err
	}
	return cenRoutes, conflicts, nil
}

// buildVBRTables compiles each VBR's routes into its table, the table its
// leased line enters and router interfaces hand over to (C1, C2).
func (b *builder) buildVBRTables() error {
	prevHealth := map[string]*fib.Health{}
	if b.in.Prev != nil {
		prevHealth = b.in.Prev.Health
	}
	for _, v := range b.cfg.VBRs {
		t := fib.NewTable(v.ID)
		rt := &config.RouteTable{ID: v.ID}
		for _, e := range v.Routes {
			r := &fib.Route{Dst: e.Dst, ID: v.ID + ":" + e.Dst.String(), Type: fib.Custom, Action: fib.ActionForward, VSwitch: -1}
			r.Index = b.routeCounter(v.ID, e.Dst)
			g, err := b.group(nil, rt, e, prevHealth)
			if err != nil {
				return err
			}
			r.Group = g
			if err := t.Insert(r); err != nil {
				return fmt.Errorf("%s: %v", v.ID, err)
			}
		}
		b.tables[v.ID] = t
		b.snap.Routers[b.routers[v.ID]].System = t
	}
	return nil
}

// routeCounter returns the index of the hit counter of (table, dst) in
// Snapshot.RouteHits, or -1 without a stats registry.
func (b *builder) routeCounter(table string, dst netip.Prefix) int {
	if b.in.Stats == nil {
		return -1
	}
	i := len(b.snap.RouteHits)
	b.snap.RouteHits = append(b.snap.RouteHits, b.in.Stats.RouteCounter(table, dst.String()))
	return i
}

// connectionMember fills m for a next hop that is not an ENI: a router
// interface (C1; toward a VBR it is probed through the VBR's leased line,
// C2), a VPN gateway (C3) or leased_line in a VBR table (C2). It returns
// the port and source address of the member's health probe, or fib.NoPort
// when the member cannot be probed.
func (b *builder) connectionMember(table string, dst netip.Prefix, m *fib.Member) (fib.PortID, netip.Addr, error) {
	switch config.KindOfHop(m.ID) {
	case config.HopRouterInterface:
		ri := b.cfg.RouterInterfaceByID(m.ID)
		if ri == nil {
			return fib.NoPort, netip.Addr{}, fmt.Errorf("%s: route %s: router interface %s does not exist", table, dst, m.ID)
		}
		peer := b.cfg.RouterInterfaceByID(ri.Peer)
		if peer == nil {
			return fib.NoPort, netip.Addr{}, fmt.Errorf("%s: route %s: router interface %s: peer %s does not exist", table, dst, m.ID, ri.Peer)
		}
		pi, ok := b.routers[peer.Owner()]
		if !ok {
			return fib.NoPort, netip.Addr{}, fmt.Errorf("%s: route %s: router interface %s: peer %s belongs to unknown %s", table, dst, m.ID, peer.ID, peer.Owner())
		}
		m.Kind = fib.MemberRouterInterface
		m.Peer = pi
		m.Port = fib.NoPort
		if peer.VBR == "" {
			return fib.NoPort, netip.Addr{}, nil
		}
		// C2: the far VBR's health is its leased line's: probe peer_ip
		// through the VBR's port from the VBR's own end.
		vbr := b.cfg.VBRByID(peer.VBR)
		m.Addr = vbr.Port.PeerIP
		return b.portIDs[vbr.ID], vbr.Port.IP, nil
	case config.HopVPNGateway:
		g := b.cfg.VPNGatewayByID(m.ID)
		if g == nil {
			return fib.NoPort, netip.Addr{}, fmt.Errorf("%s: route %s: VPN gateway %s does not exist", table, dst, m.ID)
		}
		m.Kind = fib.MemberPort
		m.Port = b.portIDs[g.ID]
		m.Addr = g.Port.PeerIP
		return m.Port, g.Port.IP, nil
	case config.HopNATGateway:
		return fib.NoPort, netip.Addr{}, b.natGatewayMember(table, dst, m) // C6: nat.go
	case config.HopLeasedLine:
		vbr := b.cfg.VBRByID(table)
		if vbr == nil {
			return fib.NoPort, netip.Addr{}, fmt.Errorf("%s: route %s: leased_line outside a VBR table", table, dst)
		}
		m.Kind = fib.MemberPort
		m.Port = b.portIDs[vbr.ID]
		m.Addr = vbr.Port.PeerIP
		return m.Port, vbr.Port.IP, nil
	}
	return fib.NoPort, netip.Addr{}, fmt.Errorf("%s: route %s: next hop %s (%s) is not supported by this data plane yet", table, dst, m.ID, config.KindOfHop(m.ID))
}

// buildExternalPorts creates the port of every external attachment, wired
// to the table its packets enter (C2: the VBR's; C3: the VPC's system
// table).
func (b *builder) buildExternalPorts() error {
	for _, x := range externalPorts(b.cfg) {
		ri, ok := b.routers[x.owner]
		if !ok {
			return fmt.Errorf("%s: unknown owner %s", x.id, x.owner)
		}
		t, ok := b.tables[x.table]
		if !ok {
			return fmt.Errorf("%s: table %q of %s not compiled", x.id, x.table, x.owner)
		}
		id := b.portIDs[x.id]
		p := &dataplane.Port{
			ID:      id,
			Name:    x.id,
			Kind:    dataplane.PortExternal,
			Router:  ri,
			Table:   t,
			VSwitch: -1,
			Gateway: x.port.IP,
			MTU:     config.DefaultMTU,
		}
		if b.in.Stats != nil {
			p.Counters = b.in.Stats.PortCounters(x.id)
		} else {
			p.Counters = &stats.Port{}
		}
		if b.in.Devices != nil {
			p.Dev = b.in.Devices[x.id]
		}
		b.snap.Ports[id] = p
	}
	return nil
}

// cenAnnounced returns what attachment a announces to its CEN (C4): the
// VSwitch CIDRs of a VPC, the static routes of a VBR toward its leased
// line, and the table the CEN's routes are installed in.
func (b *builder) cenAnnounced(a string) (dsts []netip.Prefix, table string, ok bool) {
	if vpc := b.cfg.VPCByID(a); vpc != nil {
		for _, s := range vpc.VSwitches {
			dsts = append(dsts, s.CIDR.Masked())
		}
		if st := vpc.SystemTable(); st != nil {
			return dsts, st.ID, true
		}
		return nil, "", false
	}
	if vbr := b.cfg.VBRByID(a); vbr != nil {
		for _, r := range vbr.Routes {
			if r.NextHop == config.LeasedLine {
				dsts = append(dsts, r.Dst.Masked())
			}
		}
		return dsts, vbr.ID, true
	}
	return nil, "", false
}

// buildCEN installs, in the system table of every VPC attachment and the
// table of every VBR attachment, the destinations every other attachment
// of its CEN announces, as entries of type CEN handing the packet to the
// announcing attachment's router (C4). An entry already in the table (a
// custom entry, or a system one) with the same destination wins. A
// destination announced by two attachments is installed for none and
// reported.
func (b *builder) buildCEN() (map[string][]CENRoute, []CENConflict, error) {
	routes := map[string][]CENRoute{}
	var conflicts []CENConflict
	for _, n := range b.cfg.CENs {
		announced := map[string][]netip.Prefix{}
		tables := map[string]string{}
		from := map[netip.Prefix][]string{}
		var order []netip.Prefix
		for _, a := range n.Attachments {
			dsts, table, ok := b.cenAnnounced(a)
			if !ok {
				return nil, nil, fmt.Errorf("%s: attachment %s is neither a VPC nor a VBR", n.ID, a)
			}
			tables[a] = table
			seen := map[netip.Prefix]bool{}
			for _, d := range dsts {
				if seen[d] {
					continue
				}
				seen[d] = true
				announced[a] = append(announced[a], d)
				if len(from[d]) == 0 {
					order = append(order, d)
				}
				from[d] = append(from[d], a)
			}
		}
		conflict := map[netip.Prefix]bool{}
		for _, d := range order {
			if len(from[d]) > 1 {
				conflict[d] = true
				conflicts = append(conflicts, CENConflict{CEN: n.ID, Dst: d, From: append([]string(nil), from[d]...)})
			}
		}
		groups := map[string]*fib.Group{}
		for _, a := range n.Attachments {
			if _, ok := groups[a]; ok {
				continue
			}
			pi, ok := b.routers[a]
			if !ok {
				return nil, nil, fmt.Errorf("%s: attachment %s has no router", n.ID, a)
			}
			g, err := fib.NewGroup(fib.Single, []fib.Member{{ID: a, Kind: fib.MemberRouterInterface, Peer: pi, Port: fib.NoPort}})
			if err != nil {
				return nil, nil, fmt.Errorf("%s: attachment %s: %v", n.ID, a, err)
			}
			groups[a] = g
		}
		for _, x := range n.Attachments {
			tid := tables[x]
			t, ok := b.tables[tid]
			if !ok {
				return nil, nil, fmt.Errorf("%s: table %s of %s not compiled", n.ID, tid, x)
			}
			for _, y := range n.Attachments {
				if y == x {
					continue
				}
				for _, d := range announced[y] {
					if conflict[d] {
						continue
					}
					if _, exists := t.Get(d); exists {
						continue // a custom (or system) entry wins
					}
					r := &fib.Route{Dst: d, ID: tid + ":" + d.String(), Type: fib.CEN, Action: fib.ActionForward, Group: groups[y], VSwitch: -1}
					r.Index = b.routeCounter(tid, d)
					if err := t.Insert(r); err != nil {
						return nil, nil, fmt.Errorf("%s: %v", n.ID, err)
					}
					routes[tid] = append(routes[tid], CENRoute{CEN: n.ID, Table: tid, Dst: d, From: y})
				}
			}
		}
	}
	for _, rs := range routes {
		sort.Slice(rs, func(i, j int) bool { return prefixLess(rs[i].Dst, rs[j].Dst) })
	}
	return routes, conflicts, nil
}

// prefixLess orders prefixes by address, then length.
func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}
