package hostnet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vrouter/vrouter/dataplane/tun"
)

// Linux is the Host that drives the kernel through netlink and named network
// namespaces. Its methods serialise on one mutex (they are control-plane calls,
// a few netlink round trips each); Port values belong to the caller.
type Linux struct {
	log *zap.Logger

	mu      sync.Mutex
	ports   map[*Port]struct{}  // ports held (created or re-attached, not yet removed or detached)
	created map[string]struct{} // namespaces this host (or an adopted previous run) created
}

var _ Host = (*Linux)(nil)

// NewLinux returns a Linux host logging to log (nil: no logging).
func NewLinux(log *zap.Logger) *Linux {
	if log == nil {
		log = zap.NewNop()
	}
	return &Linux{log: log, ports: map[*Port]struct{}{}, created: map[string]struct{}{}}
}

// nsHandle is a netlink handle whose sockets live in one namespace, plus that
// namespace's descriptor.
type nsHandle struct {
	*netlink.Handle
	fd int
}

func (h *nsHandle) Close() {
	if h.Handle != nil {
		h.Handle.Close()
	}
	if h.fd >= 0 {
		unix.Close(h.fd)
	}
}

// openHandle opens the named namespace ("" = the caller's) and a netlink route
// socket inside it. Netlink sockets keep the namespace they were created in.
func openHandle(netns string) (*nsHandle, error) {
	fd, err := openNetns(netns)
	if err != nil {
		return nil, err
	}
	h := &nsHandle{fd: fd}
	err = inNetnsFd(fd, func() error {
		var err error
		h.Handle, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return h, nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// checkTun refuses an existing interface that is not a TUN.
func checkTun(l netlink.Link) error {
	t, ok := l.(*netlink.Tuntap)
	if !ok {
		return fmt.Errorf("interface %q already exists and is a %s device, not a TUN", l.Attrs().Name, l.Type())
	}
	if t.Mode != netlink.TUNTAP_MODE_TUN {
		return fmt.Errorf("interface %q already exists and is a TAP, not a TUN", l.Attrs().Name)
	}
	return nil
}

// tempName returns a unique name for a TUN born in vrouterd's namespace before
// it moves into its own.
func tempName() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return "vrt" + hex.EncodeToString(b[:])
}

// destroy deletes a TUN through its descriptor: clearing persist and closing the
// last descriptor makes the kernel unregister the link wherever it now lives.
func destroy(dev *tun.Linux) {
	_ = dev.Remove()
}

// heldLocked returns the held port at netns/ifname other than except.
func (l *Linux) heldLocked(netns, ifname string, except *Port) *Port {
	for p := range l.ports {
		if p != except && p.Spec.Netns == netns && p.Spec.IfName == ifname {
			return p
		}
	}
	return nil
}

func cloneSpec(s PortSpec) PortSpec {
	s.Secondary = slices.Clone(s.Secondary)
	s.Routes = slices.Clone(s.Routes)
	return s
}

// Create makes or re-attaches the port (SPEC F1, Q7); see Host.
func (l *Linux) Create(spec PortSpec) (*Port, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("port %s: invalid spec: %w", spec.Key, err)
	}
	spec = cloneSpec(spec)
	l.mu.Lock()
	defer l.mu.Unlock()
	if o := l.heldLocked(spec.Netns, spec.IfName, nil); o != nil {
		return nil, stepError(&spec, "create", fmt.Errorf("interface already held by port %s", o.Spec.Key))
	}

	var undo []func()
	done := false
	defer func() {
		if !done {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	p := &Port{Spec: spec}
	if spec.Netns != "" {
		created, err := EnsureNetns(spec.Netns)
		if err != nil {
			return nil, stepError(&spec, "create namespace", err)
		}
		if created {
			p.CreatedNetns = true
			l.created[spec.Netns] = struct{}{}
			undo = append(undo, func() {
				delete(l.created, spec.Netns)
				if err := DeleteNetns(spec.Netns); err != nil {
					l.log.Warn("rollback: delete namespace", zap.String("port", spec.Key), zap.String("netns", spec.Netns), zap.Error(err))
				}
			})
		}
	}
	h, err := openHandle(spec.Netns)
	if err != nil {
		return nil, stepError(&spec, "open namespace", err)
	}
	defer h.Close()

	existing, err := h.LinkByName(spec.IfName)
	switch {
	case err == nil:
		// Left by `--on-exit keep` or a crash (SPEC Q7): open it from inside
		// its namespace, where TUNSETIFF finds it by name.
		if err := checkTun(existing); err != nil {
			return nil, stepError(&spec, "re-attach", err)
		}
		var dev *tun.Linux
		err := inNetnsFd(h.fd, func() error {
			var err error
			dev, err = tun.Open(tun.Options{Name: spec.IfName, Persist: true, VnetHdr: spec.VnetHdr})
			return err
		})
		if err != nil {
			return nil, stepError(&spec, "re-attach TUN", err)
		}
		undo = append(undo, func() { _ = dev.Close() })
		p.Dev, p.Reattached = dev, true
		p.ifindex = existing.Attrs().Index

	case isLinkNotFound(err):
		if spec.Netns == "" {
			dev, err := tun.Open(tun.Options{Name: spec.IfName, Persist: true, VnetHdr: spec.VnetHdr})
			if err != nil {
				return nil, stepError(&spec, "create TUN", err)
			}
			undo = append(undo, func() { destroy(dev) })
			p.Dev = dev
			link, err := h.LinkByName(spec.IfName)
			if err != nil {
				return nil, stepError(&spec, "find new TUN", err)
			}
			p.ifindex = link.Attrs().Index
			break
		}
		// Born in vrouterd's own namespace under a temporary name, then moved
		// and renamed, so that a half-made port never carries the real name.
		tmp := tempName()
		var dev *tun.Linux
		var link netlink.Link
		err := InNetns("", func() error {
			var err error
			if dev, err = tun.Open(tun.Options{Name: tmp, Persist: true, VnetHdr: spec.VnetHdr}); err != nil {
				return err
			}
			if link, err = netlink.LinkByName(tmp); err != nil {
				return fmt.Errorf("find %s: %w", tmp, err)
			}
			if err = netlink.LinkSetNsFd(link, h.fd); err != nil {
				return fmt.Errorf("move %s into namespace: %w", tmp, err)
			}
			return nil
		})
		if dev != nil {
			undo = append(undo, func() { destroy(dev) })
		}
		if err != nil {
			return nil, stepError(&spec, "create TUN", err)
		}
		p.Dev = dev
		moved, err := h.LinkByName(tmp)
		if err != nil {
			return nil, stepError(&spec, "find TUN in namespace", err)
		}
		if err := h.LinkSetName(moved, spec.IfName); err != nil {
			return nil, stepError(&spec, "rename "+tmp, err)
		}
		p.ifindex = moved.Attrs().Index

	default:
		return nil, stepError(&spec, "look up interface", err)
	}

	if spec.Netns != "" {
		if step, err := configure(h, p.ifindex, &spec, nil); err != nil {
			return nil, stepError(&spec, step, err)
		}
	}
	l.ports[p] = struct{}{}
	done = true
	l.log.Info("port ready",
		zap.String("port", spec.Key), zap.String("netns", spec.Netns), zap.String("ifname", spec.IfName),
		zap.Bool("reattached", p.Reattached), zap.Bool("created_netns", p.CreatedNetns))
	return p, nil
}

// Update reconciles p with spec in place; see Host.
func (l *Linux) Update(p *Port, spec PortSpec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("port %s: invalid spec: %w", spec.Key, err)
	}
	spec = cloneSpec(spec)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.ports[p]; !ok {
		return fmt.Errorf("port %s: update: port not held", spec.Key)
	}
	if spec.Netns != p.Spec.Netns {
		return stepError(&spec, "update", fmt.Errorf("namespace changes from %q: %w", p.Spec.Netns, ErrNeedsRecreate))
	}
	if spec.VnetHdr != p.Spec.VnetHdr {
		return stepError(&spec, "update", fmt.Errorf("vnet header changes: %w", ErrNeedsRecreate))
	}
	if o := l.heldLocked(spec.Netns, spec.IfName, p); o != nil {
		return stepError(&spec, "update", fmt.Errorf("interface already held by port %s", o.Spec.Key))
	}
	h, err := openHandle(spec.Netns)
	if err != nil {
		return stepError(&spec, "open namespace", err)
	}
	defer h.Close()
	link, err := h.LinkByIndex(p.ifindex)
	if err != nil {
		return stepError(&spec, "find link", err)
	}
	if link.Attrs().Name != spec.IfName {
		if err := rename(h, link, spec.IfName); err != nil {
			return stepError(&spec, "rename "+link.Attrs().Name, err)
		}
	}
	if spec.Netns != "" {
		if step, err := configure(h, p.ifindex, &spec, &p.Spec); err != nil {
			return stepError(&spec, step, err)
		}
	}
	p.Spec = spec
	l.log.Info("port updated", zap.String("port", spec.Key), zap.String("netns", spec.Netns), zap.String("ifname", spec.IfName))
	return nil
}

// rename renames a link, taking it down for the rename when the kernel refuses
// to rename a running interface.
func rename(h *nsHandle, link netlink.Link, name string) error {
	err := h.LinkSetName(link, name)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	if err := h.LinkSetDown(link); err != nil {
		return err
	}
	if err := h.LinkSetName(link, name); err != nil {
		return err
	}
	return h.LinkSetUp(link)
}

// Remove deletes the port; see Host.
func (l *Linux) Remove(p *Port) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.removeLocked(p)
}

func (l *Linux) removeLocked(p *Port) error {
	if _, ok := l.ports[p]; !ok {
		return fmt.Errorf("port %s: remove: port not held", p.Spec.Key)
	}
	delete(l.ports, p)
	spec := &p.Spec
	// Ask the descriptor for the link's present name before closing it: the
	// link is deleted only if index and name still say it is ours.
	name, gone := currentName(p)
	var errs []error
	if err := p.Dev.Close(); err != nil {
		errs = append(errs, stepError(spec, "close TUN", err))
	}
	var err error
	if gone {
		err = fmt.Errorf("%w: the kernel detached the descriptor", errLinkGone)
	} else {
		err = deleteLink(spec.Netns, p.ifindex, name)
	}
	if err != nil {
		if errors.Is(err, errLinkGone) {
			// SPEC Q4: the namespace or the link vanished underneath us; the
			// desired end state is reached, so report and carry on.
			l.log.Warn("port link already gone", zap.String("port", spec.Key), zap.String("netns", spec.Netns),
				zap.String("ifname", spec.IfName), zap.String("reason", err.Error()))
		} else {
			errs = append(errs, stepError(spec, "delete link", err))
		}
	}
	if err := l.releaseNetnsLocked(spec.Netns); err != nil {
		errs = append(errs, stepError(spec, "delete namespace", err))
	}
	if len(errs) == 0 {
		l.log.Info("port removed", zap.String("port", spec.Key), zap.String("netns", spec.Netns), zap.String("ifname", spec.IfName))
	}
	return errors.Join(errs...)
}

// currentName returns the link's present name as the port's descriptor knows
// it, and whether the kernel has detached the descriptor (link deleted).
func currentName(p *Port) (name string, gone bool) {
	lin, ok := p.Dev.(*tun.Linux)
	if !ok {
		return p.Spec.IfName, false
	}
	name, err := lin.CurrentName()
	switch {
	case err == nil:
		return name, false
	case errors.Is(err, tun.ErrGone):
		return "", true
	default:
		return p.Spec.IfName, false
	}
}

// errLinkGone marks a link that no longer exists (SPEC Q4).
var errLinkGone = errors.New("link gone")

// deleteLink deletes the TUN named name at ifindex in netns. A vanished
// namespace or link returns an error wrapping errLinkGone.
func deleteLink(netns string, ifindex int, name string) error {
	h, err := openHandle(netns)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: namespace %q vanished", errLinkGone, netns)
		}
		return err
	}
	defer h.Close()
	link, err := h.LinkByIndex(ifindex)
	if err != nil {
		if isLinkNotFound(err) {
			return fmt.Errorf("%w: no interface with index %d", errLinkGone, ifindex)
		}
		return err
	}
	if checkTun(link) != nil || link.Attrs().Name != name {
		// The index now belongs to something else: ours is gone.
		return fmt.Errorf("%w: index %d is now %s (%s)", errLinkGone, ifindex, link.Attrs().Name, link.Type())
	}
	if err := h.LinkDel(link); err != nil && !isLinkNotFound(err) {
		return err
	}
	return nil
}

// releaseNetnsLocked deletes netns if this host created it and no held port is
// in it any more.
func (l *Linux) releaseNetnsLocked(netns string) error {
	if netns == "" {
		return nil
	}
	if _, ok := l.created[netns]; !ok {
		return nil
	}
	for o := range l.ports {
		if o.Spec.Netns == netns {
			return nil
		}
	}
	delete(l.created, netns)
	if err := DeleteNetns(netns); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Detach closes the port's descriptor and leaves link and namespace (SPEC Q7).
func (l *Linux) Detach(p *Port) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.ports[p]; !ok {
		return fmt.Errorf("port %s: detach: port not held", p.Spec.Key)
	}
	delete(l.ports, p)
	if err := p.Dev.Close(); err != nil {
		return stepError(&p.Spec, "close TUN", err)
	}
	l.log.Info("port detached", zap.String("port", p.Spec.Key), zap.String("netns", p.Spec.Netns), zap.String("ifname", p.Spec.IfName))
	return nil
}

// Teardown removes every held port and every namespace this host created
// (SPEC R4). It carries on past failures and returns them all.
func (l *Linux) Teardown() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ports := make([]*Port, 0, len(l.ports))
	for p := range l.ports {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Spec.Key < ports[j].Spec.Key })
	var errs []error
	for _, p := range ports {
		if err := l.removeLocked(p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range sortedKeys(l.created) {
		delete(l.created, ns)
		if err := DeleteNetns(ns); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				l.log.Warn("namespace already gone", zap.String("netns", ns))
				continue
			}
			errs = append(errs, fmt.Errorf("teardown: %w", err))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CreatedNamespaces lists, sorted, the namespaces to delete at teardown.
func (l *Linux) CreatedNamespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sortedKeys(l.created)
}

// AdoptNamespaces records namespaces a previous run created (SPEC Q7, R4).
// Invalid names are ignored.
func (l *Linux) AdoptNamespaces(names []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range names {
		if validNetnsName(n) == nil {
			l.created[n] = struct{}{}
		}
	}
}

// LinkGone reports whether p's namespace or link disappeared (SPEC Q4). It says
// true only when sure; a transient netlink failure reads as "not gone".
func (l *Linux) LinkGone(p *Port) bool {
	l.mu.Lock()
	netns, ifindex := p.Spec.Netns, p.ifindex
	l.mu.Unlock()
	if netns != "" && !NetnsExists(netns) {
		return true
	}
	if _, gone := currentName(p); gone {
		return true
	}
	h, err := openHandle(netns)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	defer h.Close()
	link, err := h.LinkByIndex(ifindex)
	if err != nil {
		return isLinkNotFound(err)
	}
	return checkTun(link) != nil
}

// ---- configuration ----

type addrKey struct {
	local netip.Addr
	bits  int
	peer  netip.Addr
}

type routeKey struct {
	dst  netip.Prefix
	gw   netip.Addr
	prio int
}

var defaultDst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

func wantAddrs(s *PortSpec) []addrKey {
	var out []addrKey
	if s.Addr.IsValid() {
		out = append(out, addrKey{s.Addr.Addr(), s.Addr.Bits(), s.Peer})
	}
	for _, a := range s.Secondary {
		k := addrKey{local: a, bits: 32}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func wantRoutes(s *PortSpec) []routeKey {
	var out []routeKey
	if s.Gateway.IsValid() {
		out = append(out, routeKey{dst: defaultDst, gw: s.Gateway, prio: s.Metric})
	}
	for _, r := range s.Routes {
		k := routeKey{dst: r}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func ipPrefix(n *net.IPNet) netip.Prefix {
	if n == nil {
		return defaultDst
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ipAddr(n.IP), ones)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func keyOfAddr(a netlink.Addr) addrKey {
	k := addrKey{local: ipAddr(a.IP)}
	k.bits, _ = a.Mask.Size()
	if a.Peer != nil {
		if peer := ipAddr(a.Peer.IP); peer != k.local {
			k.peer = peer
		}
	}
	return k
}

func (k addrKey) netlink(ifindex int) *netlink.Addr {
	a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(k.local, k.bits)), LinkIndex: ifindex}
	if k.peer.IsValid() {
		a.Peer = ipNet(netip.PrefixFrom(k.peer, k.bits))
	}
	return a
}

func (k routeKey) netlink(ifindex int) *netlink.Route {
	r := &netlink.Route{LinkIndex: ifindex, Dst: ipNet(k.dst), Priority: k.prio, Table: unix.RT_TABLE_MAIN}
	if k.gw.IsValid() {
		r.Gw = k.gw.AsSlice()
		r.Flags = int(netlink.FLAG_ONLINK)
		r.Scope = netlink.SCOPE_UNIVERSE
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

// configure brings the link at ifindex to spec: MTU, IPv4 addresses (exactly
// the spec's), link up, routes (the spec's added; those of prev that spec no
// longer has deleted; other routes are the user's and stay). It returns the
// failing step.
func configure(h *nsHandle, ifindex int, spec, prev *PortSpec) (string, error) {
	link, err := h.LinkByIndex(ifindex)
	if err != nil {
		return "find link", err
	}
	if spec.MTU > 0 && link.Attrs().MTU != spec.MTU {
		if err := h.LinkSetMTU(link, spec.MTU); err != nil {
			return fmt.Sprintf("set MTU %d", spec.MTU), err
		}
	}

	want := wantAddrs(spec)
	have, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return "list addresses", err
	}
	for _, a := range have {
		if !slices.Contains(want, keyOfAddr(a)) {
			if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return "delete address " + a.IPNet.String(), err
			}
		}
	}
	// Deleting a primary address can take secondaries of its subnet with it:
	// list again before adding.
	if have, err = h.AddrList(link, netlink.FAMILY_V4); err != nil {
		return "list addresses", err
	}
	haveKeys := make([]addrKey, len(have))
	for i, a := range have {
		haveKeys[i] = keyOfAddr(a)
	}
	for _, k := range want {
		if slices.Contains(haveKeys, k) {
			continue
		}
		if err := h.AddrAdd(link, k.netlink(ifindex)); err != nil && !errors.Is(err, unix.EEXIST) {
			s := netip.PrefixFrom(k.local, k.bits).String()
			if k.peer.IsValid() {
				s += " peer " + k.peer.String()
			}
			return "add address " + s, err
		}
	}

	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return "set link up", err
		}
	}

	routes := wantRoutes(spec)
	if prev != nil {
		for _, k := range wantRoutes(prev) {
			if !slices.Contains(routes, k) {
				if err := h.RouteDel(k.netlink(ifindex)); err != nil && !errors.Is(err, unix.ESRCH) {
					return "delete route " + k.dst.String(), err
				}
			}
		}
	}
	current, err := h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{LinkIndex: ifindex, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return "list routes", err
	}
	for _, k := range routes {
		if slices.ContainsFunc(current, func(r netlink.Route) bool {
			return ipPrefix(r.Dst) == k.dst && ipAddr(r.Gw) == k.gw && r.Priority == k.prio
		}) {
			continue
		}
		// Append, not replace: a user's route to the same destination stays
		// and keeps precedence (C: routes in outside namespaces are the user's).
		if err := h.RouteAppend(k.netlink(ifindex)); err != nil && !errors.Is(err, unix.EEXIST) {
			if k.gw.IsValid() {
				return fmt.Sprintf("add default route via %s onlink", k.gw), err
			}
			return "add route " + k.dst.String(), err
		}
	}
	return "", nil
}
