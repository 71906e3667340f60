package dataplane

// Multicast replication (SPEC §6) on the packet path. Forward sends every
// packet to a multicast address here (after the F12 checks); replication
// itself happens in the worker:
//
//   - A packet from an ENI that is a server port of a group with that
//     address (M1) is copied to every configured and live dynamic member
//     (M5) except the ingress port. Copies are the very bytes read from the
//     server: the TTL is not decremented and the destination stays the
//     group address, so the worker writes the same buffer to every member
//     without copying or allocating. A partial checksum (vnet header
//     NEEDS_CSUM) is finished once before the first copy so that every
//     member port, with or without a vnet header, gets identical bytes.
//   - Each copy passes the member's ingress security groups (S2, with the
//     member's address as self and the sender as peer; no conntrack entry:
//     members never answer a group), its client entries (M3) and its MTU,
//     and is then written to the member's port with a Write of its own, so
//     the outcome of every copy is known: a write refused because the port
//     is full or failed counts as port_error on that port (as flush counts
//     unicast), a copy refused by the member's security groups counts as
//     sg_ingress on the member's port (vrouter_drops_total{port=<member>}:
//     the port whose rules refused it), and both count in the group's and
//     the member's counters (M6). Writes never block (tun.Device), so a
//     full member never stalls the others.
//   - IGMP messages from ENIs (M5) go to the membership of the ENI's VPC and
//     are never forwarded nor counted as drops; other multicast is dropped
//     as `multicast`.

import (
	"context"
	"strconv"
	"time"

	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// multicast is the decision for a packet to a multicast address (M1, M5).
func (s *Snapshot) multicast(d Decision, in *Port, p *packet.Parsed, tr *Trace) Decision {
	if in.Kind != PortENI {
		return tr.drop(d, stats.DropMulticast, "multicast from an external port")
	}
	// F4 anti-spoofing, as for unicast.
	if in.SourceDestCheck && !in.owns(p.Src) {
		why := ""
		if tr != nil {
			why = "source is not an address of " + in.Name
		}
		return tr.drop(d, stats.DropSpoofed, why)
	}
	if p.Proto == packet.ProtoIGMP {
		d.Verdict = VerdictMulticast
		d.IGMP = true
		tr.step("multicast", "igmp", "membership message to the VRouter (M5)")
		return d
	}
	g := s.Mcast.Sender(in.ID, p.Dst)
	if g == nil {
		why := ""
		if tr != nil {
			why = in.Name + " is not the server of a group " + p.Dst.String() + " in its VPC"
		}
		return tr.drop(d, stats.DropMulticast, why)
	}
	if s.SecurityGroups && in.Policy != nil {
		dec := in.Policy.Check(secgroup.Egress, p.Src, p.Dst, p.Proto, p.DstPort)
		tr.sgStep("egress", in.Name, dec)
		if !dec.Accept {
			return tr.drop(d, stats.DropSGEgress, "")
		}
	}
	d.Verdict = VerdictMulticast
	d.Group = g
	if tr != nil {
		tr.step("multicast", g.ID(), strconv.Itoa(len(g.Members()))+" configured members, "+
			strconv.Itoa(len(g.Dynamic()))+" joined by IGMP; TTL kept (M1)")
	}
	return d
}

// multicast handles a packet Forward gave VerdictMulticast: IGMP goes to
// the membership, anything else is replicated to d.Group.
func (w *worker) multicast(s *Snapshot, in *Port, p *packet.Parsed, buf []byte, d Decision, now int64) {
	pkt := buf[Headroom:]
	if d.IGMP {
		if s.Mcast == nil || p.FragOff != 0 || p.MF || p.TotalLen > len(pkt) {
			w.local.Drop(stats.DropMulticast)
			return
		}
		src := mcast.Source{Router: in.Router, Port: in.ID, ENI: in.Name, Addr: p.Src}
		if !in.owns(p.Src) && len(in.Addrs) > 0 {
			src.Addr = in.Addrs[0]
		}
		s.Mcast.HandleIGMP(src, pkt[p.L4Off:p.TotalLen], now)
		w.local.Consume()
		return
	}
	g := d.Group
	gso := w.hdr.IsGSO()
	if w.hdr.Flags&tun.VirtioNetHdrFNeedsCsum != 0 && !gso {
		if tun.FinishChecksum(pkt, &w.hdr) != nil {
			w.local.Drop(stats.DropMalformed)
			return
		}
		w.hdr.Encode(buf[Headroom-tun.VirtioNetHdrLen : Headroom])
	}
	seg := len(pkt)
	if gso {
		seg = int(w.hdr.GSOSize) + gsoHeaderLen(p, &w.hdr)
	}
	t := mcast.Tally{Bytes: uint64(len(pkt))}
	members := g.Members()
	for i := range members {
		w.copyTo(s, in, p, buf, seg, &members[i], &t)
	}
	dyn := g.Dynamic()
	for i := range dyn {
		m := &dyn[i]
		if !m.Live(now) || g.IsConfigured(m.Port) {
			continue
		}
		w.copyTo(s, in, p, buf, seg, m, &t)
	}
	g.Stats.Record(&t)
	w.local.Forward()
}

// copyTo writes one copy of buf to member m (see the file comment). seg is
// the size each segment of the copy has on the wire (the packet, or a GSO
// segment).
func (w *worker) copyTo(s *Snapshot, in *Port, p *packet.Parsed, buf []byte, seg int, m *mcast.Member, t *mcast.Tally) {
	if m.Port == in.ID {
		return // the sender never gets its own copy (M1)
	}
	out := s.Port(m.Port)
	if out == nil || (m.Dynamic() && (out.Name != m.ENI || out.Router != in.Router)) {
		return // a dynamic member whose port went away; its next report re-binds it
	}
	cl, ok := m.Accepts(p.Src, p.DstPort)
	if !ok {
		return // not wanted by its client entries (M3): not a copy
	}
	n := uint64(len(buf) - Headroom)
	switch {
	case seg > out.MTU:
		m.Stats.Add(mcast.DroppedTooBig, n, t)
		out.Counters.EgressDrops[stats.DropFragNeeded].Add(1)
		return
	case s.SecurityGroups && out.Policy != nil &&
		!out.Policy.Check(secgroup.Ingress, m.Addr, p.Src, p.Proto, p.DstPort).Accept:
		m.Stats.Add(mcast.DroppedSG, n, t)
		out.Counters.EgressDrops[stats.DropSGIngress].Add(1)
		return
	case out.Dev == nil:
		m.Stats.Add(mcast.DroppedPort, n, t)
		out.Counters.EgressDrops[stats.DropNoPort].Add(1)
		return
	}
	w.mcastOne[0] = buf
	k, _ := out.Dev.Write(w.mcastOne[:], Headroom)
	w.mcastOne[0] = nil
	if k != 1 {
		m.Stats.Add(mcast.DroppedPort, n, t)
		out.Counters.EgressDrops[stats.DropPortError].Add(1)
		return
	}
	m.Stats.Add(mcast.Delivered, n, t)
	out.Counters.TxPackets.Add(1)
	out.Counters.TxBytes.Add(n)
	if cl != nil {
		cl.Stats.Packets.Add(1)
		cl.Stats.Bytes.Add(n)
	}
}

// SendIGMPQueries sends an IGMPv3 general query (RFC 3376 4.1), sourced
// from the ENI's VSwitch gateway, to every attached ENI port of a VRouter
// that has a group with igmp: true and for which due(port name) is true
// (nil: every such port). It returns the names of the ports it queried. The
// hosts answer with reports that keep their memberships alive (M5). It is a
// slow path (one allocation per query, in Send).
func (e *Engine) SendIGMPQueries(due func(port string) bool) []string {
	s := e.snap.Load()
	if s.Mcast == nil {
		return nil
	}
	var sent []string
	var pkt [mcast.QueryLen]byte
	for _, p := range s.Ports {
		if p == nil || p.Kind != PortENI || p.Dev == nil || !s.Mcast.IGMPRouter(p.Router) || !p.Gateway.Is4() {
			continue
		}
		if due != nil && !due(p.Name) {
			continue
		}
		n := mcast.BuildQuery(pkt[:], p.Gateway, uint16(len(sent)))
		if n == 0 || e.Send(p.ID, pkt[:n]) != nil {
			continue
		}
		sent = append(sent, p.Name)
	}
	return sent
}

// RunIGMPQuerier is the VRouter's IGMP querier (M5, RFC 3376 8): until ctx
// ends it queries every ENI of a VPC with an igmp-enabled group —
// Robustness startup queries StartupQueryInterval apart when the port first
// appears (at start, and for ports a reload adds), then one every
// QueryInterval — and expires the dynamic members that stopped reporting.
// tick is how often it looks (1 s in production; 0 means 1 s). The agent
// runs it in its own goroutine.
func (e *Engine) RunIGMPQuerier(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = time.Second
	}
	type state struct {
		next  time.Time
		count int
	}
	ports := map[string]*state{}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		now := time.Now()
		s := e.snap.Load()
		if s.Mcast != nil {
			present := map[string]bool{}
			sent := e.SendIGMPQueries(func(name string) bool {
				present[name] = true
				st := ports[name]
				return st == nil || !now.Before(st.next)
			})
			for _, name := range sent {
				st := ports[name]
				if st == nil {
					st = &state{}
					ports[name] = st
				}
				st.count++
				if st.count < mcast.Robustness {
					st.next = now.Add(mcast.StartupQueryInterval)
				} else {
					st.next = now.Add(mcast.QueryInterval)
				}
			}
			for name := range ports {
				if !present[name] {
					delete(ports, name) // gone, or its VPC lost its igmp groups: start over if it returns
				}
			}
			if ms := s.Mcast.Membership(); ms != nil {
				ms.Expire(now.UnixNano())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// McastReport describes every multicast group of the published snapshot
// with its members and counters (M3 `-S`/`-L`/`-P`, M6).
func (e *Engine) McastReport() []mcast.GroupReport {
	return e.snap.Load().Mcast.Report(time.Now().UnixNano())
}
