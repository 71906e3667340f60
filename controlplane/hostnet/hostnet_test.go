package hostnet

import (
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/dataplane/tun"
)

func TestPortSpecValidate(t *testing.T) {
	good := PortSpec{
		Key: "eni-1", Netns: "web1", IfName: "eth0", MTU: 1500,
		Addr:      netip.MustParsePrefix("192.168.1.10/24"),
		Secondary: []netip.Addr{netip.MustParseAddr("192.168.1.11")},
		Gateway:   netip.MustParseAddr("192.168.1.253"),
		Routes:    []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
	}
	tests := []struct {
		name    string
		mod     func(*PortSpec)
		wantErr string
	}{
		{"valid ENI (F1)", func(*PortSpec) {}, ""},
		{"external port peer (C)", func(s *PortSpec) {
			s.Addr, s.Peer, s.Gateway = netip.MustParsePrefix("100.64.0.2/32"), netip.MustParseAddr("100.64.0.1"), netip.Addr{}
		}, ""},
		{"own namespace", func(s *PortSpec) { s.Netns = "" }, ""},
		{"MTU 0 keeps kernel value", func(s *PortSpec) { s.MTU = 0 }, ""},
		{"no key", func(s *PortSpec) { s.Key = "" }, "without key"},
		{"empty ifname", func(s *PortSpec) { s.IfName = "" }, "empty interface name"},
		{"ifname 16 bytes", func(s *PortSpec) { s.IfName = "abcdefghijklmnop" }, "longer than 15"},
		{"ifname 15 bytes", func(s *PortSpec) { s.IfName = "abcdefghijklmno" }, ""},
		{"ifname slash", func(s *PortSpec) { s.IfName = "eth/0" }, "invalid interface name"},
		{"ifname colon", func(s *PortSpec) { s.IfName = "eth0:1" }, "invalid interface name"},
		{"ifname space", func(s *PortSpec) { s.IfName = "eth 0" }, "invalid interface name"},
		{"ifname dot", func(s *PortSpec) { s.IfName = "." }, "invalid interface name"},
		{"netns slash", func(s *PortSpec) { s.Netns = "a/b" }, "invalid namespace name"},
		{"netns dotdot", func(s *PortSpec) { s.Netns = ".." }, "invalid namespace name"},
		{"MTU too small", func(s *PortSpec) { s.MTU = 67 }, "out of range"},
		{"MTU too large", func(s *PortSpec) { s.MTU = 65536 }, "out of range"},
		{"negative metric", func(s *PortSpec) { s.Metric = -1 }, "negative"},
		{"IPv6 address", func(s *PortSpec) { s.Addr = netip.MustParsePrefix("fd00::1/64") }, "not IPv4"},
		{"peer without address", func(s *PortSpec) { s.Addr, s.Peer = netip.Prefix{}, netip.MustParseAddr("10.0.0.1") }, "without an address"},
		{"IPv6 secondary", func(s *PortSpec) { s.Secondary = []netip.Addr{netip.MustParseAddr("fd00::2")} }, "not IPv4"},
		{"IPv6 gateway", func(s *PortSpec) { s.Gateway = netip.MustParseAddr("fd00::fe") }, "not IPv4"},
		{"route host bits", func(s *PortSpec) { s.Routes = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")} }, "canonical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.mod(&s)
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWantAddrsAndRoutes(t *testing.T) {
	s := PortSpec{
		Addr: netip.MustParsePrefix("100.64.0.2/32"), Peer: netip.MustParseAddr("100.64.0.1"),
		Secondary: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.1")},
		Gateway:   netip.MustParseAddr("100.64.0.1"), Metric: 3,
		Routes: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32"), netip.MustParsePrefix("198.51.100.1/32")},
	}
	wantA := []addrKey{
		{netip.MustParseAddr("100.64.0.2"), 32, netip.MustParseAddr("100.64.0.1")},
		{local: netip.MustParseAddr("10.0.0.1"), bits: 32},
	}
	if got := wantAddrs(&s); !slices.Equal(got, wantA) {
		t.Errorf("wantAddrs = %v, want %v (duplicates collapse)", got, wantA)
	}
	wantR := []routeKey{
		{dst: defaultDst, gw: netip.MustParseAddr("100.64.0.1"), prio: 3},
		{dst: netip.MustParsePrefix("198.51.100.1/32")},
	}
	if got := wantRoutes(&s); !slices.Equal(got, wantR) {
		t.Errorf("wantRoutes = %v, want %v", got, wantR)
	}
	// netlink round trip of the keys.
	for _, k := range wantA {
		if got := keyOfAddr(*k.netlink(1)); got != k {
			t.Errorf("addr key round trip %v -> %v", k, got)
		}
	}
}

func TestInNetnsOwnNamespace(t *testing.T) {
	// "" runs fn in the caller's namespace: no privileges needed.
	sentinel := errors.New("boom")
	if err := InNetns("", func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("error = %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Errorf("recovered %v, want fn's panic value", r)
			}
		}()
		_ = InNetns("", func() error { panic("panic in fn") })
		t.Error("panic not propagated")
	}()
	done := make(chan error, 1)
	go func() {
		done <- InNetns("", func() error { runtime.Goexit(); return nil })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrGoexit) {
			t.Errorf("Goexit in fn = %v, want ErrGoexit", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("InNetns hung after Goexit in fn")
	}
	if err := InNetns("bad/name", func() error { return nil }); err == nil {
		t.Error("InNetns accepted an invalid name")
	}
	if NetnsExists("bad/name") || NetnsExists("") {
		t.Error("NetnsExists true for an invalid name")
	}
}

func fakeSpec(key, ns, ifname string) PortSpec {
	return PortSpec{
		Key: key, Netns: ns, IfName: ifname, MTU: 1500,
		Addr:    netip.MustParsePrefix("192.168.1.10/24"),
		Gateway: netip.MustParseAddr("192.168.1.253"),
	}
}

// TestFakeLifecycle: the Fake follows the Linux rules (F1 namespaces, Q7
// re-attach, R4 teardown, Q4 vanishing) so agent tests can rely on it.
func TestFakeLifecycle(t *testing.T) {
	f := NewFake()
	f.AddNamespace("user")
	var h Host = f

	a, err := h.Create(fakeSpec("eni-a", "web1", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Create(fakeSpec("eni-b", "web1", "eth1"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.Create(fakeSpec("eni-u", "user", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.CreatedNetns || b.CreatedNetns || u.CreatedNetns {
		t.Errorf("CreatedNetns a=%v b=%v u=%v, want true false false", a.CreatedNetns, b.CreatedNetns, u.CreatedNetns)
	}
	if _, err := h.Create(fakeSpec("eni-dup", "web1", "eth0")); err == nil {
		t.Error("Create of a held interface succeeded")
	}
	if got := h.CreatedNamespaces(); !slices.Equal(got, []string{"web1"}) {
		t.Errorf("CreatedNamespaces = %v", got)
	}

	// Update in place; namespace change needs recreate.
	up := fakeSpec("eni-a", "web1", "eth5")
	up.MTU = 9000
	if err := h.Update(a, up); err != nil {
		t.Fatal(err)
	}
	if l, ok := f.Link("web1", "eth5"); !ok || l.Spec.MTU != 9000 {
		t.Errorf("link after update = %+v, %v", l, ok)
	}
	if _, ok := f.Link("web1", "eth0"); ok {
		t.Error("old name still present after rename")
	}
	if err := h.Update(a, fakeSpec("eni-a", "other", "eth5")); !errors.Is(err, ErrNeedsRecreate) {
		t.Errorf("namespace change = %v, want ErrNeedsRecreate", err)
	}
	vh := up
	vh.VnetHdr = true
	if err := h.Update(a, vh); !errors.Is(err, ErrNeedsRecreate) {
		t.Errorf("vnet header change = %v, want ErrNeedsRecreate", err)
	}

	// Removing one of two ports keeps the namespace; the last one deletes it.
	if err := h.Remove(a); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.Namespaces(), "web1") {
		t.Fatal("namespace deleted while eni-b still uses it")
	}
	if d, ok := FakeDevice(a); !ok {
		t.Error("Fake port without a tuntest device")
	} else if _, err := d.Write([][]byte{make([]byte, 64)}, tun.VirtioNetHdrLen); !errors.Is(err, tun.ErrClosed) {
		t.Errorf("Write after Remove = %v, want tun.ErrClosed", err)
	}
	if err := h.Remove(a); err == nil {
		t.Error("second Remove succeeded")
	}
	if err := h.Remove(b); err != nil {
		t.Fatal(err)
	}
	if got := f.Namespaces(); !slices.Equal(got, []string{"user"}) {
		t.Errorf("namespaces = %v, want only the user's", got)
	}

	// Detach then Create re-attaches (Q7).
	if err := h.Detach(u); err != nil {
		t.Fatal(err)
	}
	if l, ok := f.Link("user", "eth0"); !ok || l.Held {
		t.Errorf("detached link = %+v, %v; want present, not held", l, ok)
	}
	u2, err := h.Create(fakeSpec("eni-u", "user", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if !u2.Reattached {
		t.Error("Create after Detach did not re-attach")
	}

	// Q4: the namespace vanishes.
	c, err := h.Create(fakeSpec("eni-c", "gone", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if h.LinkGone(c) || h.LinkGone(u2) {
		t.Fatal("LinkGone true for live ports")
	}
	f.DeleteNamespace("gone")
	if !h.LinkGone(c) {
		t.Error("LinkGone false after the namespace vanished")
	}
	f.DeleteLink("user", "eth0")
	if !h.LinkGone(u2) {
		t.Error("LinkGone false after the link vanished")
	}

	// R4: teardown removes every held port and created namespace; the user's
	// namespace stays.
	h.AdoptNamespaces([]string{"prev-run", "bad/name"})
	f.AddNamespace("prev-run")
	if err := h.Teardown(); err != nil {
		t.Fatal(err)
	}
	if got := f.Namespaces(); !slices.Equal(got, []string{"user"}) {
		t.Errorf("namespaces after teardown = %v", got)
	}
	if got := f.Held(); len(got) != 0 {
		t.Errorf("held after teardown = %v", got)
	}
	if got := h.CreatedNamespaces(); len(got) != 0 {
		t.Errorf("CreatedNamespaces after teardown = %v", got)
	}
	var ops []string
	for _, c := range f.Calls() {
		ops = append(ops, c.Op+":"+c.Key)
	}
	want := []string{
		"create:eni-a", "create:eni-b", "create:eni-u", "create:eni-dup",
		"update:eni-a", "update:eni-a", "update:eni-a",
		"remove:eni-a", "remove:eni-a", "remove:eni-b",
		"detach:eni-u", "create:eni-u", "create:eni-c",
		"adopt:", "remove:eni-c", "remove:eni-u", "teardown:",
	}
	if !slices.Equal(ops, want) {
		t.Errorf("calls =\n%v\nwant\n%v", ops, want)
	}
}

func TestFakeFailureInjection(t *testing.T) {
	f := NewFake()
	boom := errors.New("injected")
	f.SetFailure(func(op string, s PortSpec) error {
		if op == "create" && s.Key == "eni-bad" {
			return boom
		}
		return nil
	})
	_, err := f.Create(fakeSpec("eni-bad", "ns1", "eth0"))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "eni-bad") || !strings.Contains(err.Error(), "ns1") {
		t.Fatalf("Create = %v, want injected error naming port and namespace", err)
	}
	if len(f.Namespaces()) != 0 {
		t.Error("failed Create left a namespace")
	}
	if calls := f.Calls(); len(calls) != 1 || !errors.Is(calls[0].Err, boom) {
		t.Errorf("calls = %+v", calls)
	}
	if _, err := f.Create(fakeSpec("eni-bad", "ns1", "bad/name")); err == nil {
		t.Error("invalid spec accepted")
	}
	f.SetFailure(nil)
	if _, err := f.Create(fakeSpec("eni-bad", "ns1", "eth0")); err != nil {
		t.Fatal(err)
	}
}
