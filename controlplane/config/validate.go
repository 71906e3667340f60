package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Validate checks c against SPEC §3 (V0–V20), §6 (M2, as V17) and §7
// (C1–C6), plus the sanity of `quotas:` (V19) and `conntrack:` (S7). It
// reports every error, not only the first: err joins *Diag values sorted
// by position (errors.Join; see Diagnostics), nil when valid. Warnings (V20,
// C4 conflicts) are returned separately and are never fatal.
//
// c must have had ApplyDefaults run (Parse does); Validate calls it itself
// when the index is missing. Validate does not modify c otherwise.
//
// Reference errors carry the rule that governs the reference: an unknown
// route table V12, next hop V15, security group V16, multicast VPC or
// server V17, router-interface end C1, CEN attachment C4, ClassicLink ids
// C5, EIP/NAT ids C6; an unknown VSwitch of an instance or ENI is V0.
func Validate(c *Config) (warnings []*Diag, err error) {
	if c == nil {
		return nil, &Diag{ID: "config", Rule: "V0", Msg: "no configuration"}
	}
	if c.idx == nil {
		ApplyDefaults(c)
	}
	v := &validator{c: c, q: c.Quotas, ids: map[string]idUse{}, ifnames: map[[2]string]string{}}
	v.run()
	SortDiags(v.warns)
	return dedupDiags(v.warns), joinDiags(v.errs)
}

type idUse struct {
	kind      string
	pos       Pos
	generated bool
}

type validator struct {
	c       *Config
	q       Quotas
	errs    []*Diag
	warns   []*Diag
	ids     map[string]idUse
	ifnames map[[2]string]string // (netns, ifname) → owner id
	netns   map[string]string    // instance netns → instance id
	addrs   map[vpcAddr]string   // ENI address → owner id
	addrPos map[vpcAddr]Pos
}

func (v *validator) errf(p Pos, id, rule, format string, args ...any) {
	id = idOr(id, "config")
	v.errs = append(v.errs, &Diag{File: v.c.File, Line: p.Line, Col: p.Col, ID: id, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) warnf(p Pos, id, rule, format string, args ...any) {
	id = idOr(id, "config")
	v.warns = append(v.warns, &Diag{File: v.c.File, Line: p.Line, Col: p.Col, ID: id, Rule: rule, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// at is the position of key's value, else def.
func at(kp map[string]Pos, key string, def Pos) Pos {
	if p, ok := kp[key]; ok {
		return p
	}
	return def
}

// failed reports whether the parser already reported key's value.
func (v *validator) failed(kp map[string]Pos, key string) bool {
	p, ok := kp[key]
	return ok && v.c.parseErrs[p]
}

// missing reports an absent required value unless the parser already
// complained about it; it returns true when the value is unusable.
func (v *validator) missing(kp map[string]Pos, key string, pos Pos, id, rule string, empty bool) bool {
	if !empty {
		return false
	}
	if !v.failed(kp, key) {
		v.errf(at(kp, key, pos), id, rule, "missing %s", key)
	}
	return true
}

func (v *validator) run() {
	c := v.c
	v.top()
	v.registerIDs()
	for i, vpc := range c.VPCs {
		v.vpc(i, vpc)
	}
	v.vpcCounts()
	v.instances()
	v.multicast()
	v.mcastClients() // mcast_clients.go
	v.routerInterfaces()
	v.vbrs()
	v.vpnGateways()
	v.cens()
	v.classic()
	v.internet()
	v.routesAll()
	v.warnings()
}

// ---------------------------------------------------------------------------
// top level, quotas, conntrack

var regionRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

func (v *validator) top() {
	c := v.c
	switch {
	case c.Version == 0 && !hasKey(c.KeyPos, "version"):
		v.errf(c.Pos, "version", "V0", "missing version (must be 1)")
	case c.Version != 1 && !v.failed(c.KeyPos, "version"):
		v.errf(at(c.KeyPos, "version", c.Pos), "version", "V0", "unsupported version %d (must be 1)", c.Version)
	}
	if !v.missing(c.KeyPos, "region", c.Pos, "region", "V0", c.Region == "") && !regionRE.MatchString(c.Region) {
		v.errf(at(c.KeyPos, "region", c.Pos), "region", "V0", "region %q: lower-case letters, digits and '-', starting with a letter", c.Region)
	}
	q, d, m, kp := c.Quotas, DefaultQuotas(), MaxQuotas(), c.Quotas.KeyPos
	for _, f := range []struct {
		key          string
		val, def, mx int
	}{
		{"vpcs_per_region", q.VPCsPerRegion, d.VPCsPerRegion, m.VPCsPerRegion},
		{"vswitches_per_vpc", q.VSwitchesPerVPC, d.VSwitchesPerVPC, m.VSwitchesPerVPC},
		{"route_tables_per_vpc", q.RouteTablesPerVPC, d.RouteTablesPerVPC, m.RouteTablesPerVPC},
		{"custom_routes_per_table", q.CustomRoutesPerTable, d.CustomRoutesPerTable, m.CustomRoutesPerTable},
		{"rules_per_group", q.RulesPerGroup, d.RulesPerGroup, m.RulesPerGroup},
		{"groups_per_eni", q.GroupsPerENI, d.GroupsPerENI, m.GroupsPerENI},
		{"classic_links_per_vpc", q.ClassicLinksPerVPC, d.ClassicLinksPerVPC, m.ClassicLinksPerVPC},
		{"mcast_groups_per_server", q.McastGroupsPerServer, d.McastGroupsPerServer, m.McastGroupsPerServer},
		{"mcast_members_per_group", q.McastMembersPerGroup, d.McastMembersPerGroup, m.McastMembersPerGroup},
		{"mcast_groups_per_member", q.McastGroupsPerMember, d.McastGroupsPerMember, m.McastGroupsPerMember},
		{"lb_next_hops_max", q.LBNextHopsMax, d.LBNextHopsMax, m.LBNextHopsMax},
	} {
		if v.failed(kp, f.key) {
			continue
		}
		p := at(kp, f.key, q.Pos)
		if f.val < f.def {
			v.errf(p, "quotas", "V19", "%s: %d is below the default %d; quotas can only be raised", f.key, f.val, f.def)
		} else if f.val > f.mx {
			v.errf(p, "quotas", "V19", "%s: %d is above the ceiling %d", f.key, f.val, f.mx)
		}
	}
	// Keep later checks meaningful even with a bad quota section.
	v.q = clampQuotas(q)

	t, tk := c.Conntrack, c.Conntrack.KeyPos
	if !v.failed(tk, "max_entries") && (t.MaxEntries < 1024 || t.MaxEntries > 1<<26) {
		v.errf(at(tk, "max_entries", t.Pos), "conntrack", "S7", "max_entries: %d outside 1024–%d", t.MaxEntries, 1<<26)
	}
	for _, f := range []struct {
		key string
		d   time.Duration
	}{
		{"tcp_established_timeout", t.TCPEstablishedTimeout},
		{"tcp_handshake_timeout", t.TCPHandshakeTimeout},
		{"tcp_closing_timeout", t.TCPClosingTimeout},
		{"udp_timeout", t.UDPTimeout},
		{"udp_stream_timeout", t.UDPStreamTimeout},
		{"icmp_timeout", t.ICMPTimeout},
	} {
		if !v.failed(tk, f.key) && (f.d < time.Second || f.d > 7*24*time.Hour) {
			v.errf(at(tk, f.key, t.Pos), "conntrack", "S7", "%s: %s outside 1s–168h", f.key, f.d)
		}
	}
	if t.UDPStreamTimeout < t.UDPTimeout && t.UDPTimeout >= time.Second && t.UDPStreamTimeout >= time.Second {
		v.errf(at(tk, "udp_stream_timeout", t.Pos), "conntrack", "S7", "udp_stream_timeout (%s) is shorter than udp_timeout (%s)", t.UDPStreamTimeout, t.UDPTimeout)
	}
}

func clampQuotas(q Quotas) Quotas {
	d, m := DefaultQuotas(), MaxQuotas()
	cl := func(x *int, lo, hi int) {
		if *x < lo {
			*x = lo
		}
		if *x > hi {
			*x = hi
		}
	}
	cl(&q.VPCsPerRegion, d.VPCsPerRegion, m.VPCsPerRegion)
	cl(&q.VSwitchesPerVPC, d.VSwitchesPerVPC, m.VSwitchesPerVPC)
	cl(&q.RouteTablesPerVPC, d.RouteTablesPerVPC, m.RouteTablesPerVPC)
	cl(&q.CustomRoutesPerTable, d.CustomRoutesPerTable, m.CustomRoutesPerTable)
	cl(&q.RulesPerGroup, d.RulesPerGroup, m.RulesPerGroup)
	cl(&q.GroupsPerENI, d.GroupsPerENI, m.GroupsPerENI)
	cl(&q.ClassicLinksPerVPC, d.ClassicLinksPerVPC, m.ClassicLinksPerVPC)
	cl(&q.McastGroupsPerServer, d.McastGroupsPerServer, m.McastGroupsPerServer)
	cl(&q.McastMembersPerGroup, d.McastMembersPerGroup, m.McastMembersPerGroup)
	cl(&q.McastGroupsPerMember, d.McastGroupsPerMember, m.McastGroupsPerMember)
	cl(&q.LBNextHopsMax, d.LBNextHopsMax, m.LBNextHopsMax)
	return q
}

// ---------------------------------------------------------------------------
// ids, names, descriptions

var idTailRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// id checks presence, prefix, syntax and uniqueness (V0). ctx names the
// resource when it has no usable id.
func (v *validator) id(kind, prefix, id string, pos Pos, kp map[string]Pos, ctx string) {
	v.idGen(kind, prefix, id, pos, kp, ctx, false)
}

// idGen is id for ids that may have been generated from another one
// (generated: only uniqueness is checked, the source id carries the
// syntax errors).
func (v *validator) idGen(kind, prefix, id string, pos Pos, kp map[string]Pos, ctx string, generated bool) {
	if generated {
		// Derived from another id: a clash with another derived id is a
		// consequence of that id being used twice, which is reported.
		if u, dup := v.ids[id]; id == "" || (dup && u.generated) {
			return
		} else if !dup {
			v.ids[id] = idUse{kind, pos, true}
			return
		}
	}
	if id == "" {
		if !v.failed(kp, "id") {
			v.errf(at(kp, "id", pos), ctx, "V0", "%s: missing id", kind)
		}
		return
	}
	p := at(kp, "id", pos)
	if !strings.HasPrefix(id, prefix) || len(id) == len(prefix) {
		v.errf(p, id, "V0", "%s id %q must start with %q", kind, id, prefix)
	} else if !idTailRE.MatchString(id[len(prefix):]) || len(id) > 128 {
		v.errf(p, id, "V0", "%s id %q: after %q only letters, digits, '.', '_', '-' (at most 128 characters)", kind, id, prefix)
	}
	if u, dup := v.ids[id]; dup {
		if u.generated {
			v.errf(p, id, "V0", "id %s is used twice (also the %s of the resource at line %d)", id, u.kind, u.pos.Line)
		} else {
			v.errf(p, id, "V0", "id %s is used twice (also the %s at line %d)", id, u.kind, u.pos.Line)
		}
		return
	}
	v.ids[id] = idUse{kind, p, false}
}

func (v *validator) registerIDs() {
	c := v.c
	for i, vpc := range c.VPCs {
		ctx := fmt.Sprintf("vpcs[%d]", i)
		v.id("vpc", "vpc-", vpc.ID, vpc.Pos, vpc.KeyPos, ctx)
		r := vpc.VRouter
		v.idGen("vrouter", "vrt-", r.ID, r.Pos, r.KeyPos, idOr(vpc.ID, ctx)+".vrouter", !hasKey(r.KeyPos, "id"))
		for j, s := range vpc.VSwitches {
			v.id("vswitch", "vsw-", s.ID, s.Pos, s.KeyPos, fmt.Sprintf("%s.vswitches[%d]", idOr(vpc.ID, ctx), j))
		}
		for j, t := range vpc.RouteTables {
			kind := "route table"
			if t.KeyPos == nil {
				kind = "system route table (generated)"
			}
			v.idGen(kind, "vtb-", t.ID, t.Pos, t.KeyPos, fmt.Sprintf("%s.route_tables[%d]", idOr(vpc.ID, ctx), j), t.KeyPos == nil)
		}
		for j, g := range vpc.SecurityGroups {
			kind := "security group"
			if g.KeyPos == nil {
				kind = "default security group (generated)"
			}
			v.idGen(kind, "sg-", g.ID, g.Pos, g.KeyPos, fmt.Sprintf("%s.security_groups[%d]", idOr(vpc.ID, ctx), j), g.KeyPos == nil)
		}
	}
	for i, in := range c.Instances {
		ctx := fmt.Sprintf("instances[%d]", i)
		v.id("instance", "i-", in.ID, in.Pos, in.KeyPos, ctx)
		for j, e := range in.ENIs {
			v.id("eni", "eni-", e.ID, e.Pos, e.KeyPos, fmt.Sprintf("%s.enis[%d]", idOr(in.ID, ctx), j))
		}
	}
	for i, r := range c.RouterInterfaces {
		v.id("router interface", "ri-", r.ID, r.Pos, r.KeyPos, fmt.Sprintf("router_interfaces[%d]", i))
	}
	for i, b := range c.VBRs {
		v.id("vbr", "vbr-", b.ID, b.Pos, b.KeyPos, fmt.Sprintf("vbrs[%d]", i))
	}
	for i, g := range c.VPNGateways {
		v.id("vpn gateway", "vpn-", g.ID, g.Pos, g.KeyPos, fmt.Sprintf("vpn_gateways[%d]", i))
	}
	for i, n := range c.CENs {
		v.id("cen", "cen-", n.ID, n.Pos, n.KeyPos, fmt.Sprintf("cens[%d]", i))
	}
	if c.Classic != nil {
		for i, g := range c.Classic.SecurityGroups {
			v.id("classic security group", "sg-", g.ID, g.Pos, g.KeyPos, fmt.Sprintf("classic.security_groups[%d]", i))
		}
		for i, ci := range c.Classic.Instances {
			v.id("classic instance", "i-", ci.ID, ci.Pos, ci.KeyPos, fmt.Sprintf("classic.instances[%d]", i))
		}
	}
	for i, e := range c.EIPs {
		v.id("eip", "eip-", e.ID, e.Pos, e.KeyPos, fmt.Sprintf("eips[%d]", i))
	}
	for i, g := range c.NATGateways {
		v.id("nat gateway", "ngw-", g.ID, g.Pos, g.KeyPos, fmt.Sprintf("nat_gateways[%d]", i))
	}
}

func idOr(id, ctx string) string {
	if id != "" {
		return id
	}
	return ctx
}

// NameValid reports whether s is a valid name (V1): empty, or 2–128
// characters beginning with an English letter or a Chinese character, then
// English letters, Chinese characters, digits, '-' or '_'.
func NameValid(s string) bool {
	if s == "" {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	n := utf8.RuneCountInString(s)
	if n < 2 || n > 128 {
		return false
	}
	for i, r := range []rune(s) {
		letter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || unicode.Is(unicode.Han, r)
		if i == 0 && !letter {
			return false
		}
		if !letter && !(r >= '0' && r <= '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

// DescriptionValid reports whether s is a valid description (V2): empty,
// or 2–256 characters not beginning with http:// or https://.
func DescriptionValid(s string) bool {
	if s == "" {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	n := utf8.RuneCountInString(s)
	return n >= 2 && n <= 256 && !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://")
}

func (v *validator) nameDesc(id string, pos Pos, kp map[string]Pos, name, desc string) {
	if !NameValid(name) {
		v.errf(at(kp, "name", pos), id, "V1", "name %q: 2–128 characters, starting with an English letter or a Chinese character, then letters, Chinese characters, digits, '-' or '_'", name)
	}
	if !DescriptionValid(desc) {
		v.errf(at(kp, "description", pos), id, "V2", "description: 2–256 characters, not beginning with http:// or https://")
	}
}

// ---------------------------------------------------------------------------
// VPCs, VSwitches, route tables, security groups

var privateBlocks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// within reports whether p is equal to or a subset of outer.
func within(p, outer netip.Prefix) bool {
	return p.IsValid() && outer.IsValid() && p.Bits() >= outer.Bits() && outer.Contains(p.Addr())
}

func canonical(p netip.Prefix) bool { return p.Masked() == p }

func (v *validator) vpc(i int, vpc *VPC) {
	id := idOr(vpc.ID, fmt.Sprintf("vpcs[%d]", i))
	kp := vpc.KeyPos
	v.nameDesc(id, vpc.Pos, kp, vpc.Name, vpc.Description)
	cp := at(kp, "cidr", vpc.Pos)
	if !v.missing(kp, "cidr", vpc.Pos, id, "V0", !vpc.CIDR.IsValid()) {
		switch {
		case !canonical(vpc.CIDR):
			v.errf(cp, id, "V3", "cidr %s has host bits set (did you mean %s?)", vpc.CIDR, vpc.CIDR.Masked())
		case vpc.Default && vpc.CIDR != DefaultVPCCIDR:
			v.errf(cp, id, "V11", "the default VPC's cidr is %s, not %s", DefaultVPCCIDR, vpc.CIDR)
		case !within(vpc.CIDR, privateBlocks[0]) && !within(vpc.CIDR, privateBlocks[1]) && !within(vpc.CIDR, privateBlocks[2]):
			v.errf(cp, id, "V3", "cidr %s is not 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or a subset of one of them", vpc.CIDR)
		case vpc.CIDR.Bits() > 28:
			v.errf(cp, id, "V3", "cidr %s: prefix length must be 8–28", vpc.CIDR)
		}
	}
	r := vpc.VRouter
	v.nameDesc(r.ID, r.Pos, r.KeyPos, r.Name, r.Description)

	// VSwitches (V6–V8, V19).
	nsw := 0
	for j, s := range vpc.VSwitches {
		sid := idOr(s.ID, fmt.Sprintf("%s.vswitches[%d]", id, j))
		skp := s.KeyPos
		v.nameDesc(sid, s.Pos, skp, s.Name, s.Description)
		if !s.Default {
			nsw++
			if nsw == v.q.VSwitchesPerVPC+1 {
				v.errf(s.Pos, sid, "V19", "more than %d VSwitches in %s (quota vswitches_per_vpc)", v.q.VSwitchesPerVPC, id)
			}
		}
		v.missing(skp, "zone", s.Pos, sid, "V0", s.Zone == "")
		p := at(skp, "cidr", s.Pos)
		if v.missing(skp, "cidr", s.Pos, sid, "V0", !s.CIDR.IsValid()) {
			continue
		}
		switch {
		case !canonical(s.CIDR):
			v.errf(p, sid, "V6", "cidr %s has host bits set (did you mean %s?)", s.CIDR, s.CIDR.Masked())
		case vpc.CIDR.IsValid() && !within(s.CIDR, vpc.CIDR.Masked()):
			v.errf(p, sid, "V6", "cidr %s is not inside the VPC cidr %s", s.CIDR, vpc.CIDR)
		case s.CIDR.Bits() < 16 || s.CIDR.Bits() > 29:
			v.errf(p, sid, "V6", "cidr %s: prefix length must be 16–29", s.CIDR)
		case vpc.CIDR.IsValid() && s.CIDR == vpc.CIDR.Masked() && len(vpc.VSwitches) > 1:
			v.errf(p, sid, "V7", "cidr %s equals the VPC cidr, so it must be the only VSwitch of %s", s.CIDR, id)
		}
	}
	v.overlaps(vpc)

	// Route tables (V12, V19) and security groups (V16, V19).
	sys := 0
	for j, t := range vpc.RouteTables {
		tid := idOr(t.ID, fmt.Sprintf("%s.route_tables[%d]", id, j))
		v.nameDesc(tid, t.Pos, t.KeyPos, t.Name, t.Description)
		if j == v.q.RouteTablesPerVPC {
			v.errf(t.Pos, tid, "V19", "more than %d route tables in %s, system table included (quota route_tables_per_vpc, V12)", v.q.RouteTablesPerVPC, id)
		}
		if t.Type == TableSystem {
			sys++
			if sys == 2 {
				v.errf(at(t.KeyPos, "type", t.Pos), tid, "V12", "%s already has a system route table", id)
			}
		}
	}
	for _, s := range vpc.VSwitches {
		if s.RouteTable == "" || s.ID == "" {
			continue
		}
		p := at(s.KeyPos, "route_table", s.Pos)
		t := v.c.RouteTableByID(s.RouteTable)
		switch {
		case t == nil:
			v.errf(p, s.ID, "V12", "route table %s does not exist", s.RouteTable)
		case t.VPC != vpc.ID:
			v.errf(p, s.ID, "V12", "route table %s belongs to %s, not to %s", s.RouteTable, t.VPC, vpc.ID)
		}
	}
	for j, g := range vpc.SecurityGroups {
		gid := idOr(g.ID, fmt.Sprintf("%s.security_groups[%d]", id, j))
		v.nameDesc(gid, g.Pos, g.KeyPos, g.Name, g.Description)
		for k, r := range g.Rules {
			if k == v.q.RulesPerGroup {
				v.errf(r.Pos, gid, "V19", "more than %d rules in %s (quota rules_per_group)", v.q.RulesPerGroup, gid)
			}
			v.rule(gid, r, "V16", func(ref string) (string, bool) {
				x := v.c.SecurityGroupByID(ref)
				if x == nil {
					return "", false
				}
				return x.VPC, true
			}, vpc.ID)
		}
	}
	if vpc.ClassicLink {
		v.classicVPC(id, vpc)
	}
}

// overlaps reports V8 for VSwitches of one VPC in O(n log n).
func (v *validator) overlaps(vpc *VPC) {
	var sw []*VSwitch
	for _, s := range vpc.VSwitches {
		if s.CIDR.IsValid() {
			sw = append(sw, s)
		}
	}
	sort.SliceStable(sw, func(i, j int) bool {
		a, b := sw[i].CIDR.Masked(), sw[j].CIDR.Masked()
		if a.Addr() != b.Addr() {
			return a.Addr().Less(b.Addr())
		}
		return a.Bits() < b.Bits()
	})
	var cover *VSwitch
	for _, s := range sw {
		if cover != nil && cover.CIDR.Masked().Overlaps(s.CIDR.Masked()) {
			// Report on the one written later.
			a, b := cover, s
			if posLess(b.Pos, a.Pos) {
				a, b = b, a
			}
			v.errf(at(b.KeyPos, "cidr", b.Pos), idOr(b.ID, idOr(vpc.ID, "vpc")+".vswitches"), "V8", "cidr %s overlaps %s (%s)", b.CIDR, a.ID, a.CIDR)
			continue
		}
		if cover == nil || !cover.CIDR.Masked().Contains(s.CIDR.Addr()) ||
			u32(lastAddr(s.CIDR)) > u32(lastAddr(cover.CIDR)) {
			cover = s
		}
	}
}

func posLess(a, b Pos) bool { return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col) }

func lastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	return a4(u32(p.Addr()) | (^uint32(0) >> p.Bits()))
}

// rule checks one security-group rule (V16) or classic rule (C5).
// group resolves a peer group to the VPC that owns it ("" for classic).
func (v *validator) rule(gid string, r *Rule, rule string, group func(string) (string, bool), vpcID string) {
	kp := r.KeyPos
	if !v.missing(kp, "direction", r.Pos, gid, rule, r.Direction == "") {
		wrong := []string{"dest_cidr", "dest_group"}
		if r.Direction == DirEgress {
			wrong = []string{"source_cidr", "source_group"}
		}
		for _, k := range wrong {
			if hasKey(kp, k) {
				v.errf(kp[k], gid, rule, "%s rules take %s, not %s", r.Direction, peerKeys(r.Direction), k)
			}
		}
	}
	if !v.failed(kp, "priority") && (r.Priority < 1 || r.Priority > 100) {
		v.errf(at(kp, "priority", r.Pos), gid, rule, "priority %d outside 1–100", r.Priority)
	}
	if !v.missing(kp, "protocol", r.Pos, gid, rule, r.Protocol == "") && !v.failed(kp, "port_range") {
		v.portRange(gid, r.Protocol, r.PortRange, kp, r.Pos, rule)
	}
	npeer := 0
	for _, k := range []string{"source_cidr", "source_group", "dest_cidr", "dest_group"} {
		if hasKey(kp, k) {
			npeer++
		}
	}
	if kp == nil && r.PeerCIDR.IsValid() {
		npeer++
	}
	if kp == nil && r.PeerGroup != "" {
		npeer++
	}
	switch {
	case npeer == 0:
		if r.Direction != "" {
			v.errf(r.Pos, gid, rule, "missing peer: %s", peerKeys(r.Direction))
		}
		return
	case npeer > 1:
		v.errf(r.Pos, gid, rule, "exactly one of %s", peerKeys(r.Direction))
		return
	}
	if r.PeerCIDR.IsValid() && !canonical(r.PeerCIDR) {
		k := firstKey(kp, "source_cidr", "dest_cidr")
		v.errf(at(kp, k, r.Pos), gid, rule, "%s %s has host bits set (did you mean %s?)", k, r.PeerCIDR, r.PeerCIDR.Masked())
	}
	if r.PeerGroup != "" {
		k := firstKey(kp, "source_group", "dest_group")
		owner, ok := group(r.PeerGroup)
		switch {
		case !ok:
			v.errf(at(kp, k, r.Pos), gid, rule, "%s %s does not exist", k, r.PeerGroup)
		case owner != vpcID:
			v.errf(at(kp, k, r.Pos), gid, rule, "%s %s belongs to %s, not to %s", k, r.PeerGroup, owner, vpcID)
		}
	}
}

func firstKey(kp map[string]Pos, keys ...string) string {
	for _, k := range keys {
		if hasKey(kp, k) {
			return k
		}
	}
	return keys[0]
}

func peerKeys(d Direction) string {
	if d == DirEgress {
		return "dest_cidr or dest_group"
	}
	return "source_cidr or source_group"
}

func (v *validator) portRange(id string, proto Protocol, pr PortRange, kp map[string]Pos, pos Pos, rule string) {
	p := at(kp, "port_range", pos)
	if proto.HasPorts() {
		if pr == (PortRange{}) && !hasKey(kp, "port_range") {
			v.errf(pos, id, rule, "missing port_range for %s (A/B with 1 ≤ A ≤ B ≤ 65535)", proto)
		} else if pr.From < 1 || pr.To > 65535 || pr.From > pr.To {
			v.errf(p, id, rule, "port_range %s for %s must be A/B with 1 ≤ A ≤ B ≤ 65535", pr, proto)
		}
		return
	}
	if !pr.IsAll() {
		v.errf(p, id, rule, "port_range %s for %s must be -1/-1", pr, proto)
	}
}

func (v *validator) vpcCounts() {
	n := 0
	for _, vpc := range v.c.VPCs {
		if vpc.Default {
			continue
		}
		n++
		if n == v.q.VPCsPerRegion+1 {
			v.errf(vpc.Pos, idOr(vpc.ID, "vpcs"), "V19", "more than %d VPCs in the region (quota vpcs_per_region)", v.q.VPCsPerRegion)
		}
	}
}

// ---------------------------------------------------------------------------
// route entries (V13–V15, C1, C2, C5, C6)

func (v *validator) routesAll() {
	for i, vpc := range v.c.VPCs {
		for j, t := range vpc.RouteTables {
			v.table(idOr(t.ID, fmt.Sprintf("%s.route_tables[%d]", idOr(vpc.ID, fmt.Sprintf("vpcs[%d]", i)), j)), t.Routes, vpc, nil)
		}
	}
	for i, b := range v.c.VBRs {
		v.table(idOr(b.ID, fmt.Sprintf("vbrs[%d]", i)), b.Routes, nil, b)
	}
}

// table checks the entries of a VPC route table (vpc set) or of a VBR.
func (v *validator) table(tid string, routes []*RouteEntry, vpc *VPC, vbr *VBR) {
	sysDst := map[netip.Prefix]*RouteEntry{}
	seen := map[netip.Prefix]*RouteEntry{}
	n := 0
	for _, r := range routes {
		if r.Type == EntrySystem {
			sysDst[r.Dst] = r
			continue
		}
		n++
		kp := r.KeyPos
		v.nameDesc(tid, r.Pos, kp, r.Name, r.Description)
		if n == v.q.CustomRoutesPerTable+1 {
			v.errf(r.Pos, tid, "V19", "more than %d custom route entries in %s (quota custom_routes_per_table)", v.q.CustomRoutesPerTable, tid)
		}
		dp := at(kp, "dst", r.Pos)
		if !v.missing(kp, "dst", r.Pos, tid, "V0", !r.Dst.IsValid()) {
			switch {
			case !canonical(r.Dst):
				v.errf(dp, tid, "V14", "dst %s is not in canonical form (host bits set; did you mean %s?)", r.Dst, r.Dst.Masked())
			case sysDst[r.Dst] != nil:
				what := "the cloud-service range"
				if s := sysDst[r.Dst].VSwitch; s != "" {
					what = "VSwitch " + s
				}
				v.errf(dp, tid, "V13", "dst %s equals the system entry of %s; system entries cannot be created, changed or deleted", r.Dst, what)
			case seen[r.Dst] != nil:
				v.errf(dp, tid, "V14", "dst %s already has an entry in %s (line %d)", r.Dst, tid, seen[r.Dst].Pos.Line)
			default:
				seen[r.Dst] = r
			}
			if vpc != nil && vpc.ClassicLink && within(r.Dst.Masked(), ClassicCIDR) {
				v.errf(dp, tid, "C5", "%s has classic_link: true, so no custom route may go to or inside 10.0.0.0/8 (dst %s)", vpc.ID, r.Dst)
			}
		}
		v.nextHops(tid, r, vpc, vbr)
	}
}

func (v *validator) nextHops(tid string, r *RouteEntry, vpc *VPC, vbr *VBR) {
	kp := r.KeyPos
	hasOne, hasMany := r.NextHop != "" || hasKey(kp, "next_hop"), len(r.NextHops) > 0 || hasKey(kp, "next_hops")
	switch {
	case hasOne && hasMany:
		v.errf(at(kp, "next_hops", r.Pos), tid, "V15", "give exactly one of next_hop or next_hops, not both")
		return
	case !hasOne && !hasMany:
		v.errf(r.Pos, tid, "V15", "missing next_hop or next_hops")
		return
	}
	if r.HealthCheck != nil && hasOne {
		v.errf(at(kp, "health_check", r.Pos), tid, "V15", "health_check applies to next_hops (active/standby or load balancing), not to a single next_hop")
	}
	if hasOne {
		if r.NextHop == "" {
			if !v.failed(kp, "next_hop") {
				v.errf(at(kp, "next_hop", r.Pos), tid, "V15", "next_hop is empty")
			}
			return
		}
		v.hop(tid, r.NextHop, at(kp, "next_hop", r.Pos), vpc, vbr, false)
		return
	}
	if vbr != nil {
		v.errf(at(kp, "next_hops", r.Pos), tid, "C2", "VBR routes take a single next_hop (leased_line or a router interface of %s)", vbr.ID)
		return
	}
	// Shape (V15).
	ids := map[string]bool{}
	weights := make([]string, len(r.NextHops))
	bad := false
	for i, h := range r.NextHops {
		p := at(kp, fmt.Sprintf("next_hops[%d]", i), r.Pos)
		weights[i] = itoa(h.Weight)
		if h.ID == "" {
			if !v.failed(kp, fmt.Sprintf("next_hops[%d].id", i)) {
				v.errf(p, tid, "V15", "next_hops[%d]: missing id", i)
			}
			bad = true
			continue
		}
		if ids[h.ID] {
			v.errf(at(kp, fmt.Sprintf("next_hops[%d].id", i), p), tid, "V15", "next_hops: %s is listed twice", h.ID)
			bad = true
		}
		ids[h.ID] = true
		if !hasKey(kp, fmt.Sprintf("next_hops[%d].weight", i)) && kp != nil {
			v.errf(p, tid, "V15", "next_hops[%d]: missing weight", i)
			bad = true
		} else if v.failed(kp, fmt.Sprintf("next_hops[%d].weight", i)) {
			bad = true
		}
		v.hop(tid, h.ID, at(kp, fmt.Sprintf("next_hops[%d].id", i), p), vpc, vbr, true)
	}
	if !bad && hopShape(r.NextHops, v.q.LBNextHopsMax) == ShapeNone {
		entries := "entries"
		if len(r.NextHops) == 1 {
			entries = "entry"
		}
		v.errf(at(kp, "next_hops", r.Pos), tid, "V15",
			"next_hops: %d %s with weights %s: neither active/standby (exactly 2 hops weighted 100 and 0) nor load balancing (2–%d hops, equal weights 1–255)",
			len(r.NextHops), entries, strings.Join(weights, ","), v.q.LBNextHopsMax)
	}
	if h := r.HealthCheck; h != nil {
		v.healthCheck(tid, h, kp, at(kp, "health_check", r.Pos))
	}
}

func (v *validator) healthCheck(tid string, h *HealthCheck, kp map[string]Pos, pos Pos) {
	if !v.failed(kp, "health_check.interval") && (h.Interval < 10*time.Millisecond || h.Interval > time.Hour) {
		v.errf(at(kp, "health_check.interval", pos), tid, "V15", "health_check.interval %s outside 10ms–1h", h.Interval)
	}
	if !v.failed(kp, "health_check.timeout") && (h.Timeout < time.Millisecond || (h.Timeout > h.Interval && h.Interval > 0)) {
		v.errf(at(kp, "health_check.timeout", pos), tid, "V15", "health_check.timeout %s must be at least 1ms and at most the interval %s", h.Timeout, h.Interval)
	}
	if !v.failed(kp, "health_check.failures") && (h.Failures < 1 || h.Failures > 100) {
		v.errf(at(kp, "health_check.failures", pos), tid, "V15", "health_check.failures %d outside 1–100", h.Failures)
	}
	if !v.failed(kp, "health_check.successes") && (h.Successes < 1 || h.Successes > 100) {
		v.errf(at(kp, "health_check.successes", pos), tid, "V15", "health_check.successes %d outside 1–100", h.Successes)
	}
}

// hop resolves one next-hop id in a VPC table (vpc set) or a VBR table.
func (v *validator) hop(tid, id string, p Pos, vpc *VPC, vbr *VBR, multi bool) {
	c := v.c
	kind := KindOfHop(id)
	if vbr != nil {
		switch kind {
		case HopLeasedLine:
		case HopRouterInterface:
			ri := c.RouterInterfaceByID(id)
			if ri == nil {
				v.errf(p, tid, "C2", "next_hop %s does not exist", id)
			} else if ri.VBR != vbr.ID {
				v.errf(p, tid, "C1", "next_hop %s is a router interface of %s, not of %s", id, ri.Owner(), vbr.ID)
			}
		default:
			v.errf(p, tid, "C2", "next_hop %q: a VBR route goes to leased_line or to a router interface (ri-) of %s", id, vbr.ID)
		}
		return
	}
	owner := ""
	switch kind {
	case HopInstance:
		if in := c.InstanceByID(id); in != nil {
			owner = in.VPC
		} else {
			v.errf(p, tid, "V15", "next hop %s: no such instance", id)
			return
		}
	case HopENI:
		if e := c.ENIByID(id); e != nil {
			owner = e.VPC
		} else {
			v.errf(p, tid, "V15", "next hop %s: no such ENI", id)
			return
		}
	case HopVPNGateway:
		if g := c.VPNGatewayByID(id); g != nil {
			owner = g.VPC
		} else {
			v.errf(p, tid, "V15", "next hop %s: no such VPN gateway", id)
			return
		}
	case HopRouterInterface:
		ri := c.RouterInterfaceByID(id)
		if ri == nil {
			v.errf(p, tid, "V15", "next hop %s: no such router interface", id)
			return
		}
		if ri.VPC != vpc.ID {
			v.errf(p, tid, "C1", "next hop %s is a router interface of %s; a route may only name a router interface of its own VPC (%s)", id, ri.Owner(), vpc.ID)
			return
		}
		if multi {
			if peer := c.RouterInterfaceByID(ri.Peer); peer == nil || peer.VBR == "" {
				v.errf(p, tid, "C2", "next_hops may name router interfaces only toward VBRs (their health checks probe the VBR's leased line); %s leads to a VPC", id)
			}
		}
		return
	case HopNATGateway:
		g := c.NATGatewayByID(id)
		if g == nil {
			v.errf(p, tid, "V15", "next hop %s: no such NAT gateway", id)
			return
		}
		if multi {
			v.errf(p, tid, "V15", "a NAT gateway can only be a single next_hop")
			return
		}
		owner = g.VPC
	case HopLeasedLine:
		v.errf(p, tid, "V15", "leased_line is a next hop of VBR routes only")
		return
	default:
		v.errf(p, tid, "V15", "next hop %q is not an instance (i-), ENI (eni-), VPN gateway (vpn-), router interface (ri-) or NAT gateway (ngw-)", id)
		return
	}
	if owner != vpc.ID {
		v.errf(p, tid, "V15", "next hop %s is in %s, not in %s", id, owner, vpc.ID)
	}
}

// ---------------------------------------------------------------------------
// instances and ENIs (V9–V11, V16)

var (
	netnsRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	ifnameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$`)
)

func (v *validator) netnsIf(id, rule, netns, ifname string, kp map[string]Pos, pos Pos, nsKey, ifKey string) {
	if netns != "" && !netnsRE.MatchString(netns) {
		v.errf(at(kp, nsKey, pos), id, rule, "%s %q: 1–64 characters of letters, digits, '.', '_', '-', not starting with '.', '_' or '-'", nsKey, netns)
	}
	if ifname != "" && !ifnameRE.MatchString(ifname) {
		v.errf(at(kp, ifKey, pos), id, rule, "%s %q: 1–15 characters of letters, digits, '.', '_', '-'", ifKey, ifname)
		return
	}
	if netns == "" || ifname == "" {
		return
	}
	k := [2]string{netns, ifname}
	if other, dup := v.ifnames[k]; dup {
		v.errf(at(kp, ifKey, pos), id, rule, "%s %s is already used in netns %s by %s", ifKey, ifname, netns, other)
		return
	}
	v.ifnames[k] = id
}

func (v *validator) instances() {
	c := v.c
	v.netns = map[string]string{}
	v.addrs = map[vpcAddr]string{}
	v.addrPos = map[vpcAddr]Pos{}
	for i, in := range c.Instances {
		id := idOr(in.ID, fmt.Sprintf("instances[%d]", i))
		kp := in.KeyPos
		v.nameDesc(id, in.Pos, kp, in.Name, in.Description)
		if !v.failed(kp, "mtu") && (in.MTU < 68 || in.MTU > 65535) {
			v.errf(at(kp, "mtu", in.Pos), id, "V0", "mtu %d outside 68–65535", in.MTU)
		}
		netns := in.Netns
		if netns != "" {
			if other, dup := v.netns[netns]; dup {
				v.errf(at(kp, "netns", in.Pos), id, "V10", "netns %s is already the namespace of %s; an instance is one namespace", netns, other)
				netns = "" // no ifname clash on top
			} else {
				v.netns[netns] = id
			}
		}
		sw := v.eniVSwitch(id, in.VSwitch, kp, in.Pos, in.DefaultVSwitch, in.Zone)
		if in.Zone != "" && sw != nil && sw.Zone != in.Zone && !in.DefaultVSwitch {
			v.errf(at(kp, "zone", in.Pos), id, "V10", "zone %s differs from the zone %s of %s", in.Zone, sw.Zone, sw.ID)
		}
		v.netnsIf(id, "V0", netns, in.IfName, kp, in.Pos, "netns", "ifname")
		v.eniAddr(id, in.IP, "ip", kp, in.Pos, sw, in.VPC)
		for j, a := range in.SecondaryIPs {
			v.eniAddr(id, a, fmt.Sprintf("secondary_ips[%d]", j), kp, in.Pos, sw, in.VPC)
		}
		v.eniGroups(id, in.SecurityGroups, kp, in.Pos, in.VPC)
		for j, e := range in.ENIs {
			eid := idOr(e.ID, fmt.Sprintf("%s.enis[%d]", id, j))
			ekp := e.KeyPos
			v.nameDesc(eid, e.Pos, ekp, e.Name, e.Description)
			esw := v.eniVSwitch(eid, e.VSwitch, ekp, e.Pos, false, "")
			if esw != nil && sw != nil {
				if esw.VPC != sw.VPC {
					v.errf(at(ekp, "vswitch", e.Pos), eid, "V10", "%s is in %s but the primary ENI of %s is in %s; secondary ENIs stay in the instance's VPC", esw.ID, esw.VPC, id, sw.VPC)
				} else if esw.Zone != sw.Zone {
					v.errf(at(ekp, "vswitch", e.Pos), eid, "V10", "%s is in zone %s but the primary ENI of %s is in zone %s", esw.ID, esw.Zone, id, sw.Zone)
				}
			}
			v.netnsIf(eid, "V0", e.Netns, e.IfName, ekp, e.Pos, "netns", "ifname")
			v.eniAddr(eid, e.IP, "ip", ekp, e.Pos, esw, e.VPC)
			v.eniGroups(eid, e.SecurityGroups, ekp, e.Pos, e.VPC)
		}
	}
}

func (v *validator) eniVSwitch(id, sw string, kp map[string]Pos, pos Pos, dflt bool, zone string) *VSwitch {
	p := at(kp, "vswitch", pos)
	if v.missing(kp, "vswitch", pos, id, "V0", sw == "") {
		return nil
	}
	if sw == "default" {
		v.errf(p, id, "V11", "vswitch: default needs a zone")
		return nil
	}
	s := v.c.VSwitchByID(sw)
	if s == nil {
		if dflt {
			dv := v.c.VPCByID(DefaultVPCID)
			if dv != nil && dv.CIDR.IsValid() && dv.CIDR.Masked() == DefaultVPCCIDR {
				v.errf(p, id, "V11", "no free /20 left in the default VPC %s for zone %s", DefaultVPCCIDR, zone)
			}
			return nil
		}
		v.errf(p, id, "V0", "vswitch %s does not exist", sw)
		return nil
	}
	if dflt && s.VPC != DefaultVPCID {
		v.errf(p, id, "V11", "%s is the default VSwitch id of zone %s but belongs to %s, not to %s", sw, zone, s.VPC, DefaultVPCID)
		return nil
	}
	return s
}

func (v *validator) eniAddr(id string, a netip.Addr, key string, kp map[string]Pos, pos Pos, sw *VSwitch, vpc string) {
	p := at(kp, key, pos)
	if !a.IsValid() {
		if key == "ip" && sw != nil && sw.CIDR.IsValid() && !v.failed(kp, key) {
			v.errf(p, id, "V9", "no free usable address left in %s (%s has %d usable addresses)", sw.ID, sw.CIDR, sw.UsableCount())
		}
		return
	}
	if sw == nil || !sw.CIDR.IsValid() {
		return
	}
	switch {
	case !sw.CIDR.Masked().Contains(a):
		v.errf(p, id, "V10", "%s %s is not inside %s (%s)", key, a, sw.ID, sw.CIDR)
		return
	case sw.Reserved(a):
		what := "first address"
		switch a {
		case sw.Gateway():
			what = "gateway"
		case sw.Broadcast():
			what = "broadcast address"
		case fromEnd(sw.CIDR, 1):
			what = "reserved address"
		}
		v.errf(p, id, "V9", "%s %s is reserved in %s (the %s; the first address and the last three are reserved)", key, a, sw.ID, what)
		return
	}
	k := vpcAddr{vpc, a}
	if other, dup := v.addrs[k]; dup {
		v.errf(p, id, "V10", "address %s is already used by %s (line %d); ENI addresses are unique in %s", a, other, v.addrPos[k].Line, vpc)
		return
	}
	v.addrs[k] = id
	v.addrPos[k] = p
}

func (v *validator) eniGroups(id string, groups []string, kp map[string]Pos, pos Pos, vpc string) {
	p := at(kp, "security_groups", pos)
	if len(groups) == 0 {
		if groups != nil || hasKey(kp, "security_groups") {
			v.errf(p, id, "V16", "an ENI is in 1–%d security groups, not 0 (omit the key for the VPC's default group)", v.q.GroupsPerENI)
		}
		return
	}
	if len(groups) > v.q.GroupsPerENI {
		v.errf(p, id, "V19", "%d security groups; an ENI is in at most %d (quota groups_per_eni)", len(groups), v.q.GroupsPerENI)
	}
	seen := map[string]bool{}
	for j, g := range groups {
		gp := at(kp, fmt.Sprintf("security_groups[%d]", j), p)
		if seen[g] {
			v.errf(gp, id, "V16", "security group %s listed twice", g)
			continue
		}
		seen[g] = true
		sg := v.c.SecurityGroupByID(g)
		switch {
		case sg == nil:
			v.errf(gp, id, "V16", "security group %s does not exist", g)
		case vpc != "" && sg.VPC != vpc:
			v.errf(gp, id, "V16", "security group %s belongs to %s, not to the ENI's VPC %s", g, sg.VPC, vpc)
		}
	}
}

// ---------------------------------------------------------------------------
// multicast (V17, M2)

func (v *validator) multicast() {
	c := v.c
	perServer := map[string]int{}
	perMember := map[*ENI]int{}
	seen := map[string]Pos{}
	local := netip.MustParsePrefix("224.0.0.0/24")
	mc := netip.MustParsePrefix("224.0.0.0/4")
	for i, g := range c.Multicast {
		kp := g.KeyPos
		id := fmt.Sprintf("multicast[%d]", i)
		if g.Group.IsValid() {
			id = g.Group.String()
		}
		var vpc *VPC
		if !v.missing(kp, "vpc", g.Pos, id, "V17", g.VPC == "") {
			if vpc = c.VPCByID(g.VPC); vpc == nil {
				v.errf(at(kp, "vpc", g.Pos), id, "V17", "vpc %s does not exist", g.VPC)
			}
		}
		if !v.missing(kp, "group", g.Pos, id, "V17", !g.Group.IsValid()) {
			if !mc.Contains(g.Group) || local.Contains(g.Group) {
				v.errf(at(kp, "group", g.Pos), id, "V17", "group %s must be in 224.0.0.0/4 but not in 224.0.0.0/24", g.Group)
			}
		}
		if !v.missing(kp, "server", g.Pos, id, "V17", g.Server == "") {
			in := c.InstanceByID(g.Server)
			switch {
			case in == nil:
				v.errf(at(kp, "server", g.Pos), id, "V17", "server %s: no such instance", g.Server)
			case vpc != nil && in.VPC != vpc.ID:
				v.errf(at(kp, "server", g.Pos), id, "V17", "server %s is in %s, not in %s", g.Server, in.VPC, vpc.ID)
			default:
				perServer[g.Server]++
				if perServer[g.Server] == v.q.McastGroupsPerServer+1 {
					v.errf(at(kp, "server", g.Pos), id, "V17", "server %s sends more than %d groups (limit mcast_groups_per_server)", g.Server, v.q.McastGroupsPerServer)
				}
			}
		}
		key := g.ID()
		if p, dup := seen[key]; dup && g.Group.IsValid() {
			v.errf(at(kp, "group", g.Pos), id, "V17", "group %s with server %s is already defined in %s (line %d)", g.Group, g.Server, g.VPC, p.Line)
		} else {
			seen[key] = g.Pos
		}
		if len(g.Members) > v.q.McastMembersPerGroup {
			v.errf(at(kp, "members", g.Pos), id, "V17", "%d members; a group has at most %d (limit mcast_members_per_group)", len(g.Members), v.q.McastMembersPerGroup)
		}
		mseen := map[netip.Addr]bool{}
		eseen := map[*ENI]netip.Addr{} // one copy per ENI: two of its addresses would be one member twice
		for j, m := range g.Members {
			mp := at(kp, fmt.Sprintf("members[%d]", j), g.Pos)
			if mseen[m] {
				v.errf(mp, id, "V17", "member %s listed twice", m)
				continue
			}
			mseen[m] = true
			if vpc == nil {
				continue
			}
			e := c.ENIByAddr(vpc.ID, m)
			if e == nil {
				v.errf(mp, id, "V17", "member %s is not an ENI address of %s", m, vpc.ID)
				continue
			}
			if other, dup := eseen[e]; dup {
				v.errf(mp, id, "V17", "member %s is an address of %s, which is already a member as %s", m, e.ID, other)
				continue
			}
			eseen[e] = m
			perMember[e]++
			if perMember[e] == v.q.McastGroupsPerMember+1 {
				v.errf(mp, id, "V17", "member %s (%s) receives more than %d groups (limit mcast_groups_per_member)", m, e.ID, v.q.McastGroupsPerMember)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// §7: router interfaces, VBRs, VPN gateways, CEN, ClassicLink, internet

func (v *validator) port(id, rule string, p *ExternalPort, kp map[string]Pos, pos Pos) {
	if !hasKey(kp, "port") && p.Netns == "" && p.IfName == "" && !p.IP.IsValid() && !p.PeerIP.IsValid() {
		v.errf(pos, id, rule, "missing port {netns, ifname, ip, peer_ip}")
		return
	}
	pp := at(kp, "port", pos)
	v.missing(kp, "port.netns", pp, id, rule, p.Netns == "")
	v.missing(kp, "port.ifname", pp, id, rule, p.IfName == "")
	if hasKey(kp, "port.ifname") && len(p.IfName) > 15 {
		v.errf(kp["port.ifname"], id, rule, "port.ifname %q is longer than 15 characters", p.IfName)
	} else {
		v.netnsIf(id, rule, p.Netns, p.IfName, kp, pp, "port.netns", "port.ifname")
	}
	for _, f := range []struct {
		key string
		a   netip.Addr
	}{{"port.ip", p.IP}, {"port.peer_ip", p.PeerIP}} {
		if v.missing(kp, f.key, pp, id, rule, !f.a.IsValid()) {
			continue
		}
		if !unicastHost(f.a) {
			v.errf(at(kp, f.key, pp), id, rule, "%s %s is not a unicast host address", f.key, f.a)
		}
	}
	if p.IP.IsValid() && p.IP == p.PeerIP {
		v.errf(at(kp, "port.peer_ip", pp), id, rule, "port.ip and port.peer_ip are both %s; they are the two ends of a point-to-point link", p.IP)
	}
}

func unicastHost(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() && !a.IsLinkLocalUnicast() &&
		!netip.MustParsePrefix("0.0.0.0/8").Contains(a) && !netip.MustParsePrefix("240.0.0.0/4").Contains(a)
}

func (v *validator) routerInterfaces() {
	c := v.c
	for i, r := range c.RouterInterfaces {
		id := idOr(r.ID, fmt.Sprintf("router_interfaces[%d]", i))
		kp := r.KeyPos
		v.nameDesc(id, r.Pos, kp, r.Name, r.Description)
		switch {
		case r.VPC != "" && r.VBR != "":
			v.errf(at(kp, "vbr", r.Pos), id, "C1", "a router interface belongs to one VPC or one VBR, not both")
		case r.VPC == "" && r.VBR == "":
			if !v.failed(kp, "vpc") && !v.failed(kp, "vbr") {
				v.errf(r.Pos, id, "C1", "missing vpc or vbr (the end this interface belongs to)")
			}
		case r.VPC != "" && c.VPCByID(r.VPC) == nil:
			v.errf(at(kp, "vpc", r.Pos), id, "C1", "vpc %s does not exist", r.VPC)
		case r.VBR != "" && c.VBRByID(r.VBR) == nil:
			v.errf(at(kp, "vbr", r.Pos), id, "C1", "vbr %s does not exist", r.VBR)
		}
		if v.missing(kp, "peer", r.Pos, id, "C1", r.Peer == "") {
			continue
		}
		pp := at(kp, "peer", r.Pos)
		peer := c.RouterInterfaceByID(r.Peer)
		switch {
		case r.Peer == r.ID:
			v.errf(pp, id, "C1", "a router interface cannot be its own peer")
		case peer == nil:
			v.errf(pp, id, "C1", "peer %s: no such router interface", r.Peer)
		case peer.Peer != r.ID:
			v.errf(pp, id, "C1", "peer %s names %q as its peer, not %s; the two ends must name each other", r.Peer, peer.Peer, r.ID)
		case r.VBR != "" && peer.VBR != "":
			v.errf(pp, id, "C1", "both ends are VBRs; a router interface joins two VPCs or a VPC and a VBR")
		case r.VPC != "" && r.VPC == peer.VPC:
			v.errf(pp, id, "C1", "both ends are in %s; a router interface joins two different networks", r.VPC)
		}
	}
}

func (v *validator) vbrs() {
	for i, b := range v.c.VBRs {
		id := idOr(b.ID, fmt.Sprintf("vbrs[%d]", i))
		v.nameDesc(id, b.Pos, b.KeyPos, b.Name, b.Description)
		v.port(id, "C2", &b.Port, b.KeyPos, b.Pos)
	}
}

func (v *validator) vpnGateways() {
	for i, g := range v.c.VPNGateways {
		id := idOr(g.ID, fmt.Sprintf("vpn_gateways[%d]", i))
		v.nameDesc(id, g.Pos, g.KeyPos, g.Name, g.Description)
		if !v.missing(g.KeyPos, "vpc", g.Pos, id, "C3", g.VPC == "") && v.c.VPCByID(g.VPC) == nil {
			v.errf(at(g.KeyPos, "vpc", g.Pos), id, "C3", "vpc %s does not exist", g.VPC)
		}
		v.port(id, "C3", &g.Port, g.KeyPos, g.Pos)
	}
}

func (v *validator) cens() {
	c := v.c
	member := map[string]string{}
	for i, n := range c.CENs {
		id := idOr(n.ID, fmt.Sprintf("cens[%d]", i))
		kp := n.KeyPos
		v.nameDesc(id, n.Pos, kp, n.Name, n.Description)
		if len(n.Attachments) == 0 {
			v.errf(at(kp, "attachments", n.Pos), id, "C4", "a CEN needs attachments (vpc-… or vbr-…)")
			continue
		}
		seen := map[string]bool{}
		for j, a := range n.Attachments {
			p := at(kp, fmt.Sprintf("attachments[%d]", j), at(kp, "attachments", n.Pos))
			switch {
			case strings.HasPrefix(a, "vpc-"):
				if c.VPCByID(a) == nil {
					v.errf(p, id, "C4", "attachment %s: no such VPC", a)
					continue
				}
			case strings.HasPrefix(a, "vbr-"):
				if c.VBRByID(a) == nil {
					v.errf(p, id, "C4", "attachment %s: no such VBR", a)
					continue
				}
			default:
				v.errf(p, id, "C4", "attachment %q is neither a VPC (vpc-) nor a VBR (vbr-)", a)
				continue
			}
			if seen[a] {
				v.errf(p, id, "C4", "attachment %s listed twice", a)
				continue
			}
			seen[a] = true
			if other, ok := member[a]; ok && other != id {
				v.errf(p, id, "C4", "%s is already attached to %s; a network joins at most one CEN", a, other)
				continue
			}
			member[a] = id
		}
	}
}

// classicVPC checks the VPC side of C5.
func (v *validator) classicVPC(id string, vpc *VPC) {
	if !vpc.CIDR.IsValid() {
		return
	}
	cidr := vpc.CIDR.Masked()
	if !cidr.Overlaps(ClassicCIDR) {
		return // inside 172.16.0.0/12 or 192.168.0.0/16 (V3)
	}
	if !cidr.Overlaps(ClassicLinkVPCCIDR) {
		v.errf(at(vpc.KeyPos, "cidr", vpc.Pos), id, "C5", "classic_link: a VPC inside 10.0.0.0/8 must be within or contain 10.111.0.0/16 (cidr %s)", vpc.CIDR)
		return
	}
	for _, s := range vpc.VSwitches {
		if s.CIDR.IsValid() && !within(s.CIDR.Masked(), ClassicLinkVPCCIDR) {
			v.errf(at(s.KeyPos, "cidr", s.Pos), idOr(s.ID, id+".vswitches"), "C5", "%s has classic_link: true and a CIDR in 10.0.0.0/8, so its VSwitches must be inside 10.111.0.0/16 (cidr %s)", id, s.CIDR)
		}
	}
}

func (v *validator) classic() {
	c := v.c
	if c.Classic == nil {
		return
	}
	cl := c.Classic
	cgroup := func(ref string) (string, bool) { return "", c.ClassicSecurityGroupByID(ref) != nil }
	for i, g := range cl.SecurityGroups {
		gid := idOr(g.ID, fmt.Sprintf("classic.security_groups[%d]", i))
		v.nameDesc(gid, g.Pos, g.KeyPos, g.Name, g.Description)
		for k, r := range g.Rules {
			if k == v.q.RulesPerGroup {
				v.errf(r.Pos, gid, "V19", "more than %d rules in %s (quota rules_per_group)", v.q.RulesPerGroup, gid)
			}
			v.rule(gid, r, "C5", cgroup, "")
		}
		for _, r := range g.ClassicLinkRules {
			kp := r.KeyPos
			n := len(r.VPCSecurityGroups)
			if n < 1 || n > 5 {
				v.errf(at(kp, "vpc_security_groups", r.Pos), gid, "C5", "vpc_security_groups: %d groups; a ClassicLink rule names 1–5 VPC groups", n)
			}
			for j, ref := range r.VPCSecurityGroups {
				p := at(kp, fmt.Sprintf("vpc_security_groups[%d]", j), r.Pos)
				sg := c.SecurityGroupByID(ref)
				if sg == nil {
					v.errf(p, gid, "C5", "vpc_security_groups: %s is not a VPC security group", ref)
					continue
				}
				if vpc := c.VPCByID(sg.VPC); vpc == nil || !vpc.ClassicLink {
					v.errf(p, gid, "C5", "vpc_security_groups: %s belongs to %s, which does not have classic_link: true", ref, sg.VPC)
				}
			}
			v.missing(kp, "mode", r.Pos, gid, "C5", r.Mode == "")
			if !v.failed(kp, "priority") && (r.Priority < 1 || r.Priority > 100) {
				v.errf(at(kp, "priority", r.Pos), gid, "C5", "priority %d outside 1–100", r.Priority)
			}
			if !v.missing(kp, "protocol", r.Pos, gid, "C5", r.Protocol == "") && !v.failed(kp, "port_range") {
				v.portRange(gid, r.Protocol, r.PortRange, kp, r.Pos, "C5")
			}
		}
	}
	links := map[string]int{}
	ips := map[netip.Addr]string{}
	for i, ci := range cl.Instances {
		id := idOr(ci.ID, fmt.Sprintf("classic.instances[%d]", i))
		kp := ci.KeyPos
		v.nameDesc(id, ci.Pos, kp, ci.Name, ci.Description)
		if !v.missing(kp, "ip", ci.Pos, id, "V0", !ci.IP.IsValid()) {
			p := at(kp, "ip", ci.Pos)
			switch {
			case !ClassicCIDR.Contains(ci.IP) || ClassicLinkVPCCIDR.Contains(ci.IP):
				v.errf(p, id, "C5", "ip %s: classic instances live in 10.0.0.0/8 outside 10.111.0.0/16", ci.IP)
			case ci.IP == ClassicCIDR.Addr() || ci.IP == lastAddr(ClassicCIDR):
				v.errf(p, id, "C5", "ip %s is the network or broadcast address of 10.0.0.0/8", ci.IP)
			case ips[ci.IP] != "":
				v.errf(p, id, "C5", "ip %s is already used by %s", ci.IP, ips[ci.IP])
			default:
				ips[ci.IP] = id
			}
		}
		if !v.failed(kp, "mtu") && (ci.MTU < 68 || ci.MTU > 65535) {
			v.errf(at(kp, "mtu", ci.Pos), id, "V0", "mtu %d outside 68–65535", ci.MTU)
		}
		if ci.Netns != "" {
			if other, dup := v.netns[ci.Netns]; dup {
				v.errf(at(kp, "netns", ci.Pos), id, "V10", "netns %s is already the namespace of %s", ci.Netns, other)
			} else {
				v.netns[ci.Netns] = id
			}
		}
		v.netnsIf(id, "V0", ci.Netns, ci.IfName, kp, ci.Pos, "netns", "ifname")
		n := len(ci.SecurityGroups)
		if n < 1 || n > 5 {
			v.errf(at(kp, "security_groups", ci.Pos), id, "C5", "a classic instance is in 1–5 classic security groups, not %d", n)
		}
		for j, g := range ci.SecurityGroups {
			if c.ClassicSecurityGroupByID(g) == nil {
				v.errf(at(kp, fmt.Sprintf("security_groups[%d]", j), ci.Pos), id, "C5", "classic security group %s does not exist", g)
			}
		}
		if ci.Link == "" {
			continue
		}
		p := at(kp, "link", ci.Pos)
		vpc := c.VPCByID(ci.Link)
		switch {
		case vpc == nil:
			v.errf(p, id, "C5", "link: VPC %s does not exist", ci.Link)
		case !vpc.ClassicLink:
			v.errf(p, id, "C5", "link: %s does not have classic_link: true", ci.Link)
		default:
			links[ci.Link]++
			if links[ci.Link] == v.q.ClassicLinksPerVPC+1 {
				v.errf(p, id, "C5", "more than %d classic instances linked to %s (quota classic_links_per_vpc)", v.q.ClassicLinksPerVPC, ci.Link)
			}
		}
	}
}

func (v *validator) internet() {
	c := v.c
	if c.Internet != nil {
		v.port("internet", "C6", &c.Internet.Port, c.Internet.KeyPos, c.Internet.Pos)
	}
	eipUse := map[string]string{} // eip id → instance or NAT gateway using it
	ips := map[netip.Addr]string{}
	bound := map[string]string{}
	for i, e := range c.EIPs {
		id := idOr(e.ID, fmt.Sprintf("eips[%d]", i))
		kp := e.KeyPos
		v.nameDesc(id, e.Pos, kp, e.Name, e.Description)
		if c.Internet == nil {
			v.errf(e.Pos, id, "C6", "EIPs need the internet attachment (internet: {port: …})")
		}
		if !v.missing(kp, "ip", e.Pos, id, "V0", !e.IP.IsValid()) {
			p := at(kp, "ip", e.Pos)
			switch {
			case !publicUnicast(e.IP):
				v.errf(p, id, "C6", "ip %s is not a public unicast address", e.IP)
			case ips[e.IP] != "":
				v.errf(p, id, "C6", "ip %s is already the address of %s", e.IP, ips[e.IP])
			default:
				ips[e.IP] = id
			}
		}
		if e.Instance == "" {
			continue
		}
		p := at(kp, "instance", e.Pos)
		switch {
		case c.InstanceByID(e.Instance) == nil:
			v.errf(p, id, "C6", "instance %s does not exist", e.Instance)
		case bound[e.Instance] != "":
			v.errf(p, id, "C6", "instance %s already has the EIP %s; an instance has at most one EIP", e.Instance, bound[e.Instance])
		default:
			bound[e.Instance] = id
			eipUse[e.ID] = e.Instance
		}
	}
	for i, g := range c.NATGateways {
		id := idOr(g.ID, fmt.Sprintf("nat_gateways[%d]", i))
		kp := g.KeyPos
		v.nameDesc(id, g.Pos, kp, g.Name, g.Description)
		if c.Internet == nil {
			v.errf(g.Pos, id, "C6", "NAT gateways need the internet attachment (internet: {port: …})")
		}
		var vpc *VPC
		if !v.missing(kp, "vpc", g.Pos, id, "C6", g.VPC == "") {
			if vpc = c.VPCByID(g.VPC); vpc == nil {
				v.errf(at(kp, "vpc", g.Pos), id, "C6", "vpc %s does not exist", g.VPC)
			}
		}
		useEIP := func(eip string, ekp map[string]Pos, pos Pos) {
			if v.missing(ekp, "eip", pos, id, "C6", eip == "") {
				return
			}
			p := at(ekp, "eip", pos)
			switch u := eipUse[eip]; {
			case c.EIPByID(eip) == nil:
				v.errf(p, id, "C6", "eip %s does not exist", eip)
			case strings.HasPrefix(u, "i-"):
				v.errf(p, id, "C6", "eip %s is bound to instance %s; a NAT gateway needs an unbound EIP", eip, u)
			case u != "" && u != g.ID:
				v.errf(p, id, "C6", "eip %s is already used by %s", eip, u)
			default:
				eipUse[eip] = g.ID
			}
		}
		srcs := map[string]bool{}
		for _, s := range g.SNAT {
			skp := s.KeyPos
			useEIP(s.EIP, skp, s.Pos)
			if v.missing(skp, "source", s.Pos, id, "C6", s.Source == "") || v.failed(skp, "source") {
				continue
			}
			p := at(skp, "source", s.Pos)
			if srcs[s.Source] {
				v.errf(p, id, "C6", "snat source %s listed twice", s.Source)
				continue
			}
			srcs[s.Source] = true
			if s.SourceVSwitch != "" {
				sw := c.VSwitchByID(s.SourceVSwitch)
				switch {
				case sw == nil:
					v.errf(p, id, "C6", "snat source %s: no such VSwitch", s.SourceVSwitch)
				case vpc != nil && sw.VPC != vpc.ID:
					v.errf(p, id, "C6", "snat source %s belongs to %s, not to %s", s.SourceVSwitch, sw.VPC, vpc.ID)
				}
				continue
			}
			switch {
			case !canonical(s.SourceCIDR):
				v.errf(p, id, "C6", "snat source %s has host bits set (did you mean %s?)", s.SourceCIDR, s.SourceCIDR.Masked())
			case vpc != nil && vpc.CIDR.IsValid() && !within(s.SourceCIDR, vpc.CIDR.Masked()):
				v.errf(p, id, "C6", "snat source %s is not inside the VPC cidr %s", s.SourceCIDR, vpc.CIDR)
			}
		}
		type dkey struct {
			eip   string
			proto Protocol
			port  int
		}
		dn := map[dkey]bool{}
		for _, t := range g.DNAT {
			tkp := t.KeyPos
			useEIP(t.EIP, tkp, t.Pos)
			if !v.missing(tkp, "protocol", t.Pos, id, "C6", t.Protocol == "") {
				if t.Protocol == ProtoAll {
					if t.ExternalPort != 0 || t.InternalPort != 0 {
						v.errf(at(tkp, "external_port", at(tkp, "internal_port", t.Pos)), id, "C6", "protocol all maps every port; omit external_port and internal_port")
					}
				} else {
					for _, f := range []struct {
						key string
						val int
					}{{"external_port", t.ExternalPort}, {"internal_port", t.InternalPort}} {
						if v.failed(tkp, f.key) {
							continue
						}
						if f.val < 1 || f.val > 65535 {
							if !hasKey(tkp, f.key) && f.val == 0 {
								v.errf(t.Pos, id, "C6", "missing %s for protocol %s", f.key, t.Protocol)
							} else {
								v.errf(at(tkp, f.key, t.Pos), id, "C6", "%s %d outside 1–65535", f.key, f.val)
							}
						}
					}
				}
				all := dkey{t.EIP, ProtoAll, 0}
				k := dkey{t.EIP, t.Protocol, t.ExternalPort}
				anyOther := false
				for x := range dn {
					if x.eip == t.EIP {
						anyOther = true
					}
				}
				switch {
				case dn[k] || dn[all] || (t.Protocol == ProtoAll && anyOther):
					v.errf(at(tkp, "external_port", t.Pos), id, "C6", "dnat entry conflicts with an earlier one on %s (%s %d)", t.EIP, t.Protocol, t.ExternalPort)
				default:
					dn[k] = true
				}
			}
			if !v.missing(tkp, "internal_ip", t.Pos, id, "C6", !t.InternalIP.IsValid()) && vpc != nil {
				if c.ENIByAddr(vpc.ID, t.InternalIP) == nil {
					v.errf(at(tkp, "internal_ip", t.Pos), id, "C6", "internal_ip %s is not an ENI address of %s", t.InternalIP, vpc.ID)
				}
			}
		}
	}
}

var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// publicUnicast: not private, shared, loopback, link-local, benchmarking,
// multicast or reserved. The documentation ranges (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24) are allowed so examples can use them.
func publicUnicast(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// warnings (V20, C4)

type network struct {
	p   netip.Prefix
	via string // how it is reached
}

func (v *validator) warnings() {
	c := v.c
	conn := map[string][]network{}
	vbrNets := func(b *VBR) []netip.Prefix {
		var out []netip.Prefix
		for _, r := range b.Routes {
			if r.NextHop == LeasedLine && r.Dst.IsValid() && r.Dst.Bits() > 0 {
				out = append(out, r.Dst.Masked())
			}
		}
		return out
	}
	for _, r := range c.RouterInterfaces {
		if r.VPC == "" {
			continue
		}
		peer := c.RouterInterfaceByID(r.Peer)
		if peer == nil {
			continue
		}
		if pv := c.VPCByID(peer.VPC); pv != nil && pv.CIDR.IsValid() {
			conn[r.VPC] = append(conn[r.VPC], network{pv.CIDR.Masked(), pv.ID + " through " + r.ID})
		}
		if pb := c.VBRByID(peer.VBR); pb != nil {
			for _, p := range vbrNets(pb) {
				conn[r.VPC] = append(conn[r.VPC], network{p, pb.ID + " through " + r.ID})
			}
			conn[r.VPC] = append(conn[r.VPC], network{}) // connected even without routes
		}
	}
	for _, n := range c.CENs {
		for _, a := range n.Attachments {
			vpc := c.VPCByID(a)
			if vpc == nil {
				continue
			}
			conn[a] = append(conn[a], network{})
			for _, b := range n.Attachments {
				if b == a {
					continue
				}
				if ov := c.VPCByID(b); ov != nil && ov.CIDR.IsValid() {
					conn[a] = append(conn[a], network{ov.CIDR.Masked(), b + " through " + n.ID})
				}
				if ob := c.VBRByID(b); ob != nil {
					for _, p := range vbrNets(ob) {
						conn[a] = append(conn[a], network{p, b + " through " + n.ID})
					}
				}
			}
		}
	}
	for _, vpc := range c.VPCs {
		for _, t := range vpc.RouteTables {
			for _, r := range t.Routes {
				if KindOfHop(r.NextHop) == HopVPNGateway && r.Dst.IsValid() && r.Dst.Bits() > 0 {
					conn[vpc.ID] = append(conn[vpc.ID], network{r.Dst.Masked(), r.NextHop})
				}
			}
		}
		for _, g := range c.VPNGateways {
			if g.VPC == vpc.ID {
				conn[vpc.ID] = append(conn[vpc.ID], network{})
			}
		}
	}
	for _, vpc := range c.VPCs {
		nets := conn[vpc.ID]
		if len(nets) == 0 {
			continue
		}
		if vpc.CIDR.IsValid() && vpc.CIDR.Bits() > 16 {
			v.warnf(at(vpc.KeyPos, "cidr", vpc.Pos), vpc.ID, "V20", "cidr %s is longer than /16 and the VPC is connected to other networks; a /16 or shorter leaves room to grow without overlaps", vpc.CIDR)
		}
		for _, s := range vpc.VSwitches {
			if !s.CIDR.IsValid() {
				continue
			}
			for _, n := range nets {
				if n.p.IsValid() && n.p.Overlaps(s.CIDR.Masked()) {
					v.warnf(at(s.KeyPos, "cidr", s.Pos), s.ID, "V20", "cidr %s overlaps %s of %s", s.CIDR, n.p, n.via)
				}
			}
		}
	}
	// C4: a destination learned from two attachments is installed for
	// neither.
	for _, n := range c.CENs {
		from := map[netip.Prefix][]string{}
		var order []netip.Prefix
		for _, a := range n.Attachments {
			var dsts []netip.Prefix
			if vpc := c.VPCByID(a); vpc != nil {
				for _, s := range vpc.VSwitches {
					if s.CIDR.IsValid() {
						dsts = append(dsts, s.CIDR.Masked())
					}
				}
			}
			if b := c.VBRByID(a); b != nil {
				dsts = vbrNets(b)
			}
			for _, d := range dsts {
				if len(from[d]) == 0 {
					order = append(order, d)
				}
				if !contains(from[d], a) {
					from[d] = append(from[d], a)
				}
			}
		}
		for _, d := range order {
			if len(from[d]) > 1 {
				v.warnf(at(n.KeyPos, "attachments", n.Pos), n.ID, "C4", "%s is announced by %s: learned from two attachments, it is installed for neither", d, strings.Join(from[d], " and "))
			}
		}
	}
}
