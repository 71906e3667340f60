// Package stats owns the data plane's counters: drop reasons (SPEC R8, DESIGN
// house rule 6), per-port packet and byte counters, and per-route hit counters.
//
// Concurrency: each forwarding worker accumulates into its own Local value
// without synchronisation and adds it to the shared Port and Route counters
// once per batch (DESIGN packet path step 5) with atomic adds. Readers (the
// metrics exporter, the API) load the shared atomics at any time. Counters
// are never reset while the process lives (R8): a Registry hands out stable
// indices that survive reloads, so a recompiled snapshot keeps counting into
// the same slots.
package stats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// DropReason names why a packet was not forwarded. Every drop is one of these,
// counted, never logged (R9) and never returned as an error.
type DropReason uint8

// Drop reasons. Their String values are the `reason` label of
// vrouter_drops_total (SPEC R8), in snake case.
const (
	DropMalformed       DropReason = iota // F12: truncated, bad IHL/length/checksum/options
	DropBadVersion                        // F12: neither IPv4 nor IPv6
	DropMartian                           // F12: martian source or destination
	DropBroadcast                         // F12: limited or directed broadcast
	DropIPv6                              // F13: IPv6 while no VPC has an IPv6 CIDR
	DropSpoofed                           // F4: source is not one of the ENI's addresses
	DropNoRoute                           // F5: no matching entry (ICMP net unreachable)
	DropHostUnreachable                   // F5: VSwitch entry but no ENI owns the address
	DropTTLExceeded                       // F6
	DropFragNeeded                        // F7: DF set and larger than the egress MTU
	DropSGEgress                          // S: egress security groups of the source ENI
	DropSGIngress                         // S: ingress security groups of the destination ENI
	DropConntrackFull                     // S7: table full, nothing evictable
	DropNextHopDown                       // F8/F9: no member of the next-hop group is up
	DropCloudService                      // F5: 100.64.0.0/10 without a service port
	DropPortError                         // the destination port refused the write
	DropToRouter                          // addressed to the VRouter but not ICMP echo (F3)
	DropMulticast                         // multicast with no group configured (M1)
	DropFragment                          // S9: non-first fragment of no admitted datagram
	DropLoop                              // C1: router-interface hop limit exceeded
	DropNoPort                            // destination port is not attached (being created or removed)
	DropUnsupported                       // a packet the VRouter cannot handle (e.g. GSO that cannot be sent whole)
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropMalformed:       "malformed",
	DropBadVersion:      "bad_version",
	DropMartian:         "martian",
	DropBroadcast:       "broadcast",
	DropIPv6:            "ipv6",
	DropSpoofed:         "spoofed",
	DropNoRoute:         "no_route",
	DropHostUnreachable: "host_unreachable",
	DropTTLExceeded:     "ttl_exceeded",
	DropFragNeeded:      "frag_needed",
	DropSGEgress:        "sg_egress",
	DropSGIngress:       "sg_ingress",
	DropConntrackFull:   "conntrack_full",
	DropNextHopDown:     "next_hop_down",
	DropCloudService:    "cloud_service",
	DropPortError:       "port_error",
	DropToRouter:        "to_router",
	DropMulticast:       "multicast",
	DropFragment:        "fragment",
	DropLoop:            "loop",
	DropNoPort:          "no_port",
	DropUnsupported:     "unsupported",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "unknown"
}

// ParseDropReason returns the reason with the given metric name.
func ParseDropReason(s string) (DropReason, bool) {
	for i, n := range dropNames {
		if n == s {
			return DropReason(i), true
		}
	}
	return 0, false
}

// Port holds the shared counters of one port. Fields are updated with atomic
// adds by workers once per batch and read by exporters at any time.
//
// Accounting identity (issue 10, SPEC P6): every packet read from a port
// ends in exactly one of Forwarded, Consumed or Drops, so
//
//	RxPackets == Forwarded + Consumed + Σ Drops
//
// once the port is quiescent. A forwarded packet that the destination port
// then refuses (a full queue, a port being removed, a multicast copy its
// member's groups refuse) is counted in the destination's EgressDrops; both
// kinds are exported together as vrouter_drops_total.
type Port struct {
	RxPackets, RxBytes atomic.Uint64 // into vrouterd from the port (direction "rx")
	TxPackets, TxBytes atomic.Uint64 // written to the port (direction "tx")
	Forwarded          atomic.Uint64 // rx packets handed to an egress port (fragmented or replicated: once)
	Consumed           atomic.Uint64 // rx packets the router itself took: echo to a gateway, probe replies, IGMP
	Drops              [NumDropReasons]atomic.Uint64
	EgressDrops        [NumDropReasons]atomic.Uint64
	// ICMPSuppressed counts ICMP errors not sent because the port's token
	// bucket was empty (F14); the packets themselves are in Drops.
	ICMPSuppressed atomic.Uint64
}

// PortSnapshot is a plain copy of a Port's counters.
type PortSnapshot struct {
	Name               string
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	Forwarded          uint64
	Consumed           uint64
	ICMPSuppressed     uint64
	Drops              map[string]uint64 // ingress and egress drops together, non-zero reasons only
	IngressDrops       uint64            // Σ Drops of packets read from this port (accounting identity)
	EgressDrops        uint64            // Σ EgressDrops of packets written to this port
}

// Registry interns names (ports, routes, groups) to stable indices and owns
// the shared counters behind them. Indices are never reused, so counters
// survive reloads and removals (R8). Methods are safe for concurrent use; the
// counter slices are published copy-on-write so hot-path readers never lock.
type Registry struct {
	mu        sync.Mutex // guards the maps and the growth of the slices
	portIdx   map[string]int
	ports     atomic.Pointer[[]*Port]
	portNames []string
	routeCtr  map[RouteName]*atomic.Uint64
	verdicts  map[VerdictName]*atomic.Uint64
}

// VerdictName identifies a security-group verdict counter.
type VerdictName struct{ Group, Direction, Policy string }

// VerdictCounter returns the counter of one (group, direction, policy),
// creating it; it is never removed (R8).
func (r *Registry) VerdictCounter(group, direction, policy string) *atomic.Uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.verdicts == nil {
		r.verdicts = map[VerdictName]*atomic.Uint64{}
	}
	k := VerdictName{group, direction, policy}
	c := r.verdicts[k]
	if c == nil {
		c = &atomic.Uint64{}
		r.verdicts[k] = c
	}
	return c
}

// Verdicts returns every verdict counter's value.
func (r *Registry) Verdicts() map[VerdictName]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[VerdictName]uint64, len(r.verdicts))
	for k, c := range r.verdicts {
		out[k] = c.Load()
	}
	return out
}

// RouteName identifies a route counter: the table id and the destination.
type RouteName struct{ Table, Dst string }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{portIdx: map[string]int{}, routeCtr: map[RouteName]*atomic.Uint64{}}
	r.ports.Store(&[]*Port{})
	return r
}

// PortCounters returns the counters of the named port, creating them.
func (r *Registry) PortCounters(name string) *Port {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.portIdx[name]; ok {
		return (*r.ports.Load())[i]
	}
	old := *r.ports.Load()
	next := make([]*Port, len(old), len(old)+1)
	copy(next, old)
	p := &Port{}
	next = append(next, p)
	r.portIdx[name] = len(old)
	r.portNames = append(r.portNames, name)
	r.ports.Store(&next)
	return p
}

// RouteCounter returns the hit counter of a route entry, creating it. The
// compiler calls it once per entry, so it must stay O(1): counters are kept
// in a map, never copied.
func (r *Registry) RouteCounter(table, dst string) *atomic.Uint64 {
	key := RouteName{table, dst}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.routeCtr[key]; ok {
		return c
	}
	c := &atomic.Uint64{}
	r.routeCtr[key] = c
	return c
}

// Ports returns a copy of every port's counters, sorted by name.
func (r *Registry) Ports() []PortSnapshot {
	r.mu.Lock()
	names := append([]string(nil), r.portNames...)
	r.mu.Unlock()
	ports := *r.ports.Load()
	out := make([]PortSnapshot, 0, len(names))
	for i, n := range names {
		p := ports[i]
		s := PortSnapshot{Name: n,
			RxPackets: p.RxPackets.Load(), RxBytes: p.RxBytes.Load(),
			TxPackets: p.TxPackets.Load(), TxBytes: p.TxBytes.Load(),
			Forwarded: p.Forwarded.Load(), Consumed: p.Consumed.Load(), ICMPSuppressed: p.ICMPSuppressed.Load(),
			Drops: map[string]uint64{}}
		for d := range p.Drops {
			in, eg := p.Drops[d].Load(), p.EgressDrops[d].Load()
			s.IngressDrops += in
			s.EgressDrops += eg
			if in+eg != 0 {
				s.Drops[DropReason(d).String()] = in + eg
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RouteHits returns the hit count of every route counter ever created.
func (r *Registry) RouteHits() map[RouteName]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[RouteName]uint64, len(r.routeCtr))
	for n, c := range r.routeCtr {
		out[n] = c.Load()
	}
	return out
}

// Local is a worker's private accumulator for the port it reads from, flushed
// into the shared counters once per batch. Not safe for concurrent use.
type Local struct {
	RxPackets, RxBytes uint64
	Forwarded          uint64
	Consumed           uint64
	ICMPSuppressed     uint64
	Drops              [NumDropReasons]uint64
	EgressDrops        [NumDropReasons]uint64 // forwarded packets whose destination port was gone
	dirty              bool
}

// Drop counts one dropped packet.
func (l *Local) Drop(r DropReason) { l.Drops[r]++; l.dirty = true }

// DropN counts n dropped packets.
func (l *Local) DropN(r DropReason, n int) { l.Drops[r] += uint64(n); l.dirty = true }

// Forward counts one packet handed to an egress port.
func (l *Local) Forward() { l.Forwarded++; l.dirty = true }

// Consume counts one packet the router took for itself.
func (l *Local) Consume() { l.Consumed++; l.dirty = true }

// SuppressICMP counts one ICMP error the rate limit held back (F14).
func (l *Local) SuppressICMP() { l.ICMPSuppressed++; l.dirty = true }

// EgressDropN counts n forwarded packets lost at their destination.
func (l *Local) EgressDropN(r DropReason, n int) { l.EgressDrops[r] += uint64(n); l.dirty = true }

// Rx counts one received packet of n bytes.
func (l *Local) Rx(n int) { l.RxPackets++; l.RxBytes += uint64(n); l.dirty = true }

// FlushTo adds the accumulated values to p and clears l.
func (l *Local) FlushTo(p *Port) {
	if !l.dirty {
		return
	}
	if l.RxPackets != 0 {
		p.RxPackets.Add(l.RxPackets)
		p.RxBytes.Add(l.RxBytes)
	}
	if l.Forwarded != 0 {
		p.Forwarded.Add(l.Forwarded)
	}
	if l.Consumed != 0 {
		p.Consumed.Add(l.Consumed)
	}
	if l.ICMPSuppressed != 0 {
		p.ICMPSuppressed.Add(l.ICMPSuppressed)
	}
	for i, v := range l.Drops {
		if v != 0 {
			p.Drops[i].Add(v)
		}
	}
	for i, v := range l.EgressDrops {
		if v != 0 {
			p.EgressDrops[i].Add(v)
		}
	}
	*l = Local{}
}
