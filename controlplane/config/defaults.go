package config

import (
	"net/netip"
	"strings"
)

// ApplyDefaults fills in everything a file may leave out (SPEC §2) and
// materializes the resources vrouter creates by itself. It is idempotent:
// running it again after a change (the API's overlay, R5) recomputes every
// derived value. It never fails; what cannot be defaulted is left for
// Validate to report. In order:
//
//   - quotas and conntrack fields not written get DefaultQuotas and
//     DefaultConntrack values;
//   - `vswitch: default` (V11) creates the VPC "vpc-default" (172.31.0.0/16)
//     when absent and, per zone in order of first use, the VSwitch
//     "vsw-default-<zone>" on the lowest free /20 (172.31.0.0/20,
//     172.31.16.0/20, …);
//   - every VPC gets its VRouter id ("vrt-" + suffix), its system route
//     table (the one written with `type: system`, else "vtb-sys-<suffix>"
//     inserted first) and its default security group "sg-default-<suffix>"
//     (appended when absent; inner_access accept, no rules) (V12, V16);
//   - every route table of a VPC starts with the System entries of V13:
//     100.64.0.0/10, then one per VSwitch CIDR in file order; Custom entries
//     follow; entries with next_hops get F9's default health check;
//   - an absent VSwitch route_table becomes the system table's id;
//   - rules get policy accept, priority 1 and, for icmp/gre/all, -1/-1;
//   - instances and ENIs get ifname (eth0; secondary eth1, eth2, …), mtu
//     1500, the VPC's default group, the instance's netns; addresses given
//     explicitly are taken first, then each ENI without one gets the
//     lowest free usable address of its VSwitch in file order (V9);
//   - effective source/dest check (F4) and the flattened ENI view;
//   - the lookup index (Reindex).
func ApplyDefaults(c *Config) {
	defaultQuotas(c)
	defaultConntrack(c)
	defaultVPC(c)
	vswVPC := map[string]*VPC{}
	vsw := map[string]*VSwitch{}
	for _, v := range c.VPCs {
		defaultOneVPC(v)
		for _, s := range v.VSwitches {
			if _, ok := vsw[s.ID]; !ok && s.ID != "" {
				vsw[s.ID] = s
				vswVPC[s.ID] = v
			}
		}
	}
	for _, b := range c.VBRs {
		for _, r := range b.Routes {
			defaultRoute(r)
		}
	}
	if c.Classic != nil {
		for _, g := range c.Classic.SecurityGroups {
			for _, r := range g.Rules {
				defaultRule(r)
			}
			for _, r := range g.ClassicLinkRules {
				if r.Policy == "" {
					r.Policy = PolicyAccept
				}
				if r.Mode == "" && !hasKey(r.KeyPos, "mode") {
					r.Mode = ModeBoth
				}
				if r.Priority == 0 && !hasKey(r.KeyPos, "priority") {
					r.Priority = 1
				}
				if r.PortRange == (PortRange{}) && !hasKey(r.KeyPos, "port_range") && r.Protocol != "" && !r.Protocol.HasPorts() {
					r.PortRange = AllPorts
				}
			}
		}
		for _, ci := range c.Classic.Instances {
			if ci.IfName == "" {
				ci.IfName = DefaultIfName
			}
			if ci.MTU == 0 && !hasKey(ci.KeyPos, "mtu") {
				ci.MTU = DefaultMTU
			}
		}
	}
	defaultInstances(c, vsw, vswVPC)
	for _, g := range c.NATGateways {
		for _, s := range g.SNAT {
			if s.SourceVSwitch != "" {
				s.SourceCIDR = netip.Prefix{}
				if sw := vsw[s.SourceVSwitch]; sw != nil && sw.CIDR.IsValid() {
					s.SourceCIDR = sw.CIDR.Masked()
				}
			}
		}
	}
	c.Reindex()
}

func hasKey(kp map[string]Pos, k string) bool {
	_, ok := kp[k]
	return ok
}

func defInt(kp map[string]Pos, key string, dst *int, def int) {
	if *dst == 0 && !hasKey(kp, key) {
		*dst = def
	}
}

func defaultQuotas(c *Config) {
	q, d, kp := &c.Quotas, DefaultQuotas(), c.Quotas.KeyPos
	defInt(kp, "vpcs_per_region", &q.VPCsPerRegion, d.VPCsPerRegion)
	defInt(kp, "vswitches_per_vpc", &q.VSwitchesPerVPC, d.VSwitchesPerVPC)
	defInt(kp, "route_tables_per_vpc", &q.RouteTablesPerVPC, d.RouteTablesPerVPC)
	defInt(kp, "custom_routes_per_table", &q.CustomRoutesPerTable, d.CustomRoutesPerTable)
	defInt(kp, "rules_per_group", &q.RulesPerGroup, d.RulesPerGroup)
	defInt(kp, "groups_per_eni", &q.GroupsPerENI, d.GroupsPerENI)
	defInt(kp, "classic_links_per_vpc", &q.ClassicLinksPerVPC, d.ClassicLinksPerVPC)
	defInt(kp, "mcast_groups_per_server", &q.McastGroupsPerServer, d.McastGroupsPerServer)
	defInt(kp, "mcast_members_per_group", &q.McastMembersPerGroup, d.McastMembersPerGroup)
	defInt(kp, "mcast_groups_per_member", &q.McastGroupsPerMember, d.McastGroupsPerMember)
	defInt(kp, "lb_next_hops_max", &q.LBNextHopsMax, d.LBNextHopsMax)
}

func defaultConntrack(c *Config) {
	t, d, kp := &c.Conntrack, DefaultConntrack(), c.Conntrack.KeyPos
	defInt(kp, "max_entries", &t.MaxEntries, d.MaxEntries)
	for _, f := range []struct {
		key string
		dst *int64
		def int64
	}{
		{"tcp_established_timeout", (*int64)(&t.TCPEstablishedTimeout), int64(d.TCPEstablishedTimeout)},
		{"tcp_handshake_timeout", (*int64)(&t.TCPHandshakeTimeout), int64(d.TCPHandshakeTimeout)},
		{"tcp_closing_timeout", (*int64)(&t.TCPClosingTimeout), int64(d.TCPClosingTimeout)},
		{"udp_timeout", (*int64)(&t.UDPTimeout), int64(d.UDPTimeout)},
		{"udp_stream_timeout", (*int64)(&t.UDPStreamTimeout), int64(d.UDPStreamTimeout)},
		{"icmp_timeout", (*int64)(&t.ICMPTimeout), int64(d.ICMPTimeout)},
	} {
		if *f.dst == 0 && !hasKey(kp, f.key) {
			*f.dst = f.def
		}
	}
}

// defaultVPC implements V11.
func defaultVPC(c *Config) {
	var dv *VPC
	for _, v := range c.VPCs {
		if v.ID == DefaultVPCID {
			v.Default = true
			if dv == nil {
				dv = v
			}
		}
	}
	if dv != nil {
		for _, s := range dv.VSwitches {
			if strings.HasPrefix(s.ID, DefaultVSwitchPfx) {
				s.Default = true
			}
		}
	}
	exists := map[string]bool{}
	for _, v := range c.VPCs {
		for _, s := range v.VSwitches {
			exists[s.ID] = true
		}
	}
	want := func(in *Instance, sw *string) {
		if *sw != "default" {
			return
		}
		if in.Zone == "" {
			return // Validate: V11 needs zone
		}
		id := DefaultVSwitchPfx + in.Zone
		*sw = id
		if exists[id] {
			return
		}
		if dv == nil {
			dv = &VPC{ID: DefaultVPCID, CIDR: DefaultVPCCIDR, Default: true, Pos: in.Pos}
			c.VPCs = append(c.VPCs, dv)
		}
		if !dv.CIDR.IsValid() || dv.CIDR.Masked() != DefaultVPCCIDR {
			return // Validate: V11 wrong CIDR of the default VPC
		}
		cidr, ok := freeSlash20(dv)
		if !ok {
			return // Validate: V11 no free /20
		}
		dv.VSwitches = append(dv.VSwitches, &VSwitch{ID: id, Zone: in.Zone, CIDR: cidr, VPC: dv.ID, Default: true, Pos: in.Pos})
		exists[id] = true
	}
	for _, in := range c.Instances {
		if in.VSwitch == "default" {
			in.DefaultVSwitch = true
		}
		want(in, &in.VSwitch)
		for _, e := range in.ENIs {
			want(in, &e.VSwitch)
		}
	}
}

func freeSlash20(v *VPC) (netip.Prefix, bool) {
	base := u32(DefaultVPCCIDR.Addr())
	for i := uint32(0); i < 16; i++ {
		p := netip.PrefixFrom(a4(base+i<<12), 20)
		free := true
		for _, s := range v.VSwitches {
			if s.CIDR.IsValid() && s.CIDR.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func defaultOneVPC(v *VPC) {
	sfx := v.Suffix()
	if v.VRouter.ID == "" && v.ID != "" {
		v.VRouter.ID = "vrt-" + sfx
	}
	if v.VRouter.Pos.IsZero() {
		v.VRouter.Pos = v.Pos
	}
	var sys *RouteTable
	for _, t := range v.RouteTables {
		t.VPC = v.ID
		if t.Type == "" {
			t.Type = TableCustom
		}
		if t.Type == TableSystem && sys == nil {
			sys = t
		}
	}
	if sys == nil && v.ID != "" {
		sys = &RouteTable{ID: SystemTablePfx + sfx, Type: TableSystem, VPC: v.ID, Pos: v.Pos}
		v.RouteTables = append([]*RouteTable{sys}, v.RouteTables...)
	}
	for _, s := range v.VSwitches {
		s.VPC = v.ID
		if s.RouteTable == "" && sys != nil {
			s.RouteTable = sys.ID
		}
	}
	// V13 system entries, regenerated each time.
	for _, t := range v.RouteTables {
		sysEntries := []*RouteEntry{{Dst: CloudServiceCIDR, Type: EntrySystem, Pos: t.Pos}}
		for _, s := range v.VSwitches {
			if s.CIDR.IsValid() {
				sysEntries = append(sysEntries, &RouteEntry{Dst: s.CIDR.Masked(), Type: EntrySystem, VSwitch: s.ID, Pos: t.Pos})
			}
		}
		routes := sysEntries
		for _, r := range t.Routes {
			if r.Type == EntrySystem {
				continue
			}
			defaultRoute(r)
			routes = append(routes, r)
		}
		t.Routes = routes
	}
	def := v.DefaultGroupID()
	found := false
	for _, g := range v.SecurityGroups {
		g.VPC = v.ID
		if g.InnerAccess == "" {
			g.InnerAccess = PolicyAccept
		}
		if g.ID == def {
			g.Default = true
			found = true
		}
		for _, r := range g.Rules {
			defaultRule(r)
		}
	}
	if !found && v.ID != "" {
		v.SecurityGroups = append(v.SecurityGroups, &SecurityGroup{ID: def, VPC: v.ID, InnerAccess: PolicyAccept, Default: true, Pos: v.Pos})
	}
}

func defaultRoute(r *RouteEntry) {
	if r.Type == "" {
		r.Type = EntryCustom
	}
	if len(r.NextHops) == 0 {
		return
	}
	d := DefaultHealthCheck()
	if r.HealthCheck == nil {
		r.HealthCheck = &d
		return
	}
	h := r.HealthCheck
	if h.Interval == 0 && !hasKey(r.KeyPos, "health_check.interval") {
		h.Interval = d.Interval
	}
	if h.Timeout == 0 && !hasKey(r.KeyPos, "health_check.timeout") {
		h.Timeout = d.Timeout
	}
	defInt(r.KeyPos, "health_check.failures", &h.Failures, d.Failures)
	defInt(r.KeyPos, "health_check.successes", &h.Successes, d.Successes)
}

func defaultRule(r *Rule) {
	if r.Policy == "" {
		r.Policy = PolicyAccept
	}
	defInt(r.KeyPos, "priority", &r.Priority, 1)
	if r.PortRange == (PortRange{}) && !hasKey(r.KeyPos, "port_range") && r.Protocol != "" && !r.Protocol.HasPorts() {
		r.PortRange = AllPorts
	}
}

func defaultInstances(c *Config, vsw map[string]*VSwitch, vswVPC map[string]*VPC) {
	groupsOf := func(kp map[string]Pos, have []string, v *VPC) []string {
		if have == nil && !hasKey(kp, "security_groups") && v != nil && v.ID != "" {
			return []string{v.DefaultGroupID()}
		}
		return have
	}
	vpcID := func(sw string) (string, *VPC) {
		if v := vswVPC[sw]; v != nil {
			return v.ID, v
		}
		return "", nil
	}
	for _, in := range c.Instances {
		if in.IfName == "" {
			in.IfName = DefaultIfName
		}
		defInt(in.KeyPos, "mtu", &in.MTU, DefaultMTU)
		var v *VPC
		in.VPC, v = vpcID(in.VSwitch)
		in.SecurityGroups = groupsOf(in.KeyPos, in.SecurityGroups, v)
		for i, e := range in.ENIs {
			e.InstanceID = in.ID
			var ev *VPC
			e.VPC, ev = vpcID(e.VSwitch)
			if e.Netns == "" && !hasKey(e.KeyPos, "netns") {
				e.Netns = in.Netns
			}
			if e.IfName == "" {
				e.IfName = "eth" + itoa(i+1)
			}
			e.MTU = in.MTU
			e.SecurityGroups = groupsOf(e.KeyPos, e.SecurityGroups, ev)
		}
	}
	allocate(c, vsw)

	hop := map[string]bool{}
	for _, v := range c.VPCs {
		for _, t := range v.RouteTables {
			for _, r := range t.Routes {
				for _, h := range r.Hops() {
					hop[h.ID] = true
				}
			}
		}
	}
	for _, in := range c.Instances {
		p := &ENI{
			ID: in.ID, InstanceID: in.ID, Primary: true, Name: in.Name, Description: in.Description,
			VPC: in.VPC, VSwitch: in.VSwitch, IP: in.IP, SecondaryIPs: in.SecondaryIPs,
			SecurityGroups: in.SecurityGroups, Netns: in.Netns, IfName: in.IfName, MTU: in.MTU,
			SourceDestCheckSet: in.SourceDestCheck, Pos: in.Pos, KeyPos: in.KeyPos,
		}
		in.primary = p
		for _, e := range append([]*ENI{p}, in.ENIs...) {
			if e.SourceDestCheckSet != nil {
				e.SourceDestCheck = *e.SourceDestCheckSet
			} else {
				e.SourceDestCheck = !hop[e.ID]
			}
		}
	}
}

// allocate gives each ENI without an address the lowest free usable
// address of its VSwitch, after reserving every explicit address (§2, V9).
func allocate(c *Config, vsw map[string]*VSwitch) {
	used := map[vpcAddr]bool{}
	mark := func(vpc string, a netip.Addr) {
		if a.IsValid() {
			used[vpcAddr{vpc, a}] = true
		}
	}
	for _, in := range c.Instances {
		mark(in.VPC, in.IP)
		for _, a := range in.SecondaryIPs {
			mark(in.VPC, a)
		}
		for _, e := range in.ENIs {
			mark(e.VPC, e.IP)
		}
	}
	cursor := map[string]uint32{}
	next := func(swID string) netip.Addr {
		sw := vsw[swID]
		if sw == nil || !sw.CIDR.IsValid() || sw.CIDR.Bits() > 29 || sw.CIDR.Bits() < 1 {
			return netip.Addr{}
		}
		first := u32(sw.CIDR.Masked().Addr()) + 1
		last := u32(sw.Gateway()) - 1
		cur, ok := cursor[swID]
		if !ok {
			cur = first
		}
		for ; cur <= last && cur >= first; cur++ {
			a := a4(cur)
			if !used[vpcAddr{sw.VPC, a}] {
				used[vpcAddr{sw.VPC, a}] = true
				cursor[swID] = cur + 1
				return a
			}
		}
		cursor[swID] = cur
		return netip.Addr{}
	}
	failed := func(kp map[string]Pos) bool { return hasKey(kp, "ip") && c.parseErrs[kp["ip"]] }
	for _, in := range c.Instances {
		if !in.IP.IsValid() && !failed(in.KeyPos) {
			in.IP = next(in.VSwitch)
		}
		for _, e := range in.ENIs {
			if !e.IP.IsValid() && !failed(e.KeyPos) {
				e.IP = next(e.VSwitch)
			}
		}
	}
}
