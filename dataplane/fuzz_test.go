package dataplane

import (
	"net/netip"
	"testing"

	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// FuzzForward runs the whole pure decision (SPEC Q1) on arbitrary bytes
// entering from every port of the test network, with and without security
// groups, and checks the decision's invariants.
func FuzzForward(f *testing.F) {
	f.Add(buildPkt(f, aWeb, aApp, pktOpt{}), uint8(0), uint16(0))
	f.Add(buildPkt(f, aWeb, gwA, pktOpt{icmp: true}), uint8(1), uint16(0))
	f.Add(buildPkt(f, aApp, netip.MustParseAddr("10.0.0.9"), pktOpt{proto: "tcp", sport: 1, dport: 2, tcpSyn: true}), uint8(2), uint16(1448))
	f.Add(buildPkt(f, aWeb, aFw, pktOpt{size: 1400, df: true}), uint8(0), uint16(0))
	f.Add([]byte{0x45, 0, 0, 20}, uint8(3), uint16(0))
	n := newTestNet(f)
	ct := conntrack.New(conntrack.Config{MaxEntries: 4096})
	frags := conntrack.NewFrags(1024, 0)
	f.Fuzz(func(t *testing.T, data []byte, sel uint8, gso uint16) {
		var p packet.Parsed
		if p.Decode(data) != packet.OK || p.Version != 4 {
			return
		}
		in := n.s.Ports[int(sel)%len(n.s.Ports)]
		hdr := tun.VirtioNetHdr{}
		if gso != 0 {
			hdr.GSOType, hdr.GSOSize = tun.GSOTCPv4, gso
		}
		for _, sg := range []bool{false, true} {
			s := *n.s
			if sg {
				s.SecurityGroups, s.Conntrack, s.Frags = true, ct, frags
			}
			d := s.Forward(in, &p, len(data), &hdr, 1, nil)
			switch d.Verdict {
			case VerdictForward, VerdictFragment:
				if s.Port(d.Out) == nil || d.Hops == 0 || p.TTL <= d.Hops {
					t.Fatalf("forward to %d with hops %d ttl %d", d.Out, d.Hops, p.TTL)
				}
				if d.Verdict == VerdictFragment && p.DF {
					t.Fatal("fragmenting a DF packet")
				}
			case VerdictICMPError:
				if d.ICMPType != packet.ICMPDestUnreach && d.ICMPType != packet.ICMPTimeExceeded {
					t.Fatalf("icmp type %d", d.ICMPType)
				}
				// The error built from it must never overrun (F14 path).
				buf := make([]byte, 1500)
				packet.BuildICMPv4Error(buf, in.Gateway, 1, data, d.ICMPType, d.ICMPCode, d.MTU)
			}
			// A trace of the same packet reaches the same verdict and
			// creates no state.
			var tr Trace
			before := ct.Stats().Inserts
			d2 := s.Forward(in, &p, len(data), &hdr, 1, &tr)
			if sg && ct.Stats().Inserts != before {
				t.Fatal("trace inserted a flow")
			}
			if d2.Verdict != d.Verdict && !(sg && d.Verdict != d2.Verdict) {
				t.Fatalf("trace verdict %v, packet %v", d2.Verdict, d.Verdict)
			}
		}
	})
}
