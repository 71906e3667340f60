package compile

// ClassicLink (SPEC C5): the classic network compiled onto the data plane.
//
// Classic instances are ports of kind PortClassic entering one router,
// "classic" (its own conntrack zone, kept across reloads). Each gets its
// address as a /8 in its namespace with a default route via ClassicGateway
// (F1 for classic instances), and anti-spoofing like an ENI. Their classic
// groups compile to a secgroup policy exactly like VPC groups (§5; classic
// groups have no inner_access key and behave as inner_access accept).
//
// Tables:
//   - "classic": a /32 System entry per classic instance toward its port;
//     the table of every unlinked classic instance;
//   - "classic:<vpc>": the same plus the VSwitch CIDRs of <vpc> delivered
//     like the VPC's own VSwitch entries; the table of every classic
//     instance linked to <vpc>;
//   - in every route table of a VPC with classic_link: true (when the file
//     has classic instances): a /32 System entry per classic instance
//     linked to it, and 10.0.0.0/8 handed to the router "classic-link",
//     whose table is empty — any other classic address is net unreachable
//     (VPC ENIs reach no classic instance that is not linked). A custom
//     route to or inside 10.0.0.0/8 is a C5 error, so nothing conflicts.
//
// Crossing between a classic instance and a linked VPC is one router hop
// (one TTL decrement, F6). The ClassicLink rules and modes are enforced by
// the data plane when a flow is admitted (dataplane/classic.go).

import (
	"fmt"
	"net/netip"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// ClassicGateway is the gateway of classic instances: the first of the
// last three addresses of 10.0.0.0/8, mirroring a VSwitch's gateway (V9).
// It is the next hop of their default route and the source of the ICMP
// errors and echo replies the router sends them. A classic instance cannot
// use it (compile rejects the address).
var ClassicGateway = netip.MustParseAddr("10.255.255.253")

// Router ids of the classic network.
const (
	classicRouterID = "classic"
	classicLinkID   = "classic-link" // empty table: unlinked classic addresses
)

var classicNet = config.ClassicCIDR

// classicInstances returns the classic instances of cfg (nil when none).
func classicInstances(cfg *config.Config) []*config.ClassicInstance {
	if cfg.Classic == nil {
		return nil
	}
	return cfg.Classic.Instances
}

// classicPortSpecs is what the host needs for the classic instances: a
// TUN in the instance's namespace with ip/8 and a default route via
// ClassicGateway.
func classicPortSpecs(cfg *config.Config) []PortSpec {
	var out []PortSpec
	for _, ci := range classicInstances(cfg) {
		ps := PortSpec{Name: ci.ID, Netns: ci.Netns, IfName: ci.IfName, MTU: ci.MTU}
		if ps.IfName == "" {
			ps.IfName = config.DefaultIfName
		}
		if ps.MTU == 0 {
			ps.MTU = config.DefaultMTU
		}
		if ci.IP.IsValid() {
			ps.Addr = netip.PrefixFrom(ci.IP, classicNet.Bits())
			ps.Gateway = ClassicGateway
		}
		out = append(out, ps)
	}
	return out
}

// classicPortNames lists the classic ports for assignPortIDs.
func classicPortNames(cfg *config.Config) []string {
	var out []string
	for _, ci := range classicInstances(cfg) {
		out = append(out, ci.ID)
	}
	return out
}

// routerZone returns a conntrack zone for the router id that is not a
// VPC's: its previous zone when no router of this snapshot took it
// meanwhile, else the lowest free one.
func (b *builder) routerZone(id string) (uint16, error) {
	used := map[uint16]bool{}
	for _, r := range b.snap.Routers {
		used[r.Zone] = true
	}
	if prev := b.in.Prev; prev != nil {
		for _, r := range prev.Routers {
			if r.ID == id && !used[r.Zone] {
				return r.Zone, nil
			}
		}
	}
	z := uint16(1)
	for used[z] {
		z++
	}
	if z > 255 {
		return 0, fmt.Errorf("%s: more than 255 routers", id)
	}
	return z, nil
}

// addRouter appends the router id with zone and table t.
func (b *builder) addRouter(id string, zone uint16, t *fib.Table) int {
	b.routers[id] = len(b.snap.Routers)
	b.snap.Routers = append(b.snap.Routers, &dataplane.Router{ID: id, Zone: zone, System: t})
	if t != nil {
		b.tables[t.ID] = t
	}
	return b.routers[id]
}

// protoNumber maps a rule protocol to its IP protocol number (0 = all).
func protoNumber(p config.Protocol) uint8 {
	switch p {
	case config.ProtoTCP:
		return packet.ProtoTCP
	case config.ProtoUDP:
		return packet.ProtoUDP
	case config.ProtoICMP:
		return packet.ProtoICMP
	case config.ProtoGRE:
		return 47
	}
	return 0
}

// buildClassic compiles the classic network (see the file comment). It
// runs once the VPC tables exist and before CEN routes are learned, so the
// ClassicLink entries win over learned ones.
func (b *builder) buildClassic() error {
	insts := classicInstances(b.cfg)
	if len(insts) == 0 {
		return nil
	}
	zone, err := b.routerZone(classicRouterID)
	if err != nil {
		return err
	}
	classicTable := fib.NewTable(classicRouterID)
	// The link router shares the classic zone (it never keys a flow) and
	// comes first, so that a zone lookup names the classic router
	// (controlplane/api zoneNames keeps the last router of a zone).
	lr := b.addRouter(classicLinkID, zone, fib.NewTable(classicLinkID))
	cr := b.addRouter(classicRouterID, zone, classicTable)
	for _, ci := range insts {
		if ci.IP == ClassicGateway {
			return fmt.Errorf("%s: %s is the classic gateway", ci.ID, ci.IP)
		}
		if err := b.classicHost(classicTable, ci); err != nil {
			return err
		}
	}

	// Tables of linked instances, and the VPC side of each link.
	linkGroup, err := fib.NewGroup(fib.Single, []fib.Member{{ID: classicLinkID, Kind: fib.MemberRouterInterface, Peer: lr, Port: fib.NoPort}})
	if err != nil {
		return err
	}
	portTable := map[string]*fib.Table{}
	for _, v := range b.cfg.VPCs {
		if !v.ClassicLink {
			continue
		}
		var linked []*config.ClassicInstance
		for _, ci := range insts {
			if ci.Link == v.ID {
				linked = append(linked, ci)
			}
		}
		if len(linked) > 0 {
			tid := classicRouterID + ":" + v.ID
			t := fib.NewTable(tid)
			for _, ci := range insts {
				if err := b.classicHost(t, ci); err != nil {
					return err
				}
			}
			for _, sw := range v.VSwitches {
				r := &fib.Route{Dst: sw.CIDR.Masked(), ID: tid + ":" + sw.CIDR.Masked().String(), Type: fib.System,
					Action: fib.ActionLocal, VSwitch: b.vsws[sw.ID]}
				r.Index = b.routeCounter(tid, r.Dst)
				if err := t.Insert(r); err != nil {
					return fmt.Errorf("%s: %v", tid, err)
				}
			}
			b.tables[tid] = t
			for _, ci := range linked {
				portTable[ci.ID] = t
			}
		}
		for _, rt := range v.RouteTables {
			t, ok := b.tables[rt.ID]
			if !ok {
				return fmt.Errorf("%s: route table %s not compiled", v.ID, rt.ID)
			}
			for _, ci := range linked {
				if err := b.classicHost(t, ci); err != nil {
					return err
				}
			}
			r := &fib.Route{Dst: classicNet, ID: rt.ID + ":" + classicNet.String(), Type: fib.System,
				Action: fib.ActionForward, Group: linkGroup, VSwitch: -1}
			r.Index = b.routeCounter(rt.ID, classicNet)
			if err := t.Insert(r); err != nil {
				return fmt.Errorf("%s: ClassicLink entry: %v", rt.ID, err)
			}
		}
	}
	return b.classicPorts(cr, classicTable, portTable)
}

// classicHost adds the /32 entry of classic instance ci to t.
func (b *builder) classicHost(t *fib.Table, ci *config.ClassicInstance) error {
	dst := netip.PrefixFrom(ci.IP, 32)
	g, err := fib.NewGroup(fib.Single, []fib.Member{{ID: ci.ID, Kind: fib.MemberPort, Port: b.portIDs[ci.ID], Addr: ci.IP}})
	if err != nil {
		return fmt.Errorf("%s: %v", ci.ID, err)
	}
	r := &fib.Route{Dst: dst, ID: t.ID + ":" + dst.String(), Type: fib.System, Action: fib.ActionForward, Group: g, VSwitch: -1}
	r.Index = b.routeCounter(t.ID, dst)
	if err := t.Insert(r); err != nil {
		return fmt.Errorf("%s: %v", t.ID, err)
	}
	return nil
}

// classicPorts creates the classic ports with their policies and the
// ClassicLink state of the snapshot.
func (b *builder) classicPorts(router int, classicTable *fib.Table, portTable map[string]*fib.Table) error {
	cl := b.cfg.Classic
	in := &secgroup.Input{Groups: map[string]*secgroup.Group{}, Members: map[string][]netip.Addr{}}
	for _, g := range cl.SecurityGroups {
		sg := &secgroup.Group{ID: g.ID, InnerAccept: true}
		for i, r := range g.Rules {
			sg.Rules = append(sg.Rules, convertRule(g.ID, i, r))
		}
		in.Groups[g.ID] = sg
	}
	for _, ci := range cl.Instances {
		for _, g := range ci.SecurityGroups {
			in.Members[g] = append(in.Members[g], ci.IP)
		}
	}

	// Dense ids of the VPC groups ClassicLink rules name.
	dense := map[string]uint32{}
	for _, g := range cl.SecurityGroups {
		for _, r := range g.ClassicLinkRules {
			for _, id := range r.VPCSecurityGroups {
				if _, ok := dense[id]; !ok {
					dense[id] = uint32(len(dense))
				}
			}
		}
	}

	instances := map[fib.PortID]*dataplane.ClassicInstance{}
	for _, ci := range cl.Instances {
		id := b.portIDs[ci.ID]
		t := classicTable
		if pt := portTable[ci.ID]; pt != nil {
			t = pt
		}
		p := &dataplane.Port{
			ID:              id,
			Name:            ci.ID,
			Kind:            dataplane.PortClassic,
			Router:          router,
			Table:           t,
			VSwitch:         -1,
			Gateway:         ClassicGateway,
			MTU:             ci.MTU,
			Addrs:           []netip.Addr{ci.IP},
			SourceDestCheck: true,
		}
		if p.MTU == 0 {
			p.MTU = config.DefaultMTU
		}
		if b.in.Stats != nil {
			p.Counters = b.in.Stats.PortCounters(ci.ID)
		} else {
			p.Counters = &stats.Port{}
		}
		if b.in.Devices != nil {
			p.Dev = b.in.Devices[ci.ID]
		}
		if b.in.Conntrack != nil {
			pol, err := secgroup.Compile(in, ci.SecurityGroups)
			if err != nil {
				return fmt.Errorf("%s: classic security groups: %v", ci.ID, err)
			}
			p.Policy = pol
		}
		b.snap.Ports[id] = p

		st := &dataplane.ClassicInstance{ID: ci.ID, Link: -1}
		if ci.Link != "" {
			ri, ok := b.routers[ci.Link]
			if !ok {
				return fmt.Errorf("%s: link: unknown VPC %s", ci.ID, ci.Link)
			}
			st.Link = ri
		}
		for _, gid := range ci.SecurityGroups {
			g := b.cfg.ClassicSecurityGroupByID(gid)
			if g == nil {
				return fmt.Errorf("%s: classic security group %s does not exist", ci.ID, gid)
			}
			for i, r := range g.ClassicLinkRules {
				lr := dataplane.LinkRule{Group: g.ID, Index: i, Accept: r.Policy != config.PolicyDrop,
					Priority: uint8(max(r.Priority, 1)), Proto: protoNumber(r.Protocol)}
				switch r.Mode {
				case config.ModeClassicToVPC:
					lr.Mode = dataplane.LinkClassicToVPC
				case config.ModeVPCToClassic:
					lr.Mode = dataplane.LinkVPCToClassic
				default:
					lr.Mode = dataplane.LinkBoth
				}
				if r.Protocol.HasPorts() && !r.PortRange.IsAll() {
					lr.PortLo, lr.PortHi = uint16(r.PortRange.From), uint16(r.PortRange.To)
				}
				for _, vg := range r.VPCSecurityGroups {
					lr.Groups = append(lr.Groups, dense[vg])
				}
				st.Rules = append(st.Rules, lr)
			}
		}
		instances[id] = st
	}

	eniGroups := map[fib.PortID][]uint32{}
	for _, e := range b.cfg.ENIs() {
		var ids []uint32
		for _, g := range e.SecurityGroups {
			if d, ok := dense[g]; ok {
				ids = append(ids, d)
			}
		}
		if len(ids) > 0 {
			eniGroups[b.portIDs[e.ID]] = ids
		}
	}
	b.snap.Classic = dataplane.NewClassic(ClassicGateway, instances, eniGroups)
	return nil
}

// classicPolicyInput is what the classic network contributes to the
// policy fingerprint (S8): classic rules, ClassicLink rules, instances'
// addresses, groups and links.
func classicPolicyInput(cfg *config.Config) string {
	if cfg.Classic == nil {
		return ""
	}
	s := ""
	for _, g := range cfg.Classic.SecurityGroups {
		s += "cg " + g.ID + "\n"
		for _, r := range g.Rules {
			s += fmt.Sprintf("r %s|%s|%d|%s|%s|%s|%s\n", r.Direction, r.Policy, r.Priority, r.Protocol, r.PortRange, r.PeerCIDR, r.PeerGroup)
		}
		for _, r := range g.ClassicLinkRules {
			s += fmt.Sprintf("l %v|%s|%s|%d|%s|%s\n", r.VPCSecurityGroups, r.Mode, r.Policy, r.Priority, r.Protocol, r.PortRange)
		}
	}
	for _, ci := range cfg.Classic.Instances {
		s += fmt.Sprintf("ci %s|%s|%v|%s\n", ci.ID, ci.IP, ci.SecurityGroups, ci.Link)
	}
	return s
}
