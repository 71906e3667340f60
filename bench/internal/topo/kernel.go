package topo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrouter/vrouter/bench/internal/netenv"
)

// Names inside the kernel router's namespace.
const (
	kernelClientSide = "c0" // router's veth toward the client
	kernelServerSide = "s0" // router's veth toward the server
	kernelTable      = 100  // policy-routed "custom route table" of the server side
)

// KernelRuleset is the nftables ruleset of the kernel router. It is the
// kernel's rendering of V's security groups (SPEC S1–S4): replies of admitted
// flows pass without rule evaluation (ct state established,related), new
// flows from the client subnet to the server may use TCP and UDP port 5201
// and ICMP (sg-srv ingress), and every other new flow is dropped (sg-cli has
// no ingress rule, so the server cannot open flows toward the client either).
var KernelRuleset = fmt.Sprintf(`table ip vbench {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname %[1]q oifname %[2]q ip saddr %[3]s tcp dport 5201 accept
		iifname %[1]q oifname %[2]q ip saddr %[3]s udp dport 5201 accept
		iifname %[1]q oifname %[2]q ip saddr %[3]s ip protocol icmp accept
	}
}
`, kernelClientSide, kernelServerSide, ClientAddr.Masked())

// Kernel builds topology K: namespaces <prefix>-kc (client), -kr (router) and
// -ks (server) joined by veth pairs. The router forwards with ip_forward=1,
// filters with KernelRuleset and routes packets arriving from the server side
// through a policy rule into its own table (the server subnet, the client
// subnet and a custom route 10.0.0.0/8 via the client), mirroring vsw-b's
// custom route table in V.
func Kernel(ctx context.Context, env *netenv.Env) (*Topology, error) {
	t := &Topology{
		ID:       "K",
		Desc:     "kernel router (veth, ip_forward, nftables ct + policy-routed custom table)",
		ClientNS: env.Name("kc"),
		ServerNS: env.Name("ks"),
	}
	routerNS := env.Name("kr")
	handles := map[string]netns.NsHandle{}
	defer func() {
		for _, h := range handles {
			h.Close()
		}
	}()
	for _, name := range []string{t.ClientNS, routerNS, t.ServerNS} {
		h, err := env.AddNetns(ctx, name)
		if err != nil {
			return nil, err
		}
		handles[name] = h
	}
	cli, rtr, srv := handles[t.ClientNS], handles[routerNS], handles[t.ServerNS]

	rh, err := netlink.NewHandleAt(rtr)
	if err != nil {
		return nil, fmt.Errorf("K: netlink in %s: %w", routerNS, err)
	}
	defer rh.Close()
	// Both veth pairs are created from inside the router namespace with the
	// peer placed directly in the host namespace: nothing appears in the
	// namespace vbench runs in.
	for _, p := range []struct {
		local string
		peer  netns.NsHandle
	}{{kernelClientSide, cli}, {kernelServerSide, srv}} {
		v := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: p.local, MTU: MTU},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(int(p.peer)),
			PeerMTU:       MTU,
		}
		if err := rh.LinkAdd(v); err != nil {
			return nil, fmt.Errorf("K: veth %s: %w", p.local, err)
		}
	}
	if err := linkUp(rh, "lo"); err != nil {
		return nil, fmt.Errorf("K: %w", err)
	}
	sides := []struct {
		name string
		gw   *net.IPNet
	}{
		{kernelClientSide, &net.IPNet{IP: ClientGW.AsSlice(), Mask: net.CIDRMask(ClientAddr.Bits(), 32)}},
		{kernelServerSide, &net.IPNet{IP: ServerGW.AsSlice(), Mask: net.CIDRMask(ServerAddr.Bits(), 32)}},
	}
	idx := map[string]int{}
	for _, s := range sides {
		l, err := rh.LinkByName(s.name)
		if err != nil {
			return nil, fmt.Errorf("K: %w", err)
		}
		if err := rh.AddrAdd(l, &netlink.Addr{IPNet: s.gw}); err != nil {
			return nil, fmt.Errorf("K: address on %s: %w", s.name, err)
		}
		if err := rh.LinkSetUp(l); err != nil {
			return nil, fmt.Errorf("K: up %s: %w", s.name, err)
		}
		idx[s.name] = l.Attrs().Index
	}
	// The custom table of the server side: both subnets and the custom route.
	routes := []*netlink.Route{
		{Table: kernelTable, Dst: ipnet(ClientAddr.Masked()), LinkIndex: idx[kernelClientSide], Scope: netlink.SCOPE_LINK},
		{Table: kernelTable, Dst: ipnet(ServerAddr.Masked()), LinkIndex: idx[kernelServerSide], Scope: netlink.SCOPE_LINK},
		{Table: kernelTable, Dst: ipnet(CustomRoute), LinkIndex: idx[kernelClientSide], Gw: ClientAddr.Addr().AsSlice()},
	}
	for _, r := range routes {
		if err := rh.RouteAdd(r); err != nil {
			return nil, fmt.Errorf("K: route %s table %d: %w", r.Dst, kernelTable, err)
		}
	}
	rule := netlink.NewRule()
	rule.IifName = kernelServerSide
	rule.Table = kernelTable
	rule.Priority = 1000
	if err := rh.RuleAdd(rule); err != nil {
		return nil, fmt.Errorf("K: ip rule iif %s lookup %d: %w", kernelServerSide, kernelTable, err)
	}
	if err := netenv.WriteSysctl(rtr, "net.ipv4.ip_forward", "1"); err != nil {
		return nil, fmt.Errorf("K: %w", err)
	}
	nft := netenv.Command(ctx, routerNS, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(KernelRuleset)
	if out, err := nft.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("K: nft -f: %v: %s", err, bytes.TrimSpace(out))
	}

	if err := configureHost(cli, "eth0", ClientAddr, ClientGW); err != nil {
		return nil, fmt.Errorf("K: client: %w", err)
	}
	if err := configureHost(srv, "eth0", ServerAddr, ServerGW); err != nil {
		return nil, fmt.Errorf("K: server: %w", err)
	}
	return t, nil
}
