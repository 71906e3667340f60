package compile

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

const base = `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-1
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 192.168.0.0/24, route_table: vtb-c}
      - {id: vsw-b, zone: z, cidr: 192.168.1.0/24}
    route_tables:
      - id: vtb-c
        routes:
          - {dst: 0.0.0.0/0, next_hop: i-12345678}
          - {dst: 10.0.0.0/24, next_hop: i-87654321}
          - dst: 172.16.0.0/12
            next_hops: [{id: i-12345678, weight: 100}, {id: i-87654321, weight: 0}]
    security_groups:
      - id: sg-web
        rules:
          - {direction: ingress, policy: accept, priority: 1, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0}
      - id: sg-cli
instances:
  - {id: i-src, vswitch: vsw-a, ip: 192.168.0.10, security_groups: [sg-cli]}
  - {id: i-12345678, vswitch: vsw-b, ip: 192.168.1.20}
  - {id: i-87654321, vswitch: vsw-b, ip: 192.168.1.30}
  - {id: i-web, vswitch: vsw-b, ip: 192.168.1.40, security_groups: [sg-web]}
`

func mustCompile(t *testing.T, yaml string, prev *dataplane.Snapshot, ct *conntrack.Table) (*config.Config, *Result) {
	t.Helper()
	cfg, _, err := config.ParseAndValidate("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	res, err := Compile(Input{Config: cfg, Prev: prev, Stats: stats.NewRegistry(), Conntrack: ct, Frags: conntrack.NewFrags(0, 0)})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return cfg, res
}

func portByName(t *testing.T, s *dataplane.Snapshot, name string) *dataplane.Port {
	t.Helper()
	for _, p := range s.Ports {
		if p != nil && p.Name == name {
			return p
		}
	}
	t.Fatalf("no port %s", name)
	return nil
}

func parsed(src, dst string, proto uint8, sport, dport uint16, flags uint8) *packet.Parsed {
	return &packet.Parsed{Version: 4, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto,
		TTL: 64, HdrLen: 20, L4Off: 20, SrcPort: sport, DstPort: dport, TCPFlags: flags}
}

func forward(s *dataplane.Snapshot, in *dataplane.Port, p *packet.Parsed, now int64) dataplane.Decision {
	var hdr tun.VirtioNetHdr
	return s.Forward(in, p, 60, &hdr, now, nil)
}

// TestSpecF5Example: the LPM example of SPEC F5 through a compiled table.
func TestSpecF5Example(t *testing.T) {
	_, res := mustCompile(t, base, nil, nil)
	s := res.Snapshot
	src := portByName(t, s, "i-src")
	for _, c := range []struct{ dst, want string }{
		{"10.0.0.1", "i-87654321"},
		{"10.0.1.1", "i-12345678"},
		{"192.168.1.20", "i-12345678"}, // system VSwitch entry
		{"172.20.0.1", "i-12345678"},   // active of active/standby
	} {
		d := forward(s, src, parsed("192.168.0.10", c.dst, packet.ProtoUDP, 1, 2, 0), 0)
		if d.Verdict != dataplane.VerdictForward || s.Ports[d.Out].Name != c.want {
			t.Errorf("%s: %v reason %v out %d, want %s", c.dst, d.Verdict, d.Reason, d.Out, c.want)
		}
	}
	// The system table has no default: net unreachable.
	b := portByName(t, s, "i-web")
	if d := forward(s, b, parsed("192.168.1.40", "10.0.0.1", packet.ProtoUDP, 1, 2, 0), 0); d.Reason != stats.DropNoRoute {
		t.Errorf("system table default: %v %v", d.Verdict, d.Reason)
	}
	// Active/standby: the standby takes over when the active is down (F9).
	var target *HealthTarget
	for i := range res.Health {
		if res.Health[i].NextHop == "i-12345678" && res.Health[i].Dst.String() == "172.16.0.0/12" {
			target = &res.Health[i]
		}
	}
	if target == nil {
		t.Fatal("no health target for the active next hop")
	}
	if target.Source != netip.MustParseAddr("192.168.1.253") || target.Check.Failures != 3 {
		t.Errorf("health target %+v", target)
	}
	target.Health.Set(false)
	d := forward(s, src, parsed("192.168.0.10", "172.20.0.1", packet.ProtoUDP, 1, 2, 0), 0)
	if s.Ports[d.Out].Name != "i-87654321" {
		t.Errorf("failover to %s", s.Ports[d.Out].Name)
	}
}

// TestCarryOver: port ids, zones, health flags and the policy generation
// survive a recompile (DESIGN house rule 2, R3, S8).
func TestCarryOver(t *testing.T) {
	ct := conntrack.New(conntrack.DefaultConfig())
	_, r1 := mustCompile(t, base, nil, ct)
	s1 := r1.Snapshot
	// Remove i-12345678's route usage? Keep routes; drop i-web and add i-new.
	y2 := strings.Replace(base, "  - {id: i-web, vswitch: vsw-b, ip: 192.168.1.40, security_groups: [sg-web]}\n",
		"  - {id: i-new, vswitch: vsw-b, ip: 192.168.1.50}\n", 1)
	_, r2 := mustCompile(t, y2, s1, ct)
	s2 := r2.Snapshot
	for _, n := range []string{"i-src", "i-12345678", "i-87654321"} {
		if portByName(t, s1, n).ID != portByName(t, s2, n).ID {
			t.Errorf("%s changed port id", n)
		}
	}
	if portByName(t, s2, "i-new").ID != portByName(t, s1, "i-web").ID {
		t.Errorf("freed id not reused")
	}
	if s1.Routers[0].Zone != s2.Routers[0].Zone {
		t.Error("zone changed")
	}
	for k, h := range s1.Health {
		if s2.Health[k] != h {
			t.Errorf("health flag %s not carried over", k)
		}
	}
	if s2.PolicyGen == s1.PolicyGen {
		t.Error("membership change did not bump the policy generation")
	}
	// A change of routes only keeps the generation.
	y3 := strings.Replace(y2, "10.0.0.0/24", "10.0.0.0/25", 1)
	_, r3 := mustCompile(t, y3, s2, ct)
	if r3.Snapshot.PolicyGen != s2.PolicyGen {
		t.Error("route change bumped the policy generation")
	}
}

// TestSecurityGroups: S1, S2, S4, S8 through compiled policies.
func TestSecurityGroups(t *testing.T) {
	ct := conntrack.New(conntrack.DefaultConfig())
	_, r1 := mustCompile(t, base, nil, ct)
	s := r1.Snapshot
	src, web := portByName(t, s, "i-src"), portByName(t, s, "i-web")
	// Port 80 from anywhere is admitted; 22 is not (S4 default ingress drop).
	if d := forward(s, src, parsed("192.168.0.10", "192.168.1.40", packet.ProtoTCP, 40000, 80, packet.TCPSyn), 1); d.Verdict != dataplane.VerdictForward {
		t.Fatalf("tcp/80: %v %v", d.Verdict, d.Reason)
	}
	if d := forward(s, src, parsed("192.168.0.10", "192.168.1.40", packet.ProtoTCP, 40001, 22, packet.TCPSyn), 1); d.Reason != stats.DropSGIngress {
		t.Fatalf("tcp/22: %v %v", d.Verdict, d.Reason)
	}
	// The reply passes without rule evaluation (S1) although web's egress
	// is default accept anyway and src's ingress would drop it (S4).
	if d := forward(s, web, parsed("192.168.1.40", "192.168.0.10", packet.ProtoTCP, 80, 40000, packet.TCPSyn|packet.TCPAck), 2); d.Verdict != dataplane.VerdictForward {
		t.Fatalf("reply: %v %v", d.Verdict, d.Reason)
	}
	// A new flow from web to src is dropped by src's ingress default.
	if d := forward(s, web, parsed("192.168.1.40", "192.168.0.10", packet.ProtoTCP, 5555, 6666, packet.TCPSyn), 3); d.Reason != stats.DropSGIngress {
		t.Fatalf("web→src new flow: %v %v", d.Verdict, d.Reason)
	}
	// S8: revoke the accept rule; the tracked flow is cut at its next packet.
	y2 := strings.Replace(base, "          - {direction: ingress, policy: accept, priority: 1, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0}\n", "", 1)
	_, r2 := mustCompile(t, y2, s, ct)
	s2 := r2.Snapshot
	src2, web2 := portByName(t, s2, "i-src"), portByName(t, s2, "i-web")
	if d := forward(s2, src2, parsed("192.168.0.10", "192.168.1.40", packet.ProtoTCP, 40000, 80, packet.TCPAck), 4); d.Verdict == dataplane.VerdictForward {
		t.Fatal("revoked rule still admits the tracked flow")
	}
	if d := forward(s2, web2, parsed("192.168.1.40", "192.168.0.10", packet.ProtoTCP, 80, 40000, packet.TCPAck), 5); d.Verdict == dataplane.VerdictForward {
		t.Fatal("reply of a revoked flow still passes")
	}
}

// TestPortSpecs: F1 addresses, gateway and the metric of secondary ENIs.
func TestPortSpecs(t *testing.T) {
	y := base + `  - id: i-multi
    vswitch: vsw-a
    ip: 192.168.0.20
    netns: multi
    secondary_ips: [192.168.0.21]
    enis: [{id: eni-m2, vswitch: vsw-b, ip: 192.168.1.60}]
`
	cfg, _ := mustCompile(t, y, nil, nil)
	specs := PortSpecs(cfg)
	var prim, sec *PortSpec
	for i := range specs {
		switch specs[i].Name {
		case "i-multi":
			prim = &specs[i]
		case "eni-m2":
			sec = &specs[i]
		}
	}
	if prim == nil || sec == nil {
		t.Fatal("specs missing")
	}
	if prim.Addr != netip.MustParsePrefix("192.168.0.20/24") || prim.Gateway != netip.MustParseAddr("192.168.0.253") ||
		len(prim.Secondary) != 1 || prim.Metric != 0 || prim.IfName != "eth0" || prim.MTU != 1500 {
		t.Errorf("primary spec %+v", prim)
	}
	if sec.Netns != "multi" || sec.IfName != "eth1" || sec.Metric == 0 || sec.Gateway != netip.MustParseAddr("192.168.1.253") {
		t.Errorf("secondary spec %+v", sec)
	}
	_ = fib.NoPort
}

// TestVerdictCounters: R8 vrouter_secgroup_verdicts_total counts the group
// whose rule decided, or "default" for S4's defaults.
func TestVerdictCounters(t *testing.T) {
	cfg, _, err := config.ParseAndValidate("test.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	reg := stats.NewRegistry()
	res, err := Compile(Input{Config: cfg, Stats: reg, Conntrack: conntrack.New(conntrack.DefaultConfig()), Frags: conntrack.NewFrags(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Snapshot
	src := portByName(t, s, "i-src")
	forward(s, src, parsed("192.168.0.10", "192.168.1.40", packet.ProtoTCP, 40000, 80, packet.TCPSyn), 1)
	forward(s, src, parsed("192.168.0.10", "192.168.1.40", packet.ProtoTCP, 40001, 22, packet.TCPSyn), 1)
	v := reg.Verdicts()
	for k, want := range map[stats.VerdictName]uint64{
		{Group: "sg-web", Direction: "ingress", Policy: "accept"}: 1,
		{Group: "default", Direction: "ingress", Policy: "drop"}:  1,
		{Group: "default", Direction: "egress", Policy: "accept"}: 2,
		{Group: "sg-cli", Direction: "ingress", Policy: "accept"}: 0,
	} {
		if v[k] != want {
			t.Errorf("%+v = %d, want %d", k, v[k], want)
		}
	}
}
