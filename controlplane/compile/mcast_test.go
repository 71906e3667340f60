package compile

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
)

const mcastBase = `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-1
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: z, cidr: 192.168.2.0/24}
instances:
  - id: i-srv
    vswitch: vsw-a
    ip: 192.168.1.10
    enis: [{id: eni-srv2, vswitch: vsw-b, ip: 192.168.2.10}]
  - {id: i-m1, vswitch: vsw-a, ip: 192.168.1.20}
  - id: i-m2
    vswitch: vsw-a
    ip: 192.168.1.30
    enis: [{id: eni-m2b, vswitch: vsw-b, ip: 192.168.2.30}]
  - {id: i-m3, vswitch: vsw-b, ip: 192.168.2.40}
multicast:
  - vpc: vpc-1
    group: 239.1.1.1
    server: i-srv
    members: [192.168.1.20, 192.168.2.30]
  - vpc: vpc-1
    group: 239.2.2.2
    server: i-srv
    igmp: true
`

func compileMcast(t *testing.T, yaml string, prev *dataplane.Snapshot, ms *mcast.Membership) *dataplane.Snapshot {
	t.Helper()
	cfg, _, err := config.ParseAndValidate("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	res, err := Compile(Input{Config: cfg, Prev: prev, Stats: stats.NewRegistry(), Mcast: ms})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return res.Snapshot
}

// TestMulticastCompile: server ENIs become server ports and member
// addresses their ENIs' ports (M1); igmp is carried (M5).
func TestMulticastCompile(t *testing.T) {
	s := compileMcast(t, mcastBase, nil, nil)
	g1, g2 := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.2.2.2")
	srv, srv2 := portByName(t, s, "i-srv"), portByName(t, s, "eni-srv2")
	for _, p := range []*dataplane.Port{srv, srv2} {
		if g := s.Mcast.Sender(p.ID, g1); g == nil || g.ID() != "vpc-1/239.1.1.1/i-srv" || g.IGMP {
			t.Errorf("%s does not send 239.1.1.1: %v", p.Name, g)
		}
	}
	if s.Mcast.Sender(portByName(t, s, "i-m1").ID, g1) != nil {
		t.Error("a member is a server")
	}
	g := s.Mcast.Sender(srv.ID, g1)
	want := map[string]string{"i-m1": "192.168.1.20", "eni-m2b": "192.168.2.30"}
	if len(g.Members()) != 2 {
		t.Fatalf("members %+v", g.Members())
	}
	for _, m := range g.Members() {
		if want[m.ENI] != m.Addr.String() || portByName(t, s, m.ENI).ID != m.Port {
			t.Errorf("member %+v", m)
		}
	}
	if d := s.Mcast.Sender(srv.ID, g2); d == nil || !d.IGMP || len(d.Members()) != 0 {
		t.Errorf("igmp group %+v", d)
	}
	if !s.Mcast.IGMPRouter(srv.Router) {
		t.Error("VPC with an igmp group is not queried")
	}
	// The decision: the server's packets replicate, a member's drop.
	p := parsed("192.168.1.10", "239.1.1.1", packet.ProtoUDP, 1000, 5000, 0)
	if d := forward(s, srv, p, 0); d.Verdict != dataplane.VerdictMulticast || d.Group != g {
		t.Errorf("server decision %+v", d)
	}
	p = parsed("192.168.1.20", "239.1.1.1", packet.ProtoUDP, 1000, 5000, 0)
	if d := forward(s, portByName(t, s, "i-m1"), p, 0); d.Verdict != dataplane.VerdictDrop || d.Reason != stats.DropMulticast {
		t.Errorf("member decision %+v", d)
	}
}

func igmpReport(grp netip.Addr) []byte {
	m := make([]byte, 8)
	m[0] = packet.IGMPv2MembershipReport
	a := grp.As4()
	copy(m[4:], a[:])
	binary.BigEndian.PutUint16(m[2:], packet.Checksum(m, 0))
	return m
}

// TestMulticastMembershipOutlivesReloads: IGMP joins and counters survive a
// recompile, with the Membership passed in or carried from Prev (M5, R3).
func TestMulticastMembershipOutlivesReloads(t *testing.T) {
	g2 := netip.MustParseAddr("239.2.2.2")
	for _, passed := range []bool{true, false} {
		var ms *mcast.Membership
		if passed {
			ms = mcast.NewMembership()
		}
		s1 := compileMcast(t, mcastBase, nil, ms)
		if passed && s1.Mcast.Membership() != ms {
			t.Fatal("Input.Mcast not used")
		}
		m3 := portByName(t, s1, "i-m3")
		src := mcast.Source{Router: m3.Router, Port: m3.ID, ENI: m3.Name, Addr: m3.Addrs[0]}
		if r := s1.Mcast.HandleIGMP(src, igmpReport(g2), 1); r.Joined != 1 {
			t.Fatalf("join %+v", r)
		}
		s1.Mcast.Sender(portByName(t, s1, "i-srv").ID, g2).Stats.PacketsIn.Add(7)

		s2 := compileMcast(t, mcastBase, s1, ms)
		g := s2.Mcast.Sender(portByName(t, s2, "i-srv").ID, g2)
		if len(g.Dynamic()) != 1 || g.Dynamic()[0].ENI != "i-m3" || g.Stats.PacketsIn.Load() != 7 {
			t.Errorf("passed=%v: after reload dynamic %+v, packets %d", passed, g.Dynamic(), g.Stats.PacketsIn.Load())
		}
	}
}

// TestMulticastQuotaLimits: raised quotas reach the join limits (M2, V19).
func TestMulticastQuotaLimits(t *testing.T) {
	s := compileMcast(t, mcastBase+"quotas: {mcast_members_per_group: 200, mcast_groups_per_member: 12}\n", nil, nil)
	if l := s.Mcast.Limits(); l.MembersPerGroup != 200 || l.GroupsPerMember != 12 {
		t.Errorf("limits %+v", l)
	}
	s = compileMcast(t, mcastBase, nil, nil)
	if l := s.Mcast.Limits(); l != mcast.DefaultLimits() {
		t.Errorf("default limits %+v", l)
	}
}
