package dataplane

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
	"github.com/vrouter/vrouter/dataplane/tun/tuntest"
)

var (
	mgroup = netip.MustParseAddr("239.1.1.1") // server → members, configured
	mdyn   = netip.MustParseAddr("239.9.9.9") // igmp: true, no configured member
	msrv   = netip.MustParseAddr("192.168.0.10")
)

// mcastNet is a hand-built snapshot with one VPC (192.168.0.0/16): the
// server on port 0, n members on ports 1..n (192.168.1.1…), and one more
// ENI (port n+1, 192.168.2.1) that is in no group. Group mgroup has the
// server and every member; group mdyn has the server, no configured member
// and igmp: true.
type mcastNet struct {
	s       *Snapshot
	ms      *mcast.Membership
	server  *Port
	members []*Port
	other   *Port
	devs    []*tuntest.Device
}

func memberAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{192, 168, 1 + byte(i/250), byte(1 + i%250)})
}

func newMcastNet(t testing.TB, n int) *mcastNet {
	t.Helper()
	m := &mcastNet{ms: mcast.NewMembership()}
	s := &Snapshot{HashSeed: 1, ICMPRate: 1e6, ICMPBurst: 1e6}
	vsw := NewVSwitch("vsw-all", netip.MustParsePrefix("192.168.0.0/16"), 0)
	s.VSwitches = []*VSwitch{vsw}
	tbl := fib.NewTable("vtb-sys")
	mustInsert(t, tbl, &fib.Route{Dst: vsw.Prefix, Type: fib.System, Action: fib.ActionLocal, VSwitch: 0})
	s.Routers = []*Router{{ID: "vrt-1", Zone: 1, System: tbl}}
	mk := func(name string, a netip.Addr) *Port {
		id := fib.PortID(len(s.Ports))
		dev := tuntest.New(name, 8)
		m.devs = append(m.devs, dev)
		p := &Port{ID: id, Name: name, Kind: PortENI, Table: tbl, Gateway: vsw.Gateway, MTU: 1500,
			Addrs: []netip.Addr{a}, SourceDestCheck: true, Counters: &stats.Port{}, Dev: dev}
		vsw.SetOwner(a, id)
		s.Ports = append(s.Ports, p)
		return p
	}
	m.server = mk("i-srv", msrv)
	spec := mcast.GroupSpec{VPC: "vpc-1", Addr: mgroup, Server: "i-srv", ServerPorts: []fib.PortID{m.server.ID}}
	for i := 0; i < n; i++ {
		p := mk(fmt.Sprintf("eni-m%d", i), memberAddr(i))
		m.members = append(m.members, p)
		spec.Members = append(spec.Members, mcast.MemberSpec{ENI: p.Name, Port: p.ID, Addr: p.Addrs[0]})
	}
	m.other = mk("eni-other", netip.MustParseAddr("192.168.200.1"))
	dyn := mcast.GroupSpec{VPC: "vpc-1", Addr: mdyn, Server: "i-srv", ServerPorts: []fib.PortID{m.server.ID}, IGMP: true}
	tb, err := mcast.Build(m.ms, mcast.Limits{MembersPerGroup: 4096, GroupsPerMember: 10}, []mcast.GroupSpec{spec, dyn})
	if err != nil {
		t.Fatal(err)
	}
	s.Mcast = tb
	m.s = s
	return m
}

func (m *mcastNet) worker(p *Port) (*Engine, *worker) {
	e := New()
	e.snap.Store(m.s)
	return e, newWorker(e, p.Dev, p.ID)
}

// send injects pkts at port p and runs one worker batch.
func (m *mcastNet) send(t testing.TB, w *worker, p *Port, hdr tun.VirtioNetHdr, pkts ...[]byte) {
	t.Helper()
	for _, pkt := range pkts {
		m.devs[p.ID].Inject(pkt, hdr)
	}
	cnt, err := w.dev.Read(w.bufs, w.sizes, Headroom)
	if err != nil {
		t.Fatal(err)
	}
	w.batch(m.s, cnt, time.Now().UnixNano())
}

func udpTo(t testing.TB, src, dst netip.Addr, dport uint16, ttl uint8) []byte {
	return buildPkt(t, src, dst, pktOpt{proto: "udp", sport: 40000, dport: dport, ttl: ttl})
}

// igmpPkt builds an IGMPv2 message from src (TTL 1, Router Alert).
func igmpPkt(t testing.TB, src netip.Addr, typ uint8, grp netip.Addr) []byte {
	t.Helper()
	msg := make([]byte, 8)
	msg[0] = typ
	a := grp.As4()
	copy(msg[4:], a[:])
	binary.BigEndian.PutUint16(msg[2:], packet.Checksum(msg, 0))
	dst := grp
	if typ == packet.IGMPv2LeaveGroup {
		dst = netip.MustParseAddr("224.0.0.2")
	}
	ip := &layers.IPv4{Version: 4, IHL: 6, TTL: 1, Protocol: layers.IPProtocolIGMP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
		Options: []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, gopacket.Payload(msg)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestMulticastDecision: the pure decision for packets to group addresses
// (M1, M5, F4).
func TestMulticastDecision(t *testing.T) {
	m := newMcastNet(t, 3)
	mem := m.members[0]
	cases := []struct {
		name   string
		in     *Port
		pkt    []byte
		want   Verdict
		reason stats.DropReason
		igmp   bool
		group  netip.Addr
	}{
		{"M1 server to its group", m.server, udpTo(t, msrv, mgroup, 5000, 64), VerdictMulticast, 0, false, mgroup},
		{"M1 TTL 1 is replicated", m.server, udpTo(t, msrv, mgroup, 5000, 1), VerdictMulticast, 0, false, mgroup},
		{"M1 a member is not a server", mem, udpTo(t, mem.Addrs[0], mgroup, 5000, 1), VerdictDrop, stats.DropMulticast, false, netip.Addr{}},
		{"M1 server to an unknown group", m.server, udpTo(t, msrv, netip.MustParseAddr("239.5.5.5"), 5000, 1), VerdictDrop, stats.DropMulticast, false, netip.Addr{}},
		{"M1 link-local multicast", m.server, udpTo(t, msrv, netip.MustParseAddr("224.0.0.251"), 5353, 1), VerdictDrop, stats.DropMulticast, false, netip.Addr{}},
		{"F4 spoofed server address", mem, udpTo(t, msrv, mgroup, 5000, 1), VerdictDrop, stats.DropSpoofed, false, netip.Addr{}},
		{"M5 IGMP report", m.other, igmpPkt(t, m.other.Addrs[0], packet.IGMPv2MembershipReport, mdyn), VerdictMulticast, 0, true, netip.Addr{}},
		{"M5 IGMP leave to 224.0.0.2", m.other, igmpPkt(t, m.other.Addrs[0], packet.IGMPv2LeaveGroup, mdyn), VerdictMulticast, 0, true, netip.Addr{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide(t, m.s, c.in, c.pkt)
			if d.Verdict != c.want || d.Reason != c.reason || d.IGMP != c.igmp {
				t.Fatalf("decision %v/%v igmp=%v, want %v/%v igmp=%v", d.Verdict, d.Reason, d.IGMP, c.want, c.reason, c.igmp)
			}
			if c.group.IsValid() && (d.Group == nil || d.Group.Addr != c.group) {
				t.Fatalf("group %v, want %v", d.Group, c.group)
			}
		})
	}
	// R7: a trace explains the multicast verdict.
	var p packet.Parsed
	pkt := udpTo(t, msrv, mgroup, 5000, 1)
	p.Decode(pkt)
	var tr Trace
	m.s.Forward(m.server, &p, len(pkt), nil, 0, &tr)
	if last := tr.Steps[len(tr.Steps)-1]; last.Stage != "multicast" || last.Result != "vpc-1/239.1.1.1/i-srv" {
		t.Errorf("trace %v", tr.Steps)
	}
}

// TestMulticastReplicates: every member gets the server's packet
// byte-for-byte (TTL and destination kept, M1), the sender and non-members
// get nothing, and every counter agrees (M6, R8).
func TestMulticastReplicates(t *testing.T) {
	m := newMcastNet(t, 3)
	_, w := m.worker(m.server)
	pkt := udpTo(t, msrv, mgroup, 5000, 1)
	m.send(t, w, m.server, tun.VirtioNetHdr{}, pkt, pkt)
	for _, p := range m.members {
		got := m.devs[p.ID].Written()
		if len(got) != 2 {
			t.Fatalf("%s got %d copies, want 2", p.Name, len(got))
		}
		if string(got[0].Data) != string(pkt) {
			t.Errorf("%s: copy differs from the original (TTL %d)", p.Name, got[0].Data[8])
		}
		if tx := p.Counters.TxPackets.Load(); tx != 2 {
			t.Errorf("%s tx %d", p.Name, tx)
		}
	}
	if n := len(m.devs[m.server.ID].Written()) + len(m.devs[m.other.ID].Written()); n != 0 {
		t.Errorf("sender or non-member got %d packets", n)
	}
	g := m.s.Mcast.Sender(m.server.ID, mgroup)
	want := mcast.GroupCounters{PacketsIn: 2, BytesIn: uint64(2 * len(pkt)), CopiesOut: 6, BytesOut: uint64(6 * len(pkt))}
	if c := g.Stats.Load(); c != want {
		t.Errorf("group counters %+v, want %+v", c, want)
	}
	for _, r := range m.s.Mcast.Report(0)[0].Members {
		if r.Counters.Copies != 2 {
			t.Errorf("member %s counters %+v", r.ENI, r.Counters)
		}
	}
	for i := range m.server.Counters.Drops {
		if m.server.Counters.Drops[i].Load() != 0 {
			t.Errorf("server port counted drop %v", stats.DropReason(i))
		}
	}
	// A server that is also listed as a member never gets its own copy.
	m.s.Mcast, _ = mcast.Build(m.ms, mcast.DefaultLimits(), []mcast.GroupSpec{{VPC: "vpc-1", Addr: mgroup, Server: "i-srv",
		ServerPorts: []fib.PortID{m.server.ID}, Members: []mcast.MemberSpec{{ENI: "i-srv", Port: m.server.ID, Addr: msrv}}}})
	m.send(t, w, m.server, tun.VirtioNetHdr{}, pkt)
	if n := len(m.devs[m.server.ID].Written()); n != 0 {
		t.Errorf("server got %d copies of its own packet", n)
	}
}

// TestMulticastSecurityGroups: a member whose ingress rules drop the
// group's port loses only its own copies, counted as sg_ingress on its port
// and in the group (M1, M6, S2); the server's egress rules apply too.
func TestMulticastSecurityGroups(t *testing.T) {
	m := newMcastNet(t, 3)
	m.s.SecurityGroups = true
	in := &secgroup.Input{Groups: map[string]*secgroup.Group{
		"sg-open": {ID: "sg-open", Rules: []secgroup.Rule{{Group: "sg-open", Direction: secgroup.Ingress, Policy: secgroup.Accept, Priority: 1,
			Proto: secgroup.ProtoAll, Peer: netip.MustParsePrefix("0.0.0.0/0")}}},
		"sg-no5000": {ID: "sg-no5000", Rules: []secgroup.Rule{
			{Group: "sg-no5000", Direction: secgroup.Ingress, Policy: secgroup.Drop, Priority: 1, Proto: secgroup.ProtoUDP, PortLo: 5000, PortHi: 5000, Peer: netip.MustParsePrefix("0.0.0.0/0")},
			{Group: "sg-no5000", Index: 1, Direction: secgroup.Ingress, Policy: secgroup.Accept, Priority: 2, Proto: secgroup.ProtoAll, Peer: netip.MustParsePrefix("0.0.0.0/0")}}},
		"sg-noout": {ID: "sg-noout", Rules: []secgroup.Rule{{Group: "sg-noout", Direction: secgroup.Egress, Policy: secgroup.Drop, Priority: 1,
			Proto: secgroup.ProtoUDP, PortLo: 6000, PortHi: 6000, Peer: netip.MustParsePrefix("224.0.0.0/4")}}},
	}}
	pol := func(g string) *secgroup.ENIPolicy {
		p, err := secgroup.Compile(in, []string{g})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, p := range m.members {
		p.Policy = pol("sg-open")
	}
	blocked := m.members[1]
	blocked.Policy = pol("sg-no5000")
	m.server.Policy = pol("sg-noout")
	_, w := m.worker(m.server)
	m.send(t, w, m.server, tun.VirtioNetHdr{}, udpTo(t, msrv, mgroup, 5000, 1), udpTo(t, msrv, mgroup, 5001, 1))
	for _, p := range m.members {
		want := 2
		if p == blocked {
			want = 1 // port 5001 only
		}
		if got := len(m.devs[p.ID].Written()); got != want {
			t.Errorf("%s got %d copies, want %d", p.Name, got, want)
		}
	}
	if v := blocked.Counters.EgressDrops[stats.DropSGIngress].Load(); v != 1 {
		t.Errorf("sg_ingress on %s = %d, want 1", blocked.Name, v)
	}
	c := m.s.Mcast.Sender(m.server.ID, mgroup).Stats.Load()
	if c.PacketsIn != 2 || c.CopiesOut != 5 || c.DropsSG != 1 || c.DropsPort != 0 {
		t.Errorf("group counters %+v", c)
	}
	// Egress: the server may not send to UDP 6000.
	m.send(t, w, m.server, tun.VirtioNetHdr{}, udpTo(t, msrv, mgroup, 6000, 1))
	if v := m.server.Counters.Drops[stats.DropSGEgress].Load(); v != 1 {
		t.Errorf("sg_egress %d", v)
	}
	for _, p := range m.members {
		if n := len(m.devs[p.ID].Written()); n != 0 {
			t.Errorf("%s got a packet its server may not send", p.Name)
		}
	}
}

// TestMulticastFullPort: a member port that refuses the write loses only
// its copy, counted as port_error on its port and in the group (P6: every
// copy delivered or counted); a copy above a member's MTU is counted too.
func TestMulticastFullPort(t *testing.T) {
	m := newMcastNet(t, 3)
	full, small := m.members[0], m.members[2]
	m.devs[full.ID].FailWrites(1, nil)
	small.MTU = 100
	_, w := m.worker(m.server)
	pkt := buildPkt(t, msrv, mgroup, pktOpt{proto: "udp", sport: 1, dport: 5000, size: 200, ttl: 1})
	m.send(t, w, m.server, tun.VirtioNetHdr{}, pkt)
	if n := len(m.devs[m.members[1].ID].Written()); n != 1 {
		t.Errorf("healthy member got %d copies", n)
	}
	if n := len(m.devs[full.ID].Written()) + len(m.devs[small.ID].Written()); n != 0 {
		t.Errorf("full/small members got %d copies", n)
	}
	if v := full.Counters.EgressDrops[stats.DropPortError].Load(); v != 1 {
		t.Errorf("port_error %d", v)
	}
	if v := small.Counters.EgressDrops[stats.DropFragNeeded].Load(); v != 1 {
		t.Errorf("frag_needed %d", v)
	}
	c := m.s.Mcast.Sender(m.server.ID, mgroup).Stats.Load()
	if c.CopiesOut != 1 || c.DropsPort != 1 || c.DropsTooBig != 1 || c.CopiesOut+c.DropsPort+c.DropsTooBig+c.DropsSG != 3 {
		t.Errorf("group counters %+v", c)
	}
}

// TestMulticastIGMP: an ENI joins an igmp: true group with a report,
// receives the server's packets, and stops after a leave (M5); IGMP is never
// forwarded nor counted as a drop.
func TestMulticastIGMP(t *testing.T) {
	m := newMcastNet(t, 1)
	_, ws := m.worker(m.server)
	_, wo := m.worker(m.other)
	send := func() int {
		m.send(t, ws, m.server, tun.VirtioNetHdr{}, udpTo(t, msrv, mdyn, 5000, 1))
		return len(m.devs[m.other.ID].Written())
	}
	if n := send(); n != 0 {
		t.Fatalf("non-member got %d", n)
	}
	me := m.other.Addrs[0]
	m.send(t, wo, m.other, tun.VirtioNetHdr{}, igmpPkt(t, me, packet.IGMPv2MembershipReport, mdyn))
	if n := send(); n != 1 {
		t.Fatalf("joined member got %d", n)
	}
	if n := len(m.devs[m.members[0].ID].Written()); n != 0 {
		t.Errorf("configured member of another group got %d", n)
	}
	m.send(t, wo, m.other, tun.VirtioNetHdr{}, igmpPkt(t, me, packet.IGMPv2LeaveGroup, mdyn))
	if n := send(); n != 0 {
		t.Fatalf("member that left got %d", n)
	}
	for i := range m.other.Counters.Drops {
		if m.other.Counters.Drops[i].Load() != 0 {
			t.Errorf("IGMP counted as drop %v", stats.DropReason(i))
		}
	}
	if c := m.ms.IGMPCounters(); c.Joins != 1 || c.Leaves != 1 {
		t.Errorf("IGMP counters %+v", c)
	}
	// A report for a group that is not igmp-enabled joins nothing.
	m.send(t, wo, m.other, tun.VirtioNetHdr{}, igmpPkt(t, me, packet.IGMPv2MembershipReport, mgroup))
	m.send(t, ws, m.server, tun.VirtioNetHdr{}, udpTo(t, msrv, mgroup, 5000, 1))
	if n := len(m.devs[m.other.ID].Written()); n != 0 {
		t.Errorf("joined a configured-only group")
	}
}

// TestMulticastPartialChecksum: a packet with a partial checksum (vnet
// header NEEDS_CSUM) reaches a member without a vnet header with a correct
// checksum, and every other member with the same bytes.
func TestMulticastPartialChecksum(t *testing.T) {
	m := newMcastNet(t, 3)
	m.devs[m.members[1].ID].SetVnetHdr(false)
	pkt := udpTo(t, msrv, mgroup, 5000, 1)
	// Replace the UDP checksum by the pseudo-header sum, as a guest with
	// checksum offload sends it.
	l4 := 20
	partial := packet.Sum(nil, packet.PseudoHeaderSum(packet.ProtoUDP, msrv, mgroup, len(pkt)-l4))
	binary.BigEndian.PutUint16(pkt[l4+6:], uint16(partial))
	hdr := tun.VirtioNetHdr{Flags: tun.VirtioNetHdrFNeedsCsum, CsumStart: uint16(l4), CsumOffset: 6}
	_, w := m.worker(m.server)
	m.send(t, w, m.server, hdr, pkt)
	var first []byte
	for _, p := range m.members {
		got := m.devs[p.ID].Written()
		if len(got) != 1 {
			t.Fatalf("%s got %d", p.Name, len(got))
		}
		pk := gopacket.NewPacket(got[0].Data, layers.LayerTypeIPv4, gopacket.Default)
		udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil {
			t.Fatalf("%s: no UDP", p.Name)
		}
		sum := packet.Checksum(got[0].Data[l4:], packet.PseudoHeaderSum(packet.ProtoUDP, msrv, mgroup, len(got[0].Data)-l4))
		if sum != 0 {
			t.Errorf("%s: UDP checksum does not verify", p.Name)
		}
		if first != nil && string(first) != string(got[0].Data) {
			t.Errorf("%s: copies differ", p.Name)
		}
		first = got[0].Data
	}
}

// TestMulticastZeroAllocs enforces house rule 4 for replication: the
// worker path allocates nothing per packet or per copy (M1, P6).
func TestMulticastZeroAllocs(t *testing.T) {
	m := newMcastNet(t, 16)
	for _, d := range m.devs {
		d.SetWriteHook(func([]byte, tun.VirtioNetHdr) {})
	}
	// One dynamic member too.
	src := mcast.Source{Port: m.other.ID, ENI: m.other.Name, Addr: m.other.Addrs[0]}
	pkt := igmpPkt(t, m.other.Addrs[0], packet.IGMPv2MembershipReport, mdyn)
	var p packet.Parsed
	p.Decode(pkt)
	m.s.Mcast.HandleIGMP(src, pkt[p.L4Off:p.TotalLen], time.Now().UnixNano())

	_, ws := m.worker(m.server)
	_, wo := m.worker(m.other)
	cases := []struct {
		name string
		port *Port
		w    *worker
		data []byte
	}{
		{"configured members", m.server, ws, udpTo(t, msrv, mgroup, 5000, 1)},
		{"dynamic member", m.server, ws, udpTo(t, msrv, mdyn, 5000, 1)},
		{"dropped mDNS", m.server, ws, udpTo(t, msrv, netip.MustParseAddr("224.0.0.251"), 5353, 1)},
		{"IGMP refresh", m.other, wo, pkt},
	}
	for _, c := range cases {
		in := m.devs[c.port.ID]
		// Warm up: every slot of the fake's 1,024-packet ring allocates
		// its buffer once.
		for i := 0; i < 1100; i++ {
			in.Inject(c.data, tun.VirtioNetHdr{})
			cnt, _ := c.w.dev.Read(c.w.bufs, c.w.sizes, Headroom)
			c.w.batch(m.s, cnt, time.Now().UnixNano())
		}
		if a := testing.AllocsPerRun(500, func() {
			in.Inject(c.data, tun.VirtioNetHdr{})
			cnt, _ := c.w.dev.Read(c.w.bufs, c.w.sizes, Headroom)
			c.w.batch(m.s, cnt, time.Now().UnixNano())
		}); a != 0 {
			t.Errorf("%s: %.1f allocations per packet", c.name, a)
		}
	}
	if c := m.s.Mcast.Sender(m.server.ID, mdyn).Stats.Load(); c.CopiesOut == 0 {
		t.Error("dynamic member got no copy")
	}
}

// TestIGMPQueries: the querier sends an IGMPv3 general query from the
// VSwitch gateway to every ENI of a VPC with an igmp group (M5).
func TestIGMPQueries(t *testing.T) {
	m := newMcastNet(t, 2)
	e := New()
	e.snap.Store(m.s)
	sent := e.SendIGMPQueries(func(name string) bool { return name != m.members[1].Name })
	if len(sent) != len(m.s.Ports)-1 {
		t.Fatalf("queried %v", sent)
	}
	got := m.devs[m.other.ID].Written()
	if len(got) != 1 {
		t.Fatalf("other got %d queries", len(got))
	}
	var p packet.Parsed
	if p.Decode(got[0].Data) != packet.OK || p.Src != m.other.Gateway || p.Dst != mcast.AllSystems || p.TTL != 1 || p.IGMPType != packet.IGMPMembershipQuery {
		t.Errorf("query %v", &p)
	}
	if n := len(m.devs[m.members[1].ID].Written()); n != 0 {
		t.Errorf("port not due got %d", n)
	}
	// No igmp group: no query.
	m.s.Mcast, _ = mcast.Build(m.ms, mcast.DefaultLimits(), nil)
	if sent := e.SendIGMPQueries(nil); len(sent) != 0 {
		t.Errorf("queried %v without igmp groups", sent)
	}
}

// BenchmarkMulticast128 measures replication of one group to 128 members
// through the in-memory TUN fake (P6) against the write floor: one
// single-packet Write to a fake device, measured in the same run. It
// reports copies/s, ns/copy and the ratio copies/s ÷ (1 / floor).
func BenchmarkMulticast128(b *testing.B) {
	m := newMcastNet(b, 128)
	for _, d := range m.devs {
		d.SetWriteHook(func([]byte, tun.VirtioNetHdr) {})
	}
	data := udpTo(b, msrv, mgroup, 5000, 1)

	// Floor: the cost of one TUN write on the same fake.
	floorDev := m.devs[m.members[0].ID]
	buf := make([]byte, Headroom+len(data))
	copy(buf[Headroom:], data)
	one := [][]byte{buf}
	const floorN = 200000
	start := time.Now()
	for i := 0; i < floorN; i++ {
		floorDev.Write(one, Headroom)
	}
	floor := time.Since(start) / floorN

	_, w := m.worker(m.server)
	in := m.devs[m.server.ID]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in.Inject(data, tun.VirtioNetHdr{})
		cnt, _ := w.dev.Read(w.bufs, w.sizes, Headroom)
		w.batch(m.s, cnt, 1)
	}
	b.StopTimer()
	copies := float64(b.N) * 128
	perCopy := b.Elapsed().Seconds() / copies
	b.ReportMetric(copies/b.Elapsed().Seconds(), "copies/s")
	b.ReportMetric(perCopy*1e9, "ns/copy")
	b.ReportMetric(float64(floor.Nanoseconds())/(perCopy*1e9), "ratio-to-write-floor")
	if c := m.s.Mcast.Sender(m.server.ID, mgroup).Stats.Load(); c.CopiesOut != uint64(b.N)*128 {
		b.Fatalf("copies %d, want %d", c.CopiesOut, b.N*128)
	}
}

// TestIGMPQuerierLoop: the querier queries a new port at once and again
// after the startup interval only (RFC 3376 8.6), and expires members that
// stopped reporting (M5).
func TestIGMPQuerierLoop(t *testing.T) {
	m := newMcastNet(t, 1)
	m.ms.SetMembershipInterval(time.Millisecond)
	src := mcast.Source{Port: m.other.ID, ENI: m.other.Name, Addr: m.other.Addrs[0]}
	pkt := igmpPkt(t, m.other.Addrs[0], packet.IGMPv2MembershipReport, mdyn)
	var p packet.Parsed
	p.Decode(pkt)
	if r := m.s.Mcast.HandleIGMP(src, pkt[p.L4Off:p.TotalLen], time.Now().UnixNano()); r.Joined != 1 {
		t.Fatalf("join %+v", r)
	}
	e := New()
	e.snap.Store(m.s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.RunIGMPQuerier(ctx, 5*time.Millisecond)
	}()
	got, err := m.devs[m.other.ID].WaitWritten(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(m.s.Mcast.Sender(m.server.ID, mdyn).Dynamic()) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // ten more ticks: no second query before 31 s
	cancel()
	<-done
	got = append(got, m.devs[m.other.ID].Written()...)
	if len(got) != 1 {
		t.Errorf("%d queries in the first ticks, want 1", len(got))
	}
	if n := len(m.s.Mcast.Sender(m.server.ID, mdyn).Dynamic()); n != 0 {
		t.Errorf("%d dynamic members left after their interval", n)
	}
	if c := m.ms.IGMPCounters(); c.Expired != 1 {
		t.Errorf("expired %d", c.Expired)
	}
}
