package testnet

// Multicast scenarios of SPEC §6 (M1, M5) against the real vrouterd: a
// server namespace sends UDP to a group with the default multicast TTL of 1,
// member namespaces receive it on sockets joined to the group on eth0, and
// an instance joins an igmp: true group by IGMP just by joining a socket.
//
// Guests send multicast out of eth0 because vrouterd gives every ENI a
// default route via the VSwitch gateway (onlink), which multicast
// destinations follow too; a guest with several interfaces chooses with
// IP_MULTICAST_IF or a route 224.0.0.0/4 dev ethN, as on any host. The
// sender below sets IP_MULTICAST_IF explicitly and turns IP_MULTICAST_LOOP
// off, and its own namespace has a socket joined to the group: anything that
// socket receives came back through vrouterd, which M1 forbids.

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const mcastScenario = `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-mc
    name: mc
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: cn-hangzhou-b, cidr: 192.168.2.0/24}
    security_groups:
      - id: sg-mc
        inner_access: accept
      - id: sg-no5000
        inner_access: accept
        rules:
          - {direction: ingress, policy: drop, priority: 1, protocol: udp, port_range: 5000/5000, source_cidr: 192.168.0.0/16}
          - {direction: ingress, policy: accept, priority: 2, protocol: all, port_range: -1/-1, source_cidr: 0.0.0.0/0}
instances:
  - {id: i-srv, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-mc], netns: "{P}-srv"}
  - {id: i-m1, vswitch: vsw-a, ip: 192.168.1.21, security_groups: [sg-mc], netns: "{P}-m1"}
  - {id: i-m2, vswitch: vsw-b, ip: 192.168.2.22, security_groups: [sg-mc], netns: "{P}-m2"}
  - {id: i-m3, vswitch: vsw-b, ip: 192.168.2.23, security_groups: [sg-mc], netns: "{P}-m3"}
  - {id: i-blk, vswitch: vsw-b, ip: 192.168.2.40, security_groups: [sg-no5000], netns: "{P}-blk"}
  - {id: i-nm, vswitch: vsw-a, ip: 192.168.1.30, security_groups: [sg-mc], netns: "{P}-nm"}
  - {id: i-dyn, vswitch: vsw-a, ip: 192.168.1.50, security_groups: [sg-mc], netns: "{P}-dyn"}
multicast:
  - vpc: vpc-mc
    group: 239.1.1.1
    server: i-srv
    members: [192.168.1.21, 192.168.2.22, 192.168.2.23, 192.168.2.40]
  - vpc: vpc-mc
    group: 239.2.2.2
    server: i-srv
    igmp: true
`

// mcastReceiver collects the datagrams of a socket joined to a group.
type mcastReceiver struct {
	name string
	conn *net.UDPConn
	got  chan string
}

// joinGroup opens a UDP socket on group:port inside the namespace suffix ns
// and joins the group on eth0 (the kernel sends the IGMP report).
func joinGroup(t *testing.T, ns, group string, port int) *mcastReceiver {
	t.Helper()
	var c *net.UDPConn
	err := InNS(Prefix()+ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.ParseIP(group), Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("join %s:%d in %s: %v", group, port, ns, err)
	}
	r := &mcastReceiver{name: ns, conn: c, got: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				close(r.got)
				return
			}
			select {
			case r.got <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return r
}

// collect returns what arrived until nothing did for quiet.
func (r *mcastReceiver) collect(quiet time.Duration) []string {
	var out []string
	for {
		select {
		case s, ok := <-r.got:
			if !ok {
				return out
			}
			out = append(out, s)
		case <-time.After(quiet):
			return out
		}
	}
}

// mcastSender returns a UDP socket in the namespace suffix ns connected to
// group:port that sends out of eth0 with the default multicast TTL (1) and
// without local loopback.
func mcastSender(t *testing.T, ns, group string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := InNS(Prefix()+ns, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(group), Port: port})
		if err != nil {
			return err
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			mreq := &unix.IPMreqn{Ifindex: int32(ifi.Index)}
			if serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); serr != nil {
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)
		}); err != nil {
			return err
		}
		return serr
	})
	if err != nil {
		t.Fatalf("multicast sender in %s: %v", ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendN sends n datagrams "tag-i" 2 ms apart.
func sendN(t *testing.T, c *net.UDPConn, tag string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := fmt.Fprintf(c, "%s-%d", tag, i); err != nil {
			t.Fatalf("send: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestM1Replication: every member receives every datagram the server sends
// to the group with TTL 1, the sender and a non-member receive none, and a
// member whose security group drops the group's UDP port loses only its own
// copies (counted as sg_ingress on its port, R8).
func TestM1Replication(t *testing.T) {
	d := startScenario(t, mcastScenario)
	const group, n = "239.1.1.1", 20
	var members []*mcastReceiver
	for _, ns := range []string{"-m1", "-m2", "-m3"} {
		members = append(members, joinGroup(t, ns, group, 5000))
	}
	blk5000 := joinGroup(t, "-blk", group, 5000)
	blk5001 := joinGroup(t, "-blk", group, 5001)
	self := joinGroup(t, "-srv", group, 5000)
	nonMember := joinGroup(t, "-nm", group, 5000)
	time.Sleep(200 * time.Millisecond) // let the IGMP reports settle (ignored: igmp is off)

	before := metric(t, d, "vrouter_drops_total", "port=i-blk", "reason=sg_ingress")
	sendN(t, mcastSender(t, "-srv", group, 5000), "p5000", n)
	sendN(t, mcastSender(t, "-srv", group, 5001), "p5001", n)

	for _, r := range members {
		got := r.collect(500 * time.Millisecond)
		if len(got) != n || got[0] != "p5000-0" || got[n-1] != fmt.Sprintf("p5000-%d", n-1) {
			t.Errorf("member %s received %d/%d datagrams: %v", r.name, len(got), n, got)
		}
	}
	if got := self.collect(100 * time.Millisecond); len(got) != 0 {
		t.Errorf("the sender received its own datagrams back: %v", got)
	}
	if got := nonMember.collect(100 * time.Millisecond); len(got) != 0 {
		t.Errorf("a non-member received %v", got)
	}
	if got := blk5000.collect(100 * time.Millisecond); len(got) != 0 {
		t.Errorf("member with UDP 5000 dropped by its security group received %v", got)
	}
	if got := blk5001.collect(500 * time.Millisecond); len(got) != n {
		t.Errorf("member with UDP 5000 dropped received %d/%d datagrams on 5001", len(got), n)
	}
	if v := waitMetric(t, d, atLeast(before+n), "vrouter_drops_total", "port=i-blk", "reason=sg_ingress"); v < before+n {
		t.Errorf("sg_ingress drops on i-blk = %v, want %v", v, before+n)
	}
	if v := metric(t, d, "vrouter_drops_total", "port=i-srv", "reason=multicast"); v != 0 {
		t.Errorf("server's packets counted as multicast drops: %v", v)
	}
}

// TestM5IGMPJoinAndLeave: a socket joining an igmp: true group makes its
// instance a member (the kernel's IGMP report), closing it makes it leave.
func TestM5IGMPJoinAndLeave(t *testing.T) {
	d := startScenario(t, mcastScenario)
	const group = "239.2.2.2"
	snd := mcastSender(t, "-srv", group, 6000)
	other := joinGroup(t, "-nm", group, 6001) // joined, but to another port: gets datagrams, not on 6000
	dyn := joinGroup(t, "-dyn", group, 6000)

	// The report reaches vrouterd within milliseconds; probe until the
	// first datagram arrives.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := fmt.Fprint(snd, "probe"); err != nil {
			t.Fatal(err)
		}
		if got := dyn.collect(50 * time.Millisecond); len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no datagram after joining %s by IGMP\n%s", group, metricLinesOf(t, d, "vrouter_drops_total"))
		}
	}
	dyn.collect(100 * time.Millisecond)
	const n = 20
	sendN(t, snd, "dyn", n)
	if got := dyn.collect(500 * time.Millisecond); len(got) != n {
		t.Errorf("joined member received %d/%d: %v", len(got), n, got)
	}
	if got := other.collect(100 * time.Millisecond); len(got) != 0 {
		t.Errorf("i-nm received on port 6001: %v", got)
	}
	if v := metric(t, d, "vrouter_drops_total", "port=i-dyn", "reason=multicast"); v != 0 {
		t.Errorf("IGMP from i-dyn counted as multicast drops: %v", v)
	}

	// Leave: closing the last socket sends a leave (IGMPv3 TO_IN {}).
	dyn.conn.Close()
	time.Sleep(500 * time.Millisecond)
	tx := metric(t, d, "vrouter_port_packets_total", "port=i-dyn", "direction=tx")
	sendN(t, snd, "after-leave", n)
	time.Sleep(200 * time.Millisecond)
	// At most a general query of the querier may reach the port meanwhile.
	if delta := metric(t, d, "vrouter_port_packets_total", "port=i-dyn", "direction=tx") - tx; delta > 1 {
		t.Errorf("%v packets written to i-dyn after it left %s", delta, group)
	}
}

// metricLinesOf scrapes d and returns the samples of one family.
func metricLinesOf(t *testing.T, d *Daemon, name string) string {
	t.Helper()
	text, err := d.Metrics()
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(metricLines(text, name))
}
