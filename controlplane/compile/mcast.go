package compile

import (
	"fmt"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/mcast"
)

// buildMulticast compiles the `multicast:` groups into the snapshot's
// replication lists (SPEC M1, M2, M5): the server instance's ENIs become
// the group's server ports (only their packets are replicated), each member
// address becomes the port of the ENI that owns it, with the address as the
// self of the member's ingress security-group check.
//
// The dynamic IGMP membership and the multicast counters live in the
// Membership of Input.Mcast, which the agent keeps for the life of the
// process. When the caller passes none, the previous snapshot's is carried
// over (and a new one made at the first compile), so joins and counters
// survive reloads either way. Runtime changes (M3 server -A/-q/-D/-C, client
// entries) reach this function through the configuration the agent
// compiles, like every other API change (R5): groups in cfg.Multicast,
// client entries in cfg.McastClients. A member ENI with client entries is
// Filtered in every group it is a member of and carries the entries naming
// that group (M3: "a member with client entries receives only matching
// traffic; one without any receives every group it is a member of").
func (b *builder) buildMulticast() error {
	ms := b.in.Mcast
	if ms == nil && b.in.Prev != nil && b.in.Prev.Mcast != nil {
		ms = b.in.Prev.Mcast.Membership()
	}
	if ms == nil {
		ms = mcast.NewMembership()
	}
	q := b.cfg.Quotas
	limits := mcast.Limits{MembersPerGroup: q.McastMembersPerGroup, GroupsPerMember: q.McastGroupsPerMember}
	specs := make([]mcast.GroupSpec, 0, len(b.cfg.Multicast))
	clients := map[string][]*config.McastClient{}
	for _, c := range b.cfg.McastClients {
		clients[c.ENI] = append(clients[c.ENI], c)
	}
	for _, g := range b.cfg.Multicast {
		id := g.ID()
		ri, ok := b.routers[g.VPC]
		if !ok {
			return fmt.Errorf("multicast %s: VPC %s does not exist", id, g.VPC)
		}
		inst := b.cfg.InstanceByID(g.Server)
		if inst == nil || inst.VPC != g.VPC {
			return fmt.Errorf("multicast %s: server %s is not an instance of %s", id, g.Server, g.VPC)
		}
		sp := mcast.GroupSpec{VPC: g.VPC, Router: ri, Addr: g.Group, Server: g.Server, IGMP: g.IGMP}
		enis := inst.ENIs
		if p := inst.PrimaryENI(); p != nil {
			enis = append([]*config.ENI{p}, enis...)
		}
		for _, e := range enis {
			if port, ok := b.portIDs[e.ID]; ok {
				sp.ServerPorts = append(sp.ServerPorts, port)
			}
		}
		if len(sp.ServerPorts) == 0 {
			return fmt.Errorf("multicast %s: server %s has no port", id, g.Server)
		}
		for _, a := range g.Members {
			e := b.cfg.ENIByAddr(g.VPC, a)
			if e == nil {
				return fmt.Errorf("multicast %s: member %s is not an ENI address of %s", id, a, g.VPC)
			}
			port, ok := b.portIDs[e.ID]
			if !ok {
				port = fib.NoPort
			}
			ms := mcast.MemberSpec{ENI: e.ID, Port: port, Addr: a}
			if cs := clients[e.ID]; len(cs) > 0 {
				ms.Filtered = true
				for _, c := range cs {
					if c.Group == g.Group {
						ms.Clients = append(ms.Clients, mcast.ClientSpec{Server: c.Server, Port: c.Port})
					}
				}
			}
			sp.Members = append(sp.Members, ms)
		}
		specs = append(specs, sp)
	}
	t, err := mcast.Build(ms, limits, specs)
	if err != nil {
		return fmt.Errorf("multicast %v", err)
	}
	b.snap.Mcast = t
	return nil
}
