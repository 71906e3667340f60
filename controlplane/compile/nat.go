package compile

// Internet, EIPs and NAT gateways (SPEC C6) compiled onto the data plane.
//
// The internet port is an external port (connections.go) named
// InternetPort, entering the router "internet" whose table is empty: what
// arrives on it is translated (DNAT) and routed in the system table of the
// EIP's VPC by the data plane (dataplane/nat.go), never looked up in that
// table. Its host spec carries a /32 device route for every EIP in use (an
// EIP bound to an instance or named by an SNAT or DNAT entry), as a
// provider announces them. A route entry naming a NAT gateway (ngw-…)
// compiles to a member whose port is the internet port; the data plane
// recognises the gateway by the member's id.

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
)

// InternetPort is the name of the internet port (C6): its metrics label
// and the key of its host link.
const InternetPort = "internet"

const internetRouterID = "internet"

// eipsInUse returns the EIPs of cfg that are bound to an instance or used
// by a NAT gateway, in file order.
func eipsInUse(cfg *config.Config) []*config.EIP {
	used := map[string]bool{}
	for _, g := range cfg.NATGateways {
		for _, s := range g.SNAT {
			used[s.EIP] = true
		}
		for _, d := range g.DNAT {
			used[d.EIP] = true
		}
	}
	var out []*config.EIP
	for _, e := range cfg.EIPs {
		if e.Instance != "" || used[e.ID] {
			out = append(out, e)
		}
	}
	return out
}

// internetRoutes are the /32 routes of the EIPs in use, sorted, for the
// internet port's namespace.
func internetRoutes(cfg *config.Config) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range eipsInUse(cfg) {
		if e.IP.IsValid() {
			out = append(out, netip.PrefixFrom(e.IP, 32))
		}
	}
	sort.Slice(out, func(i, j int) bool { return prefixLess(out[i], out[j]) })
	return out
}

// buildInternet creates the router the internet port enters (before the
// external ports are built).
func (b *builder) buildInternet() error {
	if b.cfg.Internet == nil {
		return nil
	}
	z, err := b.routerZone(internetRouterID)
	if err != nil {
		return err
	}
	b.addRouter(internetRouterID, z, fib.NewTable(internetRouterID))
	return nil
}

// natGatewayMember fills m for a next hop ngw-…: a member whose port is
// the internet port (C6). It is not probed.
func (b *builder) natGatewayMember(table string, dst netip.Prefix, m *fib.Member) error {
	if b.cfg.NATGatewayByID(m.ID) == nil {
		return fmt.Errorf("%s: route %s: NAT gateway %s does not exist", table, dst, m.ID)
	}
	id, ok := b.portIDs[InternetPort]
	if !ok || b.cfg.Internet == nil {
		return fmt.Errorf("%s: route %s: NAT gateway %s needs the internet attachment", table, dst, m.ID)
	}
	m.Kind = fib.MemberPort
	m.Port = id
	return nil
}

// buildNAT compiles the EIPs and NAT gateways (C6) once every port exists.
// The SNAT port pools of the previous snapshot are carried over, so a
// reload never hands out a port a tracked flow holds.
func (b *builder) buildNAT() error {
	cfg := b.cfg
	if cfg.Internet == nil {
		return nil
	}
	port, ok := b.portIDs[InternetPort]
	if !ok {
		return fmt.Errorf("%s: no port", InternetPort)
	}
	var pools *dataplane.NATPorts
	if prev := b.in.Prev; prev != nil && prev.NAT != nil {
		pools = prev.NAT.Ports
	}
	byID := map[string]*dataplane.EIP{}
	var eips []*dataplane.EIP
	for _, e := range cfg.EIPs {
		if e.Instance == "" {
			continue
		}
		inst := cfg.InstanceByID(e.Instance)
		if inst == nil {
			return fmt.Errorf("%s: instance %s does not exist", e.ID, e.Instance)
		}
		eni := cfg.ENIByID(inst.ID) // the primary ENI has the instance's id
		ri, ok := b.routers[inst.VPC]
		if eni == nil || !ok {
			return fmt.Errorf("%s: instance %s has no primary ENI in a known VPC", e.ID, e.Instance)
		}
		de := &dataplane.EIP{ID: e.ID, Addr: e.IP, Router: ri, Instance: eni.IP, Port: b.portIDs[eni.ID]}
		byID[e.ID] = de
		eips = append(eips, de)
	}
	var gws []*dataplane.NATGateway
	for _, g := range cfg.NATGateways {
		ri, ok := b.routers[g.VPC]
		if !ok {
			return fmt.Errorf("%s: unknown VPC %s", g.ID, g.VPC)
		}
		gw := &dataplane.NATGateway{ID: g.ID, Router: ri}
		eipOf := func(id string) (*dataplane.EIP, error) {
			if de := byID[id]; de != nil {
				if de.Gateway != gw {
					return nil, fmt.Errorf("%s: eip %s is already in use", g.ID, id)
				}
				return de, nil
			}
			e := cfg.EIPByID(id)
			if e == nil {
				return nil, fmt.Errorf("%s: eip %s does not exist", g.ID, id)
			}
			de := &dataplane.EIP{ID: e.ID, Addr: e.IP, Router: ri, Gateway: gw, Port: fib.NoPort}
			byID[id] = de
			eips = append(eips, de)
			return de, nil
		}
		for _, s := range g.SNAT {
			de, err := eipOf(s.EIP)
			if err != nil {
				return err
			}
			if !s.SourceCIDR.IsValid() {
				return fmt.Errorf("%s: snat source %s has no CIDR", g.ID, s.Source)
			}
			gw.SNAT = append(gw.SNAT, dataplane.SNATRule{Source: s.SourceCIDR.Masked(), EIP: de})
		}
		for _, t := range g.DNAT {
			de, err := eipOf(t.EIP)
			if err != nil {
				return err
			}
			r := dataplane.DNATRule{Internal: t.InternalIP}
			switch t.Protocol {
			case config.ProtoTCP:
				r.Proto = packet.ProtoTCP
			case config.ProtoUDP:
				r.Proto = packet.ProtoUDP
			}
			if r.Proto != 0 {
				r.External, r.InternalPort = uint16(t.ExternalPort), uint16(t.InternalPort)
			}
			de.DNAT = append(de.DNAT, r)
		}
		gws = append(gws, gw)
	}
	b.snap.NAT = dataplane.NewNAT(port, eips, gws, pools)
	return nil
}

// natPolicyInput is what C6 contributes to the policy fingerprint (S8):
// a tracked NAT flow is re-verified when a binding or entry changed.
func natPolicyInput(cfg *config.Config) string {
	s := ""
	for _, e := range cfg.EIPs {
		s += fmt.Sprintf("eip %s|%s|%s\n", e.ID, e.IP, e.Instance)
	}
	for _, g := range cfg.NATGateways {
		s += "ngw " + g.ID + "|" + g.VPC + "\n"
		for _, e := range g.SNAT {
			s += fmt.Sprintf("snat %s|%s\n", e.SourceCIDR, e.EIP)
		}
		for _, e := range g.DNAT {
			s += fmt.Sprintf("dnat %s|%s|%d|%s|%d\n", e.EIP, e.Protocol, e.ExternalPort, e.InternalIP, e.InternalPort)
		}
	}
	return s
}
