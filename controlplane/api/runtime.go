package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/controlplane/health"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
)

// ---------------------------------------------------------------------------
// Stats (R8)

// PortStats are one port's counters.
type PortStats struct {
	Name      string            `json:"Name"`
	RxPackets uint64            `json:"RxPackets"`
	RxBytes   uint64            `json:"RxBytes"`
	TxPackets uint64            `json:"TxPackets"`
	TxBytes   uint64            `json:"TxBytes"`
	Drops     map[string]uint64 `json:"Drops"` // non-zero reasons only
}

// ConntrackStats are the flow table's counters (S7).
type ConntrackStats struct {
	Entries    int64  `json:"Entries"`
	MaxEntries int    `json:"MaxEntries"`
	Inserts    uint64 `json:"Inserts"`
	Evictions  uint64 `json:"Evictions"`
	Refusals   uint64 `json:"Refusals"`
	Expired    uint64 `json:"Expired"`
}

// RouteHit is the hit counter of one route entry.
type RouteHit struct {
	Table string `json:"Table"`
	Dst   string `json:"Dst"`
	Hits  uint64 `json:"Hits"`
}

// StatsResponse is the reply of Stats.
type StatsResponse struct {
	Ports     []PortStats       `json:"Ports"`
	Drops     map[string]uint64 `json:"Drops"` // every port added up, by reason
	Conntrack *ConntrackStats   `json:"Conntrack,omitempty"`
	RouteHits []RouteHit        `json:"RouteHits"`
}

func (s *Server) stats() (any, error) {
	out := &StatsResponse{Ports: []PortStats{}, Drops: map[string]uint64{}, RouteHits: []RouteHit{}}
	if reg := s.b.Stats(); reg != nil {
		for _, p := range reg.Ports() {
			out.Ports = append(out.Ports, PortStats{Name: p.Name, RxPackets: p.RxPackets, RxBytes: p.RxBytes,
				TxPackets: p.TxPackets, TxBytes: p.TxBytes, Drops: p.Drops})
			for r, n := range p.Drops {
				out.Drops[r] += n
			}
		}
		for n, h := range reg.RouteHits() {
			out.RouteHits = append(out.RouteHits, RouteHit{Table: n.Table, Dst: n.Dst, Hits: h})
		}
		slices.SortFunc(out.RouteHits, func(a, b RouteHit) int {
			if c := strings.Compare(a.Table, b.Table); c != 0 {
				return c
			}
			return strings.Compare(a.Dst, b.Dst)
		})
	}
	if ct := s.b.Conntrack(); ct != nil {
		st := ct.Stats()
		out.Conntrack = &ConntrackStats{Entries: st.Entries, MaxEntries: ct.Config().MaxEntries, Inserts: st.Inserts,
			Evictions: st.Evictions, Refusals: st.Refusals, Expired: st.Expired}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Health (F8, F9)

// HealthResponse is the reply of Health.
type HealthResponse struct {
	NextHops []health.State `json:"NextHops"`
}

func (s *Server) health() (any, error) {
	st := s.b.HealthStates()
	if st == nil {
		st = []health.State{}
	}
	return &HealthResponse{NextHops: st}, nil
}

// ---------------------------------------------------------------------------
// Flows (R6 `vrouterctl flows`)

// FlowsParams filters the conntrack dump. Vpc is a VPC id, a VRouter id or
// a conntrack zone number; Src and Dst are an address or a CIDR matched
// against the original direction; Proto is tcp, udp, icmp, gre or a
// number; Port matches either port of the original direction. Limit caps
// the flows returned (default 1000, at most 100000); Total still counts
// every match.
type FlowsParams struct {
	Vpc   string `json:"Vpc,omitempty"`
	Src   string `json:"Src,omitempty"`
	Dst   string `json:"Dst,omitempty"`
	Proto string `json:"Proto,omitempty"`
	Port  int    `json:"Port,omitempty"`
	Limit int    `json:"Limit,omitempty"`
}

// Flow is one tracked flow.
type Flow struct {
	Zone             uint16  `json:"Zone"`
	Vpc              string  `json:"Vpc"`
	Proto            string  `json:"Proto"`
	Src              string  `json:"Src"`
	SrcPort          uint16  `json:"SrcPort"`
	Dst              string  `json:"Dst"`
	DstPort          uint16  `json:"DstPort"`
	ReplySrc         string  `json:"ReplySrc"`
	ReplySrcPort     uint16  `json:"ReplySrcPort"`
	ReplyDst         string  `json:"ReplyDst"`
	ReplyDstPort     uint16  `json:"ReplyDstPort"`
	State            string  `json:"State"`
	Established      bool    `json:"Established"` // confirmed by the reply side: never evicted (S7)
	AgeSeconds       float64 `json:"AgeSeconds"`
	ExpiresInSeconds float64 `json:"ExpiresInSeconds"` // ≤ 0: expired, not yet swept
	InPort           string  `json:"InPort"`
	OutPort          string  `json:"OutPort"`
}

// FlowsResponse is the reply of Flows.
type FlowsResponse struct {
	Flows     []Flow `json:"Flows"`
	Total     int    `json:"Total"` // matching flows, including those beyond Limit
	Truncated bool   `json:"Truncated"`
}

// Flow dump limits.
const (
	DefaultFlowLimit = 1000
	MaxFlowLimit     = 100000
)

func protoNumber(s string) (uint8, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return packet.ProtoTCP, true
	case "udp":
		return packet.ProtoUDP, true
	case "icmp":
		return packet.ProtoICMP, true
	case "gre":
		return packet.ProtoGRE, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP:
		return "icmp"
	case packet.ProtoGRE:
		return "gre"
	}
	return strconv.Itoa(int(p))
}

// addrFilter parses an address or CIDR filter ("" matches everything).
func addrFilter(name, v string) (netip.Prefix, error) {
	if v == "" {
		return netip.Prefix{}, nil
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, newError(http.StatusBadRequest, CodeInvalidParameter, "%s %q is not an address or CIDR", name, v)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// zoneNames maps conntrack zones to VPC ids (S7: one zone per VPC; a flow
// across a router interface uses zone a<<8|b of both).
func zoneNames(c *config.Config, snap *dataplane.Snapshot) (byZone map[uint16]string, byName map[string]uint16) {
	byZone, byName = map[uint16]string{}, map[string]uint16{}
	if snap == nil {
		return
	}
	vpcOf := map[string]string{}
	if c != nil {
		for _, v := range c.VPCs {
			vpcOf[v.VRouter.ID] = v.ID
		}
	}
	for _, r := range snap.Routers {
		if r == nil {
			continue
		}
		name := r.ID
		if v, ok := vpcOf[r.ID]; ok {
			name = v
			byName[v] = r.Zone
		}
		byName[r.ID] = r.Zone
		byZone[r.Zone] = name
	}
	return byZone, byName
}

func (s *Server) flows(raw []byte) (any, error) {
	var p FlowsParams
	if err := decodeStrict(raw, &p); err != nil {
		return nil, newError(http.StatusBadRequest, CodeInvalidParameter, "%v", err)
	}
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultFlowLimit
	case limit < 0 || limit > MaxFlowLimit:
		return nil, newError(http.StatusBadRequest, CodeInvalidParameter, "Limit %d outside 1–%d", p.Limit, MaxFlowLimit)
	}
	src, err := addrFilter("Src", p.Src)
	if err != nil {
		return nil, err
	}
	dst, err := addrFilter("Dst", p.Dst)
	if err != nil {
		return nil, err
	}
	var proto uint8
	if p.Proto != "" {
		var ok bool
		if proto, ok = protoNumber(p.Proto); !ok {
			return nil, newError(http.StatusBadRequest, CodeInvalidParameter, "Proto %q: tcp, udp, icmp, gre or a protocol number", p.Proto)
		}
	}
	if p.Port < 0 || p.Port > 65535 {
		return nil, newError(http.StatusBadRequest, CodeInvalidParameter, "Port %d outside 0–65535", p.Port)
	}
	snap := s.b.Snapshot()
	byZone, byName := zoneNames(s.b.Config(), snap)
	zone, zoneSet := uint16(0), false
	if p.Vpc != "" {
		if z, ok := byName[p.Vpc]; ok {
			zone, zoneSet = z, true
		} else if n, err := strconv.ParseUint(p.Vpc, 10, 16); err == nil {
			zone, zoneSet = uint16(n), true
		} else {
			return nil, notFound("VPC %s is not running", p.Vpc)
		}
	}
	out := &FlowsResponse{Flows: []Flow{}}
	ct := s.b.Conntrack()
	if ct == nil {
		return out, nil
	}
	now := s.now().UnixNano()
	portName := func(id uint16) string {
		if snap != nil {
			if pt := snap.Port(fib.PortID(id)); pt != nil {
				return pt.Name
			}
		}
		return "#" + strconv.Itoa(int(id))
	}
	zoneName := func(z uint16) string {
		if n, ok := byZone[z]; ok {
			return n
		}
		if z > 0xff {
			a, b := byZone[z>>8], byZone[z&0xff]
			if a != "" && b != "" {
				return a + "+" + b
			}
		}
		return "zone-" + strconv.Itoa(int(z))
	}
	ct.Range(func(k, reply conntrack.Key, e conntrack.EntryInfo) bool {
		if zoneSet && k.Zone != zone && !(k.Zone > 0xff && (k.Zone>>8 == zone || k.Zone&0xff == zone)) {
			return true
		}
		ks, kd := k.SrcAddr(), k.DstAddr()
		if (src.IsValid() && !src.Contains(ks)) || (dst.IsValid() && !dst.Contains(kd)) ||
			(p.Proto != "" && k.Proto != proto) || (p.Port != 0 && int(k.SrcPort) != p.Port && int(k.DstPort) != p.Port) {
			return true
		}
		out.Total++
		if len(out.Flows) >= limit {
			out.Truncated = true
			return true
		}
		out.Flows = append(out.Flows, Flow{
			Zone: k.Zone, Vpc: zoneName(k.Zone), Proto: protoName(k.Proto),
			Src: ks.String(), SrcPort: k.SrcPort, Dst: kd.String(), DstPort: k.DstPort,
			ReplySrc: reply.SrcAddr().String(), ReplySrcPort: reply.SrcPort, ReplyDst: reply.DstAddr().String(), ReplyDstPort: reply.DstPort,
			State: e.State.String(), Established: e.Established,
			AgeSeconds:       time.Duration(now - e.Created).Seconds(),
			ExpiresInSeconds: time.Duration(e.Expires() - now).Seconds(),
			InPort:           portName(e.Meta.InPort), OutPort: portName(e.Meta.OutPort),
		})
		return true
	})
	slices.SortFunc(out.Flows, func(a, b Flow) int {
		if a.Zone != b.Zone {
			return int(a.Zone) - int(b.Zone)
		}
		for _, c := range []int{strings.Compare(a.Proto, b.Proto), compareAddr(a.Src, b.Src), compareAddr(a.Dst, b.Dst),
			int(a.SrcPort) - int(b.SrcPort), int(a.DstPort) - int(b.DstPort)} {
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return out, nil
}

func compareAddr(a, b string) int {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	if err1 != nil || err2 != nil {
		return strings.Compare(a, b)
	}
	return x.Compare(y)
}

// ---------------------------------------------------------------------------
// Trace (R7)

// TraceParams describes the synthetic packet of Trace (R7). From is the
// ingress: an ENI id (instance id for its primary ENI) or one of an ENI's
// addresses. Src overrides the source address (default: the address given
// in From, else the ENI's primary address), for instance to see
// anti-spoofing at work. Proto is tcp, udp or icmp (default icmp: an echo
// request); tcp sends a SYN. Sport defaults to 49152; Dport is required
// for tcp and udp. Length is the IP total length (default: headers only);
// TTL defaults to 64. The packet has DF set, like Linux's default.
type TraceParams struct {
	From   string `json:"From"`
	Src    string `json:"Src,omitempty"`
	Dst    string `json:"Dst"`
	Proto  string `json:"Proto,omitempty"`
	Sport  int    `json:"Sport,omitempty"`
	Dport  int    `json:"Dport,omitempty"`
	Length int    `json:"Length,omitempty"`
	TTL    int    `json:"TTL,omitempty"`
}

// TraceResponse is the reply of Trace: every decision in order and the
// final verdict.
type TraceResponse struct {
	Ingress string                `json:"Ingress"`
	Src     string                `json:"Src"`
	Dst     string                `json:"Dst"`
	Proto   string                `json:"Proto"`
	Sport   uint16                `json:"Sport,omitempty"`
	Dport   uint16                `json:"Dport,omitempty"`
	Steps   []dataplane.TraceStep `json:"Steps"`
	Verdict string                `json:"Verdict"`          // forward | fragment | drop | icmp-error | to-router
	Reason  string                `json:"Reason,omitempty"` // drop reason (R8 label) for drop and icmp-error
	OutPort string                `json:"OutPort,omitempty"`
	Route   string                `json:"Route,omitempty"` // the entry that matched
}

// DefaultTraceSport is the source port of a traced tcp/udp packet.
const DefaultTraceSport = 49152

func (s *Server) trace(raw []byte) (any, error) {
	var p TraceParams
	if err := decodeStrict(raw, &p); err != nil {
		return nil, newError(http.StatusBadRequest, CodeInvalidParameter, "%v", err)
	}
	snap := s.b.Snapshot()
	if snap == nil {
		return nil, errNotReady
	}
	return traceSnapshot(snap, &p, s.now().UnixNano())
}

func badParam(format string, args ...any) error {
	return newError(http.StatusBadRequest, CodeInvalidParameter, format, args...)
}

// findIngress resolves From to a port and the default source address.
func findIngress(snap *dataplane.Snapshot, from string) (*dataplane.Port, netip.Addr, error) {
	if a, err := netip.ParseAddr(from); err == nil {
		var found *dataplane.Port
		for _, pt := range snap.Ports {
			if pt == nil || !slices.Contains(pt.Addrs, a) {
				continue
			}
			if found != nil {
				return nil, netip.Addr{}, badParam("address %s belongs to %s and %s (two VPCs); give the ENI id", a, found.Name, pt.Name)
			}
			found = pt
		}
		if found == nil {
			return nil, netip.Addr{}, notFound("no ENI has the address %s", a)
		}
		return found, a, nil
	}
	for _, pt := range snap.Ports {
		if pt != nil && pt.Name == from {
			var a netip.Addr
			if len(pt.Addrs) > 0 {
				a = pt.Addrs[0]
			}
			return pt, a, nil
		}
	}
	return nil, netip.Addr{}, notFound("no port %s (give an ENI id, an instance id or an ENI address)", from)
}

// traceSnapshot runs the synthetic packet through snap (R7). Forward with a
// non-nil *Trace records every decision and creates no flow.
func traceSnapshot(snap *dataplane.Snapshot, p *TraceParams, now int64) (*TraceResponse, error) {
	if p.From == "" {
		return nil, badParam("From is required (an ENI id or address)")
	}
	if p.Dst == "" {
		return nil, badParam("Dst is required")
	}
	in, src, err := findIngress(snap, p.From)
	if err != nil {
		return nil, err
	}
	if p.Src != "" {
		if src, err = netip.ParseAddr(p.Src); err != nil || !src.Is4() {
			return nil, badParam("Src %q is not an IPv4 address", p.Src)
		}
	}
	if !src.IsValid() {
		return nil, badParam("%s has no address; give Src", in.Name)
	}
	dst, err := netip.ParseAddr(p.Dst)
	if err != nil || !dst.Is4() {
		return nil, badParam("Dst %q is not an IPv4 address", p.Dst)
	}
	proto := strings.ToLower(p.Proto)
	if proto == "" {
		proto = "icmp"
	}
	pk := &packet.Parsed{Version: 4, Src: src, Dst: dst, TTL: 64, DF: true, HdrLen: packet.IPv4MinHeaderLen, L4Off: packet.IPv4MinHeaderLen, ID: 1}
	if p.TTL != 0 {
		if p.TTL < 1 || p.TTL > 255 {
			return nil, badParam("TTL %d outside 1–255", p.TTL)
		}
		pk.TTL = uint8(p.TTL)
	}
	l4 := 0
	switch proto {
	case "tcp", "udp":
		if p.Dport < 1 || p.Dport > 65535 {
			return nil, badParam("Dport is required for %s (1–65535)", proto)
		}
		sport := p.Sport
		if sport == 0 {
			sport = DefaultTraceSport
		}
		if sport < 1 || sport > 65535 {
			return nil, badParam("Sport %d outside 1–65535", p.Sport)
		}
		pk.SrcPort, pk.DstPort = uint16(sport), uint16(p.Dport)
		if proto == "tcp" {
			pk.Proto, pk.TCPFlags, l4 = packet.ProtoTCP, packet.TCPSyn, 20
		} else {
			pk.Proto, l4 = packet.ProtoUDP, 8
		}
	case "icmp":
		if p.Sport != 0 || p.Dport != 0 {
			return nil, badParam("Sport and Dport apply to tcp and udp, not icmp")
		}
		// An echo request; conntrack keys it by its identifier in both
		// port fields.
		pk.Proto, pk.ICMPType, l4 = packet.ProtoICMP, packet.ICMPEcho, 8
		pk.SrcPort, pk.DstPort = 1, 1
	default:
		return nil, badParam("Proto %q: tcp, udp or icmp", p.Proto)
	}
	length := packet.IPv4MinHeaderLen + l4
	if p.Length != 0 {
		if p.Length < length || p.Length > 65535 {
			return nil, badParam("Length %d outside %d–65535", p.Length, length)
		}
		length = p.Length
	}
	pk.TotalLen = length
	tr := &dataplane.Trace{}
	d := snap.Forward(in, pk, length, nil, now, tr)
	out := &TraceResponse{Ingress: in.Name, Src: src.String(), Dst: dst.String(), Proto: proto,
		Sport: pk.SrcPort, Dport: pk.DstPort, Steps: tr.Steps, Verdict: d.Verdict.String()}
	if proto == "icmp" {
		out.Sport, out.Dport = 0, 0
	}
	if out.Steps == nil {
		out.Steps = []dataplane.TraceStep{}
	}
	switch d.Verdict {
	case dataplane.VerdictDrop, dataplane.VerdictICMPError:
		out.Reason = d.Reason.String()
	case dataplane.VerdictForward, dataplane.VerdictFragment:
		if pt := snap.Port(d.Out); pt != nil {
			out.OutPort = pt.Name
		}
	}
	if d.Route != nil {
		out.Route = fmt.Sprintf("%s (%s)", d.Route.Dst, d.Route.Type)
		if d.Route.ID != "" {
			out.Route = fmt.Sprintf("%s (%s)", d.Route.ID, d.Route.Type)
		}
	}
	return out, nil
}
