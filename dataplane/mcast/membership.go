package mcast

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vrouter/vrouter/dataplane/fib"
)

// Membership is the multicast state that outlives snapshots (house rule 2):
// the dynamic IGMP members of every group (M5) and the counters of groups,
// members and client entries (M6). One Membership lives as long as the
// process; every compiled Table points at it. Create it with NewMembership.
type Membership struct {
	hold atomic.Int64 // membership interval in ns (MembershipInterval)

	mu      sync.Mutex // guards the maps below and every write to a slot's list
	slots   map[string]*slot
	groups  map[string]*GroupStats
	members map[string]*MemberStats
	clients map[string]*ClientStats

	messages, invalid, ignored, joins, refresh, leaves, refused, expired atomic.Uint64
}

// slot holds the dynamic members of one group id. Writers hold
// Membership.mu and publish a new slice; readers Load without locking.
type slot struct {
	members atomic.Pointer[[]Member]
}

// NewMembership returns an empty membership with the 260 s membership
// interval of M5.
func NewMembership() *Membership {
	m := &Membership{
		slots:   map[string]*slot{},
		groups:  map[string]*GroupStats{},
		members: map[string]*MemberStats{},
		clients: map[string]*ClientStats{},
	}
	m.hold.Store(int64(MembershipInterval))
	return m
}

// SetMembershipInterval changes how long a dynamic member stays without a
// report (tests; the default is MembershipInterval). It applies to reports
// handled afterwards.
func (m *Membership) SetMembershipInterval(d time.Duration) { m.hold.Store(int64(d)) }

// IGMPCounters returns the IGMP message counters.
func (m *Membership) IGMPCounters() IGMPCounters {
	return IGMPCounters{
		Messages: m.messages.Load(), Invalid: m.invalid.Load(), Ignored: m.ignored.Load(),
		Joins: m.joins.Load(), Refresh: m.refresh.Load(), Leaves: m.leaves.Load(),
		Refused: m.refused.Load(), Expired: m.expired.Load(),
	}
}

func (m *Membership) slot(id string) *slot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slots[id]
	if s == nil {
		s = &slot{}
		m.slots[id] = s
	}
	return s
}

func (m *Membership) groupStats(id string) *GroupStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.groups[id]
	if s == nil {
		s = &GroupStats{}
		m.groups[id] = s
	}
	return s
}

func (m *Membership) memberStats(id, eni string) *MemberStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memberStatsLocked(id, eni)
}

func (m *Membership) memberStatsLocked(id, eni string) *MemberStats {
	k := id + "\x00" + eni
	s := m.members[k]
	if s == nil {
		s = &MemberStats{}
		m.members[k] = s
	}
	return s
}

func (m *Membership) clientStats(id, eni string, c ClientSpec) *ClientStats {
	k := id + "\x00" + eni + "\x00" + netip.AddrPortFrom(c.Server, c.Port).String()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.clients[k]
	if s == nil {
		s = &ClientStats{}
		m.clients[k] = s
	}
	return s
}

// Expire removes the dynamic members whose last report is older than the
// membership interval at time now (unix ns) and returns how many it
// removed. The hot path already ignores them; Expire frees them.
func (m *Membership) Expire(now int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.slots {
		l := s.members.Load()
		if l == nil {
			continue
		}
		live := 0
		for i := range *l {
			if (*l)[i].Live(now) {
				live++
			}
		}
		if live == len(*l) {
			continue
		}
		next := make([]Member, 0, live)
		for _, mem := range *l {
			if mem.Live(now) {
				next = append(next, mem)
			}
		}
		s.members.Store(&next)
		n += len(*l) - live
	}
	m.expired.Add(uint64(n))
	return n
}

// Source is the ENI an IGMP message came from.
type Source struct {
	Router int        // its VRouter
	Port   fib.PortID // its port
	ENI    string     // its id
	Addr   netip.Addr // the member address: the message's source, one of the ENI's addresses
}

// IGMPResult says what one IGMP message changed.
type IGMPResult struct {
	Invalid   bool // unparsable, bad checksum, or no record (a query)
	Joined    int  // group memberships added
	Refreshed int  // memberships whose timer restarted
	Left      int  // memberships removed
	Refused   int  // joins beyond the limits of M2
	Ignored   int  // records for addresses without an igmp-enabled group in the VPC
}

// maxRecords bounds the group records read from one IGMPv3 report; a host
// reports at most a few groups per message.
const maxRecords = 32

// HandleIGMP applies an IGMP message msg (the IP payload) that src sent at
// time now (unix ns) to the dynamic membership of src's VPC (M5). Refreshing
// an existing membership takes no lock and allocates nothing; joins and
// leaves lock the Membership and publish new member lists.
func (t *Table) HandleIGMP(src Source, msg []byte, now int64) IGMPResult {
	var res IGMPResult
	if t == nil {
		res.Invalid = true
		return res
	}
	ms := t.ms
	ms.messages.Add(1)
	var recs [maxRecords]Record
	n, ok := ParseIGMP(msg, recs[:])
	if !ok || n == 0 {
		ms.invalid.Add(1)
		res.Invalid = true
		return res
	}
	for _, r := range recs[:n] {
		groups := t.byAddr[addrKey{uint16(src.Router), r.Group.As4()}]
		igmp := false
		for _, g := range groups {
			igmp = igmp || g.IGMP
		}
		if !igmp {
			res.Ignored++
			ms.ignored.Add(1)
			continue
		}
		if r.Join {
			if !t.refresh(src, groups, now) {
				t.join(src, groups, now, &res)
			} else {
				res.Refreshed++
				ms.refresh.Add(1)
			}
			continue
		}
		t.leave(src, groups, &res)
	}
	return res
}

// refresh restarts the timers of src in every igmp group of groups where it
// is a dynamic member bound to its current port and address, without a
// lock. It returns false when a join is needed somewhere.
func (t *Table) refresh(src Source, groups []*Group, now int64) bool {
	exp := now + t.ms.hold.Load()
	for _, g := range groups {
		if !g.IGMP || g.IsConfigured(src.Port) {
			continue
		}
		i := findENI(g.Dynamic(), src.ENI)
		if i < 0 {
			return false
		}
		m := &g.Dynamic()[i]
		if m.Port != src.Port || m.Addr != src.Addr || !m.Live(now) {
			return false
		}
	}
	for _, g := range groups {
		if !g.IGMP || g.IsConfigured(src.Port) {
			continue
		}
		l := g.Dynamic()
		if i := findENI(l, src.ENI); i >= 0 {
			l[i].expires.Store(exp)
		}
	}
	return true
}

func findENI(l []Member, eni string) int {
	for i := range l {
		if l[i].ENI == eni {
			return i
		}
	}
	return -1
}

// join adds src to every igmp group of groups it does not receive yet,
// within the limits (M2), and refreshes it where it does.
func (t *Table) join(src Source, groups []*Group, now int64, res *IGMPResult) {
	ms := t.ms
	ms.mu.Lock()
	defer ms.mu.Unlock()
	exp := now + ms.hold.Load()
	have := t.groupsOfLocked(src.ENI, now)
	for _, g := range groups {
		if !g.IGMP || g.IsConfigured(src.Port) {
			continue
		}
		old := g.Dynamic()
		i := findENI(old, src.ENI)
		if i >= 0 && old[i].Live(now) && old[i].Port == src.Port && old[i].Addr == src.Addr {
			old[i].expires.Store(exp)
			res.Refreshed++
			ms.refresh.Add(1)
			continue
		}
		rebind := i >= 0 && old[i].Live(now) // already counted in have
		count := len(g.members)
		for j := range old {
			if old[j].ENI != src.ENI && old[j].Live(now) && !g.IsConfigured(old[j].Port) {
				count++
			}
		}
		if count+1 > t.limits.MembersPerGroup || (!rebind && have+1 > t.limits.GroupsPerMember) {
			res.Refused++
			ms.refused.Add(1)
			continue
		}
		if !rebind {
			have++
		}
		next := make([]Member, 0, len(old)+1)
		for _, m := range old {
			if m.ENI != src.ENI && m.Live(now) {
				next = append(next, m)
			}
		}
		e := new(atomic.Int64)
		e.Store(exp)
		next = append(next, Member{ENI: src.ENI, Port: src.Port, Addr: src.Addr,
			Stats: ms.memberStatsLocked(g.ID(), src.ENI), expires: e})
		g.dyn.members.Store(&next)
		res.Joined++
		ms.joins.Add(1)
	}
}

// groupsOfLocked counts the groups of t that eni receives at time now,
// configured and dynamic (M2's groups per member).
func (t *Table) groupsOfLocked(eni string, now int64) int {
	n := t.configured[eni]
	for _, g := range t.groups {
		if !g.IGMP {
			continue
		}
		l := g.Dynamic()
		if i := findENI(l, eni); i >= 0 && l[i].Live(now) && !g.IsConfigured(l[i].Port) {
			n++
		}
	}
	return n
}

// leave removes src from the igmp groups of groups.
func (t *Table) leave(src Source, groups []*Group, res *IGMPResult) {
	ms := t.ms
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, g := range groups {
		if !g.IGMP {
			continue
		}
		old := g.Dynamic()
		if findENI(old, src.ENI) < 0 {
			continue
		}
		next := make([]Member, 0, len(old))
		for _, m := range old {
			if m.ENI != src.ENI {
				next = append(next, m)
			}
		}
		g.dyn.members.Store(&next)
		res.Left++
		ms.leaves.Add(1)
	}
}

// GroupReport describes one group for the API and metrics (M3 `-S`, `-L`,
// `-P`; M6; R8 vrouter_mcast_packets_total).
type GroupReport struct {
	ID       string         `json:"id"`
	VPC      string         `json:"vpc"`
	Group    netip.Addr     `json:"group"`
	Server   string         `json:"server"`
	IGMP     bool           `json:"igmp"`
	Counters GroupCounters  `json:"counters"`
	Members  []MemberReport `json:"members"`
}

// MemberReport describes one member of a group.
type MemberReport struct {
	ENI       string         `json:"eni"`
	Addr      netip.Addr     `json:"address"`
	Dynamic   bool           `json:"dynamic"`              // joined by IGMP
	ExpiresIn time.Duration  `json:"expires_in,omitempty"` // dynamic members: time left without a report
	Counters  MemberCounters `json:"counters"`
	Clients   []ClientReport `json:"clients,omitempty"`
	Filtered  bool           `json:"filtered,omitempty"` // receives only what its client entries match
}

// ClientReport describes one client entry of a member (M3 `client -L/-P`).
type ClientReport struct {
	Server  netip.Addr `json:"server"`
	Port    uint16     `json:"port"`
	Packets uint64     `json:"packets"`
	Bytes   uint64     `json:"bytes"`
}

// Report describes every group of t at time now (unix ns): configured
// members first, then the live dynamic members, each sorted by ENI id.
func (t *Table) Report(now int64) []GroupReport {
	if t == nil {
		return nil
	}
	out := make([]GroupReport, 0, len(t.groups))
	for _, g := range t.groups {
		r := GroupReport{ID: g.ID(), VPC: g.VPC, Group: g.Addr, Server: g.Server, IGMP: g.IGMP, Counters: g.Stats.Load()}
		for i := range g.members {
			r.Members = append(r.Members, memberReport(&g.members[i], now))
		}
		var dyn []MemberReport
		for _, m := range g.Dynamic() {
			if m.Live(now) && !g.IsConfigured(m.Port) {
				dyn = append(dyn, memberReport(&m, now))
			}
		}
		sort.Slice(r.Members, func(i, j int) bool { return r.Members[i].ENI < r.Members[j].ENI })
		sort.Slice(dyn, func(i, j int) bool { return dyn[i].ENI < dyn[j].ENI })
		r.Members = append(r.Members, dyn...)
		out = append(out, r)
	}
	return out
}

func memberReport(m *Member, now int64) MemberReport {
	r := MemberReport{ENI: m.ENI, Addr: m.Addr, Dynamic: m.Dynamic(), Counters: m.Stats.Load(), Filtered: m.Filtered}
	if m.Dynamic() {
		r.ExpiresIn = time.Duration(m.Expires() - now)
	}
	for _, c := range m.Clients {
		r.Clients = append(r.Clients, ClientReport{Server: c.Server, Port: c.Port, Packets: c.Stats.Packets.Load(), Bytes: c.Stats.Bytes.Load()})
	}
	return r
}
