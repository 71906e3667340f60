package dataplane

// RFC 1812 ("Requirements for IP Version 4 Routers") as a behaviour table on
// the in-memory data plane (issue 10; SPEC F5–F7, F12, F14, S9). Every test
// drives real workers over tuntest devices, or the pure decision, with a
// caller-controlled clock; nothing here needs root.
//
// Reassembly: vrouter never reassembles fragments. Each fragment is routed
// on its own header (RFC 1812 5.2.2 leaves reassembly to the destination
// host); with security groups on, a first fragment is judged like any packet
// and its verdict is remembered per datagram in conntrack.Frags, a ring of
// at most N entries with a timeout, which later fragments follow (S9). The
// only memory fragments can claim is therefore that ring: no fragment data
// is ever buffered. TestRFC1812FragmentTrackerBounded proves the bound.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// rfcT0 is the fake clock's origin (ns); any value far from 0 works.
const rfcT0 = int64(1_000_000) * int64(time.Second)

var (
	rfcUnrouted = netip.MustParseAddr("198.51.100.1") // no entry in the system table: net unreachable
	rfcFreeHost = netip.MustParseAddr("192.168.2.99") // inside vsw-b, owned by nobody: host unreachable
)

// rfcIP describes an IPv4 packet built byte by byte, so that tests control
// every header field (and can break them afterwards).
type rfcIP struct {
	src, dst netip.Addr
	ttl      uint8 // used as given: 0 is a valid test value
	tos      uint8
	proto    uint8
	id       uint16
	df, mf   bool
	fragOff  uint16 // in bytes, a multiple of 8
	opts     []byte // IP options, a multiple of 4 bytes
	payload  []byte // transport header and data
}

// build returns the packet with a correct header checksum.
func (h rfcIP) build() []byte {
	hl := packet.IPv4MinHeaderLen + len(h.opts)
	b := make([]byte, hl+len(h.payload))
	b[0] = 0x40 | byte(hl/4)
	b[1] = h.tos
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:6], h.id)
	ff := h.fragOff >> 3
	if h.df {
		ff |= 0x4000
	}
	if h.mf {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:8], ff)
	b[8] = h.ttl
	b[9] = h.proto
	s, d := h.src.As4(), h.dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	copy(b[20:hl], h.opts)
	copy(b[hl:], h.payload)
	packet.IPv4(b).UpdateChecksum()
	return b
}

// rfcTCP is a 20-byte TCP header (the checksum is not checked by routers).
func rfcTCP(sport, dport uint16, flags uint8) []byte {
	b := make([]byte, packet.TCPMinHeaderLen)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint32(b[4:8], 1000)
	b[12] = 5 << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:16], 65535)
	return b
}

// rfcUDP is a UDP datagram of n payload bytes.
func rfcUDP(sport, dport uint16, n int) []byte {
	b := make([]byte, packet.UDPHeaderLen+n)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	for i := packet.UDPHeaderLen; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// rfcICMP is an ICMP message of type/code with 4 rest-of-header bytes and
// data, its checksum set.
func rfcICMP(typ, code uint8, data []byte) []byte {
	b := make([]byte, packet.ICMPv4HeaderLen+len(data))
	b[0], b[1] = typ, code
	binary.BigEndian.PutUint16(b[4:6], 0x1234)
	binary.BigEndian.PutUint16(b[6:8], 1)
	copy(b[8:], data)
	packet.ICMPv4(b).UpdateChecksum()
	return b
}

// udpFrom is a UDP packet from src to dst with the given TTL.
func udpFrom(src, dst netip.Addr, ttl uint8) rfcIP {
	return rfcIP{src: src, dst: dst, ttl: ttl, proto: packet.ProtoUDP, id: 0x4242, payload: rfcUDP(1000, 2000, 32)}
}

// rfcRig runs real workers of the test network synchronously under a fake
// clock (DESIGN "Testing conventions", level 2).
type rfcRig struct {
	n  *testNet
	e  *Engine
	ws map[fib.PortID]*worker
}

func newRFCRig(n *testNet) *rfcRig {
	e := New()
	e.snap.Store(n.s)
	return &rfcRig{n: n, e: e, ws: map[fib.PortID]*worker{}}
}

// send injects pkts into in's device and runs batches until the device is
// drained, every batch at time now.
func (r *rfcRig) send(t testing.TB, in *Port, now int64, pkts ...[]byte) {
	t.Helper()
	w := r.ws[in.ID]
	if w == nil {
		w = newWorker(r.e, in.Dev, in.ID)
		r.ws[in.ID] = w
	}
	dev := r.n.devs[in.ID]
	for _, p := range pkts {
		dev.Inject(p, tun.VirtioNetHdr{})
	}
	for dev.Pending() > 0 {
		cnt, err := w.dev.Read(w.bufs, w.sizes, Headroom)
		if err != nil {
			t.Fatal(err)
		}
		w.batch(r.e.snap.Load(), cnt, now)
	}
}

// written returns (and forgets) the packets written to port p.
func (r *rfcRig) written(p *Port) [][]byte {
	var out [][]byte
	for _, w := range r.n.devs[p.ID].Written() {
		out = append(out, w.Data)
	}
	return out
}

// drained fails the test if any port was written to.
func (r *rfcRig) drained(t testing.TB, what string) {
	t.Helper()
	for _, p := range r.n.s.Ports {
		if p == nil {
			continue
		}
		if got := r.written(p); len(got) != 0 {
			t.Errorf("%s: %d packet(s) written to %s, want none (first: % x)", what, len(got), p.Name, got[0][:min(len(got[0]), 28)])
		}
	}
}

// rfcDrops returns a copy of the ingress drop counters of p.
func rfcDrops(p *Port) [stats.NumDropReasons]uint64 {
	var d [stats.NumDropReasons]uint64
	for i := range d {
		d[i] = p.Counters.Drops[i].Load()
	}
	return d
}

// checkICMPError checks that b is the ICMP error RFC 1812 asks for about
// orig (as received on a port whose gateway is gw) and returns its ICMP
// message: sourced from the gateway (F3) to orig's source, type and code
// as given, header and ICMP checksums valid, precedence internetwork control
// (4.3.2.5), at most 576 bytes (4.3.2.3), quoting orig's first bytes: its
// whole IP header and at least 8 bytes of data, as much as 576 bytes allow,
// never beyond orig's total length.
func checkICMPError(t testing.TB, b []byte, gw netip.Addr, orig []byte, typ, code uint8) packet.ICMPv4 {
	t.Helper()
	ip := packet.IPv4(b)
	if len(b) < packet.IPv4MinHeaderLen+packet.ICMPv4HeaderLen || ip.Version() != 4 || !ip.IsChecksumValid() {
		t.Fatalf("not a valid IPv4 packet: % x", b)
	}
	if int(ip.TotalLen()) != len(b) || ip.Protocol() != packet.ProtoICMP {
		t.Fatalf("total length %d of %d bytes, protocol %d", ip.TotalLen(), len(b), ip.Protocol())
	}
	origIP := packet.IPv4(orig)
	if ip.Src() != gw || ip.Dst() != origIP.Src() {
		t.Errorf("error %v → %v, want %v → %v", ip.Src(), ip.Dst(), gw, origIP.Src())
	}
	if ip.TTL() <= 1 {
		t.Errorf("error sent with TTL %d", ip.TTL())
	}
	if ip.TOS()>>5 < 6 {
		t.Errorf("error precedence %d, want internetwork control (6) or above", ip.TOS()>>5)
	}
	if ip.FragmentOffset() != 0 || ip.MF() {
		t.Errorf("error is a fragment")
	}
	if len(b) > packet.MaxICMPErrorLen {
		t.Errorf("error of %d bytes exceeds 576", len(b))
	}
	icmp := packet.ICMPv4(ip.Payload())
	if !icmp.IsChecksumValid() {
		t.Error("bad ICMP checksum")
	}
	if icmp.Type() != typ || icmp.Code() != code {
		t.Errorf("ICMP %d/%d, want %d/%d", icmp.Type(), icmp.Code(), typ, code)
	}
	quote := icmp.Payload()
	origLen := min(int(origIP.TotalLen()), len(orig))
	want := min(origLen, packet.MaxICMPErrorLen-packet.IPv4MinHeaderLen-packet.ICMPv4HeaderLen)
	if len(quote) != want {
		t.Errorf("quotes %d bytes of a %d-byte datagram, want %d", len(quote), origLen, want)
	}
	if len(quote) < min(origLen, origIP.HeaderLen()+8) {
		t.Errorf("quotes %d bytes: less than the %d-byte header plus 8", len(quote), origIP.HeaderLen())
	}
	if string(quote) != string(orig[:min(len(quote), len(orig))]) {
		t.Errorf("the quote is not the datagram as received:\n got % x\nwant % x", quote[:min(len(quote), 40)], orig[:min(len(orig), 40)])
	}
	return icmp
}

// TestRFC1812HeaderChecks: a router validates every header it forwards
// (RFC 1812 5.2.2: version, IHL ≥ 5, total length ≥ header length and not
// beyond the packet, header checksum) and silently discards what fails:
// dropped and counted as malformed (F12), never answered with ICMP. Every
// case starts from a packet that would earn a time-exceeded error (TTL 1),
// so a missing error proves the check, not a quiet route.
func TestRFC1812HeaderChecks(t *testing.T) {
	base := udpFrom(aWeb, aApp, 1)
	mod := func(f func(b []byte) []byte) []byte { return f(base.build()) }
	recsum := func(b []byte) []byte { packet.IPv4(b).UpdateChecksum(); return b }
	cases := []struct {
		name   string
		pkt    []byte
		reason stats.DropReason
	}{
		{"version 5", mod(func(b []byte) []byte { b[0] = 0x55; return recsum(b) }), stats.DropBadVersion},
		{"version 0", mod(func(b []byte) []byte { b[0] = 0x05; return b }), stats.DropBadVersion},
		{"IHL 4", mod(func(b []byte) []byte { b[0] = 0x44; return b }), stats.DropMalformed},
		{"IHL 0", mod(func(b []byte) []byte { b[0] = 0x40; return b }), stats.DropMalformed},
		{"IHL beyond the packet", mod(func(b []byte) []byte { b[0] = 0x4f; return b[:40] }), stats.DropMalformed},
		{"total length beyond the packet", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)+1))
			return recsum(b)
		}), stats.DropMalformed},
		{"total length 65535 on a short packet", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], 0xffff)
			return recsum(b)
		}), stats.DropMalformed},
		{"total length below the header", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], 19)
			return recsum(b)
		}), stats.DropMalformed},
		{"bad header checksum", mod(func(b []byte) []byte { b[10] ^= 0x01; return b }), stats.DropMalformed},
		{"header changed after its checksum", mod(func(b []byte) []byte { b[15]++; return b }), stats.DropMalformed},
		{"truncated to 19 bytes", mod(func(b []byte) []byte { return b[:19] }), stats.DropMalformed},
		{"one byte", []byte{0x45}, stats.DropMalformed},
		{"UDP length beyond the datagram", mod(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[24:26], 200)
			return b
		}), stats.DropMalformed},
		{"TCP data offset 4", rfcIP{src: aWeb, dst: aApp, ttl: 1, proto: packet.ProtoTCP, payload: func() []byte {
			h := rfcTCP(1, 80, packet.TCPSyn)
			h[12] = 4 << 4
			return h
		}()}.build(), stats.DropMalformed},
		{"ICMP header of 4 bytes", rfcIP{src: aWeb, dst: aApp, ttl: 1, proto: packet.ProtoICMP, payload: []byte{8, 0, 0, 0}}.build(), stats.DropMalformed},
	}
	n := newTestNet(t)
	r := newRFCRig(n)
	// Control: the unbroken packet is answered, so silence below means the
	// header check dropped it.
	good := base.build()
	r.send(t, n.web, rfcT0, good)
	back := r.written(n.web)
	if len(back) != 1 {
		t.Fatalf("control packet: %d packets back, want one time exceeded", len(back))
	}
	checkICMPError(t, back[0], gwA, good, packet.ICMPTimeExceeded, packet.ICMPTTLExceeded)
	r.drained(t, "control")

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := rfcDrops(n.web)
			rx := n.web.Counters.RxPackets.Load()
			r.send(t, n.web, rfcT0, c.pkt)
			r.drained(t, c.name)
			after := rfcDrops(n.web)
			for i := range after {
				want := before[i]
				if stats.DropReason(i) == c.reason {
					want++
				}
				if after[i] != want {
					t.Errorf("drops{reason=%v} %d → %d, want %d", stats.DropReason(i), before[i], after[i], want)
				}
			}
			if got := n.web.Counters.RxPackets.Load() - rx; got != 1 {
				t.Errorf("rx +%d, want 1", got)
			}
		})
	}

	// Link padding beyond the total length is not an error (RFC 1812
	// 5.2.2 checks total length ≤ the received size, not equality).
	padded := append(udpFrom(aWeb, aApp, 64).build(), 0, 0, 0, 0, 0, 0)
	r.send(t, n.web, rfcT0, padded)
	if got := r.written(n.app); len(got) != 1 {
		t.Fatalf("padded packet: %d forwarded, want 1", len(got))
	} else if p := packet.IPv4(got[0]); p.TotalLen() != uint16(len(padded)-6) || !p.IsChecksumValid() || p.TTL() != 63 {
		t.Errorf("padded packet forwarded with total length %d, TTL %d, checksum ok %v", p.TotalLen(), p.TTL(), p.IsChecksumValid())
	}
}

// TestRFC1812TTL: TTL is decremented exactly once per VRouter crossed and
// the header checksum stays valid (RFC 1812 5.3.1, F6, RFC 1624); a packet
// that would be forwarded with TTL 0 or 1 is dropped with time exceeded
// 11/0 from the ingress gateway (F3), while the router still answers
// packets addressed to itself whatever their TTL (5.3.1: the TTL check
// applies to forwarding only).
func TestRFC1812TTL(t *testing.T) {
	n := newTestNet(t)
	vbr := withVBR(t, n)
	r := newRFCRig(n)
	idc := netip.MustParseAddr("10.1.1.1")

	for _, ttl := range []uint8{2, 3, 64, 255} {
		orig := udpFrom(aWeb, aApp, ttl).build()
		r.send(t, n.web, rfcT0, orig)
		got := r.written(n.app)
		if len(got) != 1 {
			t.Fatalf("TTL %d: %d packets forwarded, want 1", ttl, len(got))
		}
		want := append([]byte(nil), orig...)
		want[8] = ttl - 1
		packet.IPv4(want).UpdateChecksum()
		if string(got[0]) != string(want) {
			t.Errorf("TTL %d: forwarded\n% x\nwant (TTL-1, checksum recomputed from scratch)\n% x", ttl, got[0], want)
		}
	}
	r.drained(t, "forwarded TTLs")

	// Two VRouters (a VBR and the VPC across a router interface, C1): two
	// decrements, and TTL 2 expires at the second.
	orig := udpFrom(idc, aApp, 3).build()
	r.send(t, vbr, rfcT0, orig)
	if got := r.written(n.app); len(got) != 1 || got[0][8] != 1 || !packet.IPv4(got[0]).IsChecksumValid() {
		t.Errorf("across two VRouters with TTL 3: %d packets, want one with TTL 1 and a valid checksum", len(got))
	}
	orig = udpFrom(idc, aApp, 2).build()
	r.send(t, vbr, rfcT0, orig)
	if back := r.written(vbr); len(back) != 1 {
		t.Errorf("TTL 2 across two VRouters: %d packets back, want a time exceeded", len(back))
	} else {
		checkICMPError(t, back[0], llIP, orig, packet.ICMPTimeExceeded, packet.ICMPTTLExceeded)
	}
	r.drained(t, "two VRouters")

	for _, ttl := range []uint8{0, 1} {
		for _, c := range []struct {
			name string
			in   *Port
			gw   netip.Addr
			pkt  []byte
		}{
			{"UDP across VSwitches", n.web, gwA, udpFrom(aWeb, aApp, ttl).build()},
			{"UDP within the VSwitch", n.web, gwA, udpFrom(aWeb, aNat, ttl).build()},
			{"TCP to a custom route's next hop", n.app, gwB, rfcIP{src: aApp, dst: netip.MustParseAddr("10.0.0.9"), ttl: ttl, proto: packet.ProtoTCP, payload: rfcTCP(4000, 443, packet.TCPSyn)}.build()},
			{"echo request to another ENI", n.web, gwA, rfcIP{src: aWeb, dst: aApp, ttl: ttl, proto: packet.ProtoICMP, payload: rfcICMP(packet.ICMPEcho, 0, []byte("ping"))}.build()},
		} {
			te := n.web.Counters.Drops[stats.DropTTLExceeded].Load() + n.app.Counters.Drops[stats.DropTTLExceeded].Load()
			r.send(t, c.in, rfcT0, c.pkt)
			back := r.written(c.in)
			if len(back) != 1 {
				t.Errorf("TTL %d %s: %d packets back, want a time exceeded", ttl, c.name, len(back))
				continue
			}
			checkICMPError(t, back[0], c.gw, c.pkt, packet.ICMPTimeExceeded, packet.ICMPTTLExceeded)
			r.drained(t, fmt.Sprintf("TTL %d %s", ttl, c.name))
			if got := n.web.Counters.Drops[stats.DropTTLExceeded].Load() + n.app.Counters.Drops[stats.DropTTLExceeded].Load(); got != te+1 {
				t.Errorf("TTL %d %s: ttl_exceeded +%d, want 1", ttl, c.name, got-te)
			}
		}
		// To the router itself: answered, not expired.
		for _, gw := range []netip.Addr{gwA, gwB} {
			req := rfcIP{src: aWeb, dst: gw, ttl: ttl, proto: packet.ProtoICMP, id: 9, payload: rfcICMP(packet.ICMPEcho, 0, []byte("gw"))}.build()
			r.send(t, n.web, rfcT0, req)
			back := r.written(n.web)
			if len(back) != 1 {
				t.Errorf("TTL %d echo to gateway %v: %d packets back, want an echo reply", ttl, gw, len(back))
				continue
			}
			ip := packet.IPv4(back[0])
			if ic := packet.ICMPv4(ip.Payload()); ic.Type() != packet.ICMPEchoReply || ip.Src() != gw || ip.TTL() <= 1 {
				t.Errorf("TTL %d echo to gateway %v: got ICMP %d/%d from %v with TTL %d, want an echo reply", ttl, gw, ic.Type(), ic.Code(), ip.Src(), ip.TTL())
			}
		}
	}
	r.drained(t, "TTL 0 and 1")
}

// TestRFC1812ICMPErrors: each error the VRouter sends has the type and code
// RFC 792/1812 assign to its cause (net unreachable 3/0 for no route, host
// unreachable 3/1 for a free VSwitch address or a dead next hop, fragmentation
// needed 3/4 with the next-hop MTU in bytes 6–7 (RFC 1191), time exceeded
// 11/0), and its size follows RFC 1812 4.3.2.3 (checkICMPError).
func TestRFC1812ICMPErrors(t *testing.T) {
	n := newTestNet(t)
	n.fw.MTU = 1280
	r := newRFCRig(n)
	big := func(src, dst netip.Addr, size int, df bool) []byte {
		return rfcIP{src: src, dst: dst, ttl: 64, df: df, proto: packet.ProtoUDP, id: 77, payload: rfcUDP(5, 6, size-28)}.build()
	}
	opts := []byte{packet.IPv4OptRecordRoute, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, packet.IPv4OptEOL} // 12 bytes
	cases := []struct {
		name       string
		in         *Port
		gw         netip.Addr
		pkt        []byte
		typ, code  uint8
		mtu        uint16
		reason     stats.DropReason
		quoteBytes int
	}{
		{"no route: net unreachable", n.web, gwA, udpFrom(aWeb, rfcUnrouted, 64).build(), 3, 0, 0, stats.DropNoRoute, 60},
		{"free VSwitch address: host unreachable", n.web, gwA, udpFrom(aWeb, rfcFreeHost, 64).build(), 3, 1, 0, stats.DropHostUnreachable, 60},
		{"DF and over the egress MTU: fragmentation needed", n.web, gwA, big(aWeb, aFw, 1400, true), 3, 4, 1280, stats.DropFragNeeded, 548},
		{"TTL 1: time exceeded", n.app, gwB, udpFrom(aApp, aWeb, 1).build(), 11, 0, 0, stats.DropTTLExceeded, 60},
		{"a 28-byte datagram is quoted whole", n.web, gwA, rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: packet.ProtoUDP, payload: rfcUDP(1, 2, 0)}.build(), 3, 0, 0, stats.DropNoRoute, 28},
		{"a 20-byte datagram (header only) is quoted whole", n.web, gwA, rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: 253}.build(), 3, 0, 0, stats.DropNoRoute, 20},
		{"548 bytes: the error is exactly 576", n.web, gwA, big(aWeb, rfcUnrouted, 548, false), 3, 0, 0, stats.DropNoRoute, 548},
		{"549 bytes: one byte cut", n.web, gwA, big(aWeb, rfcUnrouted, 549, false), 3, 0, 0, stats.DropNoRoute, 548},
		{"1400 bytes: cut to 576", n.web, gwA, big(aWeb, rfcUnrouted, 1400, false), 3, 0, 0, stats.DropNoRoute, 548},
		{"options: header of 32 bytes quoted with its data", n.web, gwA, rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: packet.ProtoUDP, opts: opts, payload: rfcUDP(1, 2, 100)}.build(), 3, 0, 0, stats.DropNoRoute, 140},
		{"echo request is not an error: answered", n.web, gwA, rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: packet.ProtoICMP, payload: rfcICMP(packet.ICMPEcho, 0, make([]byte, 56))}.build(), 3, 0, 0, stats.DropNoRoute, 84},
		{"first fragment: answered", n.web, gwA, rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, mf: true, proto: packet.ProtoUDP, payload: rfcUDP(1, 2, 64)}.build(), 3, 0, 0, stats.DropNoRoute, 92},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.in.Counters.Drops[c.reason].Load()
			r.send(t, c.in, rfcT0, c.pkt)
			back := r.written(c.in)
			if len(back) != 1 {
				t.Fatalf("%d packets back, want one ICMP error", len(back))
			}
			icmp := checkICMPError(t, back[0], c.gw, c.pkt, c.typ, c.code)
			if len(icmp.Payload()) != c.quoteBytes {
				t.Errorf("quote of %d bytes, want %d", len(icmp.Payload()), c.quoteBytes)
			}
			if c.typ == 3 && c.code == 4 {
				if icmp.MTU() != c.mtu || icmp[4] != 0 || icmp[5] != 0 {
					t.Errorf("frag needed carries bytes 4–7 % x, want 00 00 and MTU %d", []byte(icmp[4:8]), c.mtu)
				}
			} else if binary.BigEndian.Uint32(icmp[4:8]) != 0 {
				t.Errorf("unused bytes 4–7 are % x, want zero", []byte(icmp[4:8]))
			}
			if got := c.in.Counters.Drops[c.reason].Load() - before; got != 1 {
				t.Errorf("drops{reason=%v} +%d, want 1", c.reason, got)
			}
			r.drained(t, c.name)
		})
	}

	// A dead next hop (F8/F9: no member up) is host unreachable too.
	down := &fib.Health{}
	down.Set(false)
	g, err := fib.NewGroup(fib.Single, []fib.Member{{ID: "i-fw", Kind: fib.MemberPort, Port: n.fw.ID, Addr: aFw, Health: down}})
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, n.custom, &fib.Route{Dst: netip.MustParsePrefix("10.9.0.0/16"), Type: fib.Custom, Action: fib.ActionForward, Group: g, VSwitch: -1})
	orig := udpFrom(aApp, netip.MustParseAddr("10.9.0.1"), 64).build()
	r.send(t, n.app, rfcT0, orig)
	if back := r.written(n.app); len(back) != 1 {
		t.Errorf("dead next hop: %d packets back, want host unreachable", len(back))
	} else {
		checkICMPError(t, back[0], gwB, orig, 3, 1)
	}
	if v := n.app.Counters.Drops[stats.DropNextHopDown].Load(); v != 1 {
		t.Errorf("next_hop_down drops %d, want 1", v)
	}

	// The builder never quotes beyond the datagram, whatever its length
	// field claims (the worker drops such packets as malformed first).
	lying := udpFrom(aWeb, rfcUnrouted, 64).build()
	binary.BigEndian.PutUint16(lying[2:4], 1000)
	buf := make([]byte, 1500)
	if m := packet.BuildICMPv4Error(buf, gwA, 1, lying, 3, 0, 0); m != 20+8+len(lying) {
		t.Errorf("a total length of 1000 on %d bytes: error of %d bytes, want %d (quote capped at the packet)", len(lying), m, 20+8+len(lying))
	}
}

// TestRFC1812NoErrorAbout: RFC 1812 4.3.2.7 — no ICMP error about an ICMP
// error, a non-first fragment, a datagram to a broadcast or multicast
// address, or from a source that does not name one host (martian); F14 adds
// the reserved 100.64.0.0/10. Each packet is one that would otherwise be
// answered (no route, host unreachable or TTL 1); it is dropped and counted
// for its reason, and nothing is written anywhere.
func TestRFC1812NoErrorAbout(t *testing.T) {
	n := newTestNet(t)
	r := newRFCRig(n)
	icmpErr := func(src, dst netip.Addr, ttl, typ, code uint8) []byte {
		quoted := udpFrom(dst, src, 64).build()
		return rfcIP{src: src, dst: dst, ttl: ttl, proto: packet.ProtoICMP, payload: rfcICMP(typ, code, quoted[:28])}.build()
	}
	nat := n.nat // source_dest_check false: spoofed martians reach the martian check on their own
	cases := []struct {
		name   string
		in     *Port
		pkt    []byte
		reason stats.DropReason
	}{
		{"dest unreachable about a no-route destination", n.web, icmpErr(aWeb, rfcUnrouted, 64, 3, 3), stats.DropNoRoute},
		{"time exceeded with TTL 1", n.web, icmpErr(aWeb, aApp, 1, 11, 0), stats.DropTTLExceeded},
		{"parameter problem to a free address", n.web, icmpErr(aWeb, rfcFreeHost, 64, 12, 0), stats.DropHostUnreachable},
		{"redirect to a free address", n.web, icmpErr(aWeb, rfcFreeHost, 64, 5, 1), stats.DropHostUnreachable},
		{"source quench with TTL 1", n.web, icmpErr(aWeb, aApp, 1, 4, 0), stats.DropTTLExceeded},
		{"unknown ICMP type 42 (treated as an error)", n.web, icmpErr(aWeb, rfcUnrouted, 64, 42, 0), stats.DropNoRoute},
		{"non-first fragment to a no-route destination", n.web, rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: packet.ProtoUDP, fragOff: 1480, payload: make([]byte, 100)}.build(), stats.DropNoRoute},
		{"last fragment with TTL 1", n.web, rfcIP{src: aWeb, dst: aApp, ttl: 1, proto: packet.ProtoTCP, fragOff: 8, payload: make([]byte, 40)}.build(), stats.DropTTLExceeded},
		{"limited broadcast", n.web, udpFrom(aWeb, netip.MustParseAddr("255.255.255.255"), 1).build(), stats.DropBroadcast},
		{"directed broadcast of the other VSwitch", n.web, udpFrom(aWeb, netip.MustParseAddr("192.168.2.255"), 1).build(), stats.DropBroadcast},
		{"directed broadcast of its own VSwitch", n.web, udpFrom(aWeb, netip.MustParseAddr("192.168.1.255"), 64).build(), stats.DropBroadcast},
		{"multicast without a group", n.web, udpFrom(aWeb, netip.MustParseAddr("239.1.2.3"), 1).build(), stats.DropMulticast},
		{"source 0.0.0.0", nat, udpFrom(netip.MustParseAddr("0.0.0.0"), rfcUnrouted, 64).build(), stats.DropMartian},
		{"source 0.1.2.3", nat, udpFrom(netip.MustParseAddr("0.1.2.3"), rfcUnrouted, 64).build(), stats.DropMartian},
		{"source loopback", nat, udpFrom(netip.MustParseAddr("127.0.0.1"), aApp, 1).build(), stats.DropMartian},
		{"source multicast", nat, udpFrom(netip.MustParseAddr("224.0.0.5"), rfcUnrouted, 64).build(), stats.DropMartian},
		{"source class E", nat, udpFrom(netip.MustParseAddr("240.0.0.1"), rfcFreeHost, 64).build(), stats.DropMartian},
		{"source limited broadcast", nat, udpFrom(netip.MustParseAddr("255.255.255.255"), rfcUnrouted, 64).build(), stats.DropMartian},
		{"source equals destination", nat, udpFrom(rfcUnrouted, rfcUnrouted, 64).build(), stats.DropMartian},
		{"destination 0.0.0.9", n.web, udpFrom(aWeb, netip.MustParseAddr("0.0.0.9"), 64).build(), stats.DropMartian},
		{"destination link-local", n.web, udpFrom(aWeb, netip.MustParseAddr("169.254.169.254"), 1).build(), stats.DropMartian},
		{"destination class E", n.web, udpFrom(aWeb, netip.MustParseAddr("250.1.1.1"), 64).build(), stats.DropMartian},
		{"cloud services 100.64.0.0/10", n.web, udpFrom(aWeb, netip.MustParseAddr("100.100.100.200"), 64).build(), stats.DropCloudService},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.in.Counters.Drops[c.reason].Load()
			r.send(t, c.in, rfcT0, c.pkt)
			r.drained(t, c.name)
			if got := c.in.Counters.Drops[c.reason].Load() - before; got != 1 {
				t.Errorf("drops{reason=%v} +%d, want 1 (all drops of %s: %v)", c.reason, got, c.in.Name, rfcDrops(c.in))
			}
		})
	}
}

// TestRFC1812ICMPRateLimit: ICMP errors are rate limited per ingress port
// by a token bucket of 100/s with a burst of 50 (F14, RFC 1812 4.3.2.8),
// counted as suppressed when the bucket is empty (F14 metric
// vrouter_icmp_errors_suppressed_total). The clock is the batch's `now`.
func TestRFC1812ICMPRateLimit(t *testing.T) {
	n := newTestNet(t)
	n.s.ICMPRate, n.s.ICMPBurst = 100, 50
	r := newRFCRig(n)
	// flood makes count packets from src that each earn an ICMP error:
	// to an unrouted destination, or with TTL 1 toward dst.
	flood := func(src, dst netip.Addr, ttl uint8, count int) [][]byte {
		pkts := make([][]byte, count)
		for i := range pkts {
			h := udpFrom(src, dst, ttl)
			h.id = uint16(i)
			pkts[i] = h.build()
		}
		return pkts
	}
	step := func(what string, in *Port, pkts [][]byte, now int64, reason stats.DropReason, want int) {
		t.Helper()
		count := len(pkts)
		sup := in.Counters.ICMPSuppressed.Load()
		drops := in.Counters.Drops[reason].Load()
		r.send(t, in, now, pkts...)
		back := r.written(in)
		if len(back) != want {
			t.Errorf("%s: %d errors for %d packets, want %d", what, len(back), count, want)
		}
		if got := in.Counters.ICMPSuppressed.Load() - sup; got != uint64(count-want) {
			t.Errorf("%s: suppressed +%d, want %d", what, got, count-want)
		}
		if got := in.Counters.Drops[reason].Load() - drops; got != uint64(count) {
			t.Errorf("%s: %v drops +%d, want %d (every packet counted, answered or not)", what, reason, got, count)
		}
		r.drained(t, what)
		t.Logf("%s: %d packets → %d errors, %d suppressed", what, count, len(back), count-len(back))
	}
	sec := int64(time.Second)
	step("burst: 200 at once", n.web, flood(aWeb, rfcUnrouted, 64, 200), rfcT0, stats.DropNoRoute, 50)
	step("same instant: bucket empty", n.web, flood(aWeb, rfcUnrouted, 64, 10), rfcT0, stats.DropNoRoute, 0)
	step("same instant, another error type: same bucket", n.web, flood(aWeb, aApp, 1, 10), rfcT0, stats.DropTTLExceeded, 0)
	step("250 ms later: 25 tokens back", n.web, flood(aWeb, rfcUnrouted, 64, 50), rfcT0+sec/4, stats.DropNoRoute, 25)
	step("another 10 ms: one token", n.web, flood(aWeb, rfcUnrouted, 64, 5), rfcT0+sec/4+sec/100, stats.DropNoRoute, 1)
	step("10 s idle: capped at the burst", n.web, flood(aWeb, rfcUnrouted, 64, 200), rfcT0+10*sec, stats.DropNoRoute, 50)
	// Per ingress port: i-nat's bucket is its own, full while i-web's is
	// empty.
	step("other port, same instant", n.nat, flood(aNat, rfcUnrouted, 64, 60), rfcT0+10*sec, stats.DropNoRoute, 50)
	// A steady 400/s for 1 s is held to 100/s once the burst is spent.
	sent, answered := 0, 0
	for i := 1; i <= 200; i++ {
		r.send(t, n.app, rfcT0+20*sec+int64(i)*5*int64(time.Millisecond), flood(aApp, aWeb, 1, 2)...)
		sent += 2
		answered += len(r.written(n.app))
	}
	r.drained(t, "steady flood")
	if answered < 147 || answered > 150 {
		t.Errorf("400/s for 1 s: %d errors for %d packets, want the burst of 50 plus 100/s × 1 s (147–150)", answered, sent)
	}
	t.Logf("steady 400/s for 1 s: %d errors for %d packets", answered, sent)
}

// TestRFC1812RateLimitSpendsOnlyOnErrorsSent: the F14 bucket limits the
// ICMP errors the VRouter sends, so a packet that may not be answered at
// all (an ICMP error, a non-first fragment: RFC 1812 4.3.2.7) must neither
// spend a token nor be counted in vrouter_icmp_errors_suppressed_total
// ("errors not sent because the rate limit was exhausted"). Otherwise a
// guest's stream of unanswerable packets silences the errors its real
// traffic is owed, and the metric reports suppressions that never were.
func TestRFC1812RateLimitSpendsOnlyOnErrorsSent(t *testing.T) {
	n := newTestNet(t)
	n.s.ICMPRate, n.s.ICMPBurst = 100, 50
	r := newRFCRig(n)
	var unanswerable [][]byte
	for i := range 100 {
		quoted := udpFrom(rfcUnrouted, aWeb, 64).build()
		icmp := rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: packet.ProtoICMP, id: uint16(i), payload: rfcICMP(3, 3, quoted[:28])}.build()
		frag := rfcIP{src: aWeb, dst: rfcUnrouted, ttl: 64, proto: packet.ProtoUDP, id: uint16(i), fragOff: 1480, payload: make([]byte, 64)}.build()
		unanswerable = append(unanswerable, icmp, frag)
	}
	r.send(t, n.web, rfcT0, unanswerable...)
	r.drained(t, "unanswerable packets")
	if sup := n.web.Counters.ICMPSuppressed.Load(); sup != 0 {
		t.Errorf("%d ICMP errors counted as suppressed for %d packets that may not be answered at all", sup, len(unanswerable))
	}
	r.send(t, n.web, rfcT0, udpFrom(aWeb, rfcUnrouted, 64).build())
	if back := r.written(n.web); len(back) != 1 {
		t.Errorf("after %d unanswerable packets, a packet owed net unreachable got %d errors: the bucket was spent on errors never sent", len(unanswerable), len(back))
	}
}

// TestRFC1812Options: valid IP options are forwarded untouched but for TTL
// and checksum (the VRouter neither records routes nor timestamps: it is a
// cloud VRouter, transparent like its model), malformed options (RFC 791
// option length and pointer rules) are dropped as malformed with no ICMP
// (F12).
func TestRFC1812Options(t *testing.T) {
	n := newTestNet(t)
	r := newRFCRig(n)
	valid := []struct {
		name string
		opts []byte
	}{
		{"NOPs and EOL", []byte{1, 1, 1, 0}},
		{"record route", []byte{7, 7, 4, 0, 0, 0, 0, 0}},
		{"timestamp", []byte{68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"router alert", []byte{148, 4, 0, 0}},
		{"40 bytes of options", append([]byte{7, 39, 4}, make([]byte, 37)...)},
	}
	for _, c := range valid {
		orig := rfcIP{src: aWeb, dst: aApp, ttl: 64, proto: packet.ProtoUDP, opts: c.opts, payload: rfcUDP(1, 2, 20)}.build()
		r.send(t, n.web, rfcT0, orig)
		got := r.written(n.app)
		if len(got) != 1 {
			t.Errorf("valid option %s: %d forwarded, want 1 (drops %v)", c.name, len(got), rfcDrops(n.web))
			continue
		}
		want := append([]byte(nil), orig...)
		want[8]--
		packet.IPv4(want).UpdateChecksum()
		if string(got[0]) != string(want) {
			t.Errorf("valid option %s: forwarded\n% x\nwant\n% x", c.name, got[0], want)
		}
	}
	malformed := []struct {
		name string
		opts []byte
	}{
		{"length 1", []byte{7, 1, 4, 0}},
		{"length 0", []byte{130, 0, 0, 0}},
		{"length beyond the header", []byte{7, 12, 4, 0}},
		{"type without a length byte", []byte{1, 1, 1, 7}},
		{"record route pointer 3", []byte{7, 7, 3, 0, 0, 0, 0, 0}},
		{"timestamp pointer 4", []byte{68, 8, 4, 0, 0, 0, 0, 0}},
		{"router alert of length 3", []byte{148, 3, 0, 0}},
		{"stream id of length 8", []byte{136, 8, 0, 0, 0, 0, 0, 0}},
		{"loose source route pointer 2", []byte{131, 7, 2, 0, 0, 0, 0, 0}},
	}
	for _, c := range malformed {
		// TTL 1: a valid packet would earn time exceeded.
		orig := rfcIP{src: aWeb, dst: aApp, ttl: 1, proto: packet.ProtoUDP, opts: c.opts, payload: rfcUDP(1, 2, 20)}.build()
		before := n.web.Counters.Drops[stats.DropMalformed].Load()
		r.send(t, n.web, rfcT0, orig)
		r.drained(t, "malformed option "+c.name)
		if got := n.web.Counters.Drops[stats.DropMalformed].Load() - before; got != 1 {
			t.Errorf("malformed option %s: malformed drops +%d, want 1", c.name, got)
		}
	}
}

// TestRFC1812Fragments: fragments never get around security groups (S9,
// RFC 1858). i-app admits only TCP 80. vrouter does not reassemble: a first
// fragment is judged on its own ports and its verdict recorded; every later
// fragment (by zone, addresses, protocol and IP id) follows it; fragments of
// no known datagram are dropped.
func TestRFC1812Fragments(t *testing.T) {
	now := rfcT0
	frag := func(id uint16, off uint16, mf bool, payload []byte) []byte {
		return rfcIP{src: aWeb, dst: aApp, ttl: 64, proto: packet.ProtoTCP, id: id, mf: mf, fragOff: off, payload: payload}.build()
	}
	first := func(id, dport uint16) []byte {
		return frag(id, 0, true, append(rfcTCP(40000+id, dport, packet.TCPSyn), make([]byte, 12)...))
	}
	type step struct {
		what   string
		pkt    []byte
		want   Verdict
		reason stats.DropReason
	}
	cases := []struct {
		name  string
		sg    bool
		steps []step
	}{
		{"admitted datagram: every fragment passes", true, []step{
			{"first", first(1, 80), VerdictForward, 0},
			{"middle", frag(1, 32, true, make([]byte, 32)), VerdictForward, 0},
			{"last", frag(1, 64, false, make([]byte, 16)), VerdictForward, 0},
			{"reordered behind the last", frag(1, 48, true, make([]byte, 16)), VerdictForward, 0},
		}},
		{"refused datagram: no fragment passes", true, []step{
			{"first to port 22", first(2, 22), VerdictDrop, stats.DropSGIngress},
			{"middle", frag(2, 32, true, make([]byte, 32)), VerdictDrop, stats.DropFragment},
			{"last", frag(2, 64, false, make([]byte, 16)), VerdictDrop, stats.DropFragment},
		}},
		{"incomplete: fragments without their first", true, []step{
			{"middle of an unknown datagram", frag(3, 32, true, make([]byte, 32)), VerdictDrop, stats.DropFragment},
			{"last of an unknown datagram", frag(3, 64, false, make([]byte, 16)), VerdictDrop, stats.DropFragment},
			{"first arriving late", first(3, 80), VerdictForward, 0},
			{"the rest after it", frag(3, 64, false, make([]byte, 16)), VerdictForward, 0},
		}},
		{"tiny first fragments cannot hide their ports (RFC 1858 3.1)", false, []step{
			// Malformed whatever the security groups: decoded before them.
			{"TCP first fragment of 8 bytes", frag(4, 0, true, rfcTCP(1, 80, packet.TCPSyn)[:8]), VerdictDrop, stats.DropMalformed},
			{"TCP first fragment of 16 bytes", frag(4, 0, true, rfcTCP(1, 80, packet.TCPSyn)[:16]), VerdictDrop, stats.DropMalformed},
			{"TCP first fragment with no transport bytes", frag(4, 0, true, nil), VerdictDrop, stats.DropMalformed},
		}},
		{"tiny first fragment with security groups on", true, []step{
			{"TCP first fragment of 3 bytes", frag(5, 0, true, rfcTCP(1, 80, packet.TCPSyn)[:3]), VerdictDrop, stats.DropMalformed},
			{"its next fragment carrying the rest", frag(5, 8, true, make([]byte, 32)), VerdictDrop, stats.DropFragment},
			{"UDP first fragment of 4 bytes", rfcIP{src: aWeb, dst: aApp, ttl: 64, proto: packet.ProtoUDP, id: 5, mf: true, payload: rfcUDP(1, 80, 0)[:4]}.build(), VerdictDrop, stats.DropMalformed},
		}},
		{"overlapping fragments", true, []step{
			{"first to port 22 (refused)", first(6, 22), VerdictDrop, stats.DropSGIngress},
			// RFC 1858 3.2: a fragment at offset 8 rewrites TCP bytes 8+,
			// never the ports (0–3); the datagram stays refused.
			{"offset 8 over the TCP header", frag(6, 8, true, make([]byte, 24)), VerdictDrop, stats.DropFragment},
			{"second first fragment to port 80", first(6, 80), VerdictForward, 0},
		}},
		{"an admitted datagram cannot be re-aimed by another first fragment", true, []step{
			{"first to port 80", first(7, 80), VerdictForward, 0},
			{"second first fragment to port 22", frag(7, 0, true, append(rfcTCP(40007, 22, packet.TCPSyn), make([]byte, 12)...)), VerdictDrop, stats.DropSGIngress},
			// The datagram's verdict is now "refused": fail closed.
			{"later fragment", frag(7, 32, false, make([]byte, 16)), VerdictDrop, stats.DropFragment},
		}},
		{"oversized: offset + length beyond 65535", true, []step{
			{"of an unknown datagram", frag(8, 65528, false, make([]byte, 100)), VerdictDrop, stats.DropFragment},
			{"first to port 22", first(9, 22), VerdictDrop, stats.DropSGIngress},
			{"of the refused datagram", frag(9, 65528, false, make([]byte, 100)), VerdictDrop, stats.DropFragment},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := sgNet(t)
			n.s.SecurityGroups = c.sg
			for _, s := range c.steps {
				now += int64(time.Millisecond)
				var p packet.Parsed
				var d Decision
				if st := p.Decode(s.pkt); st != packet.OK {
					d = Decision{Verdict: VerdictDrop, Reason: stats.DropMalformed} // what the worker does (engine.go)
				} else {
					var hdr tun.VirtioNetHdr
					d = n.s.Forward(n.web, &p, len(s.pkt), &hdr, now, nil)
				}
				if d.Verdict != s.want || (s.want == VerdictDrop && d.Reason != s.reason) {
					t.Errorf("%s: %v (%v), want %v (%v)", s.what, d.Verdict, d.Reason, s.want, s.reason)
				}
				if s.want == VerdictForward && d.Out != n.app.ID {
					t.Errorf("%s: out port %d, want i-app", s.what, d.Out)
				}
			}
		})
	}

	// Observed, not required by SPEC: an oversized fragment of an admitted
	// datagram is forwarded (vrouter does not reassemble; the receiving
	// host's reassembly must refuse the datagram).
	n := sgNet(t)
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	for _, pkt := range [][]byte{first(10, 80), frag(10, 65528, false, make([]byte, 100))} {
		now += int64(time.Millisecond)
		p.Decode(pkt)
		d := n.s.Forward(n.web, &p, len(pkt), &hdr, now, nil)
		if p.FragOff != 0 {
			t.Logf("oversized last fragment (offset 65528, 100 bytes) of an admitted datagram: %v", d.Verdict)
		}
	}

	// Through a worker: the drop reasons are what the metrics show.
	n = sgNet(t)
	r := newRFCRig(n)
	r.send(t, n.web, now, first(11, 22), frag(11, 32, true, make([]byte, 32)), frag(11, 64, false, make([]byte, 8)), frag(12, 8, false, make([]byte, 8)))
	r.drained(t, "refused and orphan fragments")
	if sg, fr := n.web.Counters.Drops[stats.DropSGIngress].Load(), n.web.Counters.Drops[stats.DropFragment].Load(); sg != 1 || fr != 3 {
		t.Errorf("worker: sg_ingress %d, fragment %d; want 1 and 3", sg, fr)
	}
}

// TestRFC1812FragmentTrackerBounded: the fragment tracker is the only state
// fragments create (no reassembly buffers) and it is bounded: 1,000
// fragmented datagrams through a tracker of 64 entries leave at most 64;
// the datagrams it forgot lose their later fragments (fail closed), the
// newest keep theirs, and entries expire after the tracker's timeout, so
// an incomplete datagram holds nothing for longer.
func TestRFC1812FragmentTrackerBounded(t *testing.T) {
	n := sgNet(t)
	const maxEntries, timeout = 64, time.Second
	n.s.Frags = conntrack.NewFrags(maxEntries, timeout)
	var p packet.Parsed
	var hdr tun.VirtioNetHdr
	fwd := func(pkt []byte, now int64) Decision {
		t.Helper()
		if st := p.Decode(pkt); st != packet.OK {
			t.Fatalf("decode: %v", st)
		}
		return n.s.Forward(n.web, &p, len(pkt), &hdr, now, nil)
	}
	pkt := func(id, off uint16, mf bool, payload []byte) []byte {
		return rfcIP{src: aWeb, dst: aApp, ttl: 64, proto: packet.ProtoTCP, id: id, mf: mf, fragOff: off, payload: payload}.build()
	}
	now := rfcT0
	const datagrams = 1000
	for i := range datagrams {
		if d := fwd(pkt(uint16(i), 0, true, append(rfcTCP(40000, 80, packet.TCPSyn), make([]byte, 12)...)), now); d.Verdict != VerdictForward {
			t.Fatalf("first fragment %d: %v %v", i, d.Verdict, d.Reason)
		}
	}
	st := n.s.Frags.Stats()
	if st.Entries > maxEntries || st.Evictions != datagrams-maxEntries {
		t.Errorf("after %d datagrams: %d entries (max %d), %d evictions (want %d)", datagrams, st.Entries, maxEntries, st.Evictions, datagrams-maxEntries)
	}
	t.Logf("fragment tracker after %d first fragments: %+v", datagrams, st)
	if d := fwd(pkt(0, 32, false, make([]byte, 8)), now); d.Verdict != VerdictDrop || d.Reason != stats.DropFragment {
		t.Errorf("last fragment of a forgotten datagram: %v %v, want drop (fragment)", d.Verdict, d.Reason)
	}
	if d := fwd(pkt(datagrams-1, 32, true, make([]byte, 8)), now); d.Verdict != VerdictForward {
		t.Errorf("fragment of the newest datagram: %v %v, want forward", d.Verdict, d.Reason)
	}
	// Incomplete datagrams: past the timeout their fragments are dropped
	// and the entries counted as expired.
	later := now + int64(timeout) + 1
	if d := fwd(pkt(datagrams-2, 32, true, make([]byte, 8)), later); d.Verdict != VerdictDrop || d.Reason != stats.DropFragment {
		t.Errorf("fragment after the timeout: %v %v, want drop (fragment)", d.Verdict, d.Reason)
	}
	if st := n.s.Frags.Stats(); st.Expired == 0 {
		t.Errorf("no entry counted as expired: %+v", st)
	}
}
