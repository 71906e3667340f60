package config

import (
	"net/netip"
	"strconv"
)

// index holds the lookup maps built by ApplyDefaults. It is read-only once
// built, so lookups are safe for concurrent readers of an unchanging Config.
type index struct {
	vpcs      map[string]*VPC
	vswitches map[string]*VSwitch
	tables    map[string]*RouteTable
	groups    map[string]*SecurityGroup
	instances map[string]*Instance
	enis      map[string]*ENI
	eniList   []*ENI
	byAddr    map[vpcAddr]*ENI
	ris       map[string]*RouterInterface
	vbrs      map[string]*VBR
	vpns      map[string]*VPNGateway
	cens      map[string]*CEN
	eips      map[string]*EIP
	ngws      map[string]*NATGateway
	cinsts    map[string]*ClassicInstance
	cgroups   map[string]*ClassicSecurityGroup
}

type vpcAddr struct {
	vpc  string
	addr netip.Addr
}

// Reindex rebuilds the lookup maps and the flattened ENI view from the
// current contents of c without applying any default. ApplyDefaults calls
// it; call it yourself only after changing ids or membership by hand.
// The first resource with a given id wins.
func (c *Config) Reindex() {
	x := &index{
		vpcs: map[string]*VPC{}, vswitches: map[string]*VSwitch{}, tables: map[string]*RouteTable{},
		groups: map[string]*SecurityGroup{}, instances: map[string]*Instance{}, enis: map[string]*ENI{},
		byAddr: map[vpcAddr]*ENI{}, ris: map[string]*RouterInterface{}, vbrs: map[string]*VBR{},
		vpns: map[string]*VPNGateway{}, cens: map[string]*CEN{}, eips: map[string]*EIP{},
		ngws: map[string]*NATGateway{}, cinsts: map[string]*ClassicInstance{}, cgroups: map[string]*ClassicSecurityGroup{},
	}
	for _, v := range c.VPCs {
		putFirst(x.vpcs, v.ID, v)
		for _, s := range v.VSwitches {
			putFirst(x.vswitches, s.ID, s)
		}
		for _, t := range v.RouteTables {
			putFirst(x.tables, t.ID, t)
		}
		for _, g := range v.SecurityGroups {
			putFirst(x.groups, g.ID, g)
		}
	}
	for _, in := range c.Instances {
		putFirst(x.instances, in.ID, in)
		if in.primary != nil {
			x.eniList = append(x.eniList, in.primary)
			putFirst(x.enis, in.primary.ID, in.primary)
		}
		for _, e := range in.ENIs {
			x.eniList = append(x.eniList, e)
			putFirst(x.enis, e.ID, e)
		}
	}
	for _, e := range x.eniList {
		for _, a := range e.Addrs() {
			k := vpcAddr{e.VPC, a}
			if _, ok := x.byAddr[k]; !ok {
				x.byAddr[k] = e
			}
		}
	}
	for _, r := range c.RouterInterfaces {
		putFirst(x.ris, r.ID, r)
	}
	for _, b := range c.VBRs {
		putFirst(x.vbrs, b.ID, b)
	}
	for _, g := range c.VPNGateways {
		putFirst(x.vpns, g.ID, g)
	}
	for _, n := range c.CENs {
		putFirst(x.cens, n.ID, n)
	}
	for _, e := range c.EIPs {
		putFirst(x.eips, e.ID, e)
	}
	for _, n := range c.NATGateways {
		putFirst(x.ngws, n.ID, n)
	}
	if c.Classic != nil {
		for _, ci := range c.Classic.Instances {
			putFirst(x.cinsts, ci.ID, ci)
		}
		for _, g := range c.Classic.SecurityGroups {
			putFirst(x.cgroups, g.ID, g)
		}
	}
	c.idx = x
}

func putFirst[T any](m map[string]T, id string, v T) {
	if id == "" {
		return
	}
	if _, ok := m[id]; !ok {
		m[id] = v
	}
}

func (c *Config) index() *index {
	if c.idx == nil {
		// Hand-built Config without ApplyDefaults: build a private index
		// without publishing it, so concurrent readers never race.
		cp := *c
		cp.Reindex()
		return cp.idx
	}
	return c.idx
}

// ENIs returns every ENI in file order: each instance's primary ENI (ID =
// instance id, Primary = true) followed by its secondary ENIs. Empty before
// ApplyDefaults.
func (c *Config) ENIs() []*ENI { return c.index().eniList }

// VPCByID returns the VPC with that id, or nil.
func (c *Config) VPCByID(id string) *VPC { return c.index().vpcs[id] }

// VSwitchByID returns the VSwitch with that id, or nil.
func (c *Config) VSwitchByID(id string) *VSwitch { return c.index().vswitches[id] }

// RouteTableByID returns the route table with that id, or nil.
func (c *Config) RouteTableByID(id string) *RouteTable { return c.index().tables[id] }

// SecurityGroupByID returns the VPC security group with that id, or nil.
func (c *Config) SecurityGroupByID(id string) *SecurityGroup { return c.index().groups[id] }

// InstanceByID returns the instance with that id, or nil.
func (c *Config) InstanceByID(id string) *Instance { return c.index().instances[id] }

// ENIByID returns the ENI with that id (an instance id names its primary
// ENI), or nil.
func (c *Config) ENIByID(id string) *ENI { return c.index().enis[id] }

// ENIByAddr returns the ENI of vpc owning addr (primary or secondary
// address), or nil.
func (c *Config) ENIByAddr(vpc string, addr netip.Addr) *ENI {
	return c.index().byAddr[vpcAddr{vpc, addr}]
}

// RouterInterfaceByID returns the router interface with that id, or nil.
func (c *Config) RouterInterfaceByID(id string) *RouterInterface { return c.index().ris[id] }

// VBRByID returns the VBR with that id, or nil.
func (c *Config) VBRByID(id string) *VBR { return c.index().vbrs[id] }

// VPNGatewayByID returns the VPN gateway with that id, or nil.
func (c *Config) VPNGatewayByID(id string) *VPNGateway { return c.index().vpns[id] }

// CENByID returns the CEN with that id, or nil.
func (c *Config) CENByID(id string) *CEN { return c.index().cens[id] }

// EIPByID returns the EIP with that id, or nil.
func (c *Config) EIPByID(id string) *EIP { return c.index().eips[id] }

// NATGatewayByID returns the NAT gateway with that id, or nil.
func (c *Config) NATGatewayByID(id string) *NATGateway { return c.index().ngws[id] }

// ClassicInstanceByID returns the classic instance with that id, or nil.
func (c *Config) ClassicInstanceByID(id string) *ClassicInstance { return c.index().cinsts[id] }

// ClassicSecurityGroupByID returns the classic group with that id, or nil.
func (c *Config) ClassicSecurityGroupByID(id string) *ClassicSecurityGroup {
	return c.index().cgroups[id]
}

// EIPOfInstance returns the EIP bound to instance id, or nil.
func (c *Config) EIPOfInstance(id string) *EIP {
	for _, e := range c.EIPs {
		if e.Instance == id && id != "" {
			return e
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
