package hostnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vrouter/vrouter/dataplane/tun"
)

// ErrNeedsRecreate is returned by Host.Update for a change that cannot be made
// in place (another namespace, a different vnet-header setting): the caller
// removes the port and creates it again.
var ErrNeedsRecreate = errors.New("port must be recreated")

// PortSpec is the desired state of one port (SPEC F1; C "port" shape).
type PortSpec struct {
	// Key is the port's stable identity (ENI id or attachment id), used in
	// errors and logs.
	Key string
	// Netns is the named namespace the TUN lives in; "" leaves the port
	// unconfigured in vrouterd's own namespace (F1).
	Netns string
	// IfName is the interface name inside the namespace (at most 15 bytes).
	IfName string
	// MTU of the link; 0 leaves the kernel's value.
	MTU int
	// Addr is the address with its prefix length (ENI: ip/<VSwitch length>;
	// external port: peer_ip/32). Invalid means none.
	Addr netip.Prefix
	// Peer is the point-to-point peer (external ports: `ip addr add Addr peer
	// Peer`); invalid means none.
	Peer netip.Addr
	// Secondary addresses, each added as a /32 (F1).
	Secondary []netip.Addr
	// Gateway is the next hop of the default route (onlink); invalid means no
	// default route.
	Gateway netip.Addr
	// Metric is the priority of the default route. Several ENIs of one
	// instance share its namespace: give the primary ENI 0 and the others
	// distinct higher values so that each keeps its own default route.
	Metric int
	// Routes are extra device routes in the namespace (the internet port's EIP
	// /32s, SPEC C6).
	Routes []netip.Prefix
	// VnetHdr opens the TUN with IFF_VNET_HDR offloads (F1, Q7).
	VnetHdr bool
}

// Port is a port created (or re-attached) by a Host. Spec is the state last
// applied; Dev carries the packets. A Port is owned by its caller: Host methods
// on the same Port must not run concurrently.
//
// For Linux ports Dev is a *tun.Linux (OpenQueue for more queues); for Fake
// ports a *tuntest.Device. Dev.Name reports the name the device had when its
// descriptor was opened (a temporary name for ports created fresh); use
// Spec.IfName and Spec.Key.
type Port struct {
	Spec PortSpec
	Dev  tun.Device
	// CreatedNetns reports that this Create call created the namespace. Which
	// namespaces are deleted at teardown is tracked by the Host
	// (CreatedNamespaces), not by ports.
	CreatedNetns bool
	// Reattached reports that Create found the TUN left by a previous run
	// (SPEC Q7) and opened it from inside its namespace instead of creating it.
	Reattached bool

	ifindex int // link index inside Spec.Netns
}

// Host creates, reconciles and removes ports (DESIGN "Config path"). The agent
// uses it; Fake implements it for tests without root.
type Host interface {
	// Create makes the port described by spec, re-attaching a TUN left by a
	// previous run. On failure nothing it did is left behind.
	Create(spec PortSpec) (*Port, error)
	// Update reconciles MTU, addresses, routes and the interface name in
	// place. A change of namespace or vnet header returns an error wrapping
	// ErrNeedsRecreate and changes nothing.
	Update(p *Port, spec PortSpec) error
	// Remove closes the descriptor, deletes the link and deletes the namespace
	// if this Host created it and no other port it holds is in it. A port whose
	// namespace vanished (SPEC Q4) is reported, not an error.
	Remove(p *Port) error
	// Detach closes the descriptor only, leaving link and namespace
	// (`--on-exit keep`, SPEC Q7).
	Detach(p *Port) error
	// Teardown removes every port still held and every namespace this Host
	// created (SPEC R4).
	Teardown() error
	// CreatedNamespaces lists the namespaces this Host created or adopted, to
	// persist across `--on-exit keep` restarts.
	CreatedNamespaces() []string
	// AdoptNamespaces records namespaces a previous run created, so that they
	// are deleted at teardown like this run's own.
	AdoptNamespaces(names []string)
	// LinkGone reports whether the port's namespace or link disappeared
	// (SPEC Q4); the agent recreates such a port on reload.
	LinkGone(p *Port) bool
}

// validIfName applies the kernel's dev_valid_name rules.
func validIfName(name string) error {
	switch {
	case name == "":
		return errors.New("empty interface name")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("invalid interface name %q", name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r\x00"):
		return fmt.Errorf("invalid interface name %q: contains '/', ':', NUL or white space", name)
	}
	return nil
}

// Validate checks a spec before anything is touched.
func (s *PortSpec) Validate() error {
	if s.Key == "" {
		return errors.New("port spec without key")
	}
	if err := validIfName(s.IfName); err != nil {
		return err
	}
	if s.Netns != "" {
		if err := validNetnsName(s.Netns); err != nil {
			return err
		}
	}
	if s.MTU != 0 && (s.MTU < 68 || s.MTU > 65535) {
		return fmt.Errorf("MTU %d out of range 68-65535", s.MTU)
	}
	if s.Metric < 0 {
		return fmt.Errorf("negative route metric %d", s.Metric)
	}
	if s.Addr.IsValid() && !s.Addr.Addr().Is4() {
		return fmt.Errorf("address %s is not IPv4", s.Addr)
	}
	if s.Peer.IsValid() {
		if !s.Peer.Is4() {
			return fmt.Errorf("peer %s is not IPv4", s.Peer)
		}
		if !s.Addr.IsValid() {
			return fmt.Errorf("peer %s without an address", s.Peer)
		}
	}
	for _, a := range s.Secondary {
		if !a.Is4() {
			return fmt.Errorf("secondary address %s is not IPv4", a)
		}
	}
	if s.Gateway.IsValid() && !s.Gateway.Is4() {
		return fmt.Errorf("gateway %s is not IPv4", s.Gateway)
	}
	for _, r := range s.Routes {
		if !r.IsValid() || !r.Addr().Is4() || r.Masked() != r {
			return fmt.Errorf("route %s is not a canonical IPv4 prefix", r)
		}
	}
	return nil
}

// where names a port's namespace in messages.
func where(netns string) string {
	if netns == "" {
		return "own namespace"
	}
	return fmt.Sprintf("netns %q", netns)
}

// stepError makes the one-line error of SPEC R2: port key, namespace, step.
func stepError(spec *PortSpec, step string, err error) error {
	return fmt.Errorf("port %s (%s, %s): %s: %w", spec.Key, where(spec.Netns), spec.IfName, step, err)
}
