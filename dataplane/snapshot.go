package dataplane

import (
	"net/netip"
	"sync/atomic"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// PortKind says what stands behind a port.
type PortKind uint8

const (
	// PortENI is an instance's network interface: anti-spoofing and its
	// security groups apply (F4).
	PortENI PortKind = iota
	// PortExternal is a VBR leased line, VPN gateway or the internet port
	// (SPEC §7): its packets skip the ENI-side checks.
	PortExternal
	// PortClassic is a classic instance (SPEC C5): anti-spoofing and its
	// classic groups apply like an ENI's; traffic with VPC ENIs follows
	// the ClassicLink rules (classic.go).
	PortClassic
)

// Port is the immutable description of one port in a snapshot. The device
// pointer is shared across snapshots; the engine runs one reader per device.
type Port struct {
	ID      fib.PortID
	Name    string // ENI id or attachment id; the `port` label of metrics
	Kind    PortKind
	Router  int        // index in Snapshot.Routers of the VRouter/VBR its packets enter (F2)
	Table   *fib.Table // route table of the ENI's VSwitch, or of the attachment's router
	VSwitch int        // index in Snapshot.VSwitches, -1 for external ports
	// Gateway is the source of ICMP errors and echo replies sent to this
	// port: the ingress VSwitch gateway (F3) or the router end of an
	// external port.
	Gateway netip.Addr
	MTU     int
	// Addrs are the ENI's own addresses (primary first); a packet from the
	// port must come from one of them unless SourceDestCheck is false (F4).
	Addrs           []netip.Addr
	SourceDestCheck bool
	// Policy is the compiled security-group policy of the ENI (S3); nil for
	// external ports, which are not checked on their side (S2).
	Policy   *secgroup.ENIPolicy
	Counters *stats.Port
	Dev      tun.Device
}

// Router is a VRouter (one per VPC) or a VBR.
type Router struct {
	ID     string
	Zone   uint16     // conntrack zone (S7: per-VPC zones)
	System *fib.Table // table used when a router interface hands a packet over (C1)
}

// VSwitch is a subnet of a VPC with its owner map.
type VSwitch struct {
	ID        string
	Prefix    netip.Prefix
	Gateway   netip.Addr // first of the last three addresses (V9, F3)
	Broadcast netip.Addr // last address: directed broadcast, never forwarded (F12)
	Router    int
	base      uint32
	owners    []fib.PortID // by host offset; fib.NoPort when free
}

// NewVSwitch builds a VSwitch for an IPv4 prefix of length 16–32.
func NewVSwitch(id string, pfx netip.Prefix, router int) *VSwitch {
	pfx = pfx.Masked()
	n := uint32(1) << (32 - pfx.Bits())
	b := pfx.Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v := &VSwitch{ID: id, Prefix: pfx, Router: router, base: base, owners: make([]fib.PortID, n)}
	for i := range v.owners {
		v.owners[i] = fib.NoPort
	}
	v.Gateway = addrFrom32(base + n - 3)
	v.Broadcast = addrFrom32(base + n - 1)
	return v
}

// SetOwner records that port owns address a (primary or secondary IP).
func (v *VSwitch) SetOwner(a netip.Addr, p fib.PortID) bool {
	off, ok := v.offset(a)
	if !ok {
		return false
	}
	v.owners[off] = p
	return true
}

// Owner returns the port owning address a in this VSwitch.
func (v *VSwitch) Owner(a netip.Addr) fib.PortID {
	off, ok := v.offset(a)
	if !ok {
		return fib.NoPort
	}
	return v.owners[off]
}

func (v *VSwitch) offset(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	off := x - v.base
	if off >= uint32(len(v.owners)) {
		return 0, false
	}
	return off, true
}

func addrFrom32(x uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}

// Snapshot is the immutable forwarding state. The engine publishes it with
// one atomic store; a worker loads it once per batch. Only Conntrack,
// health flags inside fib groups, counters and the SNAT port pools
// (NAT.Ports) are mutable, deliberately.
type Snapshot struct {
	Gen       uint32
	Ports     []*Port // by PortID; nil for unused ids
	Routers   []*Router
	VSwitches []*VSwitch
	Conntrack *conntrack.Table
	Frags     *conntrack.Frags
	// HashSeed seeds the symmetric flow hash used by ECMP (F8). It is
	// carried over between snapshots so flows keep their member.
	HashSeed uint64
	// ICMPRate and ICMPBurst configure the per-ingress-port ICMP error
	// token bucket (F14).
	ICMPRate  float64
	ICMPBurst float64
	// SecurityGroups is false when no ENI has a policy; the conntrack is
	// then bypassed entirely.
	SecurityGroups bool
	// PolicyGen changes whenever any security-group policy changes (S8):
	// a tracked flow verified under another generation is re-checked at
	// its next packet, so no reload walks the conntrack table.
	PolicyGen uint32
	// PolicyKey fingerprints every security-group input; the compiler
	// bumps PolicyGen when it differs from the previous snapshot's.
	PolicyKey uint64
	// Health holds the shared health flag of every probed next hop by
	// key ("table|dst|member"), so the compiler carries flags over and
	// the prober flips them without recompiling (F8, F9).
	Health map[string]*fib.Health
	// RouteHits are the hit counters of vrouter_route_hits_total (R8),
	// indexed by fib.Route.Index. The counters come from a registry that
	// keeps them across reloads.
	RouteHits []*atomic.Uint64
	// SGVerdicts are the counters of vrouter_secgroup_verdicts_total (R8)
	// by deciding group, direction and policy; see verdicts.go.
	SGVerdicts map[VerdictKey]*atomic.Uint64
	// Mcast holds the multicast groups (M1) and points at the membership
	// and counters that outlive snapshots (M5, M6); nil when none.
	Mcast *mcast.Table
	// NAT is the internet port with its EIPs and NAT gateways (C6,
	// nat.go); nil without an internet attachment.
	NAT *NAT
	// Classic is the classic network's ClassicLink state (C5,
	// classic.go); nil without classic instances.
	Classic *Classic
}

// Port returns the port with id, or nil.
func (s *Snapshot) Port(id fib.PortID) *Port {
	if int(id) < len(s.Ports) {
		return s.Ports[id]
	}
	return nil
}
