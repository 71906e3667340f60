package api

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// Describe actions read the running configuration (Backend.Config), which
// is never modified once published, so they take no lock. Their replies are
// shaped like the cloud's responses, simplified. Every filter is optional
// unless said otherwise; a filter naming a resource that does not exist is
// a NotFound error.

// describers maps every read-only configuration action to its handler.
var describers = map[string]func(s *Server, raw []byte) (any, error){
	"DescribeVpcs":                   describe(describeVpcs),
	"DescribeVSwitches":              describe(describeVSwitches),
	"DescribeRouteTables":            describe(describeRouteTables),
	"DescribeRouteEntryList":         describe(describeRouteEntryList),
	"DescribeSecurityGroups":         describe(describeSecurityGroups),
	"DescribeSecurityGroupAttribute": describe(describeSecurityGroupAttribute),
	"DescribeInstances":              describe(describeInstances),
	"DescribeNetworkInterfaces":      describe(describeNetworkInterfaces),
	"DescribeMulticastGroups":        describe(describeMulticastGroups),  // mcast.go
	"DescribeMulticastClients":       describe(describeMulticastClients), // mcast.go
}

// describe adapts a typed handler: strict parameter decoding, then the
// handler with the running configuration.
func describe[P any, R any](f func(s *Server, c *config.Config, p *P) (R, error)) func(*Server, []byte) (any, error) {
	return func(s *Server, raw []byte) (any, error) {
		var p P
		if err := decodeStrict(raw, &p); err != nil {
			return nil, &Error{Status: 400, Code: CodeInvalidParameter, Message: err.Error()}
		}
		c := s.b.Config()
		if c == nil {
			return nil, errNotReady
		}
		return f(s, c, &p)
	}
}

func notFound(format string, args ...any) error {
	return newError(404, CodeNotFound, format, args...)
}

// DescribeVpcsParams filters DescribeVpcs.
type DescribeVpcsParams struct {
	VpcID string `json:"VpcId,omitempty"`
}

// Vpc is one VPC of DescribeVpcs.
type Vpc struct {
	VpcID                  string   `json:"VpcId"`
	VpcName                string   `json:"VpcName"`
	Description            string   `json:"Description"`
	CidrBlock              string   `json:"CidrBlock"`
	VRouterID              string   `json:"VRouterId"`
	IsDefault              bool     `json:"IsDefault"`
	ClassicLink            bool     `json:"ClassicLink"`
	UsableIPCount          int      `json:"UsableIpAddressCount"` // 2^(32−len) − 4 (V3)
	VSwitchIDs             []string `json:"VSwitchIds"`
	RouteTableIDs          []string `json:"RouteTableIds"`
	SecurityGroupIDs       []string `json:"SecurityGroupIds"`
	SystemRouteTableID     string   `json:"SystemRouteTableId"`
	DefaultSecurityGroupID string   `json:"DefaultSecurityGroupId"`
}

// DescribeVpcsResponse is the reply of DescribeVpcs.
type DescribeVpcsResponse struct {
	Vpcs       []Vpc `json:"Vpcs"`
	TotalCount int   `json:"TotalCount"`
}

func describeVpcs(_ *Server, c *config.Config, p *DescribeVpcsParams) (*DescribeVpcsResponse, error) {
	if p.VpcID != "" && c.VPCByID(p.VpcID) == nil {
		return nil, notFound("VPC %s does not exist", p.VpcID)
	}
	out := &DescribeVpcsResponse{Vpcs: []Vpc{}}
	for _, v := range c.VPCs {
		if p.VpcID != "" && v.ID != p.VpcID {
			continue
		}
		x := Vpc{VpcID: v.ID, VpcName: v.Name, Description: v.Description, CidrBlock: v.CIDR.String(),
			VRouterID: v.VRouter.ID, IsDefault: v.Default, ClassicLink: v.ClassicLink, UsableIPCount: v.UsableAddresses(),
			VSwitchIDs: []string{}, RouteTableIDs: []string{}, SecurityGroupIDs: []string{}, DefaultSecurityGroupID: v.DefaultGroupID()}
		for _, s := range v.VSwitches {
			x.VSwitchIDs = append(x.VSwitchIDs, s.ID)
		}
		for _, t := range v.RouteTables {
			x.RouteTableIDs = append(x.RouteTableIDs, t.ID)
		}
		if t := v.SystemTable(); t != nil {
			x.SystemRouteTableID = t.ID
		}
		for _, g := range v.SecurityGroups {
			x.SecurityGroupIDs = append(x.SecurityGroupIDs, g.ID)
		}
		out.Vpcs = append(out.Vpcs, x)
	}
	out.TotalCount = len(out.Vpcs)
	return out, nil
}

// DescribeVSwitchesParams filters DescribeVSwitches.
type DescribeVSwitchesParams struct {
	VpcID     string `json:"VpcId,omitempty"`
	VSwitchID string `json:"VSwitchId,omitempty"`
	ZoneID    string `json:"ZoneId,omitempty"`
}

// VSwitch is one VSwitch of DescribeVSwitches.
type VSwitch struct {
	VSwitchID               string `json:"VSwitchId"`
	VSwitchName             string `json:"VSwitchName"`
	Description             string `json:"Description"`
	VpcID                   string `json:"VpcId"`
	ZoneID                  string `json:"ZoneId"`
	CidrBlock               string `json:"CidrBlock"`
	GatewayIP               string `json:"GatewayIp"` // V9, F3
	AvailableIPAddressCount int    `json:"AvailableIpAddressCount"`
	RouteTableID            string `json:"RouteTableId"`
	RouteTableType          string `json:"RouteTableType"` // System | Custom
	IsDefault               bool   `json:"IsDefault"`
	NetworkInterfaceCount   int    `json:"NetworkInterfaceCount"`
}

// DescribeVSwitchesResponse is the reply of DescribeVSwitches.
type DescribeVSwitchesResponse struct {
	VSwitches  []VSwitch `json:"VSwitches"`
	TotalCount int       `json:"TotalCount"`
}

func describeVSwitches(_ *Server, c *config.Config, p *DescribeVSwitchesParams) (*DescribeVSwitchesResponse, error) {
	if p.VpcID != "" && c.VPCByID(p.VpcID) == nil {
		return nil, notFound("VPC %s does not exist", p.VpcID)
	}
	if p.VSwitchID != "" && c.VSwitchByID(p.VSwitchID) == nil {
		return nil, notFound("VSwitch %s does not exist", p.VSwitchID)
	}
	// Addresses in use per VSwitch (V9): every ENI address of the VPC that
	// lies in the VSwitch CIDR, primary and secondary.
	used := map[*config.VSwitch]int{}
	enis := map[string]int{}
	for _, e := range c.ENIs() {
		enis[e.VSwitch]++
		v := c.VPCByID(e.VPC)
		if v == nil {
			continue
		}
		for _, a := range e.Addrs() {
			for _, s := range v.VSwitches {
				if s.CIDR.Contains(a) {
					used[s]++
					break
				}
			}
		}
	}
	out := &DescribeVSwitchesResponse{VSwitches: []VSwitch{}}
	for _, v := range c.VPCs {
		if p.VpcID != "" && v.ID != p.VpcID {
			continue
		}
		for _, s := range v.VSwitches {
			if (p.VSwitchID != "" && s.ID != p.VSwitchID) || (p.ZoneID != "" && s.Zone != p.ZoneID) {
				continue
			}
			x := VSwitch{VSwitchID: s.ID, VSwitchName: s.Name, Description: s.Description, VpcID: v.ID, ZoneID: s.Zone,
				CidrBlock: s.CIDR.String(), GatewayIP: s.Gateway().String(), AvailableIPAddressCount: s.UsableCount() - used[s],
				RouteTableID: s.RouteTable, IsDefault: s.Default, NetworkInterfaceCount: enis[s.ID], RouteTableType: string(config.EntryCustom)}
			if t := c.RouteTableByID(s.RouteTable); t != nil && t.Type == config.TableSystem {
				x.RouteTableType = string(config.EntrySystem)
			}
			out.VSwitches = append(out.VSwitches, x)
		}
	}
	out.TotalCount = len(out.VSwitches)
	return out, nil
}

// DescribeRouteTablesParams filters DescribeRouteTables.
type DescribeRouteTablesParams struct {
	VpcID        string `json:"VpcId,omitempty"`
	RouteTableID string `json:"RouteTableId,omitempty"`
}

// RouteTable is one route table of DescribeRouteTables.
type RouteTable struct {
	RouteTableID     string   `json:"RouteTableId"`
	RouteTableName   string   `json:"RouteTableName"`
	Description      string   `json:"Description"`
	RouteTableType   string   `json:"RouteTableType"` // System | Custom
	VpcID            string   `json:"VpcId"`
	VRouterID        string   `json:"VRouterId"`
	VSwitchIDs       []string `json:"VSwitchIds"`
	RouteEntryCount  int      `json:"RouteEntryCount"`
	CustomEntryCount int      `json:"CustomRouteEntryCount"`
}

// DescribeRouteTablesResponse is the reply of DescribeRouteTables.
type DescribeRouteTablesResponse struct {
	RouteTables []RouteTable `json:"RouteTables"`
	TotalCount  int          `json:"TotalCount"`
}

func tableType(t *config.RouteTable) string {
	if t.Type == config.TableSystem {
		return "System"
	}
	return "Custom"
}

func describeRouteTables(_ *Server, c *config.Config, p *DescribeRouteTablesParams) (*DescribeRouteTablesResponse, error) {
	if p.VpcID != "" && c.VPCByID(p.VpcID) == nil {
		return nil, notFound("VPC %s does not exist", p.VpcID)
	}
	if p.RouteTableID != "" && c.RouteTableByID(p.RouteTableID) == nil {
		return nil, notFound("route table %s does not exist", p.RouteTableID)
	}
	out := &DescribeRouteTablesResponse{RouteTables: []RouteTable{}}
	for _, v := range c.VPCs {
		if p.VpcID != "" && v.ID != p.VpcID {
			continue
		}
		for _, t := range v.RouteTables {
			if p.RouteTableID != "" && t.ID != p.RouteTableID {
				continue
			}
			x := RouteTable{RouteTableID: t.ID, RouteTableName: t.Name, Description: t.Description, RouteTableType: tableType(t),
				VpcID: v.ID, VRouterID: v.VRouter.ID, VSwitchIDs: []string{}, RouteEntryCount: len(t.Routes), CustomEntryCount: len(t.CustomRoutes())}
			for _, s := range v.VSwitches {
				if s.RouteTable == t.ID {
					x.VSwitchIDs = append(x.VSwitchIDs, s.ID)
				}
			}
			out.RouteTables = append(out.RouteTables, x)
		}
	}
	out.TotalCount = len(out.RouteTables)
	return out, nil
}

// DescribeRouteEntryListParams selects the entries of one route table.
type DescribeRouteEntryListParams struct {
	RouteTableID         string `json:"RouteTableId"`
	DestinationCidrBlock string `json:"DestinationCidrBlock,omitempty"`
	RouteEntryType       string `json:"RouteEntryType,omitempty"` // System | Custom | CEN
}

// NextHop is one next hop of a route entry with its health when probed
// (F8, F9).
type NextHop struct {
	NextHopID   string `json:"NextHopId"`
	NextHopType string `json:"NextHopType"` // Instance | NetworkInterface | VpnGateway | RouterInterface | NatGateway | Local | Service
	Weight      *int   `json:"Weight,omitempty"`
	Health      string `json:"Health,omitempty"` // up | down; absent when not probed
}

// HealthCheckInfo is an entry's probe schedule (F9).
type HealthCheckInfo struct {
	Interval  string `json:"Interval"`
	Timeout   string `json:"Timeout"`
	Failures  int    `json:"Failures"`
	Successes int    `json:"Successes"`
}

// RouteEntry is one entry of DescribeRouteEntryList.
type RouteEntry struct {
	RouteTableID         string           `json:"RouteTableId"`
	Type                 string           `json:"Type"` // System | Custom | CEN
	DestinationCidrBlock string           `json:"DestinationCidrBlock"`
	RouteEntryName       string           `json:"RouteEntryName,omitempty"`
	Description          string           `json:"Description,omitempty"`
	Shape                string           `json:"Shape"` // local | service | single | active/standby | load balancing (V15)
	NextHops             []NextHop        `json:"NextHops"`
	HealthCheck          *HealthCheckInfo `json:"HealthCheck,omitempty"`
	Hits                 uint64           `json:"Hits"`
}

// DescribeRouteEntryListResponse is the reply of DescribeRouteEntryList.
type DescribeRouteEntryListResponse struct {
	RouteTableID string       `json:"RouteTableId"`
	VpcID        string       `json:"VpcId"`
	RouteEntries []RouteEntry `json:"RouteEntrys"` // the cloud's spelling
	TotalCount   int          `json:"TotalCount"`
}

func hopType(id string) string {
	switch config.KindOfHop(id) {
	case config.HopInstance:
		return "Instance"
	case config.HopENI:
		return "NetworkInterface"
	case config.HopVPNGateway:
		return "VpnGateway"
	case config.HopRouterInterface:
		return "RouterInterface"
	case config.HopNATGateway:
		return "NatGateway"
	case config.HopLeasedLine:
		return "LeasedLine"
	}
	return "Unknown"
}

func describeRouteEntryList(s *Server, c *config.Config, p *DescribeRouteEntryListParams) (*DescribeRouteEntryListResponse, error) {
	if p.RouteTableID == "" {
		return nil, newError(400, CodeInvalidParameter, "RouteTableId is required")
	}
	t := c.RouteTableByID(p.RouteTableID)
	if t == nil {
		return nil, notFound("route table %s does not exist", p.RouteTableID)
	}
	var dst netip.Prefix
	if p.DestinationCidrBlock != "" {
		var ok bool
		if dst, ok = parseCIDR(p.DestinationCidrBlock); !ok {
			return nil, newError(400, CodeInvalidParameter, "DestinationCidrBlock %q is not an IPv4 CIDR", p.DestinationCidrBlock)
		}
	}
	switch p.RouteEntryType {
	case "", "System", "Custom", "CEN":
	default:
		return nil, newError(400, CodeInvalidParameter, "RouteEntryType %q: System, Custom or CEN", p.RouteEntryType)
	}
	var snap *dataplane.Snapshot
	if s != nil {
		snap = s.b.Snapshot()
	}
	var hits map[stats.RouteName]uint64
	if s != nil {
		if reg := s.b.Stats(); reg != nil {
			hits = reg.RouteHits()
		}
	}
	health := func(hop string, e *config.RouteEntry) string {
		if snap == nil {
			return ""
		}
		h := snap.Health[t.ID+"|"+e.Dst.String()+"|"+hop]
		if h == nil {
			return ""
		}
		if h.Up() {
			return "up"
		}
		return "down"
	}
	out := &DescribeRouteEntryListResponse{RouteTableID: t.ID, VpcID: t.VPC, RouteEntries: []RouteEntry{}}
	keep := func(typ string, d netip.Prefix) bool {
		return (p.RouteEntryType == "" || p.RouteEntryType == typ) && (!dst.IsValid() || d == dst)
	}
	seen := map[netip.Prefix]bool{}
	for _, e := range t.Routes {
		seen[e.Dst] = true
		typ := string(e.Type)
		if !keep(typ, e.Dst) {
			continue
		}
		x := RouteEntry{RouteTableID: t.ID, Type: typ, DestinationCidrBlock: e.Dst.String(), RouteEntryName: e.Name,
			Description: e.Description, NextHops: []NextHop{}, Hits: hits[stats.RouteName{Table: t.ID, Dst: e.Dst.String()}]}
		switch {
		case e.Type == config.EntrySystem && e.VSwitch == "":
			x.Shape = "service"
			x.NextHops = append(x.NextHops, NextHop{NextHopID: "cloud-service", NextHopType: "Service"})
		case e.Type == config.EntrySystem:
			x.Shape = "local"
			x.NextHops = append(x.NextHops, NextHop{NextHopID: e.VSwitch, NextHopType: "Local"})
		default:
			x.Shape = e.ShapeWithin(c.Quotas.LBNextHopsMax).String()
			for _, h := range e.Hops() {
				nh := NextHop{NextHopID: h.ID, NextHopType: hopType(h.ID), Health: health(h.ID, e)}
				if e.NextHop == "" {
					w := h.Weight
					nh.Weight = &w
				}
				x.NextHops = append(x.NextHops, nh)
			}
			if hc := e.HealthCheck; hc != nil {
				x.HealthCheck = &HealthCheckInfo{Interval: hc.Interval.String(), Timeout: hc.Timeout.String(), Failures: hc.Failures, Successes: hc.Successes}
			}
		}
		out.RouteEntries = append(out.RouteEntries, x)
	}
	// Entries the compiler added itself (routes learned through a CEN, C4)
	// exist only in the snapshot.
	if snap != nil {
		if ft := snapshotTable(snap, t.ID); ft != nil {
			for _, r := range ft.Routes() {
				if r.Type != fib.CEN || seen[r.Dst] || !keep("CEN", r.Dst) {
					continue
				}
				x := RouteEntry{RouteTableID: t.ID, Type: "CEN", DestinationCidrBlock: r.Dst.String(), Shape: "single",
					NextHops: []NextHop{}, Hits: hits[stats.RouteName{Table: t.ID, Dst: r.Dst.String()}]}
				if r.Group != nil {
					x.Shape = groupShape(r.Group.Kind)
					for _, m := range r.Group.Members {
						x.NextHops = append(x.NextHops, NextHop{NextHopID: m.ID, NextHopType: hopType(m.ID)})
					}
				}
				out.RouteEntries = append(out.RouteEntries, x)
			}
		}
	}
	out.TotalCount = len(out.RouteEntries)
	return out, nil
}

// groupShape names a compiled group's kind like config.HopShape (V15).
func groupShape(k fib.GroupKind) string {
	switch k {
	case fib.ECMP:
		return config.ShapeLoadBalance.String()
	case fib.ActiveStandby:
		return config.ShapeActiveStandby.String()
	}
	return config.ShapeSingle.String()
}

// snapshotTable finds the compiled table with id among the ports' tables
// and the routers' system tables.
func snapshotTable(s *dataplane.Snapshot, id string) *fib.Table {
	for _, r := range s.Routers {
		if r != nil && r.System != nil && r.System.ID == id {
			return r.System
		}
	}
	for _, p := range s.Ports {
		if p != nil && p.Table != nil && p.Table.ID == id {
			return p.Table
		}
	}
	return nil
}

// DescribeSecurityGroupsParams filters DescribeSecurityGroups.
type DescribeSecurityGroupsParams struct {
	VpcID           string `json:"VpcId,omitempty"`
	SecurityGroupID string `json:"SecurityGroupId,omitempty"`
}

// SecurityGroup is one group of DescribeSecurityGroups.
type SecurityGroup struct {
	SecurityGroupID   string `json:"SecurityGroupId"`
	SecurityGroupName string `json:"SecurityGroupName"`
	Description       string `json:"Description"`
	VpcID             string `json:"VpcId"`
	InnerAccessPolicy string `json:"InnerAccessPolicy"`
	IsDefault         bool   `json:"IsDefault"`
	RuleCount         int    `json:"RuleCount"`
	MemberCount       int    `json:"NetworkInterfaceCount"`
}

// DescribeSecurityGroupsResponse is the reply of DescribeSecurityGroups.
type DescribeSecurityGroupsResponse struct {
	SecurityGroups []SecurityGroup `json:"SecurityGroups"`
	TotalCount     int             `json:"TotalCount"`
}

func describeSecurityGroups(_ *Server, c *config.Config, p *DescribeSecurityGroupsParams) (*DescribeSecurityGroupsResponse, error) {
	if p.VpcID != "" && c.VPCByID(p.VpcID) == nil {
		return nil, notFound("VPC %s does not exist", p.VpcID)
	}
	if p.SecurityGroupID != "" && c.SecurityGroupByID(p.SecurityGroupID) == nil {
		return nil, notFound("security group %s does not exist", p.SecurityGroupID)
	}
	members := map[string]int{}
	for _, e := range c.ENIs() {
		for _, g := range e.SecurityGroups {
			members[g]++
		}
	}
	out := &DescribeSecurityGroupsResponse{SecurityGroups: []SecurityGroup{}}
	for _, v := range c.VPCs {
		if p.VpcID != "" && v.ID != p.VpcID {
			continue
		}
		for _, g := range v.SecurityGroups {
			if p.SecurityGroupID != "" && g.ID != p.SecurityGroupID {
				continue
			}
			out.SecurityGroups = append(out.SecurityGroups, SecurityGroup{SecurityGroupID: g.ID, SecurityGroupName: g.Name,
				Description: g.Description, VpcID: v.ID, InnerAccessPolicy: string(g.InnerAccess), IsDefault: g.Default,
				RuleCount: len(g.Rules), MemberCount: members[g.ID]})
		}
	}
	out.TotalCount = len(out.SecurityGroups)
	return out, nil
}

// DescribeSecurityGroupAttributeParams selects one group's rules;
// Direction is all (default), ingress or egress.
type DescribeSecurityGroupAttributeParams struct {
	SecurityGroupID string `json:"SecurityGroupId"`
	Direction       string `json:"Direction,omitempty"`
}

// Permission is one security-group rule (V16), in evaluation order (S3).
type Permission struct {
	Direction     string `json:"Direction"`
	IPProtocol    string `json:"IpProtocol"`
	PortRange     string `json:"PortRange"`
	SourceCidrIP  string `json:"SourceCidrIp,omitempty"`
	SourceGroupID string `json:"SourceGroupId,omitempty"`
	DestCidrIP    string `json:"DestCidrIp,omitempty"`
	DestGroupID   string `json:"DestGroupId,omitempty"`
	Policy        string `json:"Policy"`
	Priority      int    `json:"Priority"`
	Description   string `json:"Description,omitempty"`
}

// DescribeSecurityGroupAttributeResponse is the reply of
// DescribeSecurityGroupAttribute.
type DescribeSecurityGroupAttributeResponse struct {
	SecurityGroupID   string       `json:"SecurityGroupId"`
	SecurityGroupName string       `json:"SecurityGroupName"`
	Description       string       `json:"Description"`
	VpcID             string       `json:"VpcId"`
	InnerAccessPolicy string       `json:"InnerAccessPolicy"`
	IsDefault         bool         `json:"IsDefault"`
	Permissions       []Permission `json:"Permissions"`
}

func describeSecurityGroupAttribute(_ *Server, c *config.Config, p *DescribeSecurityGroupAttributeParams) (*DescribeSecurityGroupAttributeResponse, error) {
	if p.SecurityGroupID == "" {
		return nil, newError(400, CodeInvalidParameter, "SecurityGroupId is required")
	}
	g := c.SecurityGroupByID(p.SecurityGroupID)
	if g == nil {
		return nil, notFound("security group %s does not exist", p.SecurityGroupID)
	}
	dir := strings.ToLower(p.Direction)
	switch dir {
	case "", "all", "ingress", "egress":
	default:
		return nil, newError(400, CodeInvalidParameter, "Direction %q: all, ingress or egress", p.Direction)
	}
	out := &DescribeSecurityGroupAttributeResponse{SecurityGroupID: g.ID, SecurityGroupName: g.Name, Description: g.Description,
		VpcID: g.VPC, InnerAccessPolicy: string(g.InnerAccess), IsDefault: g.Default, Permissions: []Permission{}}
	rules := slices.Clone(g.Rules)
	// S3: highest priority first; at equal priority drop before accept;
	// otherwise file order.
	slices.SortStableFunc(rules, func(a, b *config.Rule) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		if a.Policy != b.Policy {
			if a.Policy == config.PolicyDrop {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, r := range rules {
		if dir != "" && dir != "all" && string(r.Direction) != dir {
			continue
		}
		x := Permission{Direction: string(r.Direction), IPProtocol: string(r.Protocol), PortRange: r.PortRange.String(),
			Policy: string(r.Policy), Priority: r.Priority, Description: r.Description}
		peer := r.PeerGroup
		if r.PeerCIDR.IsValid() {
			peer = r.PeerCIDR.String()
		}
		switch {
		case r.Direction == config.DirEgress && r.PeerGroup != "":
			x.DestGroupID = peer
		case r.Direction == config.DirEgress:
			x.DestCidrIP = peer
		case r.PeerGroup != "":
			x.SourceGroupID = peer
		default:
			x.SourceCidrIP = peer
		}
		out.Permissions = append(out.Permissions, x)
	}
	return out, nil
}

// DescribeInstancesParams filters DescribeInstances.
type DescribeInstancesParams struct {
	VpcID      string `json:"VpcId,omitempty"`
	VSwitchID  string `json:"VSwitchId,omitempty"`
	InstanceID string `json:"InstanceId,omitempty"`
}

// NetworkInterface is one ENI (DescribeNetworkInterfaces, and inside
// DescribeInstances).
type NetworkInterface struct {
	NetworkInterfaceID string   `json:"NetworkInterfaceId"`
	InstanceID         string   `json:"InstanceId"`
	Type               string   `json:"Type"` // Primary | Secondary
	VpcID              string   `json:"VpcId"`
	VSwitchID          string   `json:"VSwitchId"`
	ZoneID             string   `json:"ZoneId"`
	PrimaryIPAddress   string   `json:"PrimaryIpAddress"`
	SecondaryIPs       []string `json:"SecondaryIpAddresses"`
	SecurityGroupIDs   []string `json:"SecurityGroupIds"`
	Netns              string   `json:"Netns"`
	IfName             string   `json:"IfName"`
	MTU                int      `json:"Mtu"`
	SourceDestCheck    bool     `json:"SourceDestCheck"`
	Attached           bool     `json:"Attached"` // its port is in the running snapshot
}

// Instance is one instance of DescribeInstances.
type Instance struct {
	InstanceID        string             `json:"InstanceId"`
	InstanceName      string             `json:"InstanceName"`
	Description       string             `json:"Description"`
	VpcID             string             `json:"VpcId"`
	VSwitchID         string             `json:"VSwitchId"`
	ZoneID            string             `json:"ZoneId"`
	PrimaryIPAddress  string             `json:"PrimaryIpAddress"`
	SecurityGroupIDs  []string           `json:"SecurityGroupIds"`
	Netns             string             `json:"Netns"`
	EipAddress        string             `json:"EipAddress,omitempty"`
	NetworkInterfaces []NetworkInterface `json:"NetworkInterfaces"`
}

// DescribeInstancesResponse is the reply of DescribeInstances.
type DescribeInstancesResponse struct {
	Instances  []Instance `json:"Instances"`
	TotalCount int        `json:"TotalCount"`
}

func (s *Server) attachedPorts() map[string]bool {
	out := map[string]bool{}
	if s == nil {
		return out
	}
	if snap := s.b.Snapshot(); snap != nil {
		for _, p := range snap.Ports {
			if p != nil && p.Dev != nil {
				out[p.Name] = true
			}
		}
	}
	return out
}

func eniInfo(c *config.Config, e *config.ENI, attached map[string]bool) NetworkInterface {
	x := NetworkInterface{NetworkInterfaceID: e.ID, InstanceID: e.InstanceID, Type: "Secondary", VpcID: e.VPC, VSwitchID: e.VSwitch,
		SecondaryIPs: []string{}, SecurityGroupIDs: append([]string{}, e.SecurityGroups...), Netns: e.Netns, IfName: e.IfName,
		MTU: e.MTU, SourceDestCheck: e.SourceDestCheck, Attached: attached[e.ID]}
	if e.Primary {
		x.Type = "Primary"
	}
	if e.IP.IsValid() {
		x.PrimaryIPAddress = e.IP.String()
	}
	for _, a := range e.SecondaryIPs {
		x.SecondaryIPs = append(x.SecondaryIPs, a.String())
	}
	if sw := c.VSwitchByID(e.VSwitch); sw != nil {
		x.ZoneID = sw.Zone
	}
	return x
}

func describeInstances(s *Server, c *config.Config, p *DescribeInstancesParams) (*DescribeInstancesResponse, error) {
	if p.VpcID != "" && c.VPCByID(p.VpcID) == nil {
		return nil, notFound("VPC %s does not exist", p.VpcID)
	}
	if p.VSwitchID != "" && c.VSwitchByID(p.VSwitchID) == nil {
		return nil, notFound("VSwitch %s does not exist", p.VSwitchID)
	}
	if p.InstanceID != "" && c.InstanceByID(p.InstanceID) == nil {
		return nil, notFound("instance %s does not exist", p.InstanceID)
	}
	attached := s.attachedPorts()
	out := &DescribeInstancesResponse{Instances: []Instance{}}
	for _, in := range c.Instances {
		if (p.InstanceID != "" && in.ID != p.InstanceID) || (p.VpcID != "" && in.VPC != p.VpcID) {
			continue
		}
		pe := in.PrimaryENI()
		if pe == nil {
			continue
		}
		enis := append([]*config.ENI{pe}, in.ENIs...)
		if p.VSwitchID != "" && !slices.ContainsFunc(enis, func(e *config.ENI) bool { return e.VSwitch == p.VSwitchID }) {
			continue
		}
		x := Instance{InstanceID: in.ID, InstanceName: in.Name, Description: in.Description, VpcID: in.VPC, VSwitchID: in.VSwitch,
			SecurityGroupIDs: append([]string{}, in.SecurityGroups...), Netns: in.Netns, NetworkInterfaces: []NetworkInterface{}}
		if in.IP.IsValid() {
			x.PrimaryIPAddress = in.IP.String()
		}
		if sw := c.VSwitchByID(in.VSwitch); sw != nil {
			x.ZoneID = sw.Zone
		}
		if eip := c.EIPOfInstance(in.ID); eip != nil {
			x.EipAddress = eip.IP.String()
		}
		for _, e := range enis {
			x.NetworkInterfaces = append(x.NetworkInterfaces, eniInfo(c, e, attached))
		}
		out.Instances = append(out.Instances, x)
	}
	out.TotalCount = len(out.Instances)
	return out, nil
}

// DescribeNetworkInterfacesParams filters DescribeNetworkInterfaces.
type DescribeNetworkInterfacesParams struct {
	VpcID              string `json:"VpcId,omitempty"`
	VSwitchID          string `json:"VSwitchId,omitempty"`
	InstanceID         string `json:"InstanceId,omitempty"`
	NetworkInterfaceID string `json:"NetworkInterfaceId,omitempty"`
	SecurityGroupID    string `json:"SecurityGroupId,omitempty"`
}

// DescribeNetworkInterfacesResponse is the reply of
// DescribeNetworkInterfaces.
type DescribeNetworkInterfacesResponse struct {
	NetworkInterfaces []NetworkInterface `json:"NetworkInterfaceSets"`
	TotalCount        int                `json:"TotalCount"`
}

func describeNetworkInterfaces(s *Server, c *config.Config, p *DescribeNetworkInterfacesParams) (*DescribeNetworkInterfacesResponse, error) {
	switch {
	case p.VpcID != "" && c.VPCByID(p.VpcID) == nil:
		return nil, notFound("VPC %s does not exist", p.VpcID)
	case p.VSwitchID != "" && c.VSwitchByID(p.VSwitchID) == nil:
		return nil, notFound("VSwitch %s does not exist", p.VSwitchID)
	case p.InstanceID != "" && c.InstanceByID(p.InstanceID) == nil:
		return nil, notFound("instance %s does not exist", p.InstanceID)
	case p.NetworkInterfaceID != "" && c.ENIByID(p.NetworkInterfaceID) == nil:
		return nil, notFound("network interface %s does not exist", p.NetworkInterfaceID)
	case p.SecurityGroupID != "" && c.SecurityGroupByID(p.SecurityGroupID) == nil:
		return nil, notFound("security group %s does not exist", p.SecurityGroupID)
	}
	attached := s.attachedPorts()
	out := &DescribeNetworkInterfacesResponse{NetworkInterfaces: []NetworkInterface{}}
	for _, e := range c.ENIs() {
		if (p.VpcID != "" && e.VPC != p.VpcID) || (p.VSwitchID != "" && e.VSwitch != p.VSwitchID) ||
			(p.InstanceID != "" && e.InstanceID != p.InstanceID) || (p.NetworkInterfaceID != "" && e.ID != p.NetworkInterfaceID) ||
			(p.SecurityGroupID != "" && !slices.Contains(e.SecurityGroups, p.SecurityGroupID)) {
			continue
		}
		out.NetworkInterfaces = append(out.NetworkInterfaces, eniInfo(c, e, attached))
	}
	out.TotalCount = len(out.NetworkInterfaces)
	return out, nil
}
