package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/dataplane/tun"
)

// Root-only tests: they create uniquely named namespaces ("vrhn" + pid + n)
// and remove them in t.Cleanup, even on failure. Nothing is configured in the
// test process's own namespace.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("privileged test: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("privileged test: /dev/net/tun unavailable: %v", err)
	}
}

var nsSeq atomic.Int32

// nsName returns a fresh namespace name and registers its deletion.
func nsName(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("vrhn%d-%d", os.Getpid(), nsSeq.Add(1))
	t.Cleanup(func() {
		if NetnsExists(name) {
			if err := DeleteNetns(name); err != nil {
				t.Errorf("cleanup %s: %v", name, err)
			}
		}
	})
	return name
}

// userNS makes a namespace as the user would (not by the Host under test).
func userNS(t *testing.T) string {
	t.Helper()
	name := nsName(t)
	if _, err := EnsureNetns(name); err != nil {
		t.Fatal(err)
	}
	return name
}

func withHandle(t *testing.T, ns string, fn func(h *netlink.Handle)) {
	t.Helper()
	h, err := openHandle(ns)
	if err != nil {
		t.Fatalf("netlink in %s: %v", ns, err)
	}
	defer h.Close()
	fn(h.Handle)
}

func linkIn(t *testing.T, ns, name string) (netlink.Link, bool) {
	t.Helper()
	var link netlink.Link
	withHandle(t, ns, func(h *netlink.Handle) {
		l, err := h.LinkByName(name)
		if err != nil {
			if !isLinkNotFound(err) {
				t.Fatalf("link %s in %s: %v", name, ns, err)
			}
			return
		}
		link = l
	})
	return link, link != nil
}

func linkNames(t *testing.T, ns string) []string {
	t.Helper()
	var names []string
	withHandle(t, ns, func(h *netlink.Handle) {
		links, err := h.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
	})
	slices.Sort(names)
	return names
}

// checkPort verifies the kernel state of a configured port against spec (F1).
func checkPort(t *testing.T, spec PortSpec) {
	t.Helper()
	link, ok := linkIn(t, spec.Netns, spec.IfName)
	if !ok {
		t.Fatalf("no %s in %s; links: %v", spec.IfName, spec.Netns, linkNames(t, spec.Netns))
	}
	if err := checkTun(link); err != nil {
		t.Fatal(err)
	}
	if got := link.Attrs().MTU; got != spec.MTU {
		t.Errorf("MTU = %d, want %d", got, spec.MTU)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s is down", spec.IfName)
	}
	withHandle(t, spec.Netns, func(h *netlink.Handle) {
		addrs, err := h.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		var got []addrKey
		for _, a := range addrs {
			got = append(got, keyOfAddr(a))
		}
		want := wantAddrs(&spec)
		sortKeys := func(s []addrKey) {
			slices.SortFunc(s, func(a, b addrKey) int { return a.local.Compare(b.local) })
		}
		sortKeys(got)
		sortKeys(want)
		if !slices.Equal(got, want) {
			t.Errorf("addresses = %v, want %v", got, want)
		}
		routes, err := h.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{LinkIndex: link.Attrs().Index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		var defaults int
		for _, r := range routes {
			if ipPrefix(r.Dst) != defaultDst {
				continue
			}
			defaults++
			if ipAddr(r.Gw) != spec.Gateway || r.Priority != spec.Metric || r.Flags&int(netlink.FLAG_ONLINK) == 0 {
				t.Errorf("default route %+v, want via %s metric %d onlink", r, spec.Gateway, spec.Metric)
			}
		}
		if want := btoi(spec.Gateway.IsValid()); defaults != want {
			t.Errorf("%d default routes on %s, want %d: %v", defaults, spec.IfName, want, routes)
		}
		for _, dst := range spec.Routes {
			if !slices.ContainsFunc(routes, func(r netlink.Route) bool {
				return ipPrefix(r.Dst) == dst && r.Scope == netlink.SCOPE_LINK && r.Gw == nil
			}) {
				t.Errorf("no device route %s on %s: %v", dst, spec.IfName, routes)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readIPv4 reads packets from dev until an IPv4 UDP packet to port arrives.
func readIPv4(t *testing.T, dev tun.Device, port uint16) []byte {
	t.Helper()
	type res struct {
		pkt []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		bufs := [][]byte{make([]byte, 10+tun.MaxPacketLen)}
		sizes := make([]int, 1)
		for {
			n, err := dev.Read(bufs, sizes, 10)
			if err != nil {
				ch <- res{err: err}
				return
			}
			if n == 0 {
				continue
			}
			p := bufs[0][10 : 10+sizes[0]]
			if len(p) >= 28 && p[0]>>4 == 4 && p[9] == unix.IPPROTO_UDP &&
				binary.BigEndian.Uint16(p[int(p[0]&15)*4+2:]) == port {
				ch <- res{pkt: slices.Clone(p)}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("read TUN: %v", r.err)
		}
		return r.pkt
	case <-time.After(5 * time.Second):
		t.Fatal("no packet on the TUN within 5s")
		return nil
	}
}

// sendUDP sends one datagram from inside ns.
func sendUDP(t *testing.T, ns string, dst netip.AddrPort) {
	t.Helper()
	err := InNetns(ns, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hostnet"))
		return err
	})
	if err != nil {
		t.Fatalf("send from %s: %v", ns, err)
	}
}

func TestNetnsLifecyclePrivileged(t *testing.T) {
	requireRoot(t)
	name := nsName(t)
	own := nsIno(t, "")
	if NetnsExists(name) {
		t.Fatalf("%s exists before the test", name)
	}
	created, err := EnsureNetns(name)
	if err != nil || !created {
		t.Fatalf("EnsureNetns = %v, %v; want created", created, err)
	}
	if created, err := EnsureNetns(name); err != nil || created {
		t.Fatalf("EnsureNetns again = %v, %v; want existing", created, err)
	}
	if !NetnsExists(name) {
		t.Fatal("NetnsExists false after creation")
	}
	if nsIno(t, name) == own {
		t.Fatal("named namespace is the test's own")
	}
	// The new namespace's loopback is up, like a fresh instance's.
	lo, ok := linkIn(t, name, "lo")
	if !ok || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo in %s not up", name)
	}
	// InNetns never leaves a thread in the wrong namespace: run many calls
	// and check the namespace every other goroutine sees.
	for range 50 {
		if err := InNetns(name, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := nsIno(t, ""); got != own {
			t.Fatalf("own namespace changed to %d after InNetns", got)
		}
	}
	if err := DeleteNetns(name); err != nil {
		t.Fatal(err)
	}
	if NetnsExists(name) {
		t.Fatal("NetnsExists true after deletion")
	}
	if err := DeleteNetns(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("DeleteNetns of a missing namespace = %v, want ErrNotExist", err)
	}
	if err := InNetns(name, func() error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("InNetns of a missing namespace = %v, want ErrNotExist", err)
	}
}

func TestNetnsStaleFilePrivileged(t *testing.T) {
	requireRoot(t)
	name := nsName(t)
	if err := prepareNetnsDir(); err != nil {
		t.Fatal(err)
	}
	// A bare file, as an interrupted `ip netns add` leaves it.
	if err := os.WriteFile(netnsPath(name), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(netnsPath(name)) })
	if NetnsExists(name) {
		t.Fatal("a bare file counts as a namespace")
	}
	if _, err := EnsureNetns(name); err == nil || !strings.Contains(err.Error(), "not a network namespace") {
		t.Fatalf("EnsureNetns over a bare file = %v", err)
	}
	if err := InNetns(name, func() error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("InNetns of a bare file = %v, want ErrNotExist", err)
	}
	if err := DeleteNetns(name); err != nil {
		t.Fatalf("DeleteNetns of a bare file: %v", err)
	}
	if _, err := os.Stat(netnsPath(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("bare file still there: %v", err)
	}
}

func nsIno(t *testing.T, ns string) uint64 {
	t.Helper()
	var ino uint64
	err := InNetns(ns, func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		ino = st.Ino
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

func eniSpec(ns string) PortSpec {
	return PortSpec{
		Key:       "eni-test1",
		Netns:     ns,
		IfName:    "eth0",
		MTU:       1400,
		Addr:      netip.MustParsePrefix("192.168.1.10/24"),
		Secondary: []netip.Addr{netip.MustParseAddr("192.168.1.11"), netip.MustParseAddr("192.168.1.12")},
		Gateway:   netip.MustParseAddr("192.168.1.253"),
		Routes:    []netip.Prefix{netip.MustParsePrefix("203.0.113.5/32")},
		VnetHdr:   true,
	}
}

// TestPortLifecyclePrivileged covers F1 (create, configure), Q7 (detach,
// re-attach with config intact), Update and R4 (remove deletes the link and the
// namespace it created).
func TestPortLifecyclePrivileged(t *testing.T) {
	requireRoot(t)
	ns := nsName(t)
	l := NewLinux(zaptest.NewLogger(t))
	t.Cleanup(func() { _ = l.Teardown() })
	spec := eniSpec(ns)

	p, err := l.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !p.CreatedNetns || p.Reattached {
		t.Errorf("CreatedNetns=%v Reattached=%v, want true false", p.CreatedNetns, p.Reattached)
	}
	if got := l.CreatedNamespaces(); !slices.Equal(got, []string{ns}) {
		t.Errorf("CreatedNamespaces = %v", got)
	}
	checkPort(t, spec)
	if got := linkNames(t, ns); !slices.Equal(got, []string{"eth0", "lo"}) {
		t.Errorf("links in %s = %v, want eth0 and lo only", ns, got)
	}
	if l.LinkGone(p) {
		t.Error("LinkGone true for a live port")
	}
	// The descriptor carries the namespace's packets (F1).
	sendUDP(t, ns, netip.MustParseAddrPort("192.168.1.253:9"))
	readIPv4(t, p.Dev, 9)

	// --on-exit keep: the guest keeps its interface (Q7).
	if err := l.Detach(p); err != nil {
		t.Fatal(err)
	}
	checkPort(t, spec)
	if !NetnsExists(ns) {
		t.Fatal("Detach deleted the namespace")
	}
	p2, err := l.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !p2.Reattached || p2.CreatedNetns {
		t.Errorf("second Create: Reattached=%v CreatedNetns=%v, want true false", p2.Reattached, p2.CreatedNetns)
	}
	checkPort(t, spec)
	sendUDP(t, ns, netip.MustParseAddrPort("192.168.1.253:10"))
	readIPv4(t, p2.Dev, 10)

	// Update in place: rename, MTU, addresses, metric, routes.
	up := spec
	up.IfName = "eth7"
	up.MTU = 1300
	up.Addr = netip.MustParsePrefix("192.168.1.20/24")
	up.Secondary = []netip.Addr{netip.MustParseAddr("192.168.1.21")}
	up.Metric = 10
	up.Routes = nil
	if err := l.Update(p2, up); err != nil {
		t.Fatal(err)
	}
	checkPort(t, up)
	if _, ok := linkIn(t, ns, "eth0"); ok {
		t.Error("eth0 still exists after rename")
	}
	withHandle(t, ns, func(h *netlink.Handle) {
		rs, err := h.RouteGet(net.ParseIP("203.0.113.5"))
		if err == nil && len(rs) > 0 && rs[0].Gw == nil {
			t.Errorf("device route 203.0.113.5/32 survived its removal: %+v", rs)
		}
	})
	moved := up
	moved.Netns = ns + "x"
	if err := l.Update(p2, moved); !errors.Is(err, ErrNeedsRecreate) {
		t.Errorf("Update to another namespace = %v, want ErrNeedsRecreate", err)
	}

	if err := l.Remove(p2); err != nil {
		t.Fatal(err)
	}
	if NetnsExists(ns) {
		t.Error("Remove left the namespace it created")
	}
	if got := l.CreatedNamespaces(); len(got) != 0 {
		t.Errorf("CreatedNamespaces after Remove = %v", got)
	}
	if err := l.Remove(p2); err == nil {
		t.Error("second Remove succeeded")
	}
}

// TestExistingNamespaceKeptPrivileged: a namespace that already existed is used
// and never deleted (F1, R4).
func TestExistingNamespaceKeptPrivileged(t *testing.T) {
	requireRoot(t)
	ns := userNS(t)
	l := NewLinux(zaptest.NewLogger(t))
	spec := eniSpec(ns)
	p, err := l.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.CreatedNetns {
		t.Error("CreatedNetns for an existing namespace")
	}
	checkPort(t, spec)
	second := spec
	second.Key, second.IfName, second.Metric = "eni-test2", "eth1", 1
	second.Addr = netip.MustParsePrefix("192.168.2.10/24")
	second.Secondary, second.Routes = nil, nil
	second.Gateway = netip.MustParseAddr("192.168.2.253")
	p2, err := l.Create(second)
	if err != nil {
		t.Fatal(err)
	}
	checkPort(t, spec) // both default routes coexist thanks to distinct metrics
	checkPort(t, second)
	if err := l.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, ok := linkIn(t, ns, "eth0"); ok {
		t.Error("Remove left the link")
	}
	if err := l.Teardown(); err != nil {
		t.Fatal(err)
	}
	if !NetnsExists(ns) {
		t.Fatal("the user's namespace was deleted")
	}
	if _, ok := linkIn(t, ns, p2.Spec.IfName); ok {
		t.Error("Teardown left a link")
	}
}

// TestCreateRollbackPrivileged: any failing step undoes everything the call did
// and names port, namespace and step in one line (R2).
func TestCreateRollbackPrivileged(t *testing.T) {
	requireRoot(t)
	l := NewLinux(zaptest.NewLogger(t))
	t.Cleanup(func() { _ = l.Teardown() })

	t.Run("kernel rejects gateway in fresh namespace", func(t *testing.T) {
		ns := nsName(t)
		spec := eniSpec(ns)
		spec.Gateway = spec.Addr.Addr() // a local address is no onlink gateway
		_, err := l.Create(spec)
		if err == nil {
			t.Fatal("Create succeeded")
		}
		for _, want := range []string{"eni-test1", ns, "default route"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
		if NetnsExists(ns) {
			t.Error("namespace created by the failed call is left")
		}
		if got := l.CreatedNamespaces(); len(got) != 0 {
			t.Errorf("CreatedNamespaces = %v", got)
		}
	})

	t.Run("kernel rejects gateway in existing namespace", func(t *testing.T) {
		ns := userNS(t)
		spec := eniSpec(ns)
		spec.Gateway = spec.Addr.Addr()
		if _, err := l.Create(spec); err == nil {
			t.Fatal("Create succeeded")
		}
		if !NetnsExists(ns) {
			t.Fatal("existing namespace deleted by rollback")
		}
		if got := linkNames(t, ns); !slices.Equal(got, []string{"lo"}) {
			t.Errorf("links left in %s: %v", ns, got)
		}
	})

	t.Run("conflicting non-TUN interface", func(t *testing.T) {
		ns := userNS(t)
		withHandle(t, ns, func(h *netlink.Handle) {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0"}
			if err := h.LinkAdd(veth); err != nil {
				t.Fatal(err)
			}
		})
		_, err := l.Create(eniSpec(ns))
		if err == nil || !strings.Contains(err.Error(), "not a TUN") {
			t.Fatalf("Create over a veth eth0 = %v", err)
		}
		link, ok := linkIn(t, ns, "eth0")
		if !ok || link.Type() != "veth" {
			t.Errorf("the user's eth0 was touched: %v", link)
		}
		if got := linkNames(t, ns); !slices.Equal(got, []string{"eth0", "lo", "peer0"}) {
			t.Errorf("links left in %s: %v", ns, got)
		}
	})

	t.Run("invalid interface name", func(t *testing.T) {
		ns := nsName(t)
		spec := eniSpec(ns)
		spec.IfName = "much-too-long-name0"
		if _, err := l.Create(spec); err == nil {
			t.Fatal("Create succeeded")
		}
		if NetnsExists(ns) {
			t.Error("namespace created for an invalid spec")
		}
	})

	t.Run("duplicate port", func(t *testing.T) {
		ns := nsName(t)
		spec := eniSpec(ns)
		p, err := l.Create(spec)
		if err != nil {
			t.Fatal(err)
		}
		dup := spec
		dup.Key = "eni-dup"
		if _, err := l.Create(dup); err == nil || !strings.Contains(err.Error(), "held by port eni-test1") {
			t.Errorf("duplicate Create = %v", err)
		}
		checkPort(t, spec)
		if err := l.Remove(p); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNamespaceVanishedPrivileged: a port whose namespace disappears is
// reported (LinkGone) and removing it does not fail (Q4).
func TestNamespaceVanishedPrivileged(t *testing.T) {
	requireRoot(t)
	l := NewLinux(zaptest.NewLogger(t))
	t.Cleanup(func() { _ = l.Teardown() })
	ns1, ns2 := nsName(t), nsName(t)
	p1, err := l.Create(eniSpec(ns1))
	if err != nil {
		t.Fatal(err)
	}
	spec2 := eniSpec(ns2)
	spec2.Key = "eni-test2"
	p2, err := l.Create(spec2)
	if err != nil {
		t.Fatal(err)
	}
	if err := DeleteNetns(ns1); err != nil { // someone runs `ip netns del`
		t.Fatal(err)
	}
	if !l.LinkGone(p1) {
		t.Error("LinkGone false after the namespace vanished")
	}
	if l.LinkGone(p2) {
		t.Error("LinkGone true for the other port")
	}
	// The link itself vanishing is noticed too.
	withHandle(t, ns2, func(h *netlink.Handle) {
		link, err := h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkDel(link); err != nil {
			t.Fatal(err)
		}
	})
	if !l.LinkGone(p2) {
		t.Error("LinkGone false after the link was deleted")
	}
	if err := l.Teardown(); err != nil {
		t.Fatalf("Teardown after Q4: %v", err)
	}
	if NetnsExists(ns2) {
		t.Error("Teardown left a created namespace")
	}
}

// TestTeardownPrivileged: R4 removes held ports, detached ports' namespaces
// and namespaces adopted from a previous run; existing ones stay.
func TestTeardownPrivileged(t *testing.T) {
	requireRoot(t)
	first := NewLinux(zaptest.NewLogger(t))
	t.Cleanup(func() { _ = first.Teardown() })
	nsA, nsB, user := nsName(t), nsName(t), userNS(t)
	specs := []PortSpec{eniSpec(nsA), eniSpec(nsA), eniSpec(nsB), eniSpec(user)}
	for i := range specs {
		specs[i].Key = fmt.Sprintf("eni-%d", i)
		specs[i].IfName = fmt.Sprintf("eth%d", i)
		specs[i].Metric = i
	}
	var ports []*Port
	for _, s := range specs {
		p, err := first.Create(s)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, p)
	}
	// A previous run kept everything (--on-exit keep) ...
	for _, p := range ports {
		if err := first.Detach(p); err != nil {
			t.Fatal(err)
		}
	}
	saved := first.CreatedNamespaces()
	if !slices.Equal(saved, []string{nsA, nsB}) {
		t.Fatalf("CreatedNamespaces = %v, want %v", saved, []string{nsA, nsB})
	}
	// ... and the next one re-attaches port 0 only, then tears down.
	next := NewLinux(zaptest.NewLogger(t))
	next.AdoptNamespaces(saved)
	p0, err := next.Create(specs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !p0.Reattached {
		t.Error("port 0 not re-attached")
	}
	checkPort(t, specs[0])
	if err := next.Teardown(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{nsA, nsB} {
		if NetnsExists(ns) {
			t.Errorf("%s survived teardown", ns)
		}
	}
	if !NetnsExists(user) {
		t.Fatal("the user's namespace was deleted")
	}
}

// TestOwnNamespacePortPrivileged: Netns "" creates the TUN unconfigured in the
// caller's namespace (F1). The test runs it inside a namespace of its own so
// that nothing touches the test process's namespace.
func TestOwnNamespacePortPrivileged(t *testing.T) {
	requireRoot(t)
	ns := userNS(t)
	l := NewLinux(zaptest.NewLogger(t))
	spec := eniSpec("")
	spec.IfName = "vrhnown0"
	var p *Port
	err := InNetns(ns, func() error {
		var err error
		if p, err = l.Create(spec); err != nil {
			return err
		}
		if err := l.Detach(p); err != nil {
			return err
		}
		if p, err = l.Create(spec); err != nil {
			return err
		}
		if !p.Reattached {
			return errors.New("not re-attached")
		}
		if l.LinkGone(p) {
			return errors.New("LinkGone for a live port")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	link, ok := linkIn(t, ns, spec.IfName)
	if !ok {
		t.Fatalf("no %s in %s", spec.IfName, ns)
	}
	if link.Attrs().Flags&net.FlagUp != 0 {
		t.Error("an unconfigured port was brought up")
	}
	withHandle(t, ns, func(h *netlink.Handle) {
		addrs, _ := h.AddrList(link, netlink.FAMILY_ALL)
		routes, _ := h.RouteList(link, netlink.FAMILY_ALL)
		if len(addrs) != 0 || len(routes) != 0 {
			t.Errorf("own-namespace port configured: addrs %v routes %v", addrs, routes)
		}
	})
	err = InNetns(ns, func() error { return l.Remove(p) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := linkIn(t, ns, spec.IfName); ok {
		t.Error("Remove left the link")
	}
}

// TestRemoveRenamedLinkPrivileged: Remove finds its link through the
// descriptor, so a link the user renamed is still deleted, and nothing else.
func TestRemoveRenamedLinkPrivileged(t *testing.T) {
	requireRoot(t)
	ns := userNS(t)
	l := NewLinux(zaptest.NewLogger(t))
	p, err := l.Create(eniSpec(ns))
	if err != nil {
		t.Fatal(err)
	}
	withHandle(t, ns, func(h *netlink.Handle) {
		link, err := h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetName(link, "renamed0"); err != nil {
			t.Fatal(err)
		}
	})
	if l.LinkGone(p) {
		t.Error("LinkGone true for a renamed but live link")
	}
	if err := l.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got := linkNames(t, ns); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("links left in %s: %v", ns, got)
	}
}

// TestExternalPortPrivileged: the C "port" shape, point-to-point `peer_ip peer
// ip` with the internet port's EIP /32 device routes (C6) and no default route.
func TestExternalPortPrivileged(t *testing.T) {
	requireRoot(t)
	ns := userNS(t)
	l := NewLinux(zaptest.NewLogger(t))
	t.Cleanup(func() { _ = l.Teardown() })
	spec := PortSpec{
		Key: "vpn-test", Netns: ns, IfName: "vpn0", MTU: 1500,
		Addr:   netip.MustParsePrefix("100.100.0.2/32"),
		Peer:   netip.MustParseAddr("100.100.0.1"),
		Routes: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("198.51.100.8/32")},
	}
	p, err := l.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	checkPort(t, spec)
	// Packets to the router's end and to an EIP leave through the TUN.
	sendUDP(t, ns, netip.MustParseAddrPort("100.100.0.1:11"))
	readIPv4(t, p.Dev, 11)
	sendUDP(t, ns, netip.MustParseAddrPort("198.51.100.8:12"))
	readIPv4(t, p.Dev, 12)
	// An EIP unbound at runtime loses its route, another keeps its own.
	up := spec
	up.Routes = spec.Routes[1:]
	if err := l.Update(p, up); err != nil {
		t.Fatal(err)
	}
	checkPort(t, up)
	withHandle(t, ns, func(h *netlink.Handle) {
		if rs, err := h.RouteGet(net.ParseIP("198.51.100.7")); err == nil {
			t.Errorf("route to the unbound EIP survived: %v", rs)
		}
	})
}
