// Package topo builds the three topologies SPEC §9 compares, side by side in
// network namespaces of one vbench run:
//
//   - K: the kernel as router. client — router — server joined by veth pairs;
//     the router forwards (ip_forward=1) through an nftables stateful filter
//     equivalent to the security groups of V and a policy-routed custom table
//     equivalent to V's custom route table.
//   - T: a bare TUN copy loop. A TUN with IFF_VNET_HDR offloads in the client
//     and in the server namespace, and a Go loop in vbench that copies every
//     packet, virtio-net header included, from one to the other in both
//     directions. No parsing, no routing: the floor a TUN design cannot beat.
//   - V: vrouterd itself, started on a generated configuration with a
//     security group and a custom route table; it creates and removes the
//     namespaces and TUN ports.
//
// Every topology uses the same addresses (client 192.168.1.10/24, server
// 192.168.2.10/24, gateways .253) and MTU 1500, so the traffic is identical.
// A builder registers its teardown with the netenv.Env it was given; the
// returned Topology is read-only and may be shared between goroutines.
package topo

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrouter/vrouter/bench/internal/traffic"
)

// Addresses shared by every topology.
var (
	ClientAddr  = netip.MustParsePrefix("192.168.1.10/24")
	ClientGW    = netip.MustParseAddr("192.168.1.253")
	ServerAddr  = netip.MustParsePrefix("192.168.2.10/24")
	ServerGW    = netip.MustParseAddr("192.168.2.253")
	VPCCIDR     = netip.MustParsePrefix("192.168.0.0/16")
	CustomRoute = netip.MustParsePrefix("10.0.0.0/8") // custom route → the client instance
)

// MTU of every interface the traffic crosses.
const MTU = 1500

// Topology is one built topology.
type Topology struct {
	ID       string // "K", "T" or "V"
	Desc     string
	ClientNS string
	ServerNS string
	// Notes, if set, returns counters worth printing after the run (e.g. the
	// copy loop's write errors); it may be called at any time.
	Notes func() string
}

// Endpoints returns where traffic for this topology runs.
func (t *Topology) Endpoints() traffic.Endpoints {
	return traffic.Endpoints{ClientNS: t.ClientNS, ServerNS: t.ServerNS, ServerAddr: ServerAddr.Addr().String()}
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// configureHost gives link ifname in ns the address addr, MTU, link up, and a
// default route via gw (onlink), exactly what vrouterd does for an ENI (F1).
func configureHost(ns netns.NsHandle, ifname string, addr netip.Prefix, gw netip.Addr) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	l, err := h.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("link %s: %w", ifname, err)
	}
	if err := h.LinkSetMTU(l, MTU); err != nil {
		return fmt.Errorf("mtu %s: %w", ifname, err)
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipnet(addr)}); err != nil {
		return fmt.Errorf("address %s on %s: %w", addr, ifname, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("up %s: %w", ifname, err)
	}
	rt := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice(), Flags: int(netlink.FLAG_ONLINK)}
	if err := h.RouteAdd(rt); err != nil {
		return fmt.Errorf("default route via %s on %s: %w", gw, ifname, err)
	}
	return nil
}

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("up %s: %w", name, err)
	}
	return nil
}
