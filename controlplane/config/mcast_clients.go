package config

import (
	"fmt"
	"net/netip"
)

// McastClient is one client entry of a multicast member (SPEC M3: `vrouterctl
// mcast client -c MEMBER -A -i SERVER_IP -p PORT -m GROUP`): the member ENI
// accepts the packets of group Group that come from Server to UDP
// destination port Port. A member ENI with at least one entry receives only
// the traffic its entries match, in every group it is a member of; a member
// without entries receives everything of its groups (M3).
//
// Client entries are not part of the file's schema (§2 stays exact and
// Parse keeps rejecting unknown keys): they are made only by API operations
// (AddMulticastClient and friends), which the overlay replays onto the
// file's configuration at start and after every reload (R5, M4). Entries
// therefore carry no file position, and their findings render as
// "api:<Action>: <ENI id>: V17: …".
type McastClient struct {
	ENI    string     // the member ENI id (an instance id names its primary ENI)
	Server netip.Addr // the multicast server's address: the packets' source
	Port   uint16     // the UDP destination port, 1–65535
	Group  netip.Addr // the group address, in 224.0.0.0/4 but not 224.0.0.0/24
}

// MaxMcastClientsPerMember bounds the client entries of one member ENI.
// V17 limits the groups a member receives (mcast_groups_per_member); this
// bounds the (server, port) pairs it may name within them.
const MaxMcastClientsPerMember = 256

// ID is the entry's printable id, "<ENI id> <server>:<port>". The server
// address and port identify an entry of a member (`mcast client -D -i IP
// -p PORT`).
func (m *McastClient) ID() string {
	return m.ENI + " " + netip.AddrPortFrom(m.Server, m.Port).String()
}

// McastClientsOf returns the client entries of the ENI with id eni, in
// order (nil when it has none).
func (c *Config) McastClientsOf(eni string) []*McastClient {
	var out []*McastClient
	for _, m := range c.McastClients {
		if m.ENI == eni {
			out = append(out, m)
		}
	}
	return out
}

// clientErr records a finding about a client entry. Entries come from the
// API, not from the file, so the finding has neither file nor position and
// renders as "<ENI id>: V17: <message>" (the API prefixes its action).
func (v *validator) clientErr(id, format string, args ...any) {
	v.errs = append(v.errs, &Diag{ID: id, Rule: "V17", Msg: fmt.Sprintf(format, args...)})
}

// mcastClients validates the client entries (V17, M2): the member is an
// ENI of the configuration; the server is a unicast IPv4 address; the port
// is 1–65535; the group is a multicast address outside 224.0.0.0/24; an
// entry (member, server, port) exists once; and the entries of one member
// name at most mcast_groups_per_member groups (a member receives at most
// that many) and at most MaxMcastClientsPerMember entries.
func (v *validator) mcastClients() {
	c := v.c
	type key struct {
		eni    string
		server netip.Addr
		port   uint16
	}
	local := netip.MustParsePrefix("224.0.0.0/24")
	mc := netip.MustParsePrefix("224.0.0.0/4")
	seen := map[key]bool{}
	groups := map[string]map[netip.Addr]bool{}
	count := map[string]int{}
	for i, m := range c.McastClients {
		id := m.ENI
		if id == "" {
			id = fmt.Sprintf("mcast_clients[%d]", i)
			v.clientErr(id, "client entry without a member ENI")
			continue
		}
		if c.ENIByID(m.ENI) == nil {
			v.clientErr(id, "member %s: no such ENI", m.ENI)
		}
		if !unicastHost(m.Server) {
			v.clientErr(id, "client entry server %s is not a unicast IPv4 address", m.Server)
		}
		if m.Port == 0 {
			v.clientErr(id, "client entry port 0: a UDP port is 1–65535")
		}
		if !m.Group.Is4() || !mc.Contains(m.Group) || local.Contains(m.Group) {
			v.clientErr(id, "client entry group %s must be in 224.0.0.0/4 but not in 224.0.0.0/24", m.Group)
		}
		k := key{m.ENI, m.Server, m.Port}
		if seen[k] {
			v.clientErr(id, "client entry %s is listed twice", netip.AddrPortFrom(m.Server, m.Port))
			continue
		}
		seen[k] = true
		count[m.ENI]++
		if count[m.ENI] == MaxMcastClientsPerMember+1 {
			v.clientErr(id, "member %s has more than %d client entries", m.ENI, MaxMcastClientsPerMember)
		}
		if groups[m.ENI] == nil {
			groups[m.ENI] = map[netip.Addr]bool{}
		}
		if !groups[m.ENI][m.Group] {
			groups[m.ENI][m.Group] = true
			if len(groups[m.ENI]) == v.q.McastGroupsPerMember+1 {
				v.clientErr(id, "client entries of %s name more than %d groups (limit mcast_groups_per_member)", m.ENI, v.q.McastGroupsPerMember)
			}
		}
	}
}
