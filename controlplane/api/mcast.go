package api

// Multicast administration (SPEC §6): the runtime operations behind
// `vrouterctl mcast server` and `vrouterctl mcast client` (M3), which are
// overlay operations like every other change (R5, M4), and the two describe
// actions that read the compiled groups and their counters (M6).
//
//   - CreateMulticastGroup (server -A -m G), JoinMulticastGroup (-A -m G
//     -j IPs: adds the group if absent), QuitMulticastGroup (-A -m G -q IPs),
//     DeleteMulticastGroup (-D -m G) and ClearMulticastGroups (-C) change
//     cfg.Multicast, the file's `multicast:` groups included.
//   - AddMulticastClient (client -A -i IP -p PORT -m G),
//     RemoveMulticastClient (-D -i IP -p PORT) and ClearMulticastClients
//     (-C) change cfg.McastClients, which only the overlay sets.
//   - DescribeMulticastGroups (server -S, -L, -P) and
//     DescribeMulticastClients (client -L, -P) read the running
//     configuration and the published snapshot's multicast table.
//
// Limits (V17, M2) are checked when the operation is applied, so that a
// refusal names the limit and says what is already there, e.g.
// "api:JoinMulticastGroup: 239.1.1.11: V17: server i-srv already has 10
// groups, the limit (mcast_groups_per_server)"; config.Validate then checks
// the whole candidate like the file.
//
// Parameters are completed while the operation is applied — the server
// chosen by default, member ENI ids turned into their addresses, the groups
// a clear removed — and the overlay records the completed parameters, so a
// replay at start or after a reload does exactly what was done (M4).

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane/mcast"
)

var (
	mcastRange = netip.MustParsePrefix("224.0.0.0/4")
	mcastLocal = netip.MustParsePrefix("224.0.0.0/24")
)

// parseGroupAddr parses a group address of V17.
func parseGroupAddr(x *opCtx, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() || !mcastRange.Contains(a) || mcastLocal.Contains(a) {
		return netip.Addr{}, x.err(CodeInvalidParameter, "params", "V17", "group %q must be an address in 224.0.0.0/4 but not in 224.0.0.0/24", s)
	}
	return a, nil
}

// mcastServers returns the instances that are the server of some group, sorted.
func mcastServers(c *config.Config) []string {
	var out []string
	for _, g := range c.Multicast {
		if !slices.Contains(out, g.Server) {
			out = append(out, g.Server)
		}
	}
	sort.Strings(out)
	return out
}

// resolveServer finds the server instance of a multicast operation (M3
// `-s ID`): an instance id, or an address of one of its ENIs. Without one,
// the only instance that is the server of a group is chosen; none or
// several is an error asking for -s.
func resolveServer(c *config.Config, x *opCtx, server string) (*config.Instance, error) {
	server = strings.TrimSpace(server)
	if server == "" {
		switch s := mcastServers(c); len(s) {
		case 0:
			return nil, x.err(CodeInvalidParameter, "params", "M3", "no instance is a multicast server yet; name the server instance with -s ID (Server)")
		case 1:
			return c.InstanceByID(s[0]), nil
		default:
			return nil, x.err(CodeInvalidParameter, "params", "M3", "%d instances are multicast servers (%s); choose one with -s ID (Server)", len(s), strings.Join(s, ", "))
		}
	}
	if in := c.InstanceByID(server); in != nil {
		return in, nil
	}
	if a, err := netip.ParseAddr(server); err == nil {
		var found []*config.ENI
		for _, e := range c.ENIs() {
			if slices.Contains(e.Addrs(), a) {
				found = append(found, e)
			}
		}
		switch len(found) {
		case 1:
			if in := c.InstanceByID(found[0].InstanceID); in != nil {
				return in, nil
			}
		case 0:
		default:
			return nil, x.err(CodeInvalidParameter, server, "M3", "%s is an ENI address in several VPCs; name the server instance by its id", server)
		}
	}
	return nil, x.err(CodeNotFound, server, "V17", "server %s: no such instance", server)
}

// findGroup returns the index of the group (VPC of server, addr, server).
func findGroup(c *config.Config, server *config.Instance, addr netip.Addr) int {
	return slices.IndexFunc(c.Multicast, func(g *config.McastGroup) bool {
		return g.Server == server.ID && g.Group == addr && g.VPC == server.VPC
	})
}

// memberAddr resolves a member of a group of VPC vpc: an ENI address of the
// VPC, or an ENI id (an instance id names its primary ENI) standing for its
// primary address.
func memberAddr(c *config.Config, x *opCtx, vpc, s string) (netip.Addr, *config.ENI, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		e := c.ENIByAddr(vpc, a)
		if e == nil {
			return netip.Addr{}, nil, x.err(CodeNotFound, s, "V17", "member %s is not an ENI address of %s", s, vpc)
		}
		return a, e, nil
	}
	e := c.ENIByID(s)
	switch {
	case e == nil:
		return netip.Addr{}, nil, x.err(CodeNotFound, s, "V17", "member %q is neither an address nor an ENI or instance id", s)
	case e.VPC != vpc:
		return netip.Addr{}, nil, x.err(CodeInvalidParameter, s, "V17", "member %s is in %s, not in the group's VPC %s", s, e.VPC, vpc)
	case !e.IP.IsValid():
		return netip.Addr{}, nil, x.err(CodeInvalidParameter, s, "V17", "member %s has no address", s)
	}
	return e.IP, e, nil
}

// setMembers replaces g.Members with ms, keeping the file position of each
// member that stays and giving added ones none (findings about them read
// "api:…"). KeyPos maps are shared between copies: a new one is made.
func setMembers(g *config.McastGroup, ms []netip.Addr) {
	old := map[netip.Addr]config.Pos{}
	for i, a := range g.Members {
		if p, ok := g.KeyPos[fmt.Sprintf("members[%d]", i)]; ok {
			old[a] = p
		}
	}
	kp := make(map[string]config.Pos, len(g.KeyPos)+len(ms))
	for k, v := range g.KeyPos {
		if !strings.HasPrefix(k, "members[") {
			kp[k] = v
		}
	}
	if _, ok := kp["members"]; !ok {
		kp["members"] = config.Pos{}
	}
	for i, a := range ms {
		kp[fmt.Sprintf("members[%d]", i)] = old[a] // zero for an added member
	}
	g.KeyPos = kp
	g.Members = ms
}

// groupsOfENI counts the groups of c that list an address of e (V17: a
// member receives at most mcast_groups_per_member groups).
func groupsOfENI(c *config.Config, e *config.ENI) int {
	n := 0
	for _, g := range c.Multicast {
		if g.VPC != e.VPC {
			continue
		}
		for _, a := range g.Members {
			if c.ENIByAddr(g.VPC, a) == e {
				n++
				break
			}
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// server side: groups and members (M3 `mcast server`)

// MulticastGroupParams are the parameters of CreateMulticastGroup,
// JoinMulticastGroup and QuitMulticastGroup. Server is the server instance
// (id, or an address of one of its ENIs; absent: the only instance that
// serves a group, M3 `-s`); Group the group address (`-m`); Members the
// members to join or quit (`-j`, `-q`): ENI addresses of the server's VPC,
// or ENI/instance ids standing for their primary address. Igmp (M5) sets
// the group's igmp flag when creating or joining.
//
//   - CreateMulticastGroup adds the group, with Members if given; it is a
//     Conflict when the group exists.
//   - JoinMulticastGroup adds the group if absent and joins Members
//     (required); a member already in the group is a Conflict.
//   - QuitMulticastGroup removes Members (required) from the group; the
//     group stays, possibly empty.
type MulticastGroupParams struct {
	Server  string   `json:"Server,omitempty"`
	Group   string   `json:"Group"`
	Members []string `json:"Members,omitempty"`
	IGMP    *bool    `json:"Igmp,omitempty"`
}

func (p *MulticastGroupParams) apply(c *config.Config, x *opCtx) error {
	if p.Group == "" {
		return x.missing("Group")
	}
	create, join, quit := x.action == "CreateMulticastGroup", x.action == "JoinMulticastGroup", x.action == "QuitMulticastGroup"
	if (join || quit) && len(p.Members) == 0 {
		return x.missing("Members")
	}
	if quit && p.IGMP != nil {
		return x.err(CodeInvalidParameter, "params", "V0", "Igmp is not a parameter of QuitMulticastGroup")
	}
	addr, err := parseGroupAddr(x, p.Group)
	if err != nil {
		return err
	}
	srv, err := resolveServer(c, x, p.Server)
	if err != nil {
		return err
	}
	p.Server, p.Group = srv.ID, addr.String()
	id := addr.String()
	q := c.Quotas

	// Resolve the members; p.Members records their addresses.
	addrs := make([]netip.Addr, len(p.Members))
	enis := make([]*config.ENI, len(p.Members))
	for i, m := range p.Members {
		a, e, err := memberAddr(c, x, srv.VPC, m)
		if err != nil {
			return err
		}
		for j := range i {
			if enis[j] == e {
				return x.err(CodeInvalidParameter, id, "V17", "member %s is given twice (as %s and %s)", e.ID, p.Members[j], m)
			}
		}
		addrs[i], enis[i] = a, e
	}
	for i, a := range addrs {
		p.Members[i] = a.String()
	}

	gi := findGroup(c, srv, addr)
	if quit {
		if gi < 0 {
			return x.err(CodeNotFound, id, "V17", "server %s has no group %s", srv.ID, addr)
		}
		g := c.Multicast[gi]
		keep := slices.Clone(g.Members)
		for i, e := range enis {
			j := slices.IndexFunc(keep, func(a netip.Addr) bool { return c.ENIByAddr(g.VPC, a) == e })
			if j < 0 {
				return x.err(CodeNotFound, id, "V17", "%s (%s) is not a member of group %s of %s", addrs[i], e.ID, addr, srv.ID)
			}
			keep = slices.Delete(keep, j, j+1)
		}
		setMembers(g, keep)
		return nil
	}

	var g *config.McastGroup
	if gi >= 0 {
		if create {
			return x.err(CodeConflict, id, "V17", "server %s already has group %s (join members with JoinMulticastGroup)", srv.ID, addr)
		}
		g = c.Multicast[gi]
	} else {
		if n := len(mcastGroupsOf(c, srv.ID)); n >= q.McastGroupsPerServer {
			return x.err(CodeValidationFailed, id, "V17", "server %s already has %d groups, the limit (mcast_groups_per_server)", srv.ID, n)
		}
		g = &config.McastGroup{VPC: srv.VPC, Group: addr, Server: srv.ID}
		editKeys(&g.KeyPos, []string{"vpc", "group", "server"})
		c.Multicast = append(c.Multicast, g)
	}
	if p.IGMP != nil {
		g.IGMP = *p.IGMP
		editKeys(&g.KeyPos, []string{"igmp"})
	}
	if len(addrs) == 0 {
		return nil
	}
	for i, e := range enis {
		for _, a := range g.Members {
			if c.ENIByAddr(g.VPC, a) == e {
				return x.err(CodeConflict, id, "V17", "%s (%s) is already a member of group %s of %s", addrs[i], e.ID, addr, srv.ID)
			}
		}
	}
	if n := len(g.Members); n+len(addrs) > q.McastMembersPerGroup {
		if n >= q.McastMembersPerGroup {
			return x.err(CodeValidationFailed, id, "V17", "group %s of %s already has %d members, the limit (mcast_members_per_group)", addr, srv.ID, n)
		}
		return x.err(CodeValidationFailed, id, "V17", "group %s of %s has %d members; %d more would exceed the limit of %d (mcast_members_per_group)",
			addr, srv.ID, n, len(addrs), q.McastMembersPerGroup)
	}
	for i, e := range enis {
		if n := groupsOfENI(c, e); n >= q.McastGroupsPerMember {
			return x.err(CodeValidationFailed, id, "V17", "member %s (%s) already receives %d groups, the limit (mcast_groups_per_member)", addrs[i], e.ID, n)
		}
	}
	setMembers(g, append(slices.Clone(g.Members), addrs...))
	return nil
}

// mcastGroupsOf returns the groups whose server is the instance id.
func mcastGroupsOf(c *config.Config, server string) []*config.McastGroup {
	var out []*config.McastGroup
	for _, g := range c.Multicast {
		if g.Server == server {
			out = append(out, g)
		}
	}
	return out
}

// DeleteMulticastGroupParams deletes one group of a server (M3 `-D -m
// GROUP`), whether it came from the file or from the API. Client entries
// naming the group stay; they match nothing until a group with that
// address exists again.
type DeleteMulticastGroupParams struct {
	Server string `json:"Server,omitempty"`
	Group  string `json:"Group"`
}

func (p *DeleteMulticastGroupParams) apply(c *config.Config, x *opCtx) error {
	if p.Group == "" {
		return x.missing("Group")
	}
	addr, err := parseGroupAddr(x, p.Group)
	if err != nil {
		return err
	}
	srv, err := resolveServer(c, x, p.Server)
	if err != nil {
		return err
	}
	p.Server, p.Group = srv.ID, addr.String()
	gi := findGroup(c, srv, addr)
	if gi < 0 {
		return x.err(CodeNotFound, addr.String(), "V17", "server %s has no group %s", srv.ID, addr)
	}
	c.Multicast = slices.Delete(slices.Clone(c.Multicast), gi, gi+1)
	return nil
}

// ClearMulticastGroupsParams removes every group of a server (M3 `-C`),
// the file's included; the clearing persists (M4: the classic agent
// restores nothing after a clear). Groups absent or null means every group
// the server has; vrouterd records the groups it removed in Groups, so a
// replay after a restart or reload removes those same groups again while
// groups added to the file later stay. A group of the list that is gone
// already is skipped.
type ClearMulticastGroupsParams struct {
	Server string   `json:"Server,omitempty"`
	Groups []string `json:"Groups"`
}

func (p *ClearMulticastGroupsParams) apply(c *config.Config, x *opCtx) error {
	srv, err := resolveServer(c, x, p.Server)
	if err != nil {
		return err
	}
	p.Server = srv.ID
	var only map[netip.Addr]bool
	if p.Groups != nil {
		only = map[netip.Addr]bool{}
		for _, s := range p.Groups {
			a, err := parseGroupAddr(x, s)
			if err != nil {
				return err
			}
			only[a] = true
		}
	}
	removed := []string{}
	keep := make([]*config.McastGroup, 0, len(c.Multicast))
	for _, g := range c.Multicast {
		if g.Server == srv.ID && (only == nil || only[g.Group]) {
			removed = append(removed, g.Group.String())
			continue
		}
		keep = append(keep, g)
	}
	c.Multicast = keep
	p.Groups = removed
	return nil
}

// ---------------------------------------------------------------------------
// member side: client entries (M3 `mcast client`)

// resolveMember finds the member ENI of a client operation (M3 `-c ID`): an
// ENI id, an instance id (its primary ENI) or an ENI address; an address
// used in several VPCs must be given as an id.
func resolveMember(c *config.Config, x *opCtx, member string) (*config.ENI, error) {
	member = strings.TrimSpace(member)
	if member == "" {
		return nil, x.err(CodeInvalidParameter, "params", "M3", "Member is required: the member ENI id, instance id or address (-c ID)")
	}
	if e := c.ENIByID(member); e != nil {
		return e, nil
	}
	if a, err := netip.ParseAddr(member); err == nil {
		var found []*config.ENI
		for _, e := range c.ENIs() {
			if slices.Contains(e.Addrs(), a) {
				found = append(found, e)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			ids := make([]string, len(found))
			for i, e := range found {
				ids[i] = e.ID
			}
			return nil, x.err(CodeInvalidParameter, member, "M3", "%s is an address of %s in different VPCs; give the ENI id", member, strings.Join(ids, ", "))
		}
	}
	return nil, x.err(CodeNotFound, member, "V17", "member %s: no such ENI, instance or ENI address", member)
}

// clientServerPort parses the server address and port of a client entry.
func clientServerPort(x *opCtx, id, server string, port int) (netip.Addr, uint16, error) {
	if server == "" {
		return netip.Addr{}, 0, x.missing("ServerIp")
	}
	a, err := netip.ParseAddr(strings.TrimSpace(server))
	if err != nil || !a.Is4() {
		return netip.Addr{}, 0, x.err(CodeInvalidParameter, id, "V17", "ServerIp %q is not an IPv4 address", server)
	}
	if port < 1 || port > 65535 {
		return netip.Addr{}, 0, x.err(CodeInvalidParameter, id, "V17", "Port %d: a UDP port is 1–65535", port)
	}
	return a, uint16(port), nil
}

// MulticastClientParams adds a client entry (M3 `client -A -i SERVER_IP -p
// PORT -m GROUP`): Member (`-c`) accepts Group's packets from ServerIp to
// UDP port Port. The group must exist in the member's VPC with a server
// that owns ServerIp. Once a member has an entry it receives only what its
// entries match.
type MulticastClientParams struct {
	Member   string `json:"Member"`
	ServerIP string `json:"ServerIp"`
	Port     int    `json:"Port"`
	Group    string `json:"Group"`
}

func (p *MulticastClientParams) apply(c *config.Config, x *opCtx) error {
	if p.Group == "" {
		return x.missing("Group")
	}
	e, err := resolveMember(c, x, p.Member)
	if err != nil {
		return err
	}
	srvIP, port, err := clientServerPort(x, e.ID, p.ServerIP, p.Port)
	if err != nil {
		return err
	}
	addr, err := parseGroupAddr(x, p.Group)
	if err != nil {
		return err
	}
	p.Member, p.ServerIP, p.Group = e.ID, srvIP.String(), addr.String()
	var servers []string
	sent := false
	for _, g := range c.Multicast {
		if g.VPC != e.VPC || g.Group != addr {
			continue
		}
		servers = append(servers, g.Server)
		if in := c.InstanceByID(g.Server); in != nil && instanceOwns(in, srvIP) {
			sent = true
		}
	}
	switch {
	case len(servers) == 0:
		return x.err(CodeNotFound, e.ID, "V17", "no multicast group %s in %s; add it first (vrouterctl mcast server -A -m %s)", addr, e.VPC, addr)
	case !sent:
		return x.err(CodeNotFound, e.ID, "V17", "no server of group %s in %s has the address %s (servers: %s)", addr, e.VPC, srvIP, strings.Join(servers, ", "))
	}
	for _, m := range c.McastClients {
		if m.ENI == e.ID && m.Server == srvIP && m.Port == port {
			return x.err(CodeConflict, e.ID, "V17", "%s already has the client entry %s (group %s)", e.ID, netip.AddrPortFrom(srvIP, port), m.Group)
		}
	}
	c.McastClients = append(slices.Clone(c.McastClients), &config.McastClient{ENI: e.ID, Server: srvIP, Port: port, Group: addr})
	return nil
}

// instanceOwns reports whether addr is an address of one of in's ENIs.
func instanceOwns(in *config.Instance, addr netip.Addr) bool {
	enis := in.ENIs
	if p := in.PrimaryENI(); p != nil {
		enis = append([]*config.ENI{p}, enis...)
	}
	for _, e := range enis {
		if slices.Contains(e.Addrs(), addr) {
			return true
		}
	}
	return false
}

// RemoveMulticastClientParams removes the client entry (ServerIp, Port) of
// Member (M3 `client -D -i IP -p PORT`).
type RemoveMulticastClientParams struct {
	Member   string `json:"Member"`
	ServerIP string `json:"ServerIp"`
	Port     int    `json:"Port"`
}

func (p *RemoveMulticastClientParams) apply(c *config.Config, x *opCtx) error {
	e, err := resolveMember(c, x, p.Member)
	if err != nil {
		return err
	}
	srvIP, port, err := clientServerPort(x, e.ID, p.ServerIP, p.Port)
	if err != nil {
		return err
	}
	p.Member, p.ServerIP = e.ID, srvIP.String()
	i := slices.IndexFunc(c.McastClients, func(m *config.McastClient) bool {
		return m.ENI == e.ID && m.Server == srvIP && m.Port == port
	})
	if i < 0 {
		return x.err(CodeNotFound, e.ID, "V17", "%s has no client entry %s", e.ID, netip.AddrPortFrom(srvIP, port))
	}
	c.McastClients = slices.Delete(slices.Clone(c.McastClients), i, i+1)
	return nil
}

// ClearMulticastClientsParams removes every client entry of Member (M3
// `client -C`): it then receives every group it is a member of again.
type ClearMulticastClientsParams struct {
	Member string `json:"Member"`
}

func (p *ClearMulticastClientsParams) apply(c *config.Config, x *opCtx) error {
	e, err := resolveMember(c, x, p.Member)
	if err != nil {
		return err
	}
	p.Member = e.ID
	c.McastClients = slices.DeleteFunc(slices.Clone(c.McastClients), func(m *config.McastClient) bool { return m.ENI == e.ID })
	return nil
}

// ---------------------------------------------------------------------------
// describe (M3 -S, -L, -P; M6)

// DescribeMulticastGroupsParams filters DescribeMulticastGroups: Server
// (instance id or ENI address), Group (address) and VpcId, each optional.
// A Group that no (matching) server has is NotFound.
type DescribeMulticastGroupsParams struct {
	Server string `json:"Server,omitempty"`
	Group  string `json:"Group,omitempty"`
	VpcID  string `json:"VpcId,omitempty"`
}

// MulticastGroupStatistics are a group's counters (M6) since vrouterd
// started; they survive reloads and runtime changes (R8).
type MulticastGroupStatistics struct {
	PacketsIn            uint64 `json:"PacketsIn"` // packets the server sent to the group
	BytesIn              uint64 `json:"BytesIn"`
	CopiesOut            uint64 `json:"CopiesOut"` // copies written to member ports
	BytesOut             uint64 `json:"BytesOut"`
	Dropped              uint64 `json:"Dropped"`              // the three below
	DroppedSecurityGroup uint64 `json:"DroppedSecurityGroup"` // refused by a member's ingress security groups
	DroppedPort          uint64 `json:"DroppedPort"`          // a member port full, failed or not attached
	DroppedTooBig        uint64 `json:"DroppedTooBig"`        // larger than the member's MTU
}

// MulticastClientStatistics is one client entry of a member of a group
// with what it matched.
type MulticastClientStatistics struct {
	ServerIP string `json:"ServerIp"`
	Port     uint16 `json:"Port"`
	Packets  uint64 `json:"Packets"`
	Bytes    uint64 `json:"Bytes"`
}

// MulticastMember is one member of a group: configured (file or API) or
// joined by IGMP (Dynamic, M5).
type MulticastMember struct {
	NetworkInterfaceID   string                      `json:"NetworkInterfaceId"`
	Address              string                      `json:"Address"`
	Dynamic              bool                        `json:"Dynamic"`
	ExpiresInSeconds     float64                     `json:"ExpiresInSeconds,omitempty"` // dynamic members: time left without a report
	Filtered             bool                        `json:"Filtered"`                   // has client entries: receives only what they match
	Copies               uint64                      `json:"Copies"`
	Dropped              uint64                      `json:"Dropped"`
	DroppedSecurityGroup uint64                      `json:"DroppedSecurityGroup"`
	DroppedPort          uint64                      `json:"DroppedPort"`
	DroppedTooBig        uint64                      `json:"DroppedTooBig"`
	Clients              []MulticastClientStatistics `json:"Clients,omitempty"`
}

// MulticastGroup is one group of DescribeMulticastGroups.
type MulticastGroup struct {
	VpcID       string                   `json:"VpcId"`
	Group       string                   `json:"Group"`
	Server      string                   `json:"Server"`
	IGMP        bool                     `json:"Igmp"`
	MemberCount int                      `json:"MemberCount"`
	Statistics  MulticastGroupStatistics `json:"Statistics"`
	Members     []MulticastMember        `json:"Members"`
}

// DescribeMulticastGroupsResponse is the reply of DescribeMulticastGroups.
type DescribeMulticastGroupsResponse struct {
	Groups     []MulticastGroup `json:"Groups"`
	TotalCount int              `json:"TotalCount"`
}

// mcastReports returns the published multicast table's reports by group
// id (nil before the first snapshot).
func (s *Server) mcastReports() map[string]*mcast.GroupReport {
	snap := s.b.Snapshot()
	if snap == nil {
		return nil
	}
	reps := snap.Mcast.Report(s.now().UnixNano())
	out := make(map[string]*mcast.GroupReport, len(reps))
	for i := range reps {
		out[reps[i].ID] = &reps[i]
	}
	return out
}

func describeMulticastGroups(s *Server, c *config.Config, p *DescribeMulticastGroupsParams) (*DescribeMulticastGroupsResponse, error) {
	x := &opCtx{action: "DescribeMulticastGroups"}
	var srv *config.Instance
	if p.Server != "" {
		in, err := resolveServer(c, x, p.Server)
		if err != nil {
			return nil, err
		}
		srv = in
	}
	var addr netip.Addr
	if p.Group != "" {
		a, err := parseGroupAddr(x, p.Group)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	if p.VpcID != "" && c.VPCByID(p.VpcID) == nil {
		return nil, notFound("VPC %s does not exist", p.VpcID)
	}
	reps := s.mcastReports()
	out := &DescribeMulticastGroupsResponse{Groups: []MulticastGroup{}}
	for _, g := range c.Multicast {
		if (srv != nil && g.Server != srv.ID) || (addr.IsValid() && g.Group != addr) || (p.VpcID != "" && g.VPC != p.VpcID) {
			continue
		}
		out.Groups = append(out.Groups, describeGroup(c, g, reps[g.ID()]))
	}
	if addr.IsValid() && len(out.Groups) == 0 {
		if srv != nil {
			return nil, notFound("server %s has no multicast group %s", srv.ID, addr)
		}
		return nil, notFound("no multicast group %s", addr)
	}
	out.TotalCount = len(out.Groups)
	return out, nil
}

// describeGroup renders g with the counters and members of its report
// (configured members without a report are listed with zero counters).
func describeGroup(c *config.Config, g *config.McastGroup, r *mcast.GroupReport) MulticastGroup {
	out := MulticastGroup{VpcID: g.VPC, Group: g.Group.String(), Server: g.Server, IGMP: g.IGMP, Members: []MulticastMember{}}
	if r == nil {
		for _, a := range g.Members {
			m := MulticastMember{Address: a.String()}
			if e := c.ENIByAddr(g.VPC, a); e != nil {
				m.NetworkInterfaceID = e.ID
				m.Filtered = len(c.McastClientsOf(e.ID)) > 0
			}
			out.Members = append(out.Members, m)
		}
		out.MemberCount = len(out.Members)
		return out
	}
	k := r.Counters
	out.Statistics = MulticastGroupStatistics{PacketsIn: k.PacketsIn, BytesIn: k.BytesIn, CopiesOut: k.CopiesOut, BytesOut: k.BytesOut,
		Dropped: k.DropsSG + k.DropsPort + k.DropsTooBig, DroppedSecurityGroup: k.DropsSG, DroppedPort: k.DropsPort, DroppedTooBig: k.DropsTooBig}
	for _, mr := range r.Members {
		mk := mr.Counters
		m := MulticastMember{NetworkInterfaceID: mr.ENI, Address: mr.Addr.String(), Dynamic: mr.Dynamic, Filtered: mr.Filtered,
			Copies: mk.Copies, Dropped: mk.DropsSG + mk.DropsPort + mk.DropsTooBig,
			DroppedSecurityGroup: mk.DropsSG, DroppedPort: mk.DropsPort, DroppedTooBig: mk.DropsTooBig}
		if mr.Dynamic {
			m.ExpiresInSeconds = max(mr.ExpiresIn, 0).Round(time.Millisecond).Seconds()
		}
		for _, cr := range mr.Clients {
			m.Clients = append(m.Clients, MulticastClientStatistics{ServerIP: cr.Server.String(), Port: cr.Port, Packets: cr.Packets, Bytes: cr.Bytes})
		}
		out.Members = append(out.Members, m)
	}
	out.MemberCount = len(out.Members)
	return out
}

// DescribeMulticastClientsParams filters DescribeMulticastClients: Member
// (ENI id, instance id or address), ServerIp and Port, each optional. A
// ServerIp and Port that match no entry are NotFound (M3 `client -P`).
type DescribeMulticastClientsParams struct {
	Member   string `json:"Member,omitempty"`
	ServerIP string `json:"ServerIp,omitempty"`
	Port     int    `json:"Port,omitempty"`
}

// MulticastClient is one client entry of DescribeMulticastClients with
// what it received (M6). Active is false while the member is in no group
// with that address whose server sends from ServerIp: the entry then
// matches nothing (and still filters the member's other groups).
type MulticastClient struct {
	Member        string `json:"Member"` // ENI id
	MemberAddress string `json:"MemberAddress"`
	VpcID         string `json:"VpcId"`
	ServerIP      string `json:"ServerIp"`
	Port          uint16 `json:"Port"`
	Group         string `json:"Group"`
	Active        bool   `json:"Active"`
	Packets       uint64 `json:"Packets"`
	Bytes         uint64 `json:"Bytes"`
}

// DescribeMulticastClientsResponse is the reply of DescribeMulticastClients.
type DescribeMulticastClientsResponse struct {
	Clients    []MulticastClient `json:"Clients"`
	TotalCount int               `json:"TotalCount"`
}

func describeMulticastClients(s *Server, c *config.Config, p *DescribeMulticastClientsParams) (*DescribeMulticastClientsResponse, error) {
	x := &opCtx{action: "DescribeMulticastClients"}
	var member *config.ENI
	if p.Member != "" {
		e, err := resolveMember(c, x, p.Member)
		if err != nil {
			return nil, err
		}
		member = e
	}
	var srvIP netip.Addr
	if p.ServerIP != "" {
		a, err := netip.ParseAddr(strings.TrimSpace(p.ServerIP))
		if err != nil || !a.Is4() {
			return nil, x.err(CodeInvalidParameter, "params", "V17", "ServerIp %q is not an IPv4 address", p.ServerIP)
		}
		srvIP = a
	}
	if p.Port < 0 || p.Port > 65535 {
		return nil, x.err(CodeInvalidParameter, "params", "V17", "Port %d: a UDP port is 1–65535", p.Port)
	}
	// Counters per (ENI, server, port, group) from the compiled groups
	// with that address in the member's VPC.
	type key struct {
		eni    string
		vpc    string
		server netip.Addr
		port   uint16
		group  netip.Addr
	}
	type tally struct {
		active         bool
		packets, bytes uint64
	}
	got := map[key]*tally{}
	for _, r := range s.mcastReports() {
		for _, m := range r.Members {
			for _, cr := range m.Clients {
				k := key{m.ENI, r.VPC, cr.Server, cr.Port, r.Group}
				t := got[k]
				if t == nil {
					t = &tally{}
					got[k] = t
				}
				t.packets += cr.Packets
				t.bytes += cr.Bytes
				if in := c.InstanceByID(r.Server); in != nil && instanceOwns(in, cr.Server) {
					t.active = true
				}
			}
		}
	}
	out := &DescribeMulticastClientsResponse{Clients: []MulticastClient{}}
	for _, m := range c.McastClients {
		if (member != nil && m.ENI != member.ID) || (srvIP.IsValid() && m.Server != srvIP) || (p.Port != 0 && int(m.Port) != p.Port) {
			continue
		}
		mc := MulticastClient{Member: m.ENI, ServerIP: m.Server.String(), Port: m.Port, Group: m.Group.String()}
		if e := c.ENIByID(m.ENI); e != nil {
			mc.MemberAddress, mc.VpcID = e.IP.String(), e.VPC
		}
		if t := got[key{m.ENI, mc.VpcID, m.Server, m.Port, m.Group}]; t != nil {
			mc.Active, mc.Packets, mc.Bytes = t.active, t.packets, t.bytes
		}
		out.Clients = append(out.Clients, mc)
	}
	if (srvIP.IsValid() || p.Port != 0) && len(out.Clients) == 0 {
		what := "client entry"
		if srvIP.IsValid() {
			what += " from " + srvIP.String()
		}
		if p.Port != 0 {
			what += " to port " + strconv.Itoa(p.Port)
		}
		if member != nil {
			return nil, notFound("%s has no %s", member.ID, what)
		}
		return nil, notFound("no %s", what)
	}
	out.TotalCount = len(out.Clients)
	return out, nil
}
