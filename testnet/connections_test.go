package testnet

// Connection scenarios of SPEC §7 (C1–C4, with F11 and S2), run against the
// real vrouterd. VPC instances live in namespaces vrouterd creates
// (Prefix()+"-…"); the outside networks of external ports — the IDC behind
// VBR leased lines, the remote network behind a VPN gateway — are
// namespaces the test creates with NewNS, where vrouterd places its port
// TUN; the test then adds the addresses and routes a data centre would add
// there (routes inside outside namespaces are the user's).
//
// Helpers here carry a "cn" prefix. The tests do not run in parallel: each
// registers CleanupPrefix, which sweeps the test process's namespaces once
// vrouterd has stopped.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// cnExample returns configs/NAME with every `netns: vr-X` renamed to the
// test process's Prefix()+"-X", so the shipped examples run as written.
func cnExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../configs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "netns: vr-", "netns: "+Prefix()+"-")
}

// cnOutside creates the outside namespace Prefix()+base for an external
// port before vrouterd starts, with reverse-path filtering off (a data
// centre with two leased lines receives on either).
func cnOutside(t *testing.T, base string) string {
	t.Helper()
	ns := NewNS(t, base)
	for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"} {
		if err := Sysctl(ns, k, "0"); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

// cnRoute adds a device route to dst out of ifname in ns with the given
// metric, as a data centre routes toward the cloud over its leased lines.
func cnRoute(t *testing.T, ns string, dst netip.Prefix, ifname string, metric int) {
	t.Helper()
	err := withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		return h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_LINK, Priority: metric,
			Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}})
	})
	if err != nil {
		t.Fatalf("route %s dev %s metric %d in %s: %v", dst, ifname, metric, ns, err)
	}
}

// cnLocal gives ns the host addresses (as /32 on lo) of the network behind
// the port.
func cnLocal(t *testing.T, ns string, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if err := AddrAdd(ns, "lo", netip.PrefixFrom(ip4(a), 32)); err != nil {
			t.Fatal(err)
		}
	}
}

// cnIfIndex is the index of ifname inside ns.
func cnIfIndex(t *testing.T, ns, ifname string) int {
	t.Helper()
	var idx int
	err := withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		idx = l.Attrs().Index
		return nil
	})
	if err != nil {
		t.Fatalf("%s/%s: %v", ns, ifname, err)
	}
	return idx
}

// cnPing pings dst from ns (optionally from src) count times and returns
// the result; it fails the test only when the ping cannot be run.
func cnPing(t *testing.T, ns, src, dst string, count int) PingResult {
	t.Helper()
	o := PingOpts{Count: count, Interval: 10 * time.Millisecond, Timeout: time.Second}
	if src != "" {
		o.Src = ip4(src)
	}
	res, err := Ping(ns, ip4(dst), o)
	if err != nil {
		t.Fatalf("ping %s from %s: %v", dst, ns, err)
	}
	return res
}

// cnPingOK fails unless every request is answered, each reply with TTL
// 64 − hops (F6: one decrement per VRouter or VBR crossed, C1).
func cnPingOK(t *testing.T, what, ns, src, dst string, hops int) {
	t.Helper()
	res := cnPing(t, ns, src, dst, 3)
	if res.Received != 3 || len(res.Errors) != 0 {
		t.Fatalf("%s: ping %s from %s: %d/%d replies, errors %v", what, dst, ns, res.Received, res.Sent, res.Errors)
	}
	for _, ttl := range res.ReplyTTLs {
		if ttl != 64-hops {
			t.Errorf("%s: reply TTL %d, want %d (%d routers crossed)", what, ttl, 64-hops, hops)
		}
	}
}

// cnPingFails fails if any request is answered; it returns the ICMP errors
// that came back.
func cnPingFails(t *testing.T, what, ns, src, dst string) []ICMPError {
	t.Helper()
	res := cnPing(t, ns, src, dst, 2)
	if res.Received != 0 {
		t.Fatalf("%s: ping %s from %s answered (%d/%d), want no reply", what, dst, ns, res.Received, res.Sent)
	}
	return res.Errors
}

// cnMetric scrapes one sample sum (see metricSum) and fails when no sample
// matches.
func cnMetric(t *testing.T, d *Daemon, name string, labels ...string) float64 {
	t.Helper()
	text, err := d.Metrics()
	if err != nil {
		t.Fatalf("scrape /metrics: %v", err)
	}
	v, ok := nhMetricValue(text, name, labels...)
	if !ok {
		t.Fatalf("no %s%v sample in /metrics:\n%s", name, labels, metricLines(text, name))
	}
	return v
}

// TestC1RouterInterfacesNeedBothRoutes runs configs/two-vpcs-router-
// interfaces.yaml: with only VPC1's route the request reaches VPC2 but the
// reply is unrouted there (no reply, and VPC2's no_route counter moves);
// after a reload with both routes, pings work both ways and cross two
// VRouters (TTL 62).
func TestC1RouterInterfacesNeedBothRoutes(t *testing.T) {
	full := cnExample(t, "two-vpcs-router-interfaces.yaml")
	back := "          - {dst: 192.168.0.0/16, next_hop: ri-vpc2}\n"
	if !strings.Contains(full, back) {
		t.Fatal("example changed: no VPC2 route line")
	}
	oneSided := strings.Replace(full, back, "", 1)
	d := startScenario(t, oneSided)
	one, two := Prefix()+"-one", Prefix()+"-two"

	noRoute0 := metric(t, d, "vrouter_drops_total", "port=i-two", "reason=no_route")
	cnPingFails(t, "one-sided (C1)", one, "", "172.16.1.10")
	if v := waitMetric(t, d, atLeast(noRoute0+2), "vrouter_drops_total", "port=i-two", "reason=no_route"); v < noRoute0+2 {
		t.Errorf("VPC2's replies were not dropped as unrouted: no_route{port=i-two} %v → %v", noRoute0, v)
	}
	errs := cnPingFails(t, "one-sided, reverse", two, "", "192.168.1.10")
	if len(errs) == 0 || errs[0].Type != icmpUnreachable || errs[0].Code != 0 || errs[0].From != ip4("172.16.1.253") {
		t.Errorf("VPC2 without a route: want net unreachable from 172.16.1.253, got %v", errs)
	}

	if err := d.WriteConfig(full); err != nil {
		t.Fatal(err)
	}
	if out, err := d.Ctl("reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	cnPingOK(t, "both routes", one, "", "172.16.1.10", 2)
	cnPingOK(t, "both routes, reverse", two, "", "192.168.1.10", 2)
}

// TestC1F11SameCIDRIsolated: two unconnected VPCs using the same range
// (even the same address, 192.168.1.10) never exchange a packet (F11).
func TestC1F11SameCIDRIsolated(t *testing.T) {
	d := startScenario(t, `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
    security_groups:
      - id: sg-a
        rules:
          - {direction: ingress, policy: accept, protocol: all, source_cidr: 0.0.0.0/0}
  - id: vpc-b
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-b, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
    security_groups:
      - id: sg-b
        rules:
          - {direction: ingress, policy: accept, protocol: all, source_cidr: 0.0.0.0/0}
instances:
  - {id: i-a1, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-a], netns: "{P}-a1"}
  - {id: i-b1, vswitch: vsw-b, ip: 192.168.1.10, security_groups: [sg-b], netns: "{P}-b1"}
  - {id: i-b2, vswitch: vsw-b, ip: 192.168.1.20, security_groups: [sg-b], netns: "{P}-b2"}
`)
	_ = d
	a1, b1, b2 := Prefix()+"-a1", Prefix()+"-b1", Prefix()+"-b2"
	errs := cnPingFails(t, "A to an address only B uses", a1, "", "192.168.1.20")
	if len(errs) == 0 || errs[0].Type != icmpUnreachable || errs[0].Code != 1 || errs[0].From != ip4("192.168.1.253") {
		t.Errorf("want host unreachable from A's gateway, got %v", errs)
	}
	cnPingOK(t, "inside B", b2, "", "192.168.1.10", 1)

	// UDP from B2 to 192.168.1.10 reaches B1 and never A1.
	sinks := map[string]*cnSink{}
	for _, ns := range []string{a1, b1} {
		sinks[ns] = cnListen(t, ns, "192.168.1.10:9000", nil)
	}
	c, err := DialUDP(b2, "", "192.168.1.10:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 20; i++ {
		if _, err := c.Write([]byte("isolation")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := sinks[b1].firstAfter(time.Time{}, -1, 2*time.Second); !ok {
		t.Fatal("B1 received nothing from B2")
	}
	time.Sleep(200 * time.Millisecond)
	if n := sinks[a1].count(-1); n != 0 {
		t.Errorf("F11: A1 received %d datagrams sent inside VPC B", n)
	}
}

// cnSink records the UDP datagrams a socket receives, with the interface
// each arrived on (IP_PKTINFO).
type cnSink struct {
	mu      sync.Mutex
	recs    []cnDatagram
	changed chan struct{}
}

type cnDatagram struct {
	at      time.Time
	ifindex int
}

// cnListen binds addr in ns and records every datagram; with pktinfo set
// it records the ingress interface too.
func cnListen(t *testing.T, ns, addr string, pktinfo *bool) *cnSink {
	t.Helper()
	c, err := ListenUDP(ns, addr)
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) }); err != nil || serr != nil {
		t.Fatalf("IP_PKTINFO: %v %v", err, serr)
	}
	s := &cnSink{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf, oob := make([]byte, 2048), make([]byte, 256)
		for {
			_, oobn, _, _, err := c.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return
			}
			dg := cnDatagram{at: time.Now(), ifindex: -1}
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= 4 {
						dg.ifindex = int(int32(binary.NativeEndian.Uint32(m.Data[:4])))
					}
				}
			}
			s.mu.Lock()
			s.recs = append(s.recs, dg)
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

// count is the number of datagrams received on ifindex (-1: any).
func (s *cnSink) count(ifindex int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.recs {
		if ifindex < 0 || r.ifindex == ifindex {
			n++
		}
	}
	return n
}

// firstAfter waits up to timeout for a datagram received after t0 on
// ifindex (-1: any).
func (s *cnSink) firstAfter(t0 time.Time, ifindex int, timeout time.Duration) (cnDatagram, bool) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for _, r := range s.recs {
			if r.at.After(t0) && (ifindex < 0 || r.ifindex == ifindex) {
				s.mu.Unlock()
				return r, true
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return cnDatagram{}, false
		}
	}
}

// cnVBRConfig: vpc-cloud reaches the IDC (10.0.0.0/8) over router
// interfaces toward two VBRs whose leased lines end in the same IDC
// namespace (ll0: 192.0.2.1–.2, ll1: 192.0.2.5–.6), active/standby with a
// fast health check (C2). sg-cloud admits ICMP from 10.1.1.0/24 only.
const cnVBRConfig = `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-cloud
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-cloud, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
    route_tables:
      - id: vtb-cloud
        type: system
        routes:
          - dst: 10.0.0.0/8
            next_hops: [{id: ri-c1, weight: 100}, {id: ri-c2, weight: 0}]
            health_check: {interval: 200ms, timeout: 150ms, failures: 3, successes: 3}
    security_groups:
      - id: sg-cloud
        rules:
          - {direction: ingress, policy: accept, protocol: icmp, source_cidr: 10.1.1.0/24}
vbrs:
  - id: vbr-one
    port: {netns: "{P}-idc", ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.2}
    routes:
      - {dst: 10.0.0.0/8, next_hop: leased_line}
      - {dst: 192.168.0.0/16, next_hop: ri-v1}
  - id: vbr-two
    port: {netns: "{P}-idc", ifname: ll1, ip: 192.0.2.5, peer_ip: 192.0.2.6}
    routes:
      - {dst: 10.0.0.0/8, next_hop: leased_line}
      - {dst: 192.168.0.0/16, next_hop: ri-v2}
router_interfaces:
  - {id: ri-c1, vpc: vpc-cloud, peer: ri-v1}
  - {id: ri-v1, vbr: vbr-one, peer: ri-c1}
  - {id: ri-c2, vpc: vpc-cloud, peer: ri-v2}
  - {id: ri-v2, vbr: vbr-two, peer: ri-c2}
instances:
  - {id: i-cloud, vswitch: vsw-cloud, ip: 192.168.1.10, security_groups: [sg-cloud], netns: "{P}-cloud"}
`

// TestC2VBRExample runs configs/vbr-idc.yaml: the VPC reaches the IDC
// through the VBR and back; the IDC reaches the VPC; the router end of
// the leased line answers the IDC.
func TestC2VBRExample(t *testing.T) {
	RequireRoot(t)
	CleanupPrefix(t)
	idc := cnOutside(t, "-idc")
	d := StartVrouterd(t, cnExample(t, "vbr-idc.yaml"))
	if d.Ports != 2 {
		t.Errorf("ready with %d ports, want 2 (i-cloud, vbr-idc)", d.Ports)
	}
	cnLocal(t, idc, "10.1.1.1")
	cnRoute(t, idc, netip.MustParsePrefix("192.168.0.0/16"), "ll0", 0)
	cloud := Prefix() + "-cloud"
	cnPingOK(t, "VPC to IDC (C2)", cloud, "", "10.1.1.1", 2)
	cnPingOK(t, "IDC to VPC", idc, "10.1.1.1", "192.168.1.10", 2)
	cnPingOK(t, "router end of the leased line", idc, "", "192.0.2.1", 0)
}

// TestC2VBRFailover: the VPC reaches the IDC through the active VBR and
// back (S2: ENI-side checks only, stateful); the IDC opens flows only from
// sources sg-cloud admits; when the active leased line goes down in the
// IDC, traffic takes the standby VBR within the health-check bound of F9
// (failures × interval + timeout + 100 ms).
func TestC2VBRFailover(t *testing.T) {
	const (
		interval = 200 * time.Millisecond
		timeout  = 150 * time.Millisecond
		failures = 3
	)
	RequireRoot(t)
	CleanupPrefix(t)
	idc := cnOutside(t, "-idc")
	d := StartVrouterd(t, scenarioConfig(cnVBRConfig))
	cnLocal(t, idc, "10.1.1.1", "10.9.9.9")
	cnRoute(t, idc, netip.MustParsePrefix("192.168.0.0/16"), "ll0", 100)
	cnRoute(t, idc, netip.MustParsePrefix("192.168.0.0/16"), "ll1", 200)
	ll0, ll1 := cnIfIndex(t, idc, "ll0"), cnIfIndex(t, idc, "ll1")
	cloud := Prefix() + "-cloud"

	// Both VBRs answer their probes (C2: peer_ip through the leased line).
	deadline := time.Now().Add(5 * time.Second)
	for {
		up1 := cnMetric(t, d, "vrouter_nexthop_up", "table=vtb-cloud", "next_hop=ri-c1")
		up2 := cnMetric(t, d, "vrouter_nexthop_up", "table=vtb-cloud", "next_hop=ri-c2")
		if up1 == 1 && up2 == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router interfaces not up: ri-c1 %v ri-c2 %v", up1, up2)
		}
		time.Sleep(100 * time.Millisecond)
	}

	cnPingOK(t, "VPC to IDC", cloud, "", "10.1.1.1", 2)
	cnPingOK(t, "IDC to VPC, admitted source", idc, "10.1.1.1", "192.168.1.10", 2)
	cnPingFails(t, "IDC to VPC, source outside sg-cloud (S2)", idc, "10.9.9.9", "192.168.1.10")
	// The VPC may open flows toward the source sg-cloud refuses: its
	// replies come back through the tracked flow (S1, S2).
	cnPingOK(t, "VPC to the refused source", cloud, "", "10.9.9.9", 2)
	cnPingOK(t, "router end of a leased line", idc, "", "192.0.2.5", 0)

	// Stream UDP from the VPC into the IDC; everything takes ll0.
	sink := cnListen(t, idc, "10.1.1.1:9000", nil)
	c, err := DialUDP(cloud, "", "10.1.1.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var seq uint32
		b := make([]byte, 8)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			seq++
			binary.BigEndian.PutUint32(b, seq)
			c.Write(b) // errors (an ICMP error during failover) are fine
		}
	}()
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); <-stopped; c.Close() }) }
	t.Cleanup(halt)
	if _, ok := sink.firstAfter(time.Time{}, ll0, 3*time.Second); !ok {
		t.Fatal("nothing reached the IDC over ll0")
	}
	time.Sleep(300 * time.Millisecond)
	if n := sink.count(ll1); n != 0 {
		t.Fatalf("the standby leased line carried %d datagrams while the active one is healthy (F9)", n)
	}

	// The first leased line fails in the IDC.
	mark := d.LogMark()
	down := time.Now()
	if err := nhSetLink(idc, "ll0", false); err != nil {
		t.Fatal(err)
	}
	bound := failures*interval + timeout + 100*time.Millisecond
	first, ok := sink.firstAfter(down, ll1, bound+3*time.Second)
	if !ok {
		t.Fatalf("no datagram over ll1 within %v of taking ll0 down", bound+3*time.Second)
	}
	failover := first.at.Sub(down)
	t.Logf("C2 failover: first datagram over the standby VBR %v after ll0 went down (bound %v)", failover.Round(time.Millisecond), bound)
	if failover > bound {
		t.Errorf("failover took %v, want ≤ failures×interval + timeout + 100ms = %v (C2, F9)", failover.Round(time.Millisecond), bound)
	}
	if _, err := d.WaitLog(mark, "next hop down", 2*time.Second); err != nil {
		t.Error(err)
	}
	halt()
	if v := cnMetric(t, d, "vrouter_nexthop_up", "table=vtb-cloud", "next_hop=ri-c1"); v != 0 {
		t.Errorf("ri-c1 up = %v after its leased line went down", v)
	}
	cnPingOK(t, "VPC to IDC over the standby", cloud, "", "10.1.1.1", 2)
	cnPingOK(t, "IDC to VPC over the standby", idc, "10.1.1.1", "192.168.1.10", 2)
}

// TestC3VPNGateway runs configs/vpn-gateway.yaml: a route to vpn-branch
// reaches the remote namespace; packets from it enter the VPC unchanged and
// meet i-hq's ingress groups (ICMP and TCP 443 from 10.20.0.0/16 only).
func TestC3VPNGateway(t *testing.T) {
	RequireRoot(t)
	CleanupPrefix(t)
	branch := cnOutside(t, "-branch")
	d := StartVrouterd(t, cnExample(t, "vpn-gateway.yaml"))
	_ = d
	cnLocal(t, branch, "10.20.1.1", "10.30.1.1")
	cnRoute(t, branch, netip.MustParsePrefix("172.16.0.0/16"), "vpn0", 0)
	hq := Prefix() + "-hq"

	cnPingOK(t, "VPC to the remote network (C3)", hq, "", "10.20.1.1", 1)
	cnPingOK(t, "remote network to the VPC", branch, "10.20.1.1", "172.16.1.10", 1)
	cnPingFails(t, "source outside sg-hq", branch, "10.30.1.1", "172.16.1.10")
	cnPingOK(t, "router end of the VPN port", branch, "", "198.51.100.1", 0)

	l, err := ListenTCP(hq, "172.16.1.10:443")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hq\n"))
			c.Close()
		}
	}()
	l22, err := ListenTCP(hq, "172.16.1.10:22")
	if err != nil {
		t.Fatal(err)
	}
	defer l22.Close()
	var c net.Conn
	err = InNS(branch, func() (err error) {
		dl := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: ip4("10.20.1.1").AsSlice()}}
		c, err = dl.Dial("tcp", "172.16.1.10:443")
		return err
	})
	if err != nil {
		t.Fatalf("TCP 443 from the branch: %v", err)
	}
	buf := make([]byte, 3)
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(buf); err != nil || string(buf) != "hq\n" {
		t.Errorf("TCP 443 from the branch: read %q %v", buf, err)
	}
	c.Close()
	err = InNS(branch, func() (err error) {
		dl := net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: ip4("10.20.1.1").AsSlice()}}
		c, err = dl.Dial("tcp", "172.16.1.10:22")
		return err
	})
	if err == nil {
		c.Close()
		t.Error("TCP 22 from the branch connected; sg-hq admits only 443 and ICMP (C3, S2)")
	}
}

// cnCENConfig: four VPCs in one CEN. vpc-a, vpc-b and vpc-c learn each
// other's VSwitches; vpc-c and vpc-d both announce 10.9.9.0/24, which is
// therefore installed nowhere and reported (C4).
const cnCENConfig = `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
    security_groups:
      - id: sg-a
        rules:
          - {direction: ingress, policy: accept, protocol: icmp, source_cidr: 0.0.0.0/0}
  - id: vpc-b
    cidr: 172.16.0.0/12
    vswitches:
      - {id: vsw-b, zone: cn-hangzhou-b, cidr: 172.16.1.0/24}
    security_groups:
      - id: sg-b
        rules:
          - {direction: ingress, policy: accept, protocol: icmp, source_cidr: 0.0.0.0/0}
  - id: vpc-c
    cidr: 10.0.0.0/8
    vswitches:
      - {id: vsw-c, zone: cn-hangzhou-b, cidr: 10.1.0.0/16}
      - {id: vsw-c9, zone: cn-hangzhou-b, cidr: 10.9.9.0/24}
    security_groups:
      - id: sg-c
        rules:
          - {direction: ingress, policy: accept, protocol: icmp, source_cidr: 0.0.0.0/0}
  - id: vpc-d
    cidr: 10.9.0.0/16
    vswitches:
      - {id: vsw-d, zone: cn-hangzhou-b, cidr: 10.9.9.0/24}
    security_groups:
      - id: sg-d
        rules:
          - {direction: ingress, policy: accept, protocol: icmp, source_cidr: 0.0.0.0/0}
cens:
  - {id: cen-x, attachments: [vpc-a, vpc-b, vpc-c, vpc-d]}
instances:
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-a], netns: "{P}-a"}
  - {id: i-b, vswitch: vsw-b, ip: 172.16.1.10, security_groups: [sg-b], netns: "{P}-b"}
  - {id: i-c, vswitch: vsw-c, ip: 10.1.0.10, security_groups: [sg-c], netns: "{P}-c"}
  - {id: i-c9, vswitch: vsw-c9, ip: 10.9.9.10, security_groups: [sg-c], netns: "{P}-c9"}
  - {id: i-d, vswitch: vsw-d, ip: 10.9.9.20, security_groups: [sg-d], netns: "{P}-d"}
`

// TestC4CENLearning: CEN-learned routes appear (describe-route-entry-list,
// type CEN) and carry traffic between three VPCs; the conflicting
// 10.9.9.0/24 is logged and installed for none.
func TestC4CENLearning(t *testing.T) {
	d := startScenario(t, cnCENConfig)
	e, err := d.WaitLog(0, "cen route conflict", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e["cen"] != "cen-x" || e["dst"] != "10.9.9.0/24" || fmt.Sprint(e["attachments"]) != "[vpc-c vpc-d]" {
		t.Errorf("conflict log line %v", e)
	}

	out, err := d.Ctl("describe-route-entry-list", "--table", "vtb-sys-a", "--type", "CEN")
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"172.16.1.0/24", "10.1.0.0/16"} {
		if !cnHasRow(out, dst, "CEN") {
			t.Errorf("vtb-sys-a: no CEN entry %s in\n%s", dst, out)
		}
	}
	if strings.Contains(out, "10.9.9.0/24") {
		t.Errorf("vtb-sys-a: conflicting 10.9.9.0/24 listed:\n%s", out)
	}

	ns := func(s string) string { return Prefix() + "-" + s }
	for _, c := range []struct{ from, to string }{
		{"a", "172.16.1.10"}, {"a", "10.1.0.10"},
		{"b", "192.168.1.10"}, {"b", "10.1.0.10"},
		{"c", "192.168.1.10"}, {"c", "172.16.1.10"},
	} {
		cnPingOK(t, "CEN "+c.from+" → "+c.to, ns(c.from), "", c.to, 2)
	}
	for _, from := range []string{"a", "b"} {
		errs := cnPingFails(t, "conflicting destination from "+from, ns(from), "", "10.9.9.20")
		if len(errs) == 0 || errs[0].Type != icmpUnreachable || errs[0].Code != 0 {
			t.Errorf("from %s: want net unreachable for the conflicting 10.9.9.0/24, got %v", from, errs)
		}
	}
}

// cnHasRow reports whether a table printed by vrouterctl has a row whose
// first column is first and that contains the word typ.
func cnHasRow(out, first, typ string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[0] == first && strings.Contains(line, " "+typ+" ") {
			return true
		}
	}
	return false
}

// TestC4CENExample runs configs/cen.yaml: two VPCs and a VBR learn each
// other's networks; the VPCs talk, and each reaches the data centre behind
// the VBR (its static route 10.0.0.0/8, learned as type CEN).
func TestC4CENExample(t *testing.T) {
	RequireRoot(t)
	CleanupPrefix(t)
	dc := cnOutside(t, "-dc")
	d := StartVrouterd(t, cnExample(t, "cen.yaml"))
	cnLocal(t, dc, "10.1.1.1")
	cnRoute(t, dc, netip.MustParsePrefix("192.168.0.0/16"), "ll0", 0)
	cnRoute(t, dc, netip.MustParsePrefix("172.16.0.0/12"), "ll0", 0)
	east, west := Prefix()+"-east", Prefix()+"-west"
	cnPingOK(t, "east → west", east, "", "172.16.1.10", 2)
	cnPingOK(t, "west → east", west, "", "192.168.1.10", 2)
	cnPingOK(t, "east → DC", east, "", "10.1.1.1", 2)
	cnPingOK(t, "west → DC", west, "", "10.1.1.1", 2)
	cnPingOK(t, "DC → east", dc, "10.1.1.1", "192.168.1.10", 2)
	out, err := d.Ctl("describe-route-entry-list", "--table", "vtb-sys-west")
	if err != nil {
		t.Fatal(err)
	}
	if !cnHasRow(out, "10.0.0.0/8", "CEN") || !cnHasRow(out, "192.168.1.0/24", "CEN") {
		t.Errorf("vtb-sys-west lacks the learned routes:\n%s", out)
	}
	t.Logf("vtb-sys-west:\n%s", out)
}
