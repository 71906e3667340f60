// Package testnet is the root-only end-to-end harness of vrouter (DESIGN
// "Testing conventions"): it makes uniquely named network namespaces and wires
// them with veth pairs and kernel routes, opens sockets inside them from Go,
// sends pings and hand-built packets, and runs the real vrouterd and vrouterctl
// binaries. The scenario tests of SPEC live beside it as _test.go files.
//
// Safety rules the harness enforces or assumes: every namespace a test uses
// starts with Prefix() (unique per test process) and is removed in t.Cleanup
// even when the test fails; Main sweeps what is left when the test binary
// ends; nothing is ever configured in the test process's own namespace.
// Helpers that take a namespace name run their work on a locked OS thread
// inside it (hostnet.InNetns); sockets they return keep that namespace.
//
// The package has no shared mutable state besides the once-built binaries
// (guarded by sync.Once) and each Daemon's log buffer (guarded by its mutex).
package testnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/controlplane/hostnet"
)

// RequireRoot skips the test unless it runs as root with /dev/net/tun.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testnet: root-only test (needs CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces); run as root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("testnet: /dev/net/tun unavailable (%v); load the tun module", err)
	}
}

var prefix = "vt" + strconv.FormatInt(int64(os.Getpid()), 36)

// Prefix is unique per test process ("vt" + the pid in base 36, at most 7
// bytes). Every namespace a test uses, including those it has vrouterd create,
// should start with it, so that cleanup can find them.
func Prefix() string { return prefix }

// NewNS creates the namespace Prefix()+base (deleting a stale one of that name
// first) with its loopback up, and deletes it in t.Cleanup.
func NewNS(t testing.TB, base string) string {
	t.Helper()
	name := Prefix() + base
	if hostnet.NetnsExists(name) {
		if err := hostnet.DeleteNetns(name); err != nil {
			t.Fatalf("testnet: remove stale namespace %s: %v", name, err)
		}
	}
	created, err := hostnet.EnsureNetns(name)
	if err != nil {
		t.Fatalf("testnet: create namespace %s: %v", name, err)
	}
	if !created {
		t.Fatalf("testnet: namespace %s appeared concurrently", name)
	}
	t.Cleanup(func() {
		if err := hostnet.DeleteNetns(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("testnet: delete namespace %s: %v", name, err)
		}
	})
	return name
}

// CleanupPrefix registers a cleanup that deletes every namespace whose name
// starts with Prefix(), such as namespaces vrouterd created and a failing test
// left behind. It sweeps the whole process's prefix: use it in tests that do
// not run in parallel with other namespace tests.
func CleanupPrefix(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		if err := sweep(); err != nil {
			t.Errorf("testnet: %v", err)
		}
	})
}

// sweep deletes every namespace starting with Prefix().
func sweep() error {
	entries, err := os.ReadDir(hostnet.NetnsDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), Prefix()) {
			if err := hostnet.DeleteNetns(e.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Main runs the tests, then removes the binaries BuildBinaries made and any
// namespace still carrying Prefix(). Use it as TestMain: os.Exit(Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	removeBinaries()
	if os.Geteuid() == 0 {
		if err := sweep(); err != nil {
			fmt.Fprintf(os.Stderr, "testnet: sweep namespaces: %v\n", err)
		}
	}
	return code
}

// InNS runs fn on a locked OS thread inside ns ("" = the caller's own); it is
// hostnet.InNetns.
func InNS(ns string, fn func() error) error { return hostnet.InNetns(ns, fn) }

// ListenTCP listens on addr ("ip:port", port 0 picks one) inside ns.
func ListenTCP(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := InNS(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// DialTCP connects from inside ns to addr within timeout.
func DialTCP(ns, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := InNS(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// ListenUDP binds a UDP socket to addr inside ns.
func ListenUDP(ns, addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	var c *net.UDPConn
	err = InNS(ns, func() (err error) {
		c, err = net.ListenUDP("udp", ua)
		return err
	})
	return c, err
}

// DialUDP makes a connected UDP socket inside ns from laddr ("" = any) to
// raddr.
func DialUDP(ns, laddr, raddr string) (*net.UDPConn, error) {
	var la *net.UDPAddr
	if laddr != "" {
		var err error
		if la, err = net.ResolveUDPAddr("udp", laddr); err != nil {
			return nil, err
		}
	}
	ra, err := net.ResolveUDPAddr("udp", raddr)
	if err != nil {
		return nil, err
	}
	var c *net.UDPConn
	err = InNS(ns, func() (err error) {
		c, err = net.DialUDP("udp", la, ra)
		return err
	})
	return c, err
}

// withLinks runs fn with a netlink handle inside ns.
func withLinks(ns string, fn func(h *netlink.Handle) error) error {
	return InNS(ns, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		return fn(h)
	})
}

// Veth connects ns1 and ns2 with a veth pair named if1 (in ns1) and if2 (in
// ns2) and brings both ends up.
func Veth(ns1, if1, ns2, if2 string) error {
	fd2, err := unix.Open(filepath.Join(hostnet.NetnsDir, ns2), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("testnet: open namespace %s: %w", ns2, err)
	}
	defer unix.Close(fd2)
	err = withLinks(ns1, func(h *netlink.Handle) error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: if1}, PeerName: if2, PeerNamespace: netlink.NsFd(fd2)}
		if err := h.LinkAdd(v); err != nil {
			return err
		}
		l, err := h.LinkByName(if1)
		if err != nil {
			return err
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return fmt.Errorf("testnet: veth %s/%s-%s/%s: %w", ns1, if1, ns2, if2, err)
	}
	if err := LinkUp(ns2, if2); err != nil {
		return err
	}
	return nil
}

// LinkUp brings ifname in ns up.
func LinkUp(ns, ifname string) error {
	err := withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return fmt.Errorf("testnet: %s/%s up: %w", ns, ifname, err)
	}
	return nil
}

// SetMTU sets the MTU of ifname in ns.
func SetMTU(ns, ifname string, mtu int) error {
	err := withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		return h.LinkSetMTU(l, mtu)
	})
	if err != nil {
		return fmt.Errorf("testnet: %s/%s mtu %d: %w", ns, ifname, mtu, err)
	}
	return nil
}

// AddrAdd adds addr (with its prefix length) to ifname in ns.
func AddrAdd(ns, ifname string, addr netip.Prefix) error {
	err := withLinks(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		return h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{
			IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen()),
		}})
	})
	if err != nil {
		return fmt.Errorf("testnet: %s/%s addr %s: %w", ns, ifname, addr, err)
	}
	return nil
}

// RouteAdd adds a route to dst in ns: via gw if valid, else a device route
// out of ifname. ifname may be empty when gw is given.
func RouteAdd(ns string, dst netip.Prefix, gw netip.Addr, ifname string) error {
	err := withLinks(ns, func(h *netlink.Handle) error {
		r := &netlink.Route{Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())}}
		if ifname != "" {
			l, err := h.LinkByName(ifname)
			if err != nil {
				return err
			}
			r.LinkIndex = l.Attrs().Index
		}
		if gw.IsValid() {
			r.Gw = gw.AsSlice()
		} else {
			r.Scope = netlink.SCOPE_LINK
		}
		return h.RouteAdd(r)
	})
	if err != nil {
		return fmt.Errorf("testnet: %s route %s via %v dev %q: %w", ns, dst, gw, ifname, err)
	}
	return nil
}

// Sysctl writes a network sysctl (for example "net.ipv4.ip_forward") inside
// ns; /proc/sys/net resolves to the namespace of the thread that opens it.
func Sysctl(ns, key, value string) error {
	if !strings.HasPrefix(key, "net.") {
		return fmt.Errorf("testnet: sysctl %s: only net.* keys are per namespace", key)
	}
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	err := InNS(ns, func() error { return os.WriteFile(path, []byte(value), 0o644) })
	if err != nil {
		return fmt.Errorf("testnet: %s sysctl %s=%s: %w", ns, key, value, err)
	}
	return nil
}
