package dataplane

// NAT at the internet port's edge (SPEC C6, DESIGN "Packet path"). The
// internet port is an external port (§7) whose packets are translated:
// DNAT before the route lookup for packets arriving from it, SNAT after the
// lookup for packets leaving through it. Every translated flow is a
// conntrack flow whose reply key is the translated tuple (Insert with a
// reply key other than k.Reverse()), so both directions of an admitted flow
// are rewritten from the table alone, without another rule walk: a packet
// of a NAT flow leaves as the mirror of the other direction's key.
//
// Kinds of translation (conntrack.Meta.NAT):
//   - EIP, 1:1 (natEIPOut, natEIPIn): the instance's primary address and the
//     EIP are exchanged for every protocol; ports are kept. Outbound applies
//     to packets from the instance's primary ENI with its primary address.
//   - SNAT entry of a NAT gateway (natSNAT): sources covered by an entry
//     share its EIP; TCP and UDP ports and ICMP echo identifiers are
//     allocated per (EIP, protocol) from 1024–65535 by NATPorts, never
//     handed to a second flow while the first one is tracked. Other
//     protocols keep their (absent) ports and succeed while the public
//     tuple is free.
//   - DNAT entry of a NAT gateway (natDNAT): (EIP, protocol, external port)
//     maps to (internal address, internal port); the client's address is
//     kept. Protocol all maps every port of the EIP to the internal address
//     and makes the EIP that address's own, 1:1 like an instance's EIP:
//     flows the address opens leave from the EIP with their ports kept.
//
// Routing (C6): a destination with no matching entry in the ENI's table
// leaves through the internet port when the source is EIP-bound or covered
// by an SNAT entry of its VPC (the EIP wins), and is unrouted otherwise; an
// entry naming a NAT gateway (next_hop: ngw-…, compiled as a member whose
// port is the internet port) uses that gateway's SNAT entries. No private
// source address ever leaves through the internet port: a packet the router
// cannot translate is dropped (net unreachable). Security groups apply on
// the ENI side only (S2): the egress rules of the instance for flows it
// opens, the ingress rules of the ENI a DNAT or an EIP delivers to for
// flows opened from the internet. Replies of a tracked flow are admitted
// without rule evaluation (S1); when the policy generation changes (rules,
// EIP bindings or NAT entries, S8) a flow is re-verified — translation
// included — at its next packet and removed when it no longer holds.
//
// Flows are keyed in the zone of the EIP's VPC (S7), which is the zone of
// the ENI behind it: an outbound flow uses the ENI's VRouter, and an
// instance may use an EIP or an SNAT entry of its own VPC only.
//
// Fragments: a first fragment is translated like any packet and noted with
// its flow (S9); a non-first fragment carries no ports and follows its
// first fragment's flow, of which only the addresses are rewritten.
//
// ICMP errors quoting a translated packet (S1 "related") are found by the
// mirror of the quoted tuple and translated both outside (the address the
// error is sent to or from) and inside (the quoted header's addresses,
// ports or echo identifier and their checksums).
//
// Checksums are updated incrementally (RFC 1624). A packet carrying a
// virtio-net header with VIRTIO_NET_HDR_F_NEEDS_CSUM has in its L4 checksum
// field the partial, non-complemented sum of the pseudo header only, which
// the receiver completes over the transport header and payload: then only
// address changes adjust that field, in the non-complemented way, and port
// or identifier changes leave it alone.
//
// Synchronisation: a NAT value is immutable once published in a snapshot.
// NATPorts, shared by every snapshot like the conntrack table, has its own
// locks (see NATPorts).

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"sync"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// NAT flow kinds, kept in conntrack.Meta.NAT.
const (
	natNone   uint8 = iota
	natEIPOut       // 1:1 EIP, opened by the instance
	natEIPIn        // 1:1 EIP, opened from the internet
	natSNAT         // SNAT entry of a NAT gateway, opened by an instance
	natDNAT         // DNAT entry of a NAT gateway, opened from the internet
)

// NATPortLo and NATPortHi bound the public ports (and ICMP echo
// identifiers) SNAT hands out.
const (
	NATPortLo = 1024
	NATPortHi = 65535
)

// EIP is an elastic public address in use (C6): bound 1:1 to an instance's
// primary address, or used by a NAT gateway.
type EIP struct {
	ID   string
	Addr netip.Addr
	// Router is the VRouter of the VPC the EIP serves: its zone keys the
	// EIP's flows and its system table routes what arrives for the EIP.
	Router int
	// Instance and Port are, for an EIP bound to an instance, its primary
	// address and its primary ENI's port. Instance is invalid otherwise.
	Instance netip.Addr
	Port     fib.PortID
	// Gateway is the NAT gateway using the EIP, nil for an instance's.
	Gateway *NATGateway
	// DNAT are the gateway's DNAT entries on this EIP.
	DNAT []DNATRule
}

// DNATRule maps a port of an EIP to a private endpoint (C6).
type DNATRule struct {
	Proto        uint8 // packet.ProtoTCP or packet.ProtoUDP; 0 maps every protocol and port
	External     uint16
	Internal     netip.Addr
	InternalPort uint16
}

// SNATRule shares EIP among the sources in Source (C6).
type SNATRule struct {
	Source netip.Prefix
	EIP    *EIP
}

// NATGateway is a NAT gateway of one VPC.
type NATGateway struct {
	ID     string
	Router int
	SNAT   []SNATRule // NewNAT orders them longest prefix first
}

type boundKey struct {
	router int
	addr   netip.Addr
}

// NAT is the compiled C6 state of a snapshot: the internet port, the EIPs
// in use and the NAT gateways. It is immutable once published.
type NAT struct {
	// Port is the internet port.
	Port fib.PortID
	// Ports allocates SNAT ports; it outlives snapshots.
	Ports *NATPorts

	eips     map[netip.Addr]*EIP
	bound    map[boundKey]*EIP
	gateways map[string]*NATGateway
	snat     map[int][]SNATRule // by router: the SNAT entries of all its gateways
}

// NewNAT indexes the EIPs and NAT gateways of the internet port port.
// Gateways' SNAT entries are ordered longest prefix first, so a source
// covered by two entries uses the more specific one.
func NewNAT(port fib.PortID, eips []*EIP, gateways []*NATGateway, ports *NATPorts) *NAT {
	if ports == nil {
		ports = NewNATPorts()
	}
	n := &NAT{Port: port, Ports: ports, eips: map[netip.Addr]*EIP{}, bound: map[boundKey]*EIP{},
		gateways: map[string]*NATGateway{}, snat: map[int][]SNATRule{}}
	for _, e := range eips {
		n.eips[e.Addr] = e
		if e.Instance.IsValid() {
			n.bound[boundKey{e.Router, e.Instance}] = e
		}
	}
	longestFirst := func(rs []SNATRule) {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Source.Bits() > rs[j].Source.Bits() })
	}
	for _, e := range eips {
		if r := e.all(); r != nil && e.Gateway != nil {
			k := boundKey{e.Router, r.Internal}
			if n.bound[k] == nil { // an instance's own EIP wins
				n.bound[k] = e
			}
		}
	}
	for _, g := range gateways {
		longestFirst(g.SNAT)
		n.gateways[g.ID] = g
		n.snat[g.Router] = append(n.snat[g.Router], g.SNAT...)
	}
	for r := range n.snat {
		longestFirst(n.snat[r])
	}
	return n
}

// EIP returns the EIP in use with address a, or nil.
func (n *NAT) EIP(a netip.Addr) *EIP { return n.eips[a] }

// gatewayOf returns the NAT gateway a route decision named, or nil.
func (n *NAT) gatewayOf(d Decision) *NATGateway {
	if d.Route == nil || d.Route.Group == nil || d.Member < 0 || d.Member >= len(d.Route.Group.Members) {
		return nil
	}
	return n.gateways[d.Route.Group.Members[d.Member].ID]
}

// snatFor returns the EIP the SNAT entries give to src, through gateway gw
// or, when gw is nil, any gateway of router.
func (n *NAT) snatFor(router int, src netip.Addr, gw *NATGateway) *EIP {
	rules := n.snat[router]
	if gw != nil {
		rules = gw.SNAT
	}
	for i := range rules {
		if rules[i].Source.Contains(src) {
			return rules[i].EIP
		}
	}
	return nil
}

// dnat returns the DNAT entry of e for a packet of proto to port, or nil.
func (e *EIP) dnat(proto uint8, port uint16) *DNATRule {
	for i := range e.DNAT {
		r := &e.DNAT[i]
		if r.Proto == 0 || (r.Proto == proto && r.External == port) {
			return r
		}
	}
	return nil
}

// all returns e's DNAT entry of protocol all, or nil.
func (e *EIP) all() *DNATRule {
	for i := range e.DNAT {
		if e.DNAT[i].Proto == 0 {
			return &e.DNAT[i]
		}
	}
	return nil
}

// owns reports whether e is, 1:1, the public address of private address a
// leaving through port: an instance's EIP from its primary ENI, or a NAT
// gateway's EIP whose DNAT entry of protocol all maps to a.
func (e *EIP) owns(a netip.Addr, port fib.PortID) bool {
	if e.Gateway == nil {
		return e.Instance == a && e.Port == port
	}
	r := e.all()
	return r != nil && r.Internal == a
}

// reserved reports whether port of proto is a DNAT external port of e,
// which SNAT never hands out.
func (e *EIP) reserved(proto uint8, port uint16) bool {
	for i := range e.DNAT {
		if r := &e.DNAT[i]; r.Proto == proto && r.External == port {
			return true
		}
	}
	return false
}

// covers reports whether an SNAT entry of g gives e to src.
func (g *NATGateway) covers(src netip.Addr, e *EIP) bool {
	for i := range g.SNAT {
		if g.SNAT[i].EIP == e && g.SNAT[i].Source.Contains(src) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// port allocation

// NATPorts allocates the public ports of SNAT per (EIP, protocol). A port
// is held by the conntrack flow it was given to and reused only after that
// flow has left the table (ended, expired or evicted): the pool remembers
// each port's flow handle and reclaims a port lazily, when the handle no
// longer names a tracked flow. Allocation runs round robin from a cursor,
// so a port freed a moment ago is the last to be given again. Because the
// flow's public tuple is inserted into the table atomically with the flow,
// a port already used by a flow the pool does not know (restored at start,
// or a DNAT flow) is skipped too. All methods are safe for concurrent use:
// mu guards the pool map, each pool's own mutex its cursor and owners;
// lock order pool → conntrack shard, never the reverse.
type NATPorts struct {
	mu    sync.Mutex
	pools map[poolKey]*portPool // guarded by mu
}

type poolKey struct {
	addr  netip.Addr
	proto uint8
}

type portPool struct {
	mu     sync.Mutex
	cursor int                // guarded by mu
	owner  []conntrack.Handle // by port − NATPortLo; guarded by mu
}

// NewNATPorts returns empty pools.
func NewNATPorts() *NATPorts { return &NATPorts{pools: map[poolKey]*portPool{}} }

func (np *NATPorts) pool(addr netip.Addr, proto uint8) *portPool {
	np.mu.Lock()
	defer np.mu.Unlock()
	k := poolKey{addr, proto}
	pl := np.pools[k]
	if pl == nil {
		pl = &portPool{}
		np.pools[k] = pl
	}
	return pl
}

// InUse counts the ports of (addr, proto) held by flows ct still tracks,
// as far as the pool knows them: those it handed out and those it found
// taken by other flows while looking for a free one.
func (np *NATPorts) InUse(ct *conntrack.Table, addr netip.Addr, proto uint8) int {
	pl := np.pool(addr, proto)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	n := 0
	for _, h := range pl.owner {
		if h.Valid() {
			if _, _, ok := ct.Keys(h); ok {
				n++
			}
		}
	}
	return n
}

// claim inserts the flow k into ct with the reply key tmpl whose
// destination port (and source port too for an ICMP echo, whose key holds
// the identifier in both) is a free public port of e for proto. It returns
// Inserted with the port, Exists with the handle of a flow already tracked
// under k, or Refused when the table refuses the flow or no port is free.
func (np *NATPorts) claim(ct *conntrack.Table, e *EIP, k *conntrack.Key, tmpl conntrack.Key, echo bool, flags uint8, meta conntrack.Meta, now int64) (conntrack.Handle, uint16, conntrack.InsertResult) {
	pl := np.pool(e.Addr, k.Proto)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	const n = NATPortHi - NATPortLo + 1
	if pl.owner == nil {
		pl.owner = make([]conntrack.Handle, n)
	}
	for i := 0; i < n; i++ {
		idx := (pl.cursor + i) % n
		port := uint16(NATPortLo + idx)
		if h := pl.owner[idx]; h.Valid() {
			if _, _, ok := ct.Keys(h); ok {
				continue // its flow is still tracked
			}
			pl.owner[idx] = conntrack.Handle{}
		}
		if e.reserved(k.Proto, port) {
			continue
		}
		r := tmpl
		r.DstPort = port
		if echo {
			r.SrcPort = port
		}
		h, res := ct.Insert(k, &r, flags, meta, now)
		switch res {
		case conntrack.Inserted:
			pl.owner[idx] = h
			pl.cursor = (idx + 1) % n
			return h, port, res
		case conntrack.Refused:
			return h, 0, res
		}
		if o, _, ok := ct.Keys(h); ok && o == *k {
			return h, 0, conntrack.Exists
		}
		pl.owner[idx] = h // the public tuple belongs to a flow the pool did not hand out
	}
	return conntrack.Handle{}, 0, conntrack.Refused
}

// ---------------------------------------------------------------------------
// decisions

// natZone is the conntrack zone of the flows of EIPs of router.
func (s *Snapshot) natZone(router int) uint16 { return s.Routers[router].Zone }

func as4(b [16]byte) [4]byte { return [4]byte(b[12:16]) }

func addr4(a netip.Addr) [4]byte { return a.As4() }

// flowRewrite fills rw for a packet with key k in direction dir of the
// flow (orig, reply): it leaves as the mirror of the other direction's key.
// ports is false for non-first fragments, which carry none.
func flowRewrite(rw *Rewrite, k, orig, reply *conntrack.Key, dir conntrack.Dir, ports bool) {
	other := reply
	if dir == conntrack.Reply {
		other = orig
	}
	if other.Dst != k.Src {
		rw.Flags |= RewriteSrc
		rw.Src = as4(other.Dst)
	}
	if other.Src != k.Dst {
		rw.Flags |= RewriteDst
		rw.Dst = as4(other.Src)
	}
	if !ports {
		return
	}
	if other.DstPort != k.SrcPort {
		rw.Flags |= RewriteSrcPort
		rw.SrcPort = other.DstPort
	}
	if other.SrcPort != k.DstPort {
		rw.Flags |= RewriteDstPort
		rw.DstPort = other.SrcPort
	}
}

// errorRewrite fills rw for an ICMP error p related to the flow (orig,
// reply) and travelling in direction y of it: the quoted header (the
// mirror of y's key, as the flow's packet was delivered) becomes the other
// direction's key, and the outer addresses that are the flow's endpoints
// are translated like a packet of direction y.
func errorRewrite(rw *Rewrite, p *packet.Parsed, orig, reply *conntrack.Key, y conntrack.Dir) {
	ky, other := orig, reply
	if y == conntrack.Reply {
		ky, other = reply, orig
	}
	if p.Src.As16() == ky.Src && other.Dst != ky.Src {
		rw.Flags |= RewriteSrc
		rw.Src = as4(other.Dst)
	}
	if p.Dst.As16() == ky.Dst && other.Src != ky.Dst {
		rw.Flags |= RewriteDst
		rw.Dst = as4(other.Src)
	}
	if p.InnerSrc.As16() != other.Src {
		rw.Flags |= RewriteInnerSrc
		rw.InnerSrc = as4(other.Src)
	}
	if p.InnerDst.As16() != other.Dst {
		rw.Flags |= RewriteInnerDst
		rw.InnerDst = as4(other.Dst)
	}
	if p.InnerSrcPort != other.SrcPort {
		rw.Flags |= RewriteInnerSrcPort
		rw.InnerSrcPort = other.SrcPort
	}
	if p.InnerDstPort != other.DstPort {
		rw.Flags |= RewriteInnerDstPort
		rw.InnerDstPort = other.DstPort
	}
}

// natVerify re-checks a NAT flow after the policy generation changed (S8):
// its translation must still be configured and the ENI-side security
// groups must still admit its original direction.
func (s *Snapshot) natVerify(meta conntrack.Meta, orig, reply *conntrack.Key) bool {
	n := s.NAT
	var e *EIP
	var eni *Port
	var dir secgroup.Direction
	var self, peer netip.Addr
	var dport uint16
	switch meta.NAT {
	case natEIPOut, natSNAT:
		e = n.eips[reply.DstAddr()]
		eni = s.Port(fib.PortID(meta.InPort))
		dir, self, peer, dport = secgroup.Egress, orig.SrcAddr(), orig.DstAddr(), orig.DstPort
		if e == nil {
			return false
		}
		if meta.NAT == natEIPOut && !e.owns(self, fib.PortID(meta.InPort)) {
			return false
		}
		if meta.NAT == natSNAT && (e.Gateway == nil || !e.Gateway.covers(self, e)) {
			return false
		}
	case natEIPIn, natDNAT:
		e = n.eips[orig.DstAddr()]
		eni = s.Port(fib.PortID(meta.OutPort))
		dir, self, peer, dport = secgroup.Ingress, reply.SrcAddr(), orig.SrcAddr(), reply.SrcPort
		if e == nil {
			return false
		}
		if meta.NAT == natEIPIn && e.Instance != self {
			return false
		}
		if meta.NAT == natDNAT {
			r := e.dnat(orig.Proto, orig.DstPort)
			if r == nil || r.Internal != self || (r.Proto != 0 && r.InternalPort != dport) {
				return false
			}
		}
	default:
		return false
	}
	if eni == nil || eni.Kind != PortENI || eni.Router != e.Router || !eni.owns(self) {
		return false
	}
	return eni.Policy == nil || eni.Policy.Check(dir, self, peer, orig.Proto, dport).Accept
}

// natTracked finds the NAT flow of p (key k, zone already set) and fills
// rw with its translation. A flow verified under an older policy
// generation is re-verified (S8) and removed when it no longer holds; a
// tracked flow that is not a NAT flow is removed too (the tuple now needs
// translation). It reports whether a live NAT flow was found.
func (s *Snapshot) natTracked(rw *Rewrite, k *conntrack.Key, p *packet.Parsed, now int64, tr *Trace) (conntrack.Handle, bool) {
	ct := s.Conntrack
	flags := p.TCPFlags
	if tr != nil {
		flags = 0 // a trace must not advance TCP state
	}
	h, dir, meta, ok := ct.Lookup(k, flags, now)
	if !ok {
		return conntrack.Handle{}, false
	}
	orig, reply, kok := ct.Keys(h)
	switch {
	case !kok:
		return conntrack.Handle{}, false
	case meta.NAT == natNone:
		tr.step("nat", "tracked flow without translation", "removed; handled as a new flow")
	case meta.Gen != s.PolicyGen && !s.natVerify(meta, &orig, &reply):
		tr.step("nat", "tracked flow no longer admitted", "removed (S8)")
	default:
		if meta.Gen != s.PolicyGen && tr == nil {
			ct.SetGen(h, s.PolicyGen)
		}
		flowRewrite(rw, k, &orig, &reply, dir, true)
		if tr != nil {
			tr.step("nat", dirName(dir), "tracked flow "+orig.String()+", translated "+reply.String())
		}
		return h, true
	}
	if tr == nil {
		ct.Delete(h)
	}
	return conntrack.Handle{}, false
}

// natFragment translates a non-first fragment by its first fragment's flow
// (S9). The fragment key is the fragment's as it arrived.
func (s *Snapshot) natFragment(rw *Rewrite, zone uint16, p *packet.Parsed, now int64, tr *Trace) bool {
	if s.Frags == nil {
		return false
	}
	fk := conntrack.FragKey{Zone: zone, Src: p.Src.As16(), Dst: p.Dst.As16(), Proto: p.Proto, ID: uint32(p.ID)}
	admitted, h, ok := s.Frags.LookupFrag(fk, !p.MF, now)
	if !ok || !admitted {
		return false
	}
	orig, reply, ok := s.Conntrack.Keys(h)
	if !ok {
		return false
	}
	var k conntrack.Key
	flowKey(&k, zone, p)
	dir := conntrack.Reply
	if k.Src == orig.Src && k.Dst == orig.Dst {
		dir = conntrack.Original
	}
	flowRewrite(rw, &k, &orig, &reply, dir, false)
	tr.step("nat", "fragment", "follows its first fragment's flow")
	return true
}

// natRelated finds the NAT flow an ICMP error p belongs to by the mirror of
// its quoted tuple and fills rw with the error's translation (S1).
func (s *Snapshot) natRelated(rw *Rewrite, zone uint16, p *packet.Parsed, now int64, tr *Trace) bool {
	var ik conntrack.Key
	ik.Src, ik.Dst = p.InnerDst.As16(), p.InnerSrc.As16()
	ik.SrcPort, ik.DstPort = p.InnerDstPort, p.InnerSrcPort
	ik.Proto, ik.Zone = p.InnerProto, zone
	h, dir, meta, ok := s.Conntrack.LookupRelated(&ik, now)
	if !ok || meta.NAT == natNone {
		return false
	}
	orig, reply, ok := s.Conntrack.Keys(h)
	if !ok {
		return false
	}
	errorRewrite(rw, p, &orig, &reply, 1-dir)
	tr.step("nat", "related", "ICMP error of a translated flow")
	return true
}

// noteNATFragment records the first fragment of a translated datagram with
// its flow (S9), keyed as the fragment arrived.
func (s *Snapshot) noteNATFragment(zone uint16, p *packet.Parsed, h conntrack.Handle, now int64) {
	if p.MF && p.FragOff == 0 && s.Frags != nil {
		s.noteFirstFragment(zone, p, true, h, now)
	}
}

// fromInternet handles a packet arriving on the internet port: DNAT before
// the route lookup, in the system table of the EIP's VPC (C6).
func (s *Snapshot) fromInternet(d Decision, in *Port, p *packet.Parsed, pktLen int, hdr *tun.VirtioNetHdr, now int64, tr *Trace) Decision {
	n := s.NAT
	e := n.eips[p.Dst]
	if e == nil {
		if tr != nil {
			tr.step("nat", "no EIP", p.Dst.String()+" is not an EIP in use")
		}
		return s.icmpError(d, stats.DropNoRoute, packet.ICMPDestUnreach, packet.ICMPNetUnreach, 0, tr)
	}
	if s.Conntrack == nil {
		return tr.drop(d, stats.DropUnsupported, "NAT needs connection tracking")
	}
	zone := s.natZone(e.Router)
	var rw Rewrite
	var h conntrack.Handle
	kind := natNone
	var k conntrack.Key
	flowKey(&k, zone, p)
	switch {
	case p.FragOff != 0:
		if !s.natFragment(&rw, zone, p, now, tr) {
			return tr.drop(d, stats.DropFragment, "non-first fragment of no admitted datagram")
		}
	case p.Proto == packet.ProtoICMP && p.HasInner && s.natRelated(&rw, zone, p, now, tr):
	default:
		var ok bool
		if h, ok = s.natTracked(&rw, &k, p, now, tr); ok {
			s.noteNATFragment(zone, p, h, now)
			break
		}
		// A new flow from the internet: the EIP's instance, or a DNAT entry.
		if e.Instance.IsValid() {
			kind = natEIPIn
			rw.Flags, rw.Dst = RewriteDst, addr4(e.Instance)
			if tr != nil {
				tr.step("nat", "EIP "+e.ID, "1:1 to "+e.Instance.String())
			}
			break
		}
		r := e.dnat(p.Proto, p.DstPort)
		if r == nil {
			if tr != nil {
				tr.step("nat", "no DNAT entry", e.ID+" maps nothing to this packet")
			}
			return tr.drop(d, stats.DropNoRoute, "")
		}
		kind = natDNAT
		rw.Flags, rw.Dst = RewriteDst, addr4(r.Internal)
		if r.Proto != 0 && r.InternalPort != p.DstPort {
			rw.Flags |= RewriteDstPort
			rw.DstPort = r.InternalPort
		}
		if tr != nil {
			tr.step("nat", "DNAT "+e.ID, netip.AddrPortFrom(r.Internal, r.InternalPort).String())
		}
	}

	// The route lookup uses the translated destination.
	dst := p.Dst
	if rw.Flags&RewriteDst != 0 {
		dst = netip.AddrFrom4(rw.Dst)
	}
	d, st := s.lookup(d, s.Routers[e.Router].System, p, dst, tr)
	switch st {
	case routeFinal:
		return d
	case unrouted:
		return s.icmpError(d, stats.DropNoRoute, packet.ICMPDestUnreach, packet.ICMPNetUnreach, 0, tr)
	}
	d.Hops++
	if p.TTL <= d.Hops {
		return s.icmpError(d, stats.DropTTLExceeded, packet.ICMPTimeExceeded, 0, 0, tr)
	}
	out := s.Port(d.Out)
	if out == nil {
		return tr.drop(d, stats.DropNoPort, "destination port not attached")
	}
	tr.step("egress-port", out.Name, "")
	if kind != natNone {
		// S2: the ingress rules of the ENI the translation delivers to.
		if out.Kind != PortENI {
			return tr.drop(d, stats.DropHostUnreachable, "a translated destination must be an ENI")
		}
		dport := p.DstPort
		if rw.Flags&RewriteDstPort != 0 {
			dport = rw.DstPort
		}
		if out.Policy != nil {
			dec := out.Policy.Check(secgroup.Ingress, dst, p.Src, p.Proto, dport)
			tr.sgStep("ingress", out.Name, dec)
			s.countVerdict(secgroup.Ingress, dec, tr)
			if !dec.Accept {
				return tr.drop(d, stats.DropSGIngress, "")
			}
		}
		if tr == nil {
			reply := conntrack.Key{Src: dst.As16(), Dst: k.Src, SrcPort: dport, DstPort: k.SrcPort, Zone: zone, Proto: k.Proto}
			if p.Proto == packet.ProtoICMP {
				reply.SrcPort, reply.DstPort = k.SrcPort, k.DstPort // echo identifier, unchanged
			}
			meta := conntrack.Meta{InPort: uint16(in.ID), OutPort: uint16(out.ID), Gen: s.PolicyGen, NAT: kind}
			nh, res := s.Conntrack.Insert(&k, &reply, p.TCPFlags, meta, now)
			switch res {
			case conntrack.Refused:
				return tr.drop(d, stats.DropConntrackFull, "")
			case conntrack.Exists:
				return tr.drop(d, stats.DropUnsupported, "the translated tuple belongs to another flow")
			}
			s.noteNATFragment(zone, p, nh, now)
		}
	}
	d = s.fit(d, out, p, pktLen, hdr, tr)
	if d.Verdict == VerdictForward || d.Verdict == VerdictFragment {
		d.NAT = rw
	}
	return d
}

// toInternet handles a packet of ENI in that leaves through the internet
// port: unrouted in its table, or routed to a NAT gateway (via set). SNAT
// after the lookup (C6).
func (s *Snapshot) toInternet(d Decision, in *Port, p *packet.Parsed, pktLen int, hdr *tun.VirtioNetHdr, now int64, tr *Trace, via bool) Decision {
	n := s.NAT
	if in.Kind != PortENI || s.Conntrack == nil {
		return s.icmpError(d, stats.DropNoRoute, packet.ICMPDestUnreach, packet.ICMPNetUnreach, 0, tr)
	}
	d.Hops++
	if p.TTL <= d.Hops {
		return s.icmpError(d, stats.DropTTLExceeded, packet.ICMPTimeExceeded, 0, 0, tr)
	}
	zone := s.natZone(in.Router)
	var rw Rewrite
	var k conntrack.Key
	flowKey(&k, zone, p)
	tracked := false
	switch {
	case p.FragOff != 0:
		tracked = s.natFragment(&rw, zone, p, now, tr)
		if !tracked {
			return tr.drop(d, stats.DropFragment, "non-first fragment of no admitted datagram")
		}
	case p.Proto == packet.ProtoICMP && p.HasInner:
		if !s.natRelated(&rw, zone, p, now, tr) {
			// No ICMP error about an ICMP error; never a private source out.
			return tr.drop(d, stats.DropNoRoute, "ICMP error of no translated flow")
		}
		tracked = true
	default:
		var h conntrack.Handle
		if h, tracked = s.natTracked(&rw, &k, p, now, tr); tracked {
			s.noteNATFragment(zone, p, h, now)
		}
	}
	out := s.Port(n.Port)
	if out == nil {
		return tr.drop(d, stats.DropNoPort, "internet port not attached")
	}
	if !tracked {
		var gw *NATGateway
		if via {
			if gw = n.gatewayOf(d); gw == nil || gw.Router != in.Router {
				tr.step("nat", "no NAT gateway", "the route names no NAT gateway of this VPC")
				return s.icmpError(d, stats.DropNoRoute, packet.ICMPDestUnreach, packet.ICMPNetUnreach, 0, tr)
			}
		}
		kind := natSNAT
		e := n.bound[boundKey{in.Router, p.Src}]
		if e != nil && e.owns(p.Src, in.ID) {
			kind = natEIPOut // the EIP wins over SNAT
		} else if e = n.snatFor(in.Router, p.Src, gw); e == nil {
			if tr != nil {
				tr.step("nat", "no translation", p.Src.String()+" is neither EIP-bound nor covered by an SNAT entry")
			}
			return s.icmpError(d, stats.DropNoRoute, packet.ICMPDestUnreach, packet.ICMPNetUnreach, 0, tr)
		}
		// S2: the egress rules of the ENI that opens the flow.
		if in.Policy != nil {
			dec := in.Policy.Check(secgroup.Egress, p.Src, p.Dst, p.Proto, p.DstPort)
			tr.sgStep("egress", in.Name, dec)
			s.countVerdict(secgroup.Egress, dec, tr)
			if !dec.Accept {
				return tr.drop(d, stats.DropSGEgress, "")
			}
		}
		rw.Flags, rw.Src = RewriteSrc, addr4(e.Addr)
		if tr != nil {
			if kind == natEIPOut {
				tr.step("nat", "EIP "+e.ID, "1:1 source "+e.Addr.String())
			} else {
				tr.step("nat", "SNAT "+e.ID, "source "+e.Addr.String()+", port allocated at the first packet")
			}
		} else {
			meta := conntrack.Meta{InPort: uint16(in.ID), OutPort: uint16(n.Port), Gen: s.PolicyGen, NAT: kind}
			reply := conntrack.Key{Src: k.Dst, Dst: e.Addr.As16(), SrcPort: k.DstPort, DstPort: k.SrcPort, Zone: zone, Proto: k.Proto}
			echo := p.Proto == packet.ProtoICMP && (p.ICMPType == packet.ICMPEcho || p.ICMPType == packet.ICMPEchoReply)
			var h conntrack.Handle
			var res conntrack.InsertResult
			var port uint16
			if kind == natSNAT && (p.Proto == packet.ProtoTCP || p.Proto == packet.ProtoUDP || echo) {
				h, port, res = n.Ports.claim(s.Conntrack, e, &k, reply, echo, p.TCPFlags, meta, now)
				if res == conntrack.Inserted && port != k.SrcPort {
					rw.Flags |= RewriteSrcPort
					rw.SrcPort = port
				}
			} else {
				h, res = s.Conntrack.Insert(&k, &reply, p.TCPFlags, meta, now)
			}
			switch res {
			case conntrack.Refused:
				return tr.drop(d, stats.DropConntrackFull, "")
			case conntrack.Exists:
				return tr.drop(d, stats.DropUnsupported, "the translated tuple belongs to another flow")
			}
			s.noteNATFragment(zone, p, h, now)
		}
	}
	d.Out = n.Port
	tr.step("egress-port", out.Name, "")
	d = s.fit(d, out, p, pktLen, hdr, tr)
	if d.Verdict == VerdictForward || d.Verdict == VerdictFragment {
		d.NAT = rw
	}
	return d
}

// ---------------------------------------------------------------------------
// packet rewrite

// Rewrite flags: which fields of a packet a Rewrite replaces.
const (
	RewriteSrc          uint8 = 1 << iota // IP source address
	RewriteDst                            // IP destination address
	RewriteSrcPort                        // TCP/UDP source port, ICMP echo identifier
	RewriteDstPort                        // TCP/UDP destination port, ICMP echo identifier
	RewriteInnerSrc                       // source address of the header an ICMP error quotes
	RewriteInnerDst                       // its destination address
	RewriteInnerSrcPort                   // its source port (or echo identifier)
	RewriteInnerDstPort                   // its destination port (or echo identifier)
)

// Rewrite is the NAT translation of one packet (C6). The zero value
// changes nothing. For an ICMP echo both port fields name the identifier.
type Rewrite struct {
	Flags                      uint8
	Src, Dst                   [4]byte
	SrcPort, DstPort           uint16
	InnerSrc, InnerDst         [4]byte
	InnerSrcPort, InnerDstPort uint16
}

// csumDelta accumulates 16-bit word changes of checksummed data as the
// ones'-complement sum of ~old + new (RFC 1624 eqn. 3).
type csumDelta uint64

func (c *csumDelta) add16(old, new uint16) { *c += csumDelta(^old) + csumDelta(new) }

func (c *csumDelta) add32(old, new [4]byte) {
	c.add16(binary.BigEndian.Uint16(old[0:2]), binary.BigEndian.Uint16(new[0:2]))
	c.add16(binary.BigEndian.Uint16(old[2:4]), binary.BigEndian.Uint16(new[2:4]))
}

func fold64(x uint64) uint16 {
	for x > 0xffff {
		x = x>>16 + x&0xffff
	}
	return uint16(x)
}

// apply updates a complemented checksum field (a full checksum).
func (c csumDelta) apply(csum uint16) uint16 { return ^fold64(uint64(^csum) + uint64(c)) }

// applyPartial updates a non-complemented partial sum (the pseudo-header
// sum a VIRTIO_NET_HDR_F_NEEDS_CSUM packet carries in its checksum field).
func (c csumDelta) applyPartial(sum uint16) uint16 { return fold64(uint64(sum) + uint64(c)) }

// Apply rewrites the IPv4 packet pkt (a packet Decode accepted) and fixes
// its checksums incrementally: the IP header checksum, the TCP/UDP
// checksum (pseudo header and ports; a UDP checksum of 0 stays 0), the
// ICMP echo checksum, and for an ICMP error the quoted header with its
// checksums and the ICMP checksum over it. When hdr says the L4 checksum
// is partial (VIRTIO_NET_HDR_F_NEEDS_CSUM starting at the transport
// header), only address changes adjust that field, non-complemented. A
// non-first fragment has only its addresses rewritten. Apply allocates
// nothing.
func (rw *Rewrite) Apply(pkt []byte, hdr *tun.VirtioNetHdr) {
	if len(pkt) < packet.IPv4MinHeaderLen || pkt[0]>>4 != 4 {
		return
	}
	hl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if hl < packet.IPv4MinHeaderLen || total < hl || total > len(pkt) {
		return
	}
	partial := hdr != nil && hdr.Flags&tun.VirtioNetHdrFNeedsCsum != 0 && int(hdr.CsumStart) == hl
	var ip, pseudo, ports csumDelta
	if rw.Flags&RewriteSrc != 0 {
		old := [4]byte(pkt[12:16])
		ip.add32(old, rw.Src)
		pseudo.add32(old, rw.Src)
		copy(pkt[12:16], rw.Src[:])
	}
	if rw.Flags&RewriteDst != 0 {
		old := [4]byte(pkt[16:20])
		ip.add32(old, rw.Dst)
		pseudo.add32(old, rw.Dst)
		copy(pkt[16:20], rw.Dst[:])
	}
	if rw.Flags&(RewriteSrc|RewriteDst) != 0 {
		binary.BigEndian.PutUint16(pkt[10:12], ip.apply(binary.BigEndian.Uint16(pkt[10:12])))
	}
	if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
		return // a non-first fragment: no transport header
	}
	l4 := pkt[hl:total]
	switch proto := pkt[9]; proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		off := 16 // TCP checksum
		if proto == packet.ProtoUDP {
			off = 6
		}
		if len(l4) < off+2 {
			return
		}
		if rw.Flags&RewriteSrcPort != 0 {
			ports.add16(binary.BigEndian.Uint16(l4[0:2]), rw.SrcPort)
			binary.BigEndian.PutUint16(l4[0:2], rw.SrcPort)
		}
		if rw.Flags&RewriteDstPort != 0 {
			ports.add16(binary.BigEndian.Uint16(l4[2:4]), rw.DstPort)
			binary.BigEndian.PutUint16(l4[2:4], rw.DstPort)
		}
		c := binary.BigEndian.Uint16(l4[off : off+2])
		switch {
		case partial:
			c = pseudo.applyPartial(c)
		case proto == packet.ProtoUDP && c == 0:
			return // no UDP checksum (RFC 768)
		default:
			c = (pseudo + ports).apply(c)
			if proto == packet.ProtoUDP && c == 0 {
				c = 0xffff
			}
		}
		binary.BigEndian.PutUint16(l4[off:off+2], c)
	case packet.ProtoICMP:
		if len(l4) < packet.ICMPv4HeaderLen {
			return
		}
		switch l4[0] {
		case packet.ICMPEcho, packet.ICMPEchoReply:
			if rw.Flags&(RewriteSrcPort|RewriteDstPort) == 0 {
				return
			}
			id := rw.SrcPort
			if rw.Flags&RewriteSrcPort == 0 {
				id = rw.DstPort
			}
			old := binary.BigEndian.Uint16(l4[4:6])
			binary.BigEndian.PutUint16(l4[4:6], id)
			if !partial {
				var c csumDelta
				c.add16(old, id)
				binary.BigEndian.PutUint16(l4[2:4], c.apply(binary.BigEndian.Uint16(l4[2:4])))
			}
		case packet.ICMPDestUnreach, packet.ICMPSourceQuench, packet.ICMPRedirect, packet.ICMPTimeExceeded, packet.ICMPParamProblem:
			if rw.Flags&(RewriteInnerSrc|RewriteInnerDst|RewriteInnerSrcPort|RewriteInnerDstPort) != 0 {
				rw.applyInner(l4, partial)
			}
		}
	}
}

// applyInner rewrites the IPv4 header an ICMP error quotes (as far as the
// quote reaches) and updates the error's ICMP checksum, unless that one is
// partial (the receiver computes it).
func (rw *Rewrite) applyInner(icmp []byte, partial bool) {
	q := icmp[packet.ICMPv4HeaderLen:]
	if len(q) < packet.IPv4MinHeaderLen || q[0]>>4 != 4 {
		return
	}
	ihl := int(q[0]&0x0f) * 4
	if ihl < packet.IPv4MinHeaderLen || ihl > len(q) {
		return
	}
	var outer, ip, pseudo, ports csumDelta
	put := func(b []byte, v uint16) { // a word inside the ICMP message
		outer.add16(binary.BigEndian.Uint16(b), v)
		binary.BigEndian.PutUint16(b, v)
	}
	if rw.Flags&RewriteInnerSrc != 0 {
		old := [4]byte(q[12:16])
		ip.add32(old, rw.InnerSrc)
		pseudo.add32(old, rw.InnerSrc)
		outer.add32(old, rw.InnerSrc)
		copy(q[12:16], rw.InnerSrc[:])
	}
	if rw.Flags&RewriteInnerDst != 0 {
		old := [4]byte(q[16:20])
		ip.add32(old, rw.InnerDst)
		pseudo.add32(old, rw.InnerDst)
		outer.add32(old, rw.InnerDst)
		copy(q[16:20], rw.InnerDst[:])
	}
	if rw.Flags&(RewriteInnerSrc|RewriteInnerDst) != 0 {
		put(q[10:12], ip.apply(binary.BigEndian.Uint16(q[10:12])))
	}
	if binary.BigEndian.Uint16(q[6:8])&0x1fff == 0 {
		l4 := q[ihl:]
		switch proto := q[9]; proto {
		case packet.ProtoTCP, packet.ProtoUDP:
			if len(l4) >= 4 {
				if rw.Flags&RewriteInnerSrcPort != 0 {
					ports.add16(binary.BigEndian.Uint16(l4[0:2]), rw.InnerSrcPort)
					put(l4[0:2], rw.InnerSrcPort)
				}
				if rw.Flags&RewriteInnerDstPort != 0 {
					ports.add16(binary.BigEndian.Uint16(l4[2:4]), rw.InnerDstPort)
					put(l4[2:4], rw.InnerDstPort)
				}
			}
			off := 16
			if proto == packet.ProtoUDP {
				off = 6
			}
			if len(l4) >= off+2 {
				c := binary.BigEndian.Uint16(l4[off : off+2])
				if proto == packet.ProtoTCP || c != 0 {
					nc := (pseudo + ports).apply(c)
					if proto == packet.ProtoUDP && nc == 0 {
						nc = 0xffff
					}
					put(l4[off:off+2], nc)
				}
			}
		case packet.ProtoICMP:
			if len(l4) >= 6 && (l4[0] == packet.ICMPEcho || l4[0] == packet.ICMPEchoReply) &&
				rw.Flags&(RewriteInnerSrcPort|RewriteInnerDstPort) != 0 {
				id := rw.InnerSrcPort
				if rw.Flags&RewriteInnerSrcPort == 0 {
					id = rw.InnerDstPort
				}
				var c csumDelta
				c.add16(binary.BigEndian.Uint16(l4[4:6]), id)
				put(l4[4:6], id)
				put(l4[2:4], c.apply(binary.BigEndian.Uint16(l4[2:4])))
			}
		}
	}
	if !partial {
		binary.BigEndian.PutUint16(icmp[2:4], outer.apply(binary.BigEndian.Uint16(icmp[2:4])))
	}
}
