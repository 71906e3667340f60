package mcast

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
)

var (
	grp1 = netip.MustParseAddr("239.1.1.1")
	grp2 = netip.MustParseAddr("239.2.2.2")
)

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}) }

func eni(i int) string { return fmt.Sprintf("eni-%d", i) }

func member(i int) MemberSpec { return MemberSpec{ENI: eni(i), Port: fib.PortID(i), Addr: addr(i)} }

// spec is a group of router 0 with server port 1 and the given members.
func spec(g netip.Addr, igmp bool, members ...int) GroupSpec {
	s := GroupSpec{VPC: "vpc-1", Router: 0, Addr: g, Server: "i-srv", ServerPorts: []fib.PortID{1}, IGMP: igmp}
	for _, m := range members {
		s.Members = append(s.Members, member(m))
	}
	return s
}

func mustBuild(t testing.TB, ms *Membership, l Limits, specs ...GroupSpec) *Table {
	t.Helper()
	tb, err := Build(ms, l, specs)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestBuildRejects: Build refuses what V17/M2 refuse.
func TestBuildRejects(t *testing.T) {
	many := spec(grp1, false)
	for i := 0; i < 129; i++ {
		many.Members = append(many.Members, member(10+i))
	}
	twoServers := spec(grp1, false, 2)
	other := spec(grp1, false, 3)
	other.Server = "i-other" // same server port 1, same address: ambiguous
	var perMember []GroupSpec
	for i := 0; i < 11; i++ {
		s := spec(netip.AddrFrom4([4]byte{239, 0, 0, byte(i + 1)}), false, 2)
		perMember = append(perMember, s)
	}
	cases := []struct {
		name  string
		specs []GroupSpec
		want  string
	}{
		{"V17 link-local group", []GroupSpec{spec(netip.MustParseAddr("224.0.0.5"), false, 2)}, "224.0.0.0/24"},
		{"V17 unicast group", []GroupSpec{spec(netip.MustParseAddr("10.0.0.1"), false, 2)}, "224.0.0.0/4"},
		{"V17 defined twice", []GroupSpec{spec(grp1, false, 2), spec(grp1, false, 3)}, "defined twice"},
		{"M2 129 members", []GroupSpec{many}, "at most 128"},
		{"V17 member twice", []GroupSpec{spec(grp1, false, 2, 2)}, "listed twice"},
		{"M2 11 groups per member", perMember, "more than 10 groups"},
		{"server port sends the address twice", []GroupSpec{twoServers, other}, "already sends"},
		{"member without port", []GroupSpec{{VPC: "vpc-1", Addr: grp1, Server: "i-srv", Members: []MemberSpec{{ENI: "eni-x", Port: fib.NoPort, Addr: addr(5)}}}}, "no port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(nil, DefaultLimits(), c.specs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	if _, err := Build(nil, DefaultLimits(), perMember[:10]); err != nil {
		t.Fatalf("10 groups per member must pass: %v", err)
	}
}

// TestSender: only the server's ports find the group (M1), per VPC.
func TestSender(t *testing.T) {
	s2 := spec(grp1, false, 2)
	s2.Router, s2.VPC, s2.ServerPorts = 1, "vpc-2", []fib.PortID{7, 8}
	tb := mustBuild(t, nil, DefaultLimits(), spec(grp1, false, 2, 3), s2)
	cases := []struct {
		port fib.PortID
		addr netip.Addr
		vpc  string
	}{
		{1, grp1, "vpc-1"},
		{7, grp1, "vpc-2"},
		{8, grp1, "vpc-2"},
		{2, grp1, ""}, // a member is not a server
		{1, grp2, ""}, // not a group of the server
		{1, netip.MustParseAddr("2001:db8::1"), ""},
	}
	for _, c := range cases {
		g := tb.Sender(c.port, c.addr)
		got := ""
		if g != nil {
			got = g.VPC
		}
		if got != c.vpc {
			t.Errorf("Sender(%d, %s) = %q, want %q", c.port, c.addr, got, c.vpc)
		}
	}
	var nilTable *Table
	if nilTable.Sender(1, grp1) != nil {
		t.Error("nil table found a group")
	}
}

// report builds IGMP messages by hand (RFC 2236 2, RFC 3376 4.2).
func v2msg(typ uint8, g netip.Addr) []byte {
	m := make([]byte, 8)
	m[0] = typ
	a := g.As4()
	copy(m[4:], a[:])
	binary.BigEndian.PutUint16(m[2:], packet.Checksum(m, 0))
	return m
}

type v3rec struct {
	typ  uint8
	g    netip.Addr
	srcs int
}

func v3report(recs ...v3rec) []byte {
	m := make([]byte, 8)
	m[0] = packet.IGMPv3MembershipReport
	binary.BigEndian.PutUint16(m[6:], uint16(len(recs)))
	for _, r := range recs {
		h := make([]byte, 8+4*r.srcs)
		h[0] = r.typ
		binary.BigEndian.PutUint16(h[2:], uint16(r.srcs))
		a := r.g.As4()
		copy(h[4:], a[:])
		for i := 0; i < r.srcs; i++ {
			copy(h[8+4*i:], []byte{10, 0, 0, byte(i + 1)})
		}
		m = append(m, h...)
	}
	binary.BigEndian.PutUint16(m[2:], packet.Checksum(m, 0))
	return m
}

func TestParseIGMP(t *testing.T) {
	bad := v2msg(packet.IGMPv2MembershipReport, grp1)
	bad[2] ^= 0xff
	trunc := v3report(v3rec{modeIsExclude, grp1, 2})
	trunc = trunc[:len(trunc)-4]
	binary.BigEndian.PutUint16(trunc[2:], 0)
	binary.BigEndian.PutUint16(trunc[2:], packet.Checksum(trunc, 0))
	cases := []struct {
		name string
		msg  []byte
		ok   bool
		want []Record
	}{
		{"v1 report joins", v2msg(packet.IGMPv1MembershipReport, grp1), true, []Record{{grp1, true}}},
		{"v2 report joins", v2msg(packet.IGMPv2MembershipReport, grp1), true, []Record{{grp1, true}}},
		{"v2 leave leaves", v2msg(packet.IGMPv2LeaveGroup, grp1), true, []Record{{grp1, false}}},
		{"query has no record", v2msg(packet.IGMPMembershipQuery, netip.IPv4Unspecified()), true, nil},
		{"bad checksum", bad, false, nil},
		{"too short", []byte{0x16, 0, 0}, false, nil},
		{"v3 record runs past the message", trunc, false, nil},
		{"v3 records", v3report(
			v3rec{modeIsExclude, grp1, 0},       // join (any source)
			v3rec{changeToIncludeMode, grp2, 0}, // leave
			v3rec{changeToExcludeMode, netip.MustParseAddr("239.3.3.3"), 0},
			v3rec{allowNewSources, netip.MustParseAddr("239.4.4.4"), 1}, // source-specific join
			v3rec{blockOldSources, netip.MustParseAddr("239.5.5.5"), 1}, // no change
			v3rec{modeIsInclude, netip.MustParseAddr("239.6.6.6"), 0},   // empty include: leave
			v3rec{allowNewSources, netip.MustParseAddr("239.7.7.7"), 0}, // nothing allowed: no change
		), true, []Record{
			{grp1, true}, {grp2, false}, {netip.MustParseAddr("239.3.3.3"), true},
			{netip.MustParseAddr("239.4.4.4"), true}, {netip.MustParseAddr("239.6.6.6"), false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var recs [8]Record
			n, ok := ParseIGMP(c.msg, recs[:])
			if ok != c.ok {
				t.Fatalf("ok %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if fmt.Sprint(recs[:n]) != fmt.Sprint(c.want) {
				t.Errorf("records %v, want %v", recs[:n], c.want)
			}
		})
	}
	// More records than room: the first ones are kept.
	var one [1]Record
	n, ok := ParseIGMP(v3report(v3rec{modeIsExclude, grp1, 0}, v3rec{modeIsExclude, grp2, 0}), one[:])
	if !ok || n != 1 || one[0].Group != grp1 {
		t.Errorf("truncated records: n=%d ok=%v %v", n, ok, one)
	}
}

// TestBuildQuery checks the general query against gopacket's decoder.
func TestBuildQuery(t *testing.T) {
	buf := make([]byte, QueryLen)
	if BuildQuery(buf[:QueryLen-1], addr(253), 1) != 0 {
		t.Error("short buffer accepted")
	}
	n := BuildQuery(buf, addr(253), 7)
	if n != QueryLen {
		t.Fatalf("length %d", n)
	}
	var p packet.Parsed
	if st := p.Decode(buf[:n]); st != packet.OK {
		t.Fatalf("decode: %v", st)
	}
	if p.TTL != 1 || p.Dst != AllSystems || p.Src != addr(253) || !p.HasOptions || p.IGMPType != packet.IGMPMembershipQuery {
		t.Fatalf("header: %v", &p)
	}
	pk := gopacket.NewPacket(buf[:n], layers.LayerTypeIPv4, gopacket.Default)
	q, _ := pk.Layer(layers.LayerTypeIGMP).(*layers.IGMP)
	if q == nil {
		t.Fatalf("gopacket sees no IGMPv3 query: %v", pk)
	}
	if q.Type != layers.IGMPMembershipQuery || q.Version != 3 || q.MaxResponseTime != 10*time.Second ||
		q.RobustnessValue != 2 || !q.GroupAddress.IsUnspecified() || q.NumberOfSources != 0 {
		t.Errorf("query fields: %+v", q)
	}
	// QQIC is in seconds (RFC 3376 4.1.7); gopacket decodes it like the
	// Max Resp Code, in tenths, so check the byte itself.
	if qqic := buf[24+9]; qqic != 125 {
		t.Errorf("QQIC %d, want 125", qqic)
	}
	if packet.Checksum(buf[24:n], 0) != 0 {
		t.Error("IGMP checksum")
	}
}

func src(i int) Source { return Source{Router: 0, Port: fib.PortID(i), ENI: eni(i), Addr: addr(i)} }

func dynENIs(g *Group, now int64) []string {
	var out []string
	for _, m := range g.Dynamic() {
		if m.Live(now) && !g.IsConfigured(m.Port) {
			out = append(out, m.ENI)
		}
	}
	return out
}

// TestIGMPJoinLeaveExpiry covers M5: join by v2 and v3 reports, refresh,
// leave, expiry after 260 s, and groups without igmp: true.
func TestIGMPJoinLeaveExpiry(t *testing.T) {
	ms := NewMembership()
	tb := mustBuild(t, ms, DefaultLimits(), spec(grp1, true, 2), spec(grp2, false, 2))
	g1 := tb.Sender(1, grp1)
	const s = int64(time.Second)
	now := int64(1000) * s

	r := tb.HandleIGMP(src(5), v2msg(packet.IGMPv2MembershipReport, grp1), now)
	if r.Joined != 1 || fmt.Sprint(dynENIs(g1, now)) != "[eni-5]" {
		t.Fatalf("v2 join: %+v %v", r, dynENIs(g1, now))
	}
	// A configured member's report changes nothing.
	if r := tb.HandleIGMP(src(2), v2msg(packet.IGMPv2MembershipReport, grp1), now); r.Joined != 0 {
		t.Errorf("configured member joined dynamically: %+v", r)
	}
	// Not igmp-enabled: ignored.
	if r := tb.HandleIGMP(src(6), v2msg(packet.IGMPv2MembershipReport, grp2), now); r.Ignored != 1 || r.Joined != 0 {
		t.Errorf("igmp: false group: %+v", r)
	}
	// Another VPC's router does not see the group.
	other := src(6)
	other.Router = 3
	if r := tb.HandleIGMP(other, v2msg(packet.IGMPv2MembershipReport, grp1), now); r.Ignored != 1 {
		t.Errorf("other VPC: %+v", r)
	}
	// 259 s later still a member; a refresh restarts the timer.
	if !g1.Dynamic()[0].Live(now + 259*s) {
		t.Error("expired before 260 s")
	}
	if g1.Dynamic()[0].Live(now + 260*s) {
		t.Error("alive at 260 s without a report")
	}
	now += 200 * s
	if r := tb.HandleIGMP(src(5), v3report(v3rec{modeIsExclude, grp1, 0}), now); r.Refreshed != 1 || r.Joined != 0 {
		t.Fatalf("refresh: %+v", r)
	}
	if !g1.Dynamic()[0].Live(now + 259*s) {
		t.Error("refresh did not restart the timer")
	}
	// v3 join of a second member, then a v3 leave (to_in {}) of the first.
	tb.HandleIGMP(src(6), v3report(v3rec{changeToExcludeMode, grp1, 0}), now)
	r = tb.HandleIGMP(src(5), v3report(v3rec{changeToIncludeMode, grp1, 0}), now)
	if r.Left != 1 || fmt.Sprint(dynENIs(g1, now)) != "[eni-6]" {
		t.Fatalf("v3 leave: %+v %v", r, dynENIs(g1, now))
	}
	// v2 leave of the second.
	tb.HandleIGMP(src(6), v2msg(packet.IGMPv2LeaveGroup, grp1), now)
	if len(dynENIs(g1, now)) != 0 {
		t.Fatalf("v2 leave: %v", dynENIs(g1, now))
	}
	// Expiry: join, wait 260 s, Expire frees it.
	tb.HandleIGMP(src(7), v2msg(packet.IGMPv2MembershipReport, grp1), now)
	if n := ms.Expire(now + 259*s); n != 0 {
		t.Errorf("expired %d at 259 s", n)
	}
	if n := ms.Expire(now + 260*s); n != 1 || len(g1.Dynamic()) != 0 {
		t.Errorf("expired %d at 260 s, left %v", n, g1.Dynamic())
	}
	// An expired member rejoins with a fresh timer.
	if r := tb.HandleIGMP(src(7), v2msg(packet.IGMPv2MembershipReport, grp1), now+300*s); r.Joined != 1 {
		t.Errorf("rejoin: %+v", r)
	}
	// Moving to another address or port re-binds without a second entry.
	moved := src(7)
	moved.Port, moved.Addr = 70, addr(70)
	if r := tb.HandleIGMP(moved, v2msg(packet.IGMPv2MembershipReport, grp1), now+301*s); r.Joined != 1 || len(g1.Dynamic()) != 1 || g1.Dynamic()[0].Port != 70 {
		t.Errorf("re-bind: %+v %+v", r, g1.Dynamic())
	}
	c := ms.IGMPCounters()
	if c.Joins != 5 || c.Leaves != 2 || c.Expired != 1 || c.Refresh < 1 || c.Ignored != 2 {
		t.Errorf("counters %+v", c)
	}
	if r := tb.HandleIGMP(src(5), []byte{1, 2}, now); !r.Invalid {
		t.Error("garbage accepted")
	}
}

// TestIGMPLimits: joins stay within M2 (128 members per group, 10 groups
// per member), configured members included.
func TestIGMPLimits(t *testing.T) {
	const now = int64(1e12)
	full := spec(grp1, true)
	for i := 0; i < 127; i++ {
		full.Members = append(full.Members, member(100+i))
	}
	// eni-9 is a configured member of nine groups.
	specs := []GroupSpec{full}
	for i := 0; i < 9; i++ {
		specs = append(specs, spec(netip.AddrFrom4([4]byte{239, 9, 0, byte(i + 1)}), false, 9))
	}
	specs = append(specs, spec(grp2, true), spec(netip.MustParseAddr("239.3.3.3"), true))
	tb := mustBuild(t, nil, DefaultLimits(), specs...)
	g1 := tb.Sender(1, grp1)

	if r := tb.HandleIGMP(src(5), v2msg(packet.IGMPv2MembershipReport, grp1), now); r.Joined != 1 {
		t.Fatalf("128th member refused: %+v", r)
	}
	if r := tb.HandleIGMP(src(6), v2msg(packet.IGMPv2MembershipReport, grp1), now); r.Refused != 1 || r.Joined != 0 {
		t.Fatalf("129th member: %+v", r)
	}
	// The 128th member may re-bind (it is already counted).
	moved := src(5)
	moved.Addr = addr(55)
	if r := tb.HandleIGMP(moved, v2msg(packet.IGMPv2MembershipReport, grp1), now); r.Joined != 1 {
		t.Errorf("re-bind at the limit: %+v", r)
	}
	if len(dynENIs(g1, now)) != 1 {
		t.Errorf("dynamic members %v", dynENIs(g1, now))
	}
	// eni-9: nine configured groups, the tenth by IGMP, not an eleventh.
	if r := tb.HandleIGMP(src(9), v2msg(packet.IGMPv2MembershipReport, grp2), now); r.Joined != 1 {
		t.Fatalf("10th group refused: %+v", r)
	}
	if r := tb.HandleIGMP(src(9), v3report(v3rec{modeIsExclude, netip.MustParseAddr("239.3.3.3"), 0}), now); r.Refused != 1 {
		t.Fatalf("11th group: %+v", r)
	}
	// After leaving one, the other fits.
	tb.HandleIGMP(src(9), v2msg(packet.IGMPv2LeaveGroup, grp2), now)
	if r := tb.HandleIGMP(src(9), v2msg(packet.IGMPv2MembershipReport, netip.MustParseAddr("239.3.3.3")), now); r.Joined != 1 {
		t.Fatalf("join after leave: %+v", r)
	}
}

// TestMembershipOutlivesTables: dynamic members and counters survive a
// rebuild with the same Membership (house rule 2); a member that became
// configured is reported once.
func TestMembershipOutlivesTables(t *testing.T) {
	const now = int64(1e12)
	ms := NewMembership()
	t1 := mustBuild(t, ms, DefaultLimits(), spec(grp1, true, 2))
	t1.HandleIGMP(src(5), v2msg(packet.IGMPv2MembershipReport, grp1), now)
	t1.Sender(1, grp1).Stats.PacketsIn.Add(3)

	t2 := mustBuild(t, ms, DefaultLimits(), spec(grp1, true, 2, 5))
	g := t2.Sender(1, grp1)
	if len(g.Dynamic()) != 1 || !g.IsConfigured(5) {
		t.Fatalf("dynamic %v", g.Dynamic())
	}
	if g.Stats.PacketsIn.Load() != 3 {
		t.Error("group counters did not survive the rebuild")
	}
	rep := t2.Report(now)
	if len(rep) != 1 || len(rep[0].Members) != 2 || rep[0].Members[1].ENI != "eni-5" || rep[0].Members[1].Dynamic {
		t.Fatalf("report %+v", rep)
	}
	t3 := mustBuild(t, ms, DefaultLimits(), spec(grp1, true, 2))
	rep = t3.Report(now + int64(time.Second))
	if len(rep[0].Members) != 2 || !rep[0].Members[1].Dynamic || rep[0].Members[1].ExpiresIn != MembershipInterval-time.Second {
		t.Fatalf("report %+v", rep[0].Members)
	}
}

// TestClientEntries: a member with client entries takes only matching
// traffic (M3 client), one without takes everything.
func TestClientEntries(t *testing.T) {
	srv := netip.MustParseAddr("192.168.1.10")
	s := spec(grp1, false, 2)
	s.Members = append(s.Members,
		MemberSpec{ENI: eni(3), Port: 3, Addr: addr(3), Filtered: true, Clients: []ClientSpec{{srv, 5000}}},
		MemberSpec{ENI: eni(4), Port: 4, Addr: addr(4), Filtered: true})
	tb := mustBuild(t, nil, DefaultLimits(), s)
	ms := tb.Sender(1, grp1).Members()
	cases := []struct {
		m     int
		src   netip.Addr
		dport uint16
		want  bool
	}{
		{0, srv, 1, true}, {1, srv, 5000, true}, {1, srv, 5001, false}, {1, addr(9), 5000, false}, {2, srv, 5000, false},
	}
	for _, c := range cases {
		cl, ok := ms[c.m].Accepts(c.src, c.dport)
		if ok != c.want || (ok && ms[c.m].Filtered && cl == nil) {
			t.Errorf("%s accepts %s:%d = %v, want %v", ms[c.m].ENI, c.src, c.dport, ok, c.want)
		}
	}
}

// TestZeroAllocs: the hot-path calls of a worker (lookup, member walk,
// counters) and a refreshing report allocate nothing (house rule 4).
func TestZeroAllocs(t *testing.T) {
	const now = int64(1e12)
	s := spec(grp1, true)
	for i := 0; i < 64; i++ {
		s.Members = append(s.Members, member(100+i))
	}
	tb := mustBuild(t, nil, DefaultLimits(), s)
	for i := 0; i < 64; i++ {
		tb.HandleIGMP(src(300+i), v2msg(packet.IGMPv2MembershipReport, grp1), now)
	}
	report := v3report(v3rec{modeIsExclude, grp1, 0})
	var sink int
	a := testing.AllocsPerRun(1000, func() {
		g := tb.Sender(1, grp1)
		var tally Tally
		tally.Bytes = 100
		for i := range g.Members() {
			m := &g.Members()[i]
			if _, ok := m.Accepts(addr(1), 5000); ok {
				m.Stats.Add(Delivered, 100, &tally)
			}
		}
		for _, m := range g.Dynamic() {
			if m.Live(now) && !g.IsConfigured(m.Port) {
				m.Stats.Add(DroppedSG, 100, &tally)
				sink++
			}
		}
		g.Stats.Record(&tally)
	})
	if a != 0 {
		t.Errorf("lookup and member walk allocate %.1f", a)
	}
	if sink == 0 {
		t.Fatal("no dynamic member walked")
	}
	from := src(300)
	a = testing.AllocsPerRun(1000, func() {
		if r := tb.HandleIGMP(from, report, now); r.Refreshed != 1 {
			t.Fatalf("refresh %+v", r)
		}
	})
	if a != 0 {
		t.Errorf("refreshing report allocates %.1f", a)
	}
	g := tb.Sender(1, grp1)
	if c := g.Stats.Load(); c.CopiesOut == 0 || c.DropsSG == 0 || c.PacketsIn == 0 {
		t.Errorf("counters %+v", c)
	}
}

// TestConcurrentMembership runs readers against joins, refreshes, leaves
// and expiry (run with -race).
func TestConcurrentMembership(t *testing.T) {
	ms := NewMembership()
	tb := mustBuild(t, ms, DefaultLimits(), spec(grp1, true, 2))
	g := tb.Sender(1, grp1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, m := range g.Dynamic() {
					if m.Live(5) {
						m.Stats.Add(Delivered, 1, &Tally{})
					}
				}
			}
		}()
	}
	join, leave := v2msg(packet.IGMPv2MembershipReport, grp1), v2msg(packet.IGMPv2LeaveGroup, grp1)
	var wwg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wwg.Add(1)
		go func(w int) {
			defer wwg.Done()
			for i := 0; i < 300; i++ {
				s := src(10 + (i+w)%20)
				if i%7 == 0 {
					tb.HandleIGMP(s, leave, int64(i))
				} else {
					tb.HandleIGMP(s, join, int64(i))
				}
				if i%50 == 0 {
					ms.Expire(int64(i))
				}
			}
		}(w)
	}
	wwg.Wait()
	close(stop)
	wg.Wait()
	seen := map[string]bool{}
	for _, m := range g.Dynamic() {
		if seen[m.ENI] {
			t.Errorf("%s listed twice", m.ENI)
		}
		seen[m.ENI] = true
	}
}
