package dataplane

import (
	"net/netip"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// Verdict is what the worker does with a packet after the forwarding decision.
type Verdict uint8

const (
	// VerdictDrop drops the packet; Decision.Reason says why.
	VerdictDrop Verdict = iota
	// VerdictForward writes the packet to Decision.Out after decrementing
	// its TTL Decision.Hops times.
	VerdictForward
	// VerdictFragment forwards like VerdictForward but the packet must be
	// fragmented to the egress MTU first (F7, DF clear).
	VerdictFragment
	// VerdictICMPError drops the packet (counted under Reason) and answers
	// its source with an ICMP error of ICMPType/ICMPCode (F5, F6, F7).
	VerdictICMPError
	// VerdictToRouter hands the packet to the VRouter itself: ICMP echo to
	// a VSwitch gateway (F3); anything else addressed to the router drops.
	VerdictToRouter
	// VerdictMulticast replicates the packet to the members of
	// Decision.Group unchanged (M1), or, when Decision.IGMP is set, hands an
	// IGMP message to the group membership (M5). See mcast.go.
	VerdictMulticast
)

func (v Verdict) String() string {
	switch v {
	case VerdictDrop:
		return "drop"
	case VerdictForward:
		return "forward"
	case VerdictFragment:
		return "fragment"
	case VerdictICMPError:
		return "icmp-error"
	case VerdictToRouter:
		return "to-router"
	case VerdictMulticast:
		return "multicast"
	}
	return "unknown"
}

// Decision is the result of the pure forwarding decision.
type Decision struct {
	Verdict  Verdict
	Reason   stats.DropReason
	Out      fib.PortID
	Hops     uint8 // VRouters crossed: TTL is decremented this many times (F6, C1)
	ICMPType uint8
	ICMPCode uint8
	MTU      uint16 // next-hop MTU for fragmentation needed (F7)
	Route    *fib.Route
	Member   int // index of the chosen next-hop member, -1 when none

	// Group is, for VerdictMulticast, the group to replicate to (M1); IGMP
	// marks an IGMP message for the group membership instead (M5).
	Group *mcast.Group
	IGMP  bool

	// NAT is the rewrite the worker applies before writing the packet
	// (C6, nat.go); zero when the packet leaves unchanged.
	NAT Rewrite
}

// maxRouterHops bounds router-interface hand-overs within one pass (C1).
const maxRouterHops = 8

var (
	limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	martianSrc       = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("240.0.0.0/4"),
	}
	martianDst = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("240.0.0.0/4"),
	}
)

// isMartianSrc and isMartianDst implement the martian lists of F12 with a
// switch on the first octet: no loop, no allocation.
func isMartianSrc(a netip.Addr) bool {
	b := a.As4()
	return b[0] == 0 || b[0] == 127 || b[0] >= 224
}

func isMartianDst(a netip.Addr) bool {
	b := a.As4()
	if b[0] == 0 || b[0] == 127 || (b[0] >= 240 && a != limitedBroadcast) {
		return true
	}
	return b[0] == 169 && b[1] == 254
}

// owns reports whether a is one of the port's addresses.
func (p *Port) owns(a netip.Addr) bool {
	for _, x := range p.Addrs {
		if x == a {
			return true
		}
	}
	return false
}

// Forward is the pure per-packet decision of DESIGN step 3 for a decoded
// IPv4 packet p of pktLen bytes that entered from port in. It performs no
// I/O and does not modify the packet (a NAT rewrite, C6, is returned in
// Decision.NAT for the worker to apply); it does consult and update the
// connection tracking table (the one deliberate piece of shared mutable
// state) and reads next-hop health flags. hdr is the packet's virtio-net
// header (GSO metadata, F7). tr, when not nil, records every step (R7).
func (s *Snapshot) Forward(in *Port, p *packet.Parsed, pktLen int, hdr *tun.VirtioNetHdr, now int64, tr *Trace) Decision {
	d := Decision{Member: -1, Out: fib.NoPort}
	src, dst := p.Src, p.Dst
	tr.step("ingress", in.Name, "")

	// F12 martians and broadcasts: dropped without ICMP.
	if isMartianSrc(src) || src == dst || isMartianDst(dst) {
		return tr.drop(d, stats.DropMartian, "martian address")
	}
	if dst == limitedBroadcast {
		return tr.drop(d, stats.DropBroadcast, "limited broadcast")
	}
	if dst.IsMulticast() {
		return s.multicast(d, in, p, tr) // M1, M5: mcast.go
	}
	if in.Kind == PortExternal && dst == in.Gateway {
		return s.externalEnd(d, in, tr) // §7 router end of the port: external.go
	}
	if s.NAT != nil && in.ID == s.NAT.Port {
		return s.fromInternet(d, in, p, pktLen, hdr, now, tr) // C6 DNAT before the lookup: nat.go
	}
	if in.Kind == PortClassic && dst == in.Gateway {
		return s.classicGateway(d, in, tr) // C5: classic.go
	}

	// F4 anti-spoofing.
	if in.Kind == PortENI || in.Kind == PortClassic {
		if in.SourceDestCheck {
			if !in.owns(src) {
				return tr.drop(d, stats.DropSpoofed, "source is not an address of "+in.Name)
			}
			tr.step("anti-spoofing", "pass", "")
		} else {
			tr.step("anti-spoofing", "skipped (source_dest_check false)", "")
		}
	}

	// F5 route lookup, continuing in peer tables across router interfaces (C1).
	d, st := s.lookup(d, in.Table, p, dst, tr)
	switch st {
	case routeFinal:
		return d
	case unrouted:
		if s.NAT != nil && d.Hops == 0 { // unrouted in the ENI's own table
			return s.toInternet(d, in, p, pktLen, hdr, now, tr, false) // C6: nat.go
		}
		return s.icmpError(d, stats.DropNoRoute, packet.ICMPDestUnreach, packet.ICMPNetUnreach, 0, tr)
	}
	if s.NAT != nil && d.Out == s.NAT.Port {
		return s.toInternet(d, in, p, pktLen, hdr, now, tr, true) // next_hop ngw-… (C6)
	}
	d.Hops++

	// F6: only packets that would be forwarded meet the TTL check.
	if p.TTL <= d.Hops {
		return s.icmpError(d, stats.DropTTLExceeded, packet.ICMPTimeExceeded, 0, 0, tr)
	}

	out := s.Port(d.Out)
	if out == nil {
		return tr.drop(d, stats.DropNoPort, "destination port not attached")
	}
	tr.step("egress-port", out.Name, "")

	// S: security groups with connection tracking.
	if s.SecurityGroups && (in.Policy != nil || out.Policy != nil) {
		if reason, ok := s.admit(in, out, p, now, tr); !ok {
			return tr.drop(d, reason, "")
		}
	}
	return s.fit(d, out, p, pktLen, hdr, tr)
}

// routeStatus says how a route lookup ended.
type routeStatus uint8

const (
	routed     routeStatus = iota // Decision.Out holds the egress port
	routeFinal                    // the Decision is final (drop, ICMP error, to-router)
	unrouted                      // no entry matched (F5: net unreachable unless C6 applies)
)

// lookup runs the longest-prefix match for dst in table and the next-hop
// selection (F5, F8, F9), continuing in the peer's table across router
// interfaces (C1); d.Hops counts the hand-overs. It records its steps in tr.
func (s *Snapshot) lookup(d Decision, table *fib.Table, p *packet.Parsed, dst netip.Addr, tr *Trace) (Decision, routeStatus) {
	var hash uint64
	hashed := false
	for {
		r, ok := table.Lookup(dst)
		if !ok {
			tr.step("route", table.ID, "no matching entry")
			return d, unrouted
		}
		d.Route = r
		tr.routeStep(table, r)
		switch r.Action {
		case fib.ActionReserved:
			return tr.drop(d, stats.DropCloudService, "100.64.0.0/10 is reserved for cloud services"), routeFinal
		case fib.ActionLocal:
			vsw := s.VSwitches[r.VSwitch]
			if dst == vsw.Gateway {
				d.Verdict = VerdictToRouter
				tr.step("verdict", "to-router", "gateway of "+vsw.ID)
				return d, routeFinal
			}
			if dst == vsw.Broadcast {
				return tr.drop(d, stats.DropBroadcast, "directed broadcast of "+vsw.ID), routeFinal
			}
			owner := vsw.Owner(dst)
			if owner == fib.NoPort || s.Port(owner) == nil {
				return s.icmpError(d, stats.DropHostUnreachable, packet.ICMPDestUnreach, packet.ICMPHostUnreach, 0, tr), routeFinal
			}
			d.Out = owner
		case fib.ActionForward:
			if r.Group.Kind == fib.ECMP && !hashed {
				hash = p.FlowHash(s.HashSeed)
				hashed = true
			}
			m, idx, ok := r.Group.Select(hash)
			if !ok {
				tr.step("next-hop", r.Group.Kind.String(), "no member is up")
				return s.icmpError(d, stats.DropNextHopDown, packet.ICMPDestUnreach, packet.ICMPHostUnreach, 0, tr), routeFinal
			}
			d.Member = idx
			tr.memberStep(r.Group, idx)
			if m.Kind == fib.MemberRouterInterface {
				d.Hops++
				if d.Hops >= maxRouterHops {
					return tr.drop(d, stats.DropLoop, "router-interface hop limit"), routeFinal
				}
				table = s.Routers[m.Peer].System
				continue
			}
			d.Out = m.Port
		}
		return d, routed
	}
}

// fit applies F7 to a packet about to leave through out: it passes, is
// fragmented, or is refused with fragmentation needed.
func (s *Snapshot) fit(d Decision, out *Port, p *packet.Parsed, pktLen int, hdr *tun.VirtioNetHdr, tr *Trace) Decision {
	if pktLen > out.MTU {
		if hdr != nil && hdr.GSOType != tun.GSONone && hdr.GSOType&^tun.GSOECN != tun.GSONone {
			seg := int(hdr.GSOSize) + gsoHeaderLen(p, hdr)
			if seg <= out.MTU {
				d.Verdict = VerdictForward
				tr.step("verdict", "forward", "GSO super-packet, segments fit the MTU")
				return d
			}
			d.MTU = uint16(out.MTU)
			return s.icmpError(d, stats.DropFragNeeded, packet.ICMPDestUnreach, packet.ICMPFragNeeded, d.MTU, tr)
		}
		if p.DF {
			d.MTU = uint16(out.MTU)
			return s.icmpError(d, stats.DropFragNeeded, packet.ICMPDestUnreach, packet.ICMPFragNeeded, d.MTU, tr)
		}
		d.Verdict = VerdictFragment
		tr.step("verdict", "fragment", "")
		return d
	}
	d.Verdict = VerdictForward
	tr.step("verdict", "forward", "")
	return d
}

// gsoHeaderLen is the length of the headers replicated in every segment of
// a GSO super-packet: IP plus transport header.
func gsoHeaderLen(p *packet.Parsed, hdr *tun.VirtioNetHdr) int {
	if hdr.HdrLen != 0 {
		return int(hdr.HdrLen)
	}
	if p.Proto == packet.ProtoUDP {
		return p.L4Off + 8
	}
	return p.L4Off + 20
}

func (s *Snapshot) icmpError(d Decision, reason stats.DropReason, typ, code uint8, mtu uint16, tr *Trace) Decision {
	d.Verdict = VerdictICMPError
	d.Reason = reason
	d.ICMPType, d.ICMPCode, d.MTU = typ, code, mtu
	tr.step("verdict", "drop "+reason.String(), "ICMP error sent from the gateway")
	return d
}

// flowKey fills k with the conntrack key of p in the given zone.
func flowKey(k *conntrack.Key, zone uint16, p *packet.Parsed) {
	k.Src = p.Src.As16()
	k.Dst = p.Dst.As16()
	k.SrcPort, k.DstPort = p.SrcPort, p.DstPort
	k.Zone = zone
	k.Proto = p.Proto
}

// zoneOf returns the conntrack zone of a flow between two ports: one zone
// per VPC (S7); a flow crossing VPCs through a connection (C1) uses a zone
// made of both, so its replies, entering from the other side, find it.
func (s *Snapshot) zoneOf(in, out *Port) uint16 {
	in, out = flowSide(in, out) // external ports: the ENI's zone (external.go)
	a, b := s.Routers[in.Router].Zone, s.Routers[out.Router].Zone
	if a == b {
		return a
	}
	if a > b {
		a, b = b, a
	}
	return a<<8 | b
}

// admit applies S1–S9 to a packet from in to out. It returns the drop
// reason when the packet is refused.
func (s *Snapshot) admit(in, out *Port, p *packet.Parsed, now int64, tr *Trace) (stats.DropReason, bool) {
	ct := s.Conntrack
	zone := s.zoneOf(in, out)

	// S9: non-first fragments follow their datagram's first fragment.
	if p.FragOff != 0 {
		fk := conntrack.FragKey{Zone: zone, Src: p.Src.As16(), Dst: p.Dst.As16(), Proto: p.Proto, ID: uint32(p.ID)}
		admitted, _, ok := s.Frags.LookupFrag(fk, !p.MF, now)
		if !ok || !admitted {
			tr.step("security-group", "fragment", "non-first fragment of no admitted datagram")
			return stats.DropFragment, false
		}
		tr.step("security-group", "fragment", "admitted with its first fragment")
		return 0, true
	}

	var k conntrack.Key
	flowKey(&k, zone, p)
	flags := p.TCPFlags
	if tr != nil {
		flags = 0 // a trace must not advance TCP state
	}
	h, dir, meta, ok := ct.Lookup(&k, flags, now)
	if ok {
		if meta.Gen == s.PolicyGen {
			tr.step("conntrack", dirName(dir), "tracked flow")
			if p.MF {
				s.noteFirstFragment(zone, p, true, h, now)
			}
			return 0, true
		}
		// S8: rules changed since the flow was verified; check its
		// original direction against the current policies.
		if s.reverify(in, out, p, dir) {
			if tr == nil {
				ct.SetGen(h, s.PolicyGen)
			}
			tr.step("conntrack", dirName(dir), "tracked flow, re-verified under new rules")
			if p.MF {
				s.noteFirstFragment(zone, p, true, h, now)
			}
			return 0, true
		}
		if tr == nil {
			ct.Delete(h)
		}
		tr.step("conntrack", dirName(dir), "tracked flow no longer admitted: removed (S8)")
	} else if p.Proto == packet.ProtoICMP && p.HasInner {
		// S1: related ICMP errors are admitted by their quoted header.
		var ik conntrack.Key
		ik.Src, ik.Dst = p.InnerSrc.As16(), p.InnerDst.As16()
		ik.SrcPort, ik.DstPort = p.InnerSrcPort, p.InnerDstPort
		ik.Proto, ik.Zone = p.InnerProto, zone
		if _, _, _, rok := ct.LookupRelated(&ik, now); rok {
			tr.step("conntrack", "related", "ICMP error of a tracked flow")
			return 0, true
		}
	}

	// A new flow: egress rules of the source ENI, then ingress rules of
	// the destination ENI (S2); across ClassicLink, the link rules (C5).
	if s.Classic != nil && (in.Kind == PortClassic) != (out.Kind == PortClassic) {
		if reason, ok := s.classicLink(in, out, p.Src, p.Dst, p.Proto, p.DstPort, tr); !ok {
			s.noteFirstFragment(zone, p, false, conntrack.Handle{}, now)
			return reason, false
		}
	} else {
		if in.Policy != nil {
			dec := in.Policy.Check(secgroup.Egress, p.Src, p.Dst, p.Proto, p.DstPort)
			tr.sgStep("egress", in.Name, dec)
			s.countVerdict(secgroup.Egress, dec, tr)
			if !dec.Accept {
				s.noteFirstFragment(zone, p, false, conntrack.Handle{}, now)
				return stats.DropSGEgress, false
			}
		}
		if out.Policy != nil {
			dec := out.Policy.Check(secgroup.Ingress, p.Dst, p.Src, p.Proto, p.DstPort)
			tr.sgStep("ingress", out.Name, dec)
			s.countVerdict(secgroup.Ingress, dec, tr)
			if !dec.Accept {
				s.noteFirstFragment(zone, p, false, conntrack.Handle{}, now)
				return stats.DropSGIngress, false
			}
		}
	}
	if tr != nil {
		// A trace never creates state.
		return 0, true
	}
	nh, res := ct.Insert(&k, nil, p.TCPFlags, conntrack.Meta{InPort: uint16(in.ID), OutPort: uint16(out.ID), Gen: s.PolicyGen}, now)
	if res == conntrack.Refused {
		return stats.DropConntrackFull, false
	}
	if p.MF {
		s.noteFirstFragment(zone, p, true, nh, now)
	}
	return 0, true
}

// noteFirstFragment records the verdict of a first fragment (S9).
func (s *Snapshot) noteFirstFragment(zone uint16, p *packet.Parsed, admitted bool, h conntrack.Handle, now int64) {
	if !p.MF || p.FragOff != 0 || s.Frags == nil {
		return
	}
	fk := conntrack.FragKey{Zone: zone, Src: p.Src.As16(), Dst: p.Dst.As16(), Proto: p.Proto, ID: uint32(p.ID)}
	s.Frags.NoteFirst(fk, admitted, h, now)
}

// reverify checks a tracked flow's original direction against the current
// policies (S8). p is the current packet, in direction dir.
func (s *Snapshot) reverify(in, out *Port, p *packet.Parsed, dir conntrack.Dir) bool {
	osrc, odst, oin, oout, dport := p.Src, p.Dst, in, out, p.DstPort
	if dir == conntrack.Reply {
		osrc, odst, oin, oout, dport = p.Dst, p.Src, out, in, p.SrcPort
	}
	if s.Classic != nil && (oin.Kind == PortClassic) != (oout.Kind == PortClassic) {
		_, ok := s.classicLink(oin, oout, osrc, odst, p.Proto, dport, nil)
		return ok
	}
	if oin.Policy != nil && !oin.Policy.Check(secgroup.Egress, osrc, odst, p.Proto, dport).Accept {
		return false
	}
	if oout.Policy != nil && !oout.Policy.Check(secgroup.Ingress, odst, osrc, p.Proto, dport).Accept {
		return false
	}
	return true
}

func dirName(d conntrack.Dir) string {
	if d == conntrack.Reply {
		return "reply"
	}
	return "original"
}
