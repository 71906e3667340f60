// Package compile turns a validated configuration into an immutable
// dataplane.Snapshot (DESIGN "Config path"). It is pure: no I/O, no clock,
// no goroutines. State that must outlive configuration (house rule 2) is
// carried over from the previous snapshot: port ids, conntrack zones,
// next-hop health flags, the flow-hash seed and the policy generation, so a
// reload leaves unchanged ports, their flows and their counters untouched.
//
// Callers: controlplane/agent only, with a config that passed
// config.Validate. Compile still checks every reference it follows and
// returns an error rather than panicking on an inconsistent model.
package compile

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// HashSeed is the seed of the symmetric flow hash (F8). It is fixed so that
// a flow keeps its ECMP member across reloads and restarts (Q7).
const HashSeed uint64 = 0x9e3779b97f4a7c15

// Input is what Compile needs.
type Input struct {
	Config    *config.Config
	Prev      *dataplane.Snapshot   // nil at start
	Stats     *stats.Registry       // counters by port name
	Devices   map[string]tun.Device // port name → device; absent = not attached
	Conntrack *conntrack.Table      // shared across snapshots
	Frags     *conntrack.Frags      // shared across snapshots
	Mcast     *mcast.Membership     // multicast membership and counters, shared across snapshots (mcast.go)
}

// HealthTarget is one probed next hop for controlplane/health (F8, F9).
type HealthTarget struct {
	Key     string // the key of the flag in Snapshot.Health
	Table   string
	Dst     netip.Prefix
	NextHop string
	Addr    netip.Addr // probe target
	Port    fib.PortID // port the probe leaves through
	Source  netip.Addr // the VSwitch gateway, or an external port's ip (C2), the probe is sent from
	Check   config.HealthCheck
	Health  *fib.Health
}

// Result is a compiled snapshot and what the agent needs around it.
type Result struct {
	Snapshot *dataplane.Snapshot
	Health   []HealthTarget
	// CENRoutes are the routes CENs installed, by table id (a VPC's
	// system table, or a VBR id), sorted by destination (C4).
	CENRoutes map[string][]CENRoute
	// CENConflicts are destinations announced by two attachments of a
	// CEN, installed for neither (C4); the agent logs them.
	CENConflicts []CENConflict
}

type builder struct {
	in      Input
	cfg     *config.Config
	snap    *dataplane.Snapshot
	portIDs map[string]fib.PortID
	routers map[string]int // VPC id → router index
	vsws    map[string]int // VSwitch id → index
	tables  map[string]*fib.Table
	health  []HealthTarget
}

// Compile builds the snapshot for in.Config.
func Compile(in Input) (*Result, error) {
	b := &builder{
		in:      in,
		cfg:     in.Config,
		routers: map[string]int{},
		vsws:    map[string]int{},
		tables:  map[string]*fib.Table{},
	}
	s := &dataplane.Snapshot{
		Conntrack:      in.Conntrack,
		Frags:          in.Frags,
		HashSeed:       HashSeed,
		ICMPRate:       100,
		ICMPBurst:      50,
		SecurityGroups: in.Conntrack != nil,
		Health:         map[string]*fib.Health{},
	}
	b.snap = s
	if in.Prev != nil {
		s.Gen = in.Prev.Gen + 1
		s.HashSeed = in.Prev.HashSeed
	}
	b.assignPortIDs()
	if err := b.buildRouters(); err != nil {
		return nil, err
	}
	if err := b.buildBorderRouters(); err != nil { // VBRs (C2): connections.go
		return nil, err
	}
	if err := b.buildPorts(); err != nil {
		return nil, err
	}
	if err := b.buildTables(); err != nil {
		return nil, err
	}
	// Ports reference their tables; wire them now that tables exist.
	for _, e := range b.cfg.ENIs() {
		p := s.Ports[b.portIDs[e.ID]]
		vsw := b.cfg.VSwitchByID(e.VSwitch)
		tid := vsw.RouteTable
		if tid == "" {
			tid = b.cfg.VPCByID(e.VPC).SystemTable().ID
		}
		t, ok := b.tables[tid]
		if !ok {
			return nil, fmt.Errorf("%s: route table %s of %s not compiled", e.ID, tid, vsw.ID)
		}
		p.Table = t
	}
	if err := b.buildClassic(); err != nil { // C5: classic.go
		return nil, err
	}
	if err := b.buildInternet(); err != nil { // C6: nat.go
		return nil, err
	}
	cenRoutes, conflicts, err := b.buildConnections() // C1–C4: connections.go
	if err != nil {
		return nil, err
	}
	if err := b.buildNAT(); err != nil { // C6: nat.go
		return nil, err
	}
	if err := b.buildMulticast(); err != nil {
		return nil, err
	}
	b.buildVerdictCounters() // R8: verdicts.go
	b.policyGeneration()
	return &Result{Snapshot: s, Health: b.health, CENRoutes: cenRoutes, CENConflicts: conflicts}, nil
}

// assignPortIDs keeps the id of every port that existed before and gives
// new ports the lowest free ids.
func (b *builder) assignPortIDs() {
	b.portIDs = map[string]fib.PortID{}
	used := map[fib.PortID]bool{}
	names := b.portNames()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	if prev := b.in.Prev; prev != nil {
		for _, p := range prev.Ports {
			if p != nil && want[p.Name] {
				b.portIDs[p.Name] = p.ID
				used[p.ID] = true
			}
		}
	}
	next := fib.PortID(0)
	for _, n := range names {
		if _, ok := b.portIDs[n]; ok {
			continue
		}
		for used[next] {
			next++
		}
		b.portIDs[n] = next
		used[next] = true
	}
	max := -1
	for _, id := range b.portIDs {
		if int(id) > max {
			max = int(id)
		}
	}
	b.snap.Ports = make([]*dataplane.Port, max+1)
}

// portNames lists every port of the configuration in file order.
func (b *builder) portNames() []string {
	var out []string
	for _, e := range b.cfg.ENIs() {
		out = append(out, e.ID)
	}
	out = append(out, classicPortNames(b.cfg)...) // C5: classic.go
	return append(out, externalPortNames(b.cfg)...)
}

// buildRouters creates one VRouter per VPC with a zone kept stable across
// reloads (S7: per-VPC zones; flows of unchanged VPCs keep their keys).
func (b *builder) buildRouters() error {
	prevZone := map[string]uint16{}
	usedZone := map[uint16]bool{}
	if prev := b.in.Prev; prev != nil {
		for _, r := range prev.Routers {
			prevZone[r.ID] = r.Zone
		}
	}
	for _, v := range b.cfg.VPCs {
		if z, ok := prevZone[v.VRouter.ID]; ok {
			usedZone[z] = true
		}
	}
	next := uint16(1)
	for _, v := range b.cfg.VPCs {
		z, ok := prevZone[v.VRouter.ID]
		if !ok {
			for usedZone[next] {
				next++
			}
			if next > 255 {
				return fmt.Errorf("%s: more than 255 routers", v.ID)
			}
			z = next
			usedZone[z] = true
		}
		b.routers[v.ID] = len(b.snap.Routers)
		b.snap.Routers = append(b.snap.Routers, &dataplane.Router{ID: v.VRouter.ID, Zone: z})
		for _, sw := range v.VSwitches {
			if !sw.CIDR.Addr().Is4() || sw.CIDR.Bits() < 16 {
				return fmt.Errorf("%s: VSwitch CIDR %s is not an IPv4 /16–/29", sw.ID, sw.CIDR)
			}
			b.vsws[sw.ID] = len(b.snap.VSwitches)
			b.snap.VSwitches = append(b.snap.VSwitches, dataplane.NewVSwitch(sw.ID, sw.CIDR, b.routers[v.ID]))
		}
	}
	return nil
}

// buildPorts creates a port per ENI with its anti-spoofing addresses and
// security-group policy, and records address ownership per VSwitch.
func (b *builder) buildPorts() error {
	inputs := map[string]*secgroup.Input{}
	for _, v := range b.cfg.VPCs {
		inputs[v.ID] = secgroupInput(b.cfg, v)
	}
	for _, e := range b.cfg.ENIs() {
		vswIdx, ok := b.vsws[e.VSwitch]
		if !ok {
			return fmt.Errorf("%s: unknown VSwitch %s", e.ID, e.VSwitch)
		}
		vsw := b.snap.VSwitches[vswIdx]
		id := b.portIDs[e.ID]
		p := &dataplane.Port{
			ID:              id,
			Name:            e.ID,
			Kind:            dataplane.PortENI,
			Router:          b.routers[e.VPC],
			VSwitch:         vswIdx,
			Gateway:         vsw.Gateway,
			MTU:             e.MTU,
			Addrs:           e.Addrs(),
			SourceDestCheck: e.SourceDestCheck,
		}
		if p.MTU == 0 {
			p.MTU = config.DefaultMTU
		}
		if b.in.Stats != nil {
			p.Counters = b.in.Stats.PortCounters(e.ID)
		} else {
			p.Counters = &stats.Port{}
		}
		if b.in.Devices != nil {
			p.Dev = b.in.Devices[e.ID]
		}
		if b.in.Conntrack != nil {
			pol, err := secgroup.Compile(inputs[e.VPC], e.SecurityGroups)
			if err != nil {
				return fmt.Errorf("%s: security groups: %v", e.ID, err)
			}
			p.Policy = pol
		}
		for _, a := range p.Addrs {
			if !vsw.SetOwner(a, id) {
				// A secondary IP outside the ENI's VSwitch is owned
				// through the VSwitch that contains it.
				placed := false
				for _, other := range b.snap.VSwitches {
					if other.Router == p.Router && other.Prefix.Contains(a) {
						other.SetOwner(a, id)
						placed = true
						break
					}
				}
				if !placed {
					return fmt.Errorf("%s: address %s lies in no VSwitch of %s", e.ID, a, e.VPC)
				}
			}
		}
		b.snap.Ports[id] = p
	}
	return nil
}

// secgroupInput converts the groups of one VPC and their member addresses.
func secgroupInput(cfg *config.Config, v *config.VPC) *secgroup.Input {
	in := &secgroup.Input{Groups: map[string]*secgroup.Group{}, Members: map[string][]netip.Addr{}}
	for _, g := range v.SecurityGroups {
		sg := &secgroup.Group{ID: g.ID, InnerAccept: g.InnerAccess != config.PolicyDrop}
		for i, r := range g.Rules {
			sg.Rules = append(sg.Rules, convertRule(g.ID, i, r))
		}
		in.Groups[g.ID] = sg
	}
	for _, e := range cfg.ENIs() {
		if e.VPC != v.ID {
			continue
		}
		for _, g := range e.SecurityGroups {
			in.Members[g] = append(in.Members[g], e.Addrs()...)
		}
	}
	return in
}

func convertRule(group string, idx int, r *config.Rule) secgroup.Rule {
	out := secgroup.Rule{
		Group:       group,
		Index:       idx,
		Priority:    uint8(r.Priority),
		Peer:        r.PeerCIDR,
		PeerGroup:   r.PeerGroup,
		Description: r.Description,
	}
	if out.Priority == 0 {
		out.Priority = 1
	}
	if r.Direction == config.DirEgress {
		out.Direction = secgroup.Egress
	} else {
		out.Direction = secgroup.Ingress
	}
	if r.Policy == config.PolicyDrop {
		out.Policy = secgroup.Drop
	} else {
		out.Policy = secgroup.Accept
	}
	switch r.Protocol {
	case config.ProtoTCP:
		out.Proto = secgroup.ProtoTCP
	case config.ProtoUDP:
		out.Proto = secgroup.ProtoUDP
	case config.ProtoICMP:
		out.Proto = secgroup.ProtoICMP
	case config.ProtoGRE:
		out.Proto = secgroup.ProtoGRE
	default:
		out.Proto = secgroup.ProtoAll
	}
	if r.Protocol.HasPorts() && !r.PortRange.IsAll() {
		out.PortLo, out.PortHi = uint16(r.PortRange.From), uint16(r.PortRange.To)
	}
	return out
}

// buildTables compiles every route table of every VPC (V13, F5).
func (b *builder) buildTables() error {
	prevHealth := map[string]*fib.Health{}
	if b.in.Prev != nil {
		prevHealth = b.in.Prev.Health
	}
	for _, v := range b.cfg.VPCs {
		ri := b.routers[v.ID]
		for _, rt := range v.RouteTables {
			t := fib.NewTable(rt.ID)
			for _, e := range rt.Routes {
				r := &fib.Route{Dst: e.Dst, ID: rt.ID + ":" + e.Dst.String(), VSwitch: -1, Index: -1}
				if b.in.Stats != nil {
					r.Index = len(b.snap.RouteHits)
					b.snap.RouteHits = append(b.snap.RouteHits, b.in.Stats.RouteCounter(rt.ID, e.Dst.String()))
				}
				switch e.Type {
				case config.EntrySystem:
					r.Type = fib.System
				case config.EntryCEN:
					r.Type = fib.CEN
				default:
					r.Type = fib.Custom
				}
				switch {
				case e.Type == config.EntrySystem && e.Dst == config.CloudServiceCIDR:
					r.Action = fib.ActionReserved
				case e.Type == config.EntrySystem:
					idx, ok := b.vsws[e.VSwitch]
					if !ok {
						return fmt.Errorf("%s: system entry %s names unknown VSwitch %q", rt.ID, e.Dst, e.VSwitch)
					}
					r.Action = fib.ActionLocal
					r.VSwitch = idx
				default:
					g, err := b.group(v, rt, e, prevHealth)
					if err != nil {
						return err
					}
					r.Action = fib.ActionForward
					r.Group = g
				}
				if err := t.Insert(r); err != nil {
					return fmt.Errorf("%s: %v", rt.ID, err)
				}
			}
			b.tables[rt.ID] = t
			if rt.Type == config.TableSystem {
				b.snap.Routers[ri].System = t
			}
		}
	}
	return nil
}

// group builds the next-hop group of a custom entry (V15, F8, F9, F10, C1).
func (b *builder) group(v *config.VPC, rt *config.RouteTable, e *config.RouteEntry, prevHealth map[string]*fib.Health) (*fib.Group, error) {
	hops := e.Hops()
	shape := e.ShapeWithin(b.cfg.Quotas.LBNextHopsMax)
	kind := fib.Single
	switch shape {
	case config.ShapeActiveStandby:
		kind = fib.ActiveStandby
		if hops[0].Weight == 0 { // the weight-100 hop is the active one
			hops = []config.NextHopRef{hops[1], hops[0]}
		}
	case config.ShapeLoadBalance:
		kind = fib.ECMP
	case config.ShapeSingle:
	default:
		return nil, fmt.Errorf("%s: route %s: invalid next-hop shape", rt.ID, e.Dst)
	}
	probed := kind != fib.Single || e.HealthCheck != nil
	check := config.DefaultHealthCheck()
	if e.HealthCheck != nil {
		check = *e.HealthCheck
	}
	members := make([]fib.Member, 0, len(hops))
	for _, h := range hops {
		m := fib.Member{ID: h.ID, Weight: uint8(h.Weight)}
		var src netip.Addr
		probe := fib.NoPort // the port the member's health probe leaves through
		switch config.KindOfHop(h.ID) {
		case config.HopInstance, config.HopENI:
			eni := b.cfg.ENIByID(h.ID)
			if eni == nil {
				return nil, fmt.Errorf("%s: route %s: next hop %s does not exist", rt.ID, e.Dst, h.ID)
			}
			m.Kind = fib.MemberPort
			m.Port = b.portIDs[eni.ID]
			m.Addr = eni.IP
			src = b.cfg.VSwitchByID(eni.VSwitch).Gateway()
			probe = m.Port
		default: // router interface, VPN gateway, leased line: connections.go
			var err error
			if probe, src, err = b.connectionMember(rt.ID, e.Dst, &m); err != nil {
				return nil, err
			}
		}
		if probed && probe != fib.NoPort {
			key := rt.ID + "|" + e.Dst.String() + "|" + h.ID
			hf := prevHealth[key]
			if hf == nil {
				hf = fib.NewHealth(true)
			}
			m.Health = hf
			b.snap.Health[key] = hf
			b.health = append(b.health, HealthTarget{
				Key: key, Table: rt.ID, Dst: e.Dst, NextHop: h.ID, Addr: m.Addr,
				Port: probe, Source: src, Check: check, Health: hf,
			})
		}
		members = append(members, m)
	}
	max := b.cfg.Quotas.LBNextHopsMax
	if max < fib.MaxECMP {
		max = fib.MaxECMP
	}
	if max > fib.MaxECMPLimit {
		max = fib.MaxECMPLimit
	}
	g, err := fib.NewGroupMax(kind, members, max)
	if err != nil {
		return nil, fmt.Errorf("%s: route %s: %v", rt.ID, e.Dst, err)
	}
	return g, nil
}

// policyGeneration bumps PolicyGen when any security-group input changed
// (S8) so tracked flows are re-verified at their next packet.
func (b *builder) policyGeneration() {
	h := fnv.New64a()
	var buf [8]byte
	put := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	vpcs := append([]*config.VPC(nil), b.cfg.VPCs...)
	sort.Slice(vpcs, func(i, j int) bool { return vpcs[i].ID < vpcs[j].ID })
	for _, v := range vpcs {
		put(v.ID)
		for _, g := range v.SecurityGroups {
			put(g.ID)
			put(string(g.InnerAccess))
			for _, r := range g.Rules {
				put(fmt.Sprintf("%s|%s|%d|%s|%s|%s|%s", r.Direction, r.Policy, r.Priority, r.Protocol, r.PortRange, r.PeerCIDR, r.PeerGroup))
			}
		}
	}
	for _, e := range b.cfg.ENIs() {
		put(e.ID)
		put(e.VPC)
		for _, g := range e.SecurityGroups {
			put(g)
		}
		for _, a := range e.Addrs() {
			put(a.String())
		}
	}
	put(natPolicyInput(b.cfg))     // C6: nat.go
	put(classicPolicyInput(b.cfg)) // C5: classic.go
	binary.LittleEndian.PutUint64(buf[:], uint64(len(b.cfg.ENIs())))
	h.Write(buf[:])
	key := h.Sum64()
	s := b.snap
	s.PolicyKey = key
	if b.in.Prev != nil {
		s.PolicyGen = b.in.Prev.PolicyGen
		if b.in.Prev.PolicyKey != key {
			s.PolicyGen++
		}
	}
}

// PortSpec is what the host needs to create the port of an ENI (F1) or of
// an external attachment (§7: point-to-point, no gateway).
type PortSpec struct {
	Name      string // ENI or attachment id
	Netns     string
	IfName    string
	MTU       int
	Addr      netip.Prefix // ENI: ip/<VSwitch prefix length>; external: peer_ip/32
	Peer      netip.Addr   // external ports: the router's end `ip`
	Secondary []netip.Addr
	Gateway   netip.Addr // ENI: the VSwitch gateway; external ports: none
	// Routes are device routes in the port's namespace (the internet
	// port's EIP /32s, C6); none otherwise.
	Routes []netip.Prefix
	// Metric of the default route: 0 for an instance's primary ENI, and
	// distinct higher values for secondary ENIs sharing its namespace so
	// each keeps a default route through its own gateway.
	Metric int
}

// PortSpecs lists the ports of cfg in file order: ENIs, then classic
// instances (classic.go), then external ports (connections.go).
func PortSpecs(cfg *config.Config) []PortSpec {
	var out []PortSpec
	for _, e := range cfg.ENIs() {
		vsw := cfg.VSwitchByID(e.VSwitch)
		ps := PortSpec{Name: e.ID, Netns: e.Netns, IfName: e.IfName, MTU: e.MTU}
		if ps.MTU == 0 {
			ps.MTU = config.DefaultMTU
		}
		if vsw != nil && e.IP.IsValid() {
			ps.Addr = netip.PrefixFrom(e.IP, vsw.CIDR.Bits())
			ps.Gateway = vsw.Gateway()
		}
		ps.Secondary = append(ps.Secondary, e.SecondaryIPs...)
		if !e.Primary {
			if inst := cfg.InstanceByID(e.InstanceID); inst != nil {
				for i, s := range inst.ENIs {
					if s.ID == e.ID {
						ps.Metric = 100 + i
					}
				}
			}
		}
		out = append(out, ps)
	}
	out = append(out, classicPortSpecs(cfg)...) // C5: classic.go
	return append(out, externalPortSpecs(cfg)...)
}
