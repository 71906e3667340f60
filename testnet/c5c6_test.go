package testnet

// ClassicLink, EIPs and NAT gateways (SPEC C5, C6) against the real
// vrouterd. Classic and VPC instances live in namespaces vrouterd creates
// (Prefix()+"-…"); the internet is a namespace the test creates
// (cnOutside) where vrouterd places the internet port and a /32 route per
// EIP in use; the test gives it "internet" hosts as addresses on lo.
//
// Helpers here carry a "cc" prefix. The tests do not run in parallel.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// ccTCP reports whether a TCP connection from ns to addr completes an
// exchange with the echo server there (ccServe).
func ccTCP(ns, addr string) error {
	c, err := DialTCP(ns, addr, 700*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hi\n")); err != nil {
		return err
	}
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("empty reply")
	}
	return nil
}

// ccServe runs a TCP server on addr in ns that answers every connection
// with the remote address it sees, and records those addresses.
type ccServer struct {
	mu    sync.Mutex
	peers []string
}

func ccServe(t *testing.T, ns, addr string) *ccServer {
	t.Helper()
	l, err := ListenTCP(ns, addr)
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	s := &ccServer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.peers = append(s.peers, c.RemoteAddr().String())
			s.mu.Unlock()
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				b := make([]byte, 64)
				if _, err := c.Read(b); err != nil {
					return
				}
				c.Write([]byte(c.RemoteAddr().String() + "\n"))
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return s
}

// last returns the most recent peer the server saw.
func (s *ccServer) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.peers) == 0 {
		return ""
	}
	return s.peers[len(s.peers)-1]
}

func ccOK(t *testing.T, what, ns, addr string) {
	t.Helper()
	if err := ccTCP(ns, addr); err != nil {
		t.Errorf("%s: TCP %s from %s: %v", what, addr, ns, err)
	}
}

func ccRefused(t *testing.T, what, ns, addr string) {
	t.Helper()
	if err := ccTCP(ns, addr); err == nil {
		t.Errorf("%s: TCP %s from %s completed, want it refused", what, addr, ns)
	}
}

// ccUnreachable pings dst and wants net unreachable from the gateway gw.
func ccUnreachable(t *testing.T, what, ns, dst, gw string) {
	t.Helper()
	errs := cnPingFails(t, what, ns, "", dst)
	if len(errs) == 0 || errs[0].Type != icmpUnreachable || errs[0].Code != 0 || errs[0].From != ip4(gw) {
		t.Errorf("%s: want net unreachable from %s, got %v", what, gw, errs)
	}
}

// ccLinkConfig: vpc-link (classic_link) with i-app; vpc-plain without
// ClassicLink; the classic instances i-legacy (linked) and i-legacy2.
// sg-app admits ICMP and TCP 3306 and 8080 from the classic network, so
// that the ClassicLink rules' modes decide: 3306 may be opened from the
// VPC only, 8080 from the classic side only, ICMP both ways.
const ccLinkConfig = `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-link
    cidr: 172.16.0.0/16
    classic_link: true
    vswitches:
      - {id: vsw-link, zone: cn-hangzhou-b, cidr: 172.16.1.0/24}
    security_groups:
      - id: sg-app
        rules:
          - {direction: ingress, policy: accept, protocol: icmp, source_cidr: 10.0.0.0/8}
          - {direction: ingress, policy: accept, protocol: tcp, port_range: 3306/3306, source_cidr: 10.0.0.0/8}
          - {direction: ingress, policy: accept, protocol: tcp, port_range: 8080/8080, source_cidr: 10.0.0.0/8}
  - id: vpc-plain
    cidr: 192.168.0.0/16
instances:
  - {id: i-app, vswitch: vsw-link, ip: 172.16.1.10, security_groups: [sg-app], netns: "{P}-app"}
classic:
  security_groups:
    - id: sg-classic
      rules:
        - {direction: ingress, policy: accept, protocol: tcp, port_range: 22/22, source_cidr: 10.0.0.0/8}
      classic_link_rules:
        - {vpc_security_groups: [sg-app], mode: vpc_to_classic, protocol: tcp, port_range: 3306/3306, priority: 1}
        - {vpc_security_groups: [sg-app], mode: classic_to_vpc, protocol: tcp, port_range: 8080/8080, priority: 1}
        - {vpc_security_groups: [sg-app], mode: both, protocol: icmp, priority: 2}
  instances:
    - {id: i-legacy, ip: 10.1.0.10, netns: "{P}-legacy", security_groups: [sg-classic], link: vpc-link}
    - {id: i-legacy2, ip: 10.1.0.11, netns: "{P}-legacy2", security_groups: [sg-classic]}
`

// TestC5ClassicLinkModes: a linked classic instance reaches a VPC ENI per
// its mode while an unlinked one cannot; classic instances reach each
// other per their groups; linking and unlinking at runtime through the API
// (vrouterctl) takes effect, and the C5 constraints hold there.
func TestC5ClassicLinkModes(t *testing.T) {
	d := startScenario(t, ccLinkConfig)
	if d.Ports != 3 {
		t.Errorf("ready with %d ports, want 3", d.Ports)
	}
	app, leg, leg2 := Prefix()+"-app", Prefix()+"-legacy", Prefix()+"-legacy2"
	ccServe(t, app, "172.16.1.10:3306")
	ccServe(t, app, "172.16.1.10:8080")
	for _, ns := range []struct{ ns, ip string }{{leg, "10.1.0.10"}, {leg2, "10.1.0.11"}} {
		ccServe(t, ns.ns, ns.ip+":3306")
		ccServe(t, ns.ns, ns.ip+":8080")
		ccServe(t, ns.ns, ns.ip+":22")
	}

	// Linked: ICMP both ways, one router crossed (F6).
	cnPingOK(t, "VPC → linked classic (both)", app, "", "10.1.0.10", 1)
	cnPingOK(t, "linked classic → VPC (both)", leg, "", "172.16.1.10", 1)
	ccOK(t, "vpc_to_classic opened by the VPC", app, "10.1.0.10:3306")
	ccRefused(t, "vpc_to_classic opened by the classic side", leg, "172.16.1.10:3306")
	ccOK(t, "classic_to_vpc opened by the classic side", leg, "172.16.1.10:8080")
	ccRefused(t, "classic_to_vpc opened by the VPC", app, "10.1.0.10:8080")
	ccRefused(t, "a port no ClassicLink rule names", app, "10.1.0.10:22")

	// Not linked: unreachable both ways.
	ccUnreachable(t, "VPC → unlinked classic", app, "10.1.0.11", "172.16.1.253")
	ccUnreachable(t, "unlinked classic → VPC", leg2, "172.16.1.10", "10.255.255.253")
	ccRefused(t, "TCP to the unlinked instance", app, "10.1.0.11:3306")

	// Classic instances among themselves (§5 semantics, one group).
	cnPingOK(t, "classic → classic", leg, "", "10.1.0.11", 1)
	ccOK(t, "classic → classic TCP", leg2, "10.1.0.10:22")
	cnPingOK(t, "the classic gateway", leg, "", "10.255.255.253", 0)

	// Runtime link through the API, then unlink.
	if out, err := d.Ctl("attach-classic-link-vpc", "--instance", "i-legacy2", "--vpc", "vpc-link"); err != nil {
		t.Fatalf("attach: %v\n%s", err, out)
	}
	cnPingOK(t, "VPC → newly linked classic", app, "", "10.1.0.11", 1)
	ccOK(t, "vpc_to_classic to the newly linked", app, "10.1.0.11:3306")
	if out, err := d.Ctl("detach-classic-link-vpc", "--instance", "i-legacy2", "--vpc", "vpc-link"); err != nil {
		t.Fatalf("detach: %v\n%s", err, out)
	}
	ccUnreachable(t, "VPC → unlinked again", app, "10.1.0.11", "172.16.1.253")

	// C5 on the API path: the VPC must have classic_link: true; at most
	// one VPC per instance; ClassicLink cannot be disabled while linked.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"attach-classic-link-vpc", "--instance", "i-legacy2", "--vpc", "vpc-plain"}, "does not have classic_link: true"},
		{[]string{"attach-classic-link-vpc", "--instance", "i-legacy", "--vpc", "vpc-plain"}, "at most one VPC"},
		{[]string{"modify-vpc-attribute", "--vpc", "vpc-link", "--classic-link=false"}, "linked instances"},
	} {
		out, err := d.Ctl(c.args...)
		if err == nil || !strings.Contains(out+err.Error(), c.want) {
			t.Errorf("%v: err %v, output %q, want %q", c.args, err, out, c.want)
		}
	}
	cnPingOK(t, "the linked instance is untouched", app, "", "10.1.0.10", 1)
}

// TestC5ClassicLinkExample runs configs/classiclink.yaml as written: TCP
// 3306 opened from sg-app's ENI and ICMP both ways reach the linked
// i-legacy; the unlinked i-legacy2 is unreachable from the VPC.
func TestC5ClassicLinkExample(t *testing.T) {
	RequireRoot(t)
	CleanupPrefix(t)
	StartVrouterd(t, cnExample(t, "classiclink.yaml"))
	app, leg := Prefix()+"-app", Prefix()+"-legacy"
	ccServe(t, leg, "10.1.0.10:3306")
	cnPingOK(t, "i-app → i-legacy", app, "", "10.1.0.10", 1)
	cnPingOK(t, "i-legacy → i-app", leg, "", "172.16.1.10", 1)
	ccOK(t, "3306 from the VPC", app, "10.1.0.10:3306")
	ccUnreachable(t, "i-app → unlinked i-legacy2", app, "10.1.0.11", "172.16.1.253")
}

// ccRoutes lists the /32 routes through ifname in ns.
func ccRoutes(t *testing.T, ns, ifname string) []string {
	t.Helper()
	var out []string
	err := withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		rs, err := h.RouteList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones == 32 {
					out = append(out, r.Dst.IP.String())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ccInternet starts vrouterd on configs/nat-gateway-eip.yaml with the
// internet namespace holding the hosts 8.8.8.8 and 1.1.1.1.
func ccInternet(t *testing.T) (*Daemon, string) {
	t.Helper()
	RequireRoot(t)
	CleanupPrefix(t)
	inet := cnOutside(t, "-inet")
	d := StartVrouterd(t, cnExample(t, "nat-gateway-eip.yaml"))
	cnLocal(t, inet, "8.8.8.8", "1.1.1.1")
	return d, inet
}

// TestC6EIP: an instance with an EIP sources its traffic from the EIP (as
// a server in the internet namespace sees it) and is reachable from the
// internet subject to its security groups; the internet namespace has a
// /32 route per EIP in use; unbinding at runtime withdraws the route and
// the translation, binding again restores both.
func TestC6EIP(t *testing.T) {
	d, inet := ccInternet(t)
	web := Prefix() + "-web"
	srv := ccServe(t, inet, "8.8.8.8:80")

	routes := ccRoutes(t, inet, "inet0")
	for _, eip := range []string{"198.51.100.10", "198.51.100.20", "198.51.100.30"} {
		if !strings.Contains(strings.Join(routes, " "), eip) {
			t.Errorf("no /32 route to %s in the internet namespace: %v", eip, routes)
		}
	}

	ccOK(t, "i-web to the internet", web, "8.8.8.8:80")
	if host, _, _ := strings.Cut(srv.last(), ":"); host != "198.51.100.10" {
		t.Errorf("the internet server saw %q, want the EIP 198.51.100.10", srv.last())
	}
	cnPingOK(t, "i-web pings the internet", web, "", "8.8.8.8", 1)

	// From the internet: ping and HTTP port 80 admitted by sg-web; 22 not.
	webSrv := ccServe(t, web, "192.168.1.10:80")
	ccServe(t, web, "192.168.1.10:22")
	cnPingOK(t, "the internet pings the EIP", inet, "1.1.1.1", "198.51.100.10", 1)
	err := InNS(inet, func() error {
		dl := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("1.1.1.1")}}
		c, err := dl.Dial("tcp", "198.51.100.10:80")
		if err != nil {
			return err
		}
		defer c.Close()
		c.Write([]byte("x\n"))
		c.SetDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 64)
		n, err := c.Read(b)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b[:n])); !strings.HasPrefix(got, "1.1.1.1:") {
			return fmt.Errorf("the instance saw the client as %q, want 1.1.1.1", got)
		}
		return nil
	})
	if err != nil {
		t.Errorf("internet → EIP:80: %v", err)
	}
	if host, _, _ := strings.Cut(webSrv.last(), ":"); host != "1.1.1.1" {
		t.Errorf("i-web's server saw %q", webSrv.last())
	}
	ccRefused(t, "internet → EIP:22 (sg-web)", inet, "198.51.100.10:22")

	// Unbind at runtime: the route goes, nothing reaches i-web, and i-web
	// (in vsw-public, covered by no SNAT entry) has no internet.
	if out, err := d.Ctl("unassociate-eip-address", "--eip", "eip-web"); err != nil {
		t.Fatalf("unassociate: %v\n%s", err, out)
	}
	if r := strings.Join(ccRoutes(t, inet, "inet0"), " "); strings.Contains(r, "198.51.100.10") {
		t.Errorf("unbound EIP still routed: %s", r)
	}
	// Without the route the internet cannot even send to it.
	if res, err := Ping(inet, ip4("198.51.100.10"), PingOpts{Count: 2, Interval: 10 * time.Millisecond, Timeout: 300 * time.Millisecond, Src: ip4("1.1.1.1")}); err == nil && res.Received != 0 {
		t.Errorf("internet → unbound EIP answered: %+v", res)
	}
	ccUnreachable(t, "i-web without its EIP", web, "8.8.8.8", "192.168.1.253")

	if out, err := d.Ctl("associate-eip-address", "--eip", "eip-web", "--instance", "i-web"); err != nil {
		t.Fatalf("associate: %v\n%s", err, out)
	}
	ccOK(t, "i-web with its EIP again", web, "8.8.8.8:80")
	if host, _, _ := strings.Cut(srv.last(), ":"); host != "198.51.100.10" {
		t.Errorf("after rebinding the server saw %q", srv.last())
	}
	cnPingOK(t, "the internet pings the rebound EIP", inet, "1.1.1.1", "198.51.100.10", 1)
	if out, err := d.Ctl("associate-eip-address", "--eip", "eip-snat", "--instance", "i-worker"); err == nil {
		t.Errorf("binding a NAT gateway's EIP succeeded:\n%s", out)
	}
}

// TestC6DNATWebServer: a DNAT entry exposes i-app's web server (port 80)
// on 198.51.100.30:8080, keeping the client's address; other ports of the
// EIP map to nothing.
func TestC6DNATWebServer(t *testing.T) {
	_, inet := ccInternet(t)
	app := Prefix() + "-app"
	l, err := ListenTCP(app, "192.168.2.20:80")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "i-app sees %s", r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })

	cl := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			var c net.Conn
			err := InNS(inet, func() (err error) {
				dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("8.8.8.8")}}
				c, err = dl.DialContext(ctx, "tcp", addr)
				return err
			})
			return c, err
		},
		DisableKeepAlives: true,
	}}
	resp, err := cl.Get("http://198.51.100.30:8080/")
	if err != nil {
		t.Fatalf("GET through the DNAT entry: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "i-app sees 8.8.8.8:") {
		t.Fatalf("GET: %d %q (the client's address must be kept)", resp.StatusCode, body)
	}
	t.Logf("DNAT: %s", body)
	cl.Timeout = 500 * time.Millisecond
	if _, err := cl.Get("http://198.51.100.30:8081/"); err == nil {
		t.Error("a port no DNAT entry maps answered")
	}
}

// TestC6SNATThousandConnections: 50 instances behind one SNAT entry open
// 1,000 concurrent TCP connections to a server in the internet namespace:
// it sees 1,000 distinct (EIP, port) pairs, every one from the EIP, and
// every connection completes.
func TestC6SNATThousandConnections(t *testing.T) {
	const instances, perInstance = 50, 20
	const total = instances * perInstance
	var b strings.Builder
	b.WriteString(`version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-many
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-many, zone: cn-hangzhou-b, cidr: 192.168.2.0/24}
internet:
  port: {netns: "{P}-inet", ifname: inet0, ip: 203.0.113.1, peer_ip: 203.0.113.2}
eips:
  - {id: eip-snat, ip: 198.51.100.20}
nat_gateways:
  - id: ngw-many
    vpc: vpc-many
    snat:
      - {source: vsw-many, eip: eip-snat}
instances:
`)
	for i := 0; i < instances; i++ {
		fmt.Fprintf(&b, "  - {id: i-w%02d, vswitch: vsw-many, ip: 192.168.2.%d, netns: \"{P}-w%02d\"}\n", i, 10+i, i)
	}
	RequireRoot(t)
	CleanupPrefix(t)
	inet := cnOutside(t, "-inet")
	start := time.Now()
	d := StartVrouterd(t, scenarioConfig(b.String()))
	t.Logf("vrouterd ready with %d ports in %v", d.Ports, time.Since(start).Round(time.Millisecond))
	cnLocal(t, inet, "8.8.8.8")

	// The server holds every connection until all 1,000 are open, then
	// answers each with the address it sees and closes.
	l, err := ListenTCP(inet, "8.8.8.8:80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	go func() {
		var conns []net.Conn
		for len(conns) < total {
			c, err := l.Accept()
			if err != nil {
				break
			}
			conns = append(conns, c)
			mu.Lock()
			seen[c.RemoteAddr().String()]++
			mu.Unlock()
		}
		close(all)
		for _, c := range conns {
			go func(c net.Conn) {
				defer c.Close()
				c.Write([]byte(c.RemoteAddr().String() + "\n"))
			}(c)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, total)
	replies := make(chan string, total)
	begin := time.Now()
	for i := 0; i < instances; i++ {
		ns := fmt.Sprintf("%s-w%02d", Prefix(), i)
		for j := 0; j < perInstance; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := DialTCP(ns, "8.8.8.8:80", 20*time.Second)
				if err != nil {
					errs <- fmt.Errorf("%s: dial: %v", ns, err)
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(40 * time.Second))
				buf, err := io.ReadAll(c)
				if err != nil || len(buf) == 0 {
					errs <- fmt.Errorf("%s: read: %q %v", ns, buf, err)
					return
				}
				replies <- strings.TrimSpace(string(buf))
			}()
		}
	}
	select {
	case <-all:
		t.Logf("%d connections open at once after %v", total, time.Since(begin).Round(time.Millisecond))
	case <-time.After(45 * time.Second):
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		t.Fatalf("only %d of %d connections reached the server", n, total)
	}
	wg.Wait()
	close(errs)
	close(replies)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	ports := map[uint16]bool{}
	for peer, n := range seen {
		ap, err := netip.ParseAddrPort(peer)
		if err != nil || ap.Addr() != ip4("198.51.100.20") {
			t.Errorf("the server saw %s: not the EIP", peer)
			continue
		}
		if n != 1 {
			t.Errorf("(EIP, port) %s used by %d connections at once", peer, n)
		}
		ports[ap.Port()] = true
	}
	nrep := 0
	for r := range replies {
		if !strings.HasPrefix(r, "198.51.100.20:") {
			t.Errorf("reply %q", r)
		}
		nrep++
	}
	t.Logf("C6 SNAT: %d instances, %d concurrent connections, %d distinct (EIP, port) pairs, %d completed", instances, total, len(ports), nrep)
	if len(seen) != total || len(ports) != total || nrep != total {
		t.Fatalf("distinct pairs %d, ports %d, completed %d; want %d each", len(seen), len(ports), nrep, total)
	}
}
