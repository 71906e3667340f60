package api_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane/mcast"
)

// mcastYAML has two possible servers (i-srv, i-srv2), members i-m1 (two
// ENIs) and i-m2 on vsw-a, n plain instances i-p1… on vsw-b (192.168.2.2…)
// for the limits, an instance in another VPC, and one file group.
func mcastYAML(n int, extra string) string {
	var b strings.Builder
	b.WriteString(`version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-mc
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: z, cidr: 192.168.2.0/24}
  - id: vpc-o
    cidr: 10.30.0.0/16
    vswitches:
      - {id: vsw-o, zone: z, cidr: 10.30.1.0/24}
instances:
  - {id: i-srv, vswitch: vsw-a, ip: 192.168.1.10}
  - {id: i-srv2, vswitch: vsw-a, ip: 192.168.1.11}
  - id: i-m1
    vswitch: vsw-a
    ip: 192.168.1.21
    enis: [{id: eni-m1b, vswitch: vsw-a, ip: 192.168.1.121}]
  - {id: i-m2, vswitch: vsw-a, ip: 192.168.1.22}
  - {id: i-o, vswitch: vsw-o, ip: 10.30.1.10}
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {id: i-p%d, vswitch: vsw-b, ip: 192.168.2.%d}\n", i, i+1)
	}
	b.WriteString("multicast:\n  - {vpc: vpc-mc, group: 239.1.1.1, server: i-srv, members: [192.168.1.21, 192.168.1.22]}\n")
	b.WriteString(extra)
	return b.String()
}

// mcastGroup returns the group (server, addr) of c.
func mcastGroup(c *config.Config, server, addr string) *config.McastGroup {
	for _, g := range c.Multicast {
		if g.Server == server && g.Group == netip.MustParseAddr(addr) {
			return g
		}
	}
	return nil
}

func members(g *config.McastGroup) string {
	if g == nil {
		return "<no group>"
	}
	s := make([]string, len(g.Members))
	for i, a := range g.Members {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// lastOp returns the parameters the overlay recorded for its last
// operation.
func lastOp(t *testing.T, e *env) map[string]any {
	t.Helper()
	ops := e.b.Overlay().Ops()
	if len(ops) == 0 {
		t.Fatal("empty overlay")
	}
	var m map[string]any
	if err := json.Unmarshal(ops[len(ops)-1].Params, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// mcastStep is one API call of a scenario: the status wanted (200 or an
// error), a substring of the reply, and a check of the configuration.
type mcastStep struct {
	name   string
	action string
	params any
	status int
	want   string
	check  func(t *testing.T, e *env)
}

func runSteps(t *testing.T, e *env, steps []mcastStep) {
	t.Helper()
	for _, s := range steps {
		before := e.b.Overlay().Len()
		code, body := e.call(t, s.action, s.params)
		if code != s.status || !strings.Contains(string(body), s.want) {
			t.Fatalf("%s: %s: status %d, want %d with %q:\n%s", s.name, s.action, code, s.status, s.want, body)
		}
		if n := e.b.Overlay().Len(); (code == 200 && n != before+1) || (code != 200 && n != before) {
			t.Fatalf("%s: overlay %d operations after, %d before", s.name, n, before)
		}
		if s.check != nil {
			s.check(t, e)
		}
	}
}

// TestMcastServerOps runs the M3 server actions in sequence: default
// server, create, join, quit, delete and clear, with their refusals, and
// M4: the changes survive a restart, and a clear persists across restarts
// and reloads while groups added to the file later stay.
func TestMcastServerOps(t *testing.T) {
	e := newEnv(t, mcastYAML(0, ""))
	steps := []mcastStep{
		{"M3 join creates the group on the only server", "JoinMulticastGroup",
			api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"192.168.1.21", "i-m2"}}, 200, `"OverlayOps":1`,
			func(t *testing.T, e *env) {
				if g := mcastGroup(e.b.Config(), "i-srv", "239.2.2.2"); members(g) != "192.168.1.21,192.168.1.22" || g.VPC != "vpc-mc" || g.IGMP {
					t.Fatalf("group = %+v", g)
				}
				// M4: the overlay records the server it chose and
				// member addresses, so a replay does the same.
				if p := lastOp(t, e); p["Server"] != "i-srv" || fmt.Sprint(p["Members"]) != "[192.168.1.21 192.168.1.22]" {
					t.Fatalf("recorded parameters %v", p)
				}
			}},
		{"join twice", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"192.168.1.22"}},
			409, "api:JoinMulticastGroup: 239.2.2.2: V17: 192.168.1.22 (i-m2) is already a member of group 239.2.2.2 of i-srv", nil},
		{"join one ENI twice", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"eni-m1b", "192.168.1.121"}},
			400, "member eni-m1b is given twice", nil},
		{"join another ENI of a member", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"eni-m1b"}},
			200, "", func(t *testing.T, e *env) {
				if g := mcastGroup(e.b.Config(), "i-srv", "239.2.2.2"); members(g) != "192.168.1.21,192.168.1.22,192.168.1.121" {
					t.Fatalf("members %s", members(g))
				}
			}},
		{"create an existing group", "CreateMulticastGroup", api.MulticastGroupParams{Server: "i-srv", Group: "239.2.2.2"},
			409, "already has group 239.2.2.2", nil},
		{"create with igmp, server by address", "CreateMulticastGroup", api.MulticastGroupParams{Server: "192.168.1.10", Group: "239.3.3.3", IGMP: boolp(true)},
			200, "", func(t *testing.T, e *env) {
				if g := mcastGroup(e.b.Config(), "i-srv", "239.3.3.3"); g == nil || !g.IGMP || len(g.Members) != 0 {
					t.Fatalf("group %+v", g)
				}
			}},
		{"quit", "QuitMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"192.168.1.21", "eni-m1b"}},
			200, "", func(t *testing.T, e *env) {
				if g := mcastGroup(e.b.Config(), "i-srv", "239.2.2.2"); members(g) != "192.168.1.22" {
					t.Fatalf("members after quit: %s", members(g))
				}
			}},
		{"quit a non-member", "QuitMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"192.168.1.21"}},
			404, "192.168.1.21 (i-m1) is not a member of group 239.2.2.2 of i-srv", nil},
		{"quit without members", "QuitMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2"}, 400, "Members is required", nil},
		{"quit from a missing group", "QuitMulticastGroup", api.MulticastGroupParams{Group: "239.8.8.8", Members: []string{"i-m1"}},
			404, "server i-srv has no group 239.8.8.8", nil},
		{"delete", "DeleteMulticastGroup", api.DeleteMulticastGroupParams{Group: "239.3.3.3"}, 200, "",
			func(t *testing.T, e *env) {
				if mcastGroup(e.b.Config(), "i-srv", "239.3.3.3") != nil {
					t.Fatal("group still there")
				}
			}},
		{"delete a missing group", "DeleteMulticastGroup", api.DeleteMulticastGroupParams{Group: "239.3.3.3"}, 404, "server i-srv has no group 239.3.3.3", nil},
		{"V17 link-local group", "CreateMulticastGroup", api.MulticastGroupParams{Server: "i-srv", Group: "224.0.0.5"}, 400, "V17", nil},
		{"V17 member of another VPC", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"10.30.1.10"}},
			404, "member 10.30.1.10 is not an ENI address of vpc-mc", nil},
		{"V17 member id of another VPC", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"i-o"}},
			400, "member i-o is in vpc-o, not in the group's VPC vpc-mc", nil},
		{"V17 unknown server", "CreateMulticastGroup", api.MulticastGroupParams{Server: "i-nope", Group: "239.4.4.4"}, 404, "server i-nope: no such instance", nil},
		{"a second server of the same address", "JoinMulticastGroup", api.MulticastGroupParams{Server: "i-srv2", Group: "239.1.1.1", Members: []string{"i-m1"}}, 200, "", nil},
		{"M3 default server is ambiguous", "CreateMulticastGroup", api.MulticastGroupParams{Group: "239.4.4.4"},
			400, "2 instances are multicast servers (i-srv, i-srv2); choose one with -s ID (Server)", nil},
		{"M4 clear removes the file's group too", "ClearMulticastGroups", api.ClearMulticastGroupsParams{Server: "i-srv"}, 200, "",
			func(t *testing.T, e *env) {
				c := e.b.Config()
				if len(c.Multicast) != 1 || c.Multicast[0].Server != "i-srv2" {
					t.Fatalf("groups after clear: %+v", c.Multicast)
				}
				if p := lastOp(t, e); fmt.Sprint(p["Groups"]) != "[239.1.1.1 239.2.2.2]" {
					t.Fatalf("recorded parameters %v", p)
				}
			}},
	}
	runSteps(t, e, steps)

	// M4: a restart replays the overlay: the clear persists.
	want := e.configJSON(t)
	e.restart(t)
	if got := e.configJSON(t); got != want {
		t.Fatalf("after restart:\n%s\nwant\n%s", got, want)
	}
	// A reload with a new group of i-srv in the file: it stays, the
	// cleared ones stay cleared.
	writeFile(t, e.cfgPath, mcastYAML(0, "  - {vpc: vpc-mc, group: 239.5.5.5, server: i-srv, members: [192.168.1.22]}\n"))
	var rr api.ReloadResponse
	e.ok(t, "Reload", nil, &rr)
	c := e.b.Config()
	if len(rr.Dropped) != 0 || mcastGroup(c, "i-srv", "239.5.5.5") == nil || mcastGroup(c, "i-srv", "239.1.1.1") != nil ||
		mcastGroup(c, "i-srv2", "239.1.1.1") == nil {
		t.Fatalf("after reload: dropped %v, groups %+v", rr.Dropped, c.Multicast)
	}
	// i-srv (file) and i-srv2 (overlay) both serve groups: -s is needed
	// until only one does.
	e.fail(t, "ClearMulticastGroups", api.ClearMulticastGroupsParams{}, 400)
	e.ok(t, "ClearMulticastGroups", api.ClearMulticastGroupsParams{Server: "i-srv2"}, nil)
	e.ok(t, "ClearMulticastGroups", api.ClearMulticastGroupsParams{}, nil) // i-srv, the only server left
	if c := e.b.Config(); len(c.Multicast) != 0 {
		t.Fatalf("groups after clearing both: %+v", c.Multicast)
	}
	e.fail(t, "ClearMulticastGroups", api.ClearMulticastGroupsParams{}, 400) // no server left: -s needed
	e.ok(t, "ClearMulticastGroups", api.ClearMulticastGroupsParams{Server: "i-srv"}, nil)
	if p := lastOp(t, e); p["Groups"] == nil || len(p["Groups"].([]any)) != 0 {
		t.Fatalf("an empty clear must record an empty list (not null: all), got %v", p)
	}
}

// TestMcastLimits (M2, V17): the 11th group of a server, the 129th member
// of a group and the 11th group of a member are refused naming the limit;
// nothing changes. Raised quotas (V19) raise them.
func TestMcastLimits(t *testing.T) {
	e := newEnv(t, mcastYAML(130, ""))
	for i := 2; i <= 10; i++ {
		e.ok(t, "JoinMulticastGroup", api.MulticastGroupParams{Group: fmt.Sprintf("239.1.2.%d", i), Members: []string{"i-m1"}}, nil)
	}
	var ps []string
	for i := 1; i <= 125; i++ {
		ps = append(ps, fmt.Sprintf("i-p%d", i))
	}
	e.ok(t, "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.1.1.1", Members: ps}, nil) // 127 members
	runSteps(t, e, []mcastStep{
		{"V17 11th group of a server", "CreateMulticastGroup", api.MulticastGroupParams{Group: "239.1.2.11"},
			422, "api:CreateMulticastGroup: 239.1.2.11: V17: server i-srv already has 10 groups, the limit (mcast_groups_per_server)", nil},
		{"V17 two more than the members limit", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.1.1.1", Members: []string{"i-p126", "i-p127"}},
			422, "V17: group 239.1.1.1 of i-srv has 127 members; 2 more would exceed the limit of 128 (mcast_members_per_group)", nil},
		{"the 128th member", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.1.1.1", Members: []string{"i-p126"}}, 200, "", nil},
		{"V17 129th member", "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.1.1.1", Members: []string{"i-p127"}},
			422, "api:JoinMulticastGroup: 239.1.1.1: V17: group 239.1.1.1 of i-srv already has 128 members, the limit (mcast_members_per_group)", nil},
		{"V17 11th group of a member", "JoinMulticastGroup", api.MulticastGroupParams{Server: "i-srv2", Group: "239.9.9.9", Members: []string{"192.168.1.21"}},
			422, "api:JoinMulticastGroup: 239.9.9.9: V17: member 192.168.1.21 (i-m1) already receives 10 groups, the limit (mcast_groups_per_member)", nil},
		{"another ENI of that instance is another member", "JoinMulticastGroup", api.MulticastGroupParams{Server: "i-srv2", Group: "239.9.9.9", Members: []string{"eni-m1b"}},
			200, "", nil},
	})

	// V19: quotas raise the limits.
	e2 := newEnv(t, strings.Replace(mcastYAML(0, ""), "region: cn-hangzhou\n", "region: cn-hangzhou\nquotas: {mcast_groups_per_server: 11}\n", 1))
	for i := 2; i <= 11; i++ {
		e2.ok(t, "CreateMulticastGroup", api.MulticastGroupParams{Group: fmt.Sprintf("239.1.2.%d", i)}, nil)
	}
	e2.fail(t, "CreateMulticastGroup", api.MulticastGroupParams{Group: "239.1.2.12"}, 422)
}

// memberOf returns the compiled member eni of group addr of server in the
// running snapshot.
func memberOf(t *testing.T, e *env, server, addr, eni string) *mcast.Member {
	t.Helper()
	for _, g := range e.b.Snapshot().Mcast.Groups() {
		if g.Server != server || g.Addr != netip.MustParseAddr(addr) {
			continue
		}
		for i := range g.Members() {
			if m := &g.Members()[i]; m.ENI == eni {
				return m
			}
		}
	}
	t.Fatalf("%s is not a member of %s of %s", eni, addr, server)
	return nil
}

// TestMcastClientOps (M3 client): entries are added, refused, described,
// removed and cleared; a member with entries is compiled filtered (it
// receives only matching traffic), one without is not; entries survive a
// restart (M4).
func TestMcastClientOps(t *testing.T) {
	e := newEnv(t, mcastYAML(0, "  - {vpc: vpc-mc, group: 239.2.2.2, server: i-srv, members: [192.168.1.21]}\n"))
	steps := []mcastStep{
		{"add", "AddMulticastClient", api.MulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 5000, Group: "239.1.1.1"}, 200, "",
			func(t *testing.T, e *env) {
				m := memberOf(t, e, "i-srv", "239.1.1.1", "i-m1")
				if !m.Filtered || len(m.Clients) != 1 || m.Clients[0].Port != 5000 {
					t.Fatalf("i-m1 in 239.1.1.1: %+v", m)
				}
				if _, ok := m.Accepts(netip.MustParseAddr("192.168.1.10"), 5001); ok {
					t.Fatal("a filtered member accepts an unmatched port")
				}
				// Its other group: filtered, nothing matches.
				if m := memberOf(t, e, "i-srv", "239.2.2.2", "i-m1"); !m.Filtered || len(m.Clients) != 0 {
					t.Fatalf("i-m1 in 239.2.2.2: %+v", m)
				}
				if m := memberOf(t, e, "i-srv", "239.1.1.1", "i-m2"); m.Filtered {
					t.Fatal("a member without entries is filtered")
				}
			}},
		{"add by address", "AddMulticastClient", api.MulticastClientParams{Member: "192.168.1.22", ServerIP: "192.168.1.10", Port: 6000, Group: "239.1.1.1"}, 200, "",
			func(t *testing.T, e *env) {
				if p := lastOp(t, e); p["Member"] != "i-m2" {
					t.Fatalf("recorded %v", p)
				}
			}},
		{"twice", "AddMulticastClient", api.MulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 5000, Group: "239.2.2.2"},
			409, "api:AddMulticastClient: i-m1: V17: i-m1 already has the client entry 192.168.1.10:5000 (group 239.1.1.1)", nil},
		{"no such group", "AddMulticastClient", api.MulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 5000, Group: "239.9.9.9"},
			404, "no multicast group 239.9.9.9 in vpc-mc; add it first (vrouterctl mcast server -A -m 239.9.9.9)", nil},
		{"not the server's address", "AddMulticastClient", api.MulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.99", Port: 5001, Group: "239.1.1.1"},
			404, "no server of group 239.1.1.1 in vpc-mc has the address 192.168.1.99 (servers: i-srv)", nil},
		{"port 0", "AddMulticastClient", api.MulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Group: "239.1.1.1"}, 400, "Port 0: a UDP port is 1–65535", nil},
		{"no member", "AddMulticastClient", api.MulticastClientParams{ServerIP: "192.168.1.10", Port: 1, Group: "239.1.1.1"}, 400, "Member is required", nil},
		{"unknown member", "AddMulticastClient", api.MulticastClientParams{Member: "eni-x", ServerIP: "192.168.1.10", Port: 1, Group: "239.1.1.1"}, 404, "member eni-x: no such ENI", nil},
		{"remove a missing entry", "RemoveMulticastClient", api.RemoveMulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 5999}, 404, "i-m1 has no client entry 192.168.1.10:5999", nil},
	}
	runSteps(t, e, steps)

	var dc api.DescribeMulticastClientsResponse
	e.ok(t, "DescribeMulticastClients", api.DescribeMulticastClientsParams{Member: "i-m1"}, &dc)
	if dc.TotalCount != 1 || dc.Clients[0] != (api.MulticastClient{Member: "i-m1", MemberAddress: "192.168.1.21", VpcID: "vpc-mc",
		ServerIP: "192.168.1.10", Port: 5000, Group: "239.1.1.1", Active: true}) {
		t.Fatalf("describe: %+v", dc)
	}
	e.fail(t, "DescribeMulticastClients", api.DescribeMulticastClientsParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 7}, 404)

	// M4: entries survive a restart.
	want := e.configJSON(t)
	e.restart(t)
	if got := e.configJSON(t); got != want || len(e.b.Config().McastClients) != 2 {
		t.Fatalf("after restart:\n%s\nwant\n%s", got, want)
	}
	runSteps(t, e, []mcastStep{
		{"remove", "RemoveMulticastClient", api.RemoveMulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 5000}, 200, "",
			func(t *testing.T, e *env) {
				if m := memberOf(t, e, "i-srv", "239.1.1.1", "i-m1"); m.Filtered {
					t.Fatal("M3: a member without entries must receive every group")
				}
			}},
		{"clear", "ClearMulticastClients", api.ClearMulticastClientsParams{Member: "i-m2"}, 200, "",
			func(t *testing.T, e *env) {
				if n := len(e.b.Config().McastClients); n != 0 {
					t.Fatalf("%d entries left", n)
				}
			}},
	})
}

// TestMcastDescribe (M3 -S/-L/-P, M6): groups with their members and
// counters from the published snapshot, and the filters.
func TestMcastDescribe(t *testing.T) {
	e := newEnv(t, mcastYAML(0, ""))
	e.ok(t, "JoinMulticastGroup", api.MulticastGroupParams{Group: "239.2.2.2", Members: []string{"eni-m1b"}}, nil)
	e.ok(t, "AddMulticastClient", api.MulticastClientParams{Member: "i-m1", ServerIP: "192.168.1.10", Port: 5000, Group: "239.1.1.1"}, nil)

	// Count what a worker would: one packet of 100 bytes, a copy
	// delivered to i-m1 through its client entry, one refused by i-m2's
	// security groups.
	for _, g := range e.b.Snapshot().Mcast.Groups() {
		if g.Addr != netip.MustParseAddr("239.1.1.1") {
			continue
		}
		tl := mcast.Tally{Bytes: 100}
		for i := range g.Members() {
			m := &g.Members()[i]
			if m.ENI == "i-m1" {
				m.Stats.Add(mcast.Delivered, 100, &tl)
				m.Clients[0].Stats.Packets.Add(1)
				m.Clients[0].Stats.Bytes.Add(100)
			} else {
				m.Stats.Add(mcast.DroppedSG, 100, &tl)
			}
		}
		g.Stats.Record(&tl)
	}

	var all api.DescribeMulticastGroupsResponse
	e.ok(t, "DescribeMulticastGroups", nil, &all)
	if all.TotalCount != 2 || all.Groups[0].Group != "239.1.1.1" || all.Groups[1].Group != "239.2.2.2" {
		t.Fatalf("groups %+v", all)
	}
	g := all.Groups[0]
	wantStats := api.MulticastGroupStatistics{PacketsIn: 1, BytesIn: 100, CopiesOut: 1, BytesOut: 100, Dropped: 1, DroppedSecurityGroup: 1}
	if g.VpcID != "vpc-mc" || g.Server != "i-srv" || g.MemberCount != 2 || g.Statistics != wantStats {
		t.Fatalf("group %+v", g)
	}
	m1, m2 := g.Members[0], g.Members[1]
	if m1.NetworkInterfaceID != "i-m1" || m1.Address != "192.168.1.21" || !m1.Filtered || m1.Copies != 1 ||
		!slices.Equal(m1.Clients, []api.MulticastClientStatistics{{ServerIP: "192.168.1.10", Port: 5000, Packets: 1, Bytes: 100}}) {
		t.Fatalf("member %+v", m1)
	}
	if m2.NetworkInterfaceID != "i-m2" || m2.Filtered || m2.Dropped != 1 || m2.DroppedSecurityGroup != 1 {
		t.Fatalf("member %+v", m2)
	}
	var dc api.DescribeMulticastClientsResponse
	e.ok(t, "DescribeMulticastClients", api.DescribeMulticastClientsParams{ServerIP: "192.168.1.10", Port: 5000}, &dc)
	if dc.TotalCount != 1 || dc.Clients[0].Packets != 1 || dc.Clients[0].Bytes != 100 || !dc.Clients[0].Active {
		t.Fatalf("clients %+v", dc)
	}

	cases := []struct {
		name   string
		params api.DescribeMulticastGroupsParams
		status int
		groups []string
	}{
		{"by group", api.DescribeMulticastGroupsParams{Group: "239.2.2.2"}, 200, []string{"239.2.2.2"}},
		{"by server", api.DescribeMulticastGroupsParams{Server: "i-srv"}, 200, []string{"239.1.1.1", "239.2.2.2"}},
		{"by VPC", api.DescribeMulticastGroupsParams{VpcID: "vpc-o"}, 200, nil},
		{"server without groups", api.DescribeMulticastGroupsParams{Server: "i-srv2"}, 200, nil},
		{"missing group", api.DescribeMulticastGroupsParams{Group: "239.7.7.7"}, 404, nil},
		{"missing group of a server", api.DescribeMulticastGroupsParams{Server: "i-srv2", Group: "239.1.1.1"}, 404, nil},
		{"unknown server", api.DescribeMulticastGroupsParams{Server: "i-x"}, 404, nil},
		{"unknown VPC", api.DescribeMulticastGroupsParams{VpcID: "vpc-x"}, 404, nil},
		{"bad group", api.DescribeMulticastGroupsParams{Group: "10.0.0.1"}, 400, nil},
	}
	for _, tc := range cases {
		code, body := e.call(t, "DescribeMulticastGroups", tc.params)
		if code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, code, tc.status, body)
			continue
		}
		if code != 200 {
			continue
		}
		var r api.DescribeMulticastGroupsResponse
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range r.Groups {
			got = append(got, g.Group)
		}
		if !slices.Equal(got, tc.groups) || r.TotalCount != len(tc.groups) {
			t.Errorf("%s: groups %v, want %v", tc.name, got, tc.groups)
		}
	}
}

// mcastMutationCases are the success cases of the multicast actions for
// TestMutationsApply (every mutating action has one; restart included).
func mcastMutationCases() []mutationCase {
	addMember := step{"JoinMulticastGroup", api.MulticastGroupParams{Server: "i-web1", Group: "239.1.1.1", Members: []string{"192.168.1.20"}}}
	addClient := step{"AddMulticastClient", api.MulticastClientParams{Member: "i-nat", ServerIP: "192.168.1.10", Port: 5000, Group: "239.1.1.1"}}
	group := func(t *testing.T, c *config.Config) *config.McastGroup {
		t.Helper()
		return mcastGroup(c, "i-web1", "239.1.1.1")
	}
	return []mutationCase{
		{name: "CreateMulticastGroup", action: "CreateMulticastGroup",
			params: api.MulticastGroupParams{Server: "i-web1", Group: "239.1.1.1", IGMP: boolp(true)},
			check: func(t *testing.T, c *config.Config) {
				if g := group(t, c); g == nil || !g.IGMP || g.VPC != "vpc-demo" {
					t.Fatalf("group %+v", g)
				}
			}},
		{name: "JoinMulticastGroup", action: addMember.action, params: addMember.params,
			check: func(t *testing.T, c *config.Config) {
				if g := group(t, c); members(g) != "192.168.1.20" {
					t.Fatalf("members %s", members(g))
				}
			}},
		{name: "QuitMulticastGroup", setup: []step{addMember}, action: "QuitMulticastGroup",
			params: api.MulticastGroupParams{Group: "239.1.1.1", Members: []string{"i-nat"}},
			check: func(t *testing.T, c *config.Config) {
				if g := group(t, c); g == nil || len(g.Members) != 0 {
					t.Fatalf("group %+v", g)
				}
			}},
		{name: "DeleteMulticastGroup", setup: []step{addMember}, action: "DeleteMulticastGroup",
			params: api.DeleteMulticastGroupParams{Group: "239.1.1.1"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Multicast) != 0 {
					t.Fatalf("groups %+v", c.Multicast)
				}
			}},
		{name: "ClearMulticastGroups", setup: []step{addMember}, action: "ClearMulticastGroups",
			params: api.ClearMulticastGroupsParams{Server: "i-web1"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.Multicast) != 0 {
					t.Fatalf("groups %+v", c.Multicast)
				}
			}},
		{name: "AddMulticastClient", setup: []step{addMember}, action: addClient.action, params: addClient.params,
			check: func(t *testing.T, c *config.Config) {
				if cs := c.McastClientsOf("i-nat"); len(cs) != 1 || cs[0].Port != 5000 {
					t.Fatalf("clients %+v", cs)
				}
			}},
		{name: "RemoveMulticastClient", setup: []step{addMember, addClient}, action: "RemoveMulticastClient",
			params: api.RemoveMulticastClientParams{Member: "192.168.1.20", ServerIP: "192.168.1.10", Port: 5000},
			check: func(t *testing.T, c *config.Config) {
				if len(c.McastClients) != 0 {
					t.Fatalf("clients %+v", c.McastClients)
				}
			}},
		{name: "ClearMulticastClients", setup: []step{addMember, addClient}, action: "ClearMulticastClients",
			params: api.ClearMulticastClientsParams{Member: "i-nat"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.McastClients) != 0 {
					t.Fatalf("clients %+v", c.McastClients)
				}
			}},
	}
}

// mutationCase is the element type of TestMutationsApply's cases.
type mutationCase = struct {
	name   string
	setup  []step
	action string
	params any
	check  func(t *testing.T, c *config.Config)
}
