package compile

import (
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// Pure tests of SPEC C5: configs/classiclink.yaml compiled and run through
// Forward.

// TestC5ClassicPorts: classic instances are ports with ip/8 and a default
// route via ClassicGateway, anti-spoofing, in the classic router.
func TestC5ClassicPorts(t *testing.T) {
	cfg, res := mustCompile(t, example(t, "classiclink.yaml"), nil, conntrack.New(conntrack.DefaultConfig()))
	found := 0
	for _, ps := range PortSpecs(cfg) {
		switch ps.Name {
		case "i-legacy", "i-legacy2":
			found++
			if ps.Addr.Bits() != 8 || ps.Gateway != ClassicGateway || ps.IfName != "eth0" || ps.MTU != 1500 || !strings.HasPrefix(ps.Netns, "vr-legacy") {
				t.Errorf("%s: spec %+v", ps.Name, ps)
			}
		}
	}
	if found != 2 {
		t.Fatalf("%d classic port specs", found)
	}
	s := res.Snapshot
	for _, name := range []string{"i-legacy", "i-legacy2"} {
		p := portByName(t, s, name)
		if p.Kind != dataplane.PortClassic || !p.SourceDestCheck || p.Policy == nil || s.Routers[p.Router].ID != "classic" || p.Gateway != ClassicGateway {
			t.Errorf("%s: port %+v", name, p)
		}
	}
	if ci := s.Classic.Instance(portByName(t, s, "i-legacy").ID); ci == nil || ci.Link < 0 || s.Routers[ci.Link].ID != "vrt-link" || len(ci.Rules) != 2 {
		t.Errorf("i-legacy link state %+v", ci)
	}
	if ci := s.Classic.Instance(portByName(t, s, "i-legacy2").ID); ci == nil || ci.Link != -1 {
		t.Errorf("i-legacy2 link state %+v", ci)
	}
}

// TestC5ExampleDecisions: the example's modes (TCP 3306 opened from the
// VPC only, ICMP both ways), statefulness, unlinked instances, and one
// router hop across the link (F6).
func TestC5ExampleDecisions(t *testing.T) {
	_, res := mustCompile(t, example(t, "classiclink.yaml"), nil, conntrack.New(conntrack.DefaultConfig()))
	s := res.Snapshot
	tcp, icmp := packet.ProtoTCP, packet.ProtoICMP
	syn := packet.TCPSyn
	runSteps(t, s, []step{
		{name: "vpc_to_classic 3306 from the VPC", from: "i-app", src: "172.16.1.10", dst: "10.1.0.10", proto: tcp, sport: 40000, dport: 3306, flags: syn, want: fwd("i-legacy", 1)},
		{name: "its reply", from: "i-legacy", src: "10.1.0.10", dst: "172.16.1.10", proto: tcp, sport: 3306, dport: 40000, flags: syn | packet.TCPAck, want: fwd("i-app", 1)},
		{name: "3306 opened by the classic side", from: "i-legacy", src: "10.1.0.10", dst: "172.16.1.10", proto: tcp, sport: 40001, dport: 3306, flags: syn, want: dropped(stats.DropSGIngress)},
		{name: "ICMP from the VPC", from: "i-app", src: "172.16.1.10", dst: "10.1.0.10", proto: icmp, sport: 7, dport: 7, want: fwd("i-legacy", 1)},
		{name: "ICMP from the classic side", from: "i-legacy", src: "10.1.0.10", dst: "172.16.1.10", proto: icmp, sport: 8, dport: 8, want: fwd("i-app", 1)},
		{name: "a port no rule names", from: "i-app", src: "172.16.1.10", dst: "10.1.0.10", proto: tcp, sport: 40002, dport: 22, flags: syn, want: dropped(stats.DropSGIngress)},
		{name: "the unlinked instance from the VPC", from: "i-app", src: "172.16.1.10", dst: "10.1.0.11", proto: icmp, sport: 9, dport: 9, want: icmpErr(stats.DropNoRoute)},
		{name: "the unlinked instance to the VPC", from: "i-legacy2", src: "10.1.0.11", dst: "172.16.1.10", proto: icmp, sport: 9, dport: 9, want: icmpErr(stats.DropNoRoute)},
		{name: "classic to classic, its group's rule (22)", from: "i-legacy2", src: "10.1.0.11", dst: "10.1.0.10", proto: tcp, sport: 40003, dport: 22, flags: syn, want: fwd("i-legacy", 1)},
		{name: "classic to classic, same group (inner access)", from: "i-legacy2", src: "10.1.0.11", dst: "10.1.0.10", proto: tcp, sport: 40004, dport: 8080, flags: syn, want: fwd("i-legacy", 1)},
		{name: "anti-spoofing", from: "i-legacy", src: "10.1.0.99", dst: "10.1.0.11", proto: icmp, sport: 1, dport: 1, want: dropped(stats.DropSpoofed)},
		{name: "the classic gateway", from: "i-legacy", src: "10.1.0.10", dst: ClassicGateway.String(), proto: icmp, sport: 1, dport: 1, want: toRouter},
		{name: "the VSwitch gateway of the linked VPC", from: "i-legacy", src: "10.1.0.10", dst: "172.16.1.253", proto: icmp, sport: 1, dport: 1, want: toRouter},
		{name: "no classic route outside the link", from: "i-legacy", src: "10.1.0.10", dst: "192.168.1.1", proto: icmp, sport: 1, dport: 1, want: icmpErr(stats.DropNoRoute)},
	})
}

// TestC5LinkAtRuntime: linking i-legacy2 (a reload or an API change)
// makes it reachable from the VPC; the policy generation moves (S8) and
// ports keep their ids and zones (R3).
func TestC5LinkAtRuntime(t *testing.T) {
	yaml := example(t, "classiclink.yaml")
	ct := conntrack.New(conntrack.DefaultConfig())
	_, res := mustCompile(t, yaml, nil, ct)
	linked := strings.Replace(yaml, "security_groups: [sg-classic-db]}   # not linked", "security_groups: [sg-classic-db], link: vpc-link}", 1)
	if linked == yaml {
		t.Fatal("example changed")
	}
	_, res2 := mustCompile(t, linked, res.Snapshot, ct)
	s1, s2 := res.Snapshot, res2.Snapshot
	runSteps(t, s2, []step{
		{name: "now linked", from: "i-app", src: "172.16.1.10", dst: "10.1.0.11", proto: packet.ProtoICMP, sport: 9, dport: 9, want: fwd("i-legacy2", 1)},
	})
	if s2.PolicyGen == s1.PolicyGen {
		t.Error("linking did not bump the policy generation")
	}
	for _, name := range []string{"i-legacy", "i-legacy2", "i-app"} {
		if portByName(t, s1, name).ID != portByName(t, s2, name).ID {
			t.Errorf("%s changed port id", name)
		}
	}
	zone := func(s *dataplane.Snapshot) uint16 {
		for _, r := range s.Routers {
			if r.ID == "classic" {
				return r.Zone
			}
		}
		return 0
	}
	if zone(s1) == 0 || zone(s1) != zone(s2) {
		t.Errorf("classic zone %d → %d", zone(s1), zone(s2))
	}
}

// TestC5GatewayAddressRefused: a classic instance may not take the
// classic gateway's address.
func TestC5GatewayAddressRefused(t *testing.T) {
	yaml := strings.Replace(example(t, "classiclink.yaml"), "ip: 10.1.0.11", "ip: "+ClassicGateway.String(), 1)
	cfg, _, err := config.ParseAndValidate("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(Input{Config: cfg, Stats: stats.NewRegistry(), Conntrack: conntrack.New(conntrack.DefaultConfig())}); err == nil || !strings.Contains(err.Error(), "classic gateway") {
		t.Fatalf("compile: %v", err)
	}
}
