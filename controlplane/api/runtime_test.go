package api_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/health"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
)

func stepsString(r *api.TraceResponse) string {
	var b strings.Builder
	for _, s := range r.Steps {
		b.WriteString(s.Stage + " | " + s.Result + " | " + s.Detail + "\n")
	}
	return b.String()
}

// TestTrace runs synthetic packets through the compiled snapshot (R7).
func TestTrace(t *testing.T) {
	e := newEnv(t, testYAML)
	cases := []struct {
		name    string
		p       api.TraceParams
		verdict string
		reason  string
		out     string
		steps   []string // substrings that must appear in the rendered steps, in order
	}{
		{"S4 ingress default drop", api.TraceParams{From: "i-web1", Dst: "192.168.1.20"}, "drop", "sg_ingress", "",
			[]string{"ingress | i-web1", "anti-spoofing | pass", "route | vtb-sys-demo", "egress-port | i-nat", "security-group ingress | i-nat: drop"}},
		{"S10 HTTP allowed by sg-web", api.TraceParams{From: "i-nat", Dst: "192.168.1.10", Proto: "tcp", Dport: 80}, "forward", "", "i-web1",
			[]string{"security-group egress | i-nat: accept", "security-group ingress | i-web1: accept | rule sg-web", "verdict | forward"}},
		{"S5 inner access", api.TraceParams{From: "192.168.1.20", Dst: "192.168.1.30", Proto: "udp", Dport: 53}, "forward", "", "i-fw1",
			[]string{"ingress | i-nat", "security-group ingress | i-fw1: accept"}},
		// S5 does not cover 8.8.8.8, so i-nat's default group drops it.
		{"F5 custom table default route", api.TraceParams{From: "i-app", Dst: "8.8.8.8", Proto: "tcp", Dport: 443}, "drop", "sg_ingress", "",
			[]string{"route | vtb-b | entry 0.0.0.0/0", "next-hop | Single | i-nat (up)", "egress-port | i-nat",
				"security-group egress | i-app: accept | default_egress_accept", "security-group ingress | i-nat: drop | default_ingress_drop"}},
		{"F8 load balancing", api.TraceParams{From: "i-app", Dst: "10.1.2.3", Proto: "tcp", Sport: 40000, Dport: 22}, "drop", "sg_ingress", "",
			[]string{"route | vtb-b | entry 10.0.0.0/8", "next-hop | ECMP | chose"}},
		{"F4 anti-spoofing", api.TraceParams{From: "i-web1", Src: "192.168.1.99", Dst: "192.168.1.20"}, "drop", "spoofed", "",
			[]string{"verdict | drop spoofed"}},
		{"F5 host unreachable", api.TraceParams{From: "i-web1", Dst: "192.168.3.7"}, "icmp-error", "host_unreachable", "", nil},
		{"F5 cloud service", api.TraceParams{From: "i-web1", Dst: "100.64.0.1"}, "drop", "cloud_service", "", nil},
		{"F3 gateway", api.TraceParams{From: "i-web1", Dst: "192.168.1.253"}, "to-router", "", "", nil},
		{"F6 TTL", api.TraceParams{From: "i-nat", Dst: "192.168.1.10", Proto: "tcp", Dport: 80, TTL: 1}, "icmp-error", "ttl_exceeded", "", nil},
		{"F7 DF and MTU", api.TraceParams{From: "i-nat", Dst: "192.168.1.10", Proto: "tcp", Dport: 80, Length: 1600}, "icmp-error", "frag_needed", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r api.TraceResponse
			e.ok(t, "Trace", tc.p, &r)
			s := stepsString(&r)
			if r.Verdict != tc.verdict || r.Reason != tc.reason || (tc.out != "" && r.OutPort != tc.out) {
				t.Fatalf("verdict %s reason %s out %s\n%s", r.Verdict, r.Reason, r.OutPort, s)
			}
			rest := s
			for _, w := range tc.steps {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("missing %q (in order) in\n%s", w, s)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	// A trace never creates state (R7).
	if n := e.b.Conntrack().Stats().Entries; n != 0 {
		t.Fatalf("trace created %d flows", n)
	}
	for _, bad := range []struct {
		p      api.TraceParams
		status int
	}{
		{api.TraceParams{Dst: "192.168.1.20"}, 400},
		{api.TraceParams{From: "i-web1"}, 400},
		{api.TraceParams{From: "i-nope", Dst: "192.168.1.20"}, 404},
		{api.TraceParams{From: "10.9.9.9", Dst: "192.168.1.20"}, 404},
		{api.TraceParams{From: "i-web1", Dst: "192.168.1.20", Proto: "tcp"}, 400},
		{api.TraceParams{From: "i-web1", Dst: "192.168.1.20", Proto: "sctp"}, 400},
		{api.TraceParams{From: "i-web1", Dst: "192.168.1.20", Dport: 5}, 400},
		{api.TraceParams{From: "i-web1", Dst: "not-an-ip"}, 400},
	} {
		e.fail(t, "Trace", bad.p, bad.status)
	}
}

// TestFlows dumps the conntrack table with filters (R6 flows).
func TestFlows(t *testing.T) {
	e := newEnv(t, testYAML)
	snap := e.b.Snapshot()
	var zone uint16
	for _, r := range snap.Routers {
		if r.ID == "vrt-demo" {
			zone = r.Zone
		}
	}
	now := testClock.UnixNano() - int64(5*time.Second)
	ct := e.b.Conntrack()
	var web, nat uint16
	for _, p := range snap.Ports {
		if p != nil && p.Name == "i-web1" {
			web = uint16(p.ID)
		}
		if p != nil && p.Name == "i-nat" {
			nat = uint16(p.ID)
		}
	}
	add := func(proto uint8, src, dst string, sp, dp uint16) {
		k := conntrack.MakeKey(zone, proto, netip.MustParseAddr(src), netip.MustParseAddr(dst), sp, dp)
		if _, res := ct.Insert(&k, nil, packet.TCPSyn, conntrack.Meta{InPort: nat, OutPort: web}, now); res != conntrack.Inserted {
			t.Fatalf("insert: %v", res)
		}
	}
	add(packet.ProtoTCP, "192.168.1.20", "192.168.1.10", 40001, 80)
	add(packet.ProtoTCP, "192.168.1.20", "192.168.1.10", 40002, 80)
	add(packet.ProtoUDP, "192.168.1.20", "192.168.1.30", 5000, 53)
	add(packet.ProtoTCP, "192.168.2.10", "192.168.1.10", 40003, 22)

	var r api.FlowsResponse
	e.ok(t, "Flows", nil, &r)
	if r.Total != 4 || len(r.Flows) != 4 || r.Truncated {
		t.Fatalf("flows = %+v", r)
	}
	f := r.Flows[0]
	if f.Vpc != "vpc-demo" || f.Proto != "tcp" || f.Src != "192.168.1.20" || f.SrcPort != 40001 || f.DstPort != 80 ||
		f.State != "SYN_SENT" || f.Established || f.InPort != "i-nat" || f.OutPort != "i-web1" ||
		f.ReplySrc != "192.168.1.10" || f.ReplyDstPort != 40001 || f.AgeSeconds != 5 || f.ExpiresInSeconds != 55 {
		t.Fatalf("first flow = %+v", f)
	}
	for _, c := range []struct {
		p     api.FlowsParams
		total int
		shown int
	}{
		{api.FlowsParams{Proto: "udp"}, 1, 1},
		{api.FlowsParams{Port: 80}, 2, 2},
		{api.FlowsParams{Src: "192.168.2.0/24"}, 1, 1},
		{api.FlowsParams{Dst: "192.168.1.10"}, 3, 3},
		{api.FlowsParams{Vpc: "vpc-demo", Limit: 2}, 4, 2},
		{api.FlowsParams{Vpc: "vrt-demo", Proto: "6", Port: 22}, 1, 1},
		{api.FlowsParams{Vpc: "vpc-other"}, 0, 0},
	} {
		var x api.FlowsResponse
		e.ok(t, "Flows", c.p, &x)
		if x.Total != c.total || len(x.Flows) != c.shown || x.Truncated != (c.shown < c.total) {
			t.Errorf("%+v: total %d shown %d truncated %v", c.p, x.Total, len(x.Flows), x.Truncated)
		}
	}
	e.fail(t, "Flows", api.FlowsParams{Vpc: "vpc-nope"}, 404)
	e.fail(t, "Flows", api.FlowsParams{Proto: "bogus"}, 400)
	e.fail(t, "Flows", api.FlowsParams{Limit: -1}, 400)
	e.fail(t, "Flows", api.FlowsParams{Src: "x"}, 400)
}

// TestStatsAndHealth reports counters (R8) and next-hop states (F8, F9).
func TestStatsAndHealth(t *testing.T) {
	e := newEnv(t, testYAML)
	reg := e.b.Stats()
	p := reg.PortCounters("i-web1")
	p.RxPackets.Add(10)
	p.RxBytes.Add(1000)
	p.TxPackets.Add(3)
	p.Drops[stats.DropSpoofed].Add(2)
	reg.PortCounters("i-nat").Drops[stats.DropSpoofed].Add(1)
	reg.PortCounters("i-nat").Drops[stats.DropNoRoute].Add(4)
	reg.RouteCounter("vtb-b", "0.0.0.0/0").Add(7)

	var s api.StatsResponse
	e.ok(t, "Stats", nil, &s)
	var web *api.PortStats
	for i := range s.Ports {
		if s.Ports[i].Name == "i-web1" {
			web = &s.Ports[i]
		}
	}
	if web == nil || web.RxPackets != 10 || web.RxBytes != 1000 || web.TxPackets != 3 || web.Drops["spoofed"] != 2 {
		t.Fatalf("i-web1 = %+v", web)
	}
	if s.Drops["spoofed"] != 3 || s.Drops["no_route"] != 4 {
		t.Fatalf("drops = %v", s.Drops)
	}
	found := false
	for _, h := range s.RouteHits {
		found = found || h == (api.RouteHit{Table: "vtb-b", Dst: "0.0.0.0/0", Hits: 7})
	}
	if !found {
		t.Fatalf("route hits = %+v", s.RouteHits)
	}
	if s.Conntrack == nil || s.Conntrack.MaxEntries != conntrack.DefaultMaxEntries {
		t.Fatalf("conntrack = %+v", s.Conntrack)
	}
	var r api.DescribeRouteEntryListResponse
	e.ok(t, "DescribeRouteEntryList", api.DescribeRouteEntryListParams{RouteTableID: "vtb-b", DestinationCidrBlock: "0.0.0.0/0"}, &r)
	if r.RouteEntries[0].Hits != 7 {
		t.Fatalf("hits = %d", r.RouteEntries[0].Hits)
	}

	var h api.HealthResponse
	e.ok(t, "Health", nil, &h)
	if len(h.NextHops) != 0 {
		t.Fatalf("health = %+v", h)
	}
	e.b.SetHealthStates([]health.State{{Key: "vtb-b|172.16.0.0/12|i-fw1", Table: "vtb-b", Dst: netip.MustParsePrefix("172.16.0.0/12"),
		NextHop: "i-fw1", Addr: netip.MustParseAddr("192.168.1.30"), Up: false, ConsecutiveFailures: 3, Sent: 10, Lost: 3}})
	e.ok(t, "Health", nil, &h)
	if len(h.NextHops) != 1 || h.NextHops[0].NextHop != "i-fw1" || h.NextHops[0].Up || h.NextHops[0].Lost != 3 {
		t.Fatalf("health = %+v", h)
	}
	e.fail(t, "Stats", map[string]int{"Port": 1}, 400)
}
