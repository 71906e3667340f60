package topo

import (
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/config"
)

// TestVrouterdConfigValid checks that V's configuration passes vrouterd's own
// validation (SPEC §3) without errors or warnings, and has what SPEC §9 asks
// of V: a security group on the server and a custom route table in use.
func TestVrouterdConfigValid(t *testing.T) {
	y := VrouterdConfig("vb1-vc", "vb1-vs")
	c, warns, err := config.ParseAndValidate("vbench.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config invalid:\n%v\n%s", err, y)
	}
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	for _, w := range config.Lint(c) {
		t.Errorf("lint: %v", w)
	}
	if len(c.VPCs) != 1 || len(c.Instances) != 2 {
		t.Fatalf("got %d VPCs and %d instances, want 1 and 2", len(c.VPCs), len(c.Instances))
	}
	v := c.VPCs[0]
	var custom bool
	for _, sw := range v.VSwitches {
		if sw.CIDR == ServerAddr.Masked() && sw.RouteTable == "vtb-b" {
			custom = true
		}
	}
	if !custom {
		t.Errorf("server VSwitch is not on the custom table vtb-b")
	}
	for _, in := range c.Instances {
		switch in.ID {
		case "i-client":
			if in.Netns != "vb1-vc" || in.IP != ClientAddr.Addr() {
				t.Errorf("client instance: netns %q ip %v", in.Netns, in.IP)
			}
		case "i-server":
			if in.Netns != "vb1-vs" || in.IP != ServerAddr.Addr() {
				t.Errorf("server instance: netns %q ip %v", in.Netns, in.IP)
			}
			if len(in.SecurityGroups) != 1 || in.SecurityGroups[0] != "sg-srv" {
				t.Errorf("server groups %v, want [sg-srv]", in.SecurityGroups)
			}
		default:
			t.Errorf("unexpected instance %s", in.ID)
		}
	}
}

// TestKernelRulesetMirrorsGroups checks that K's nftables ruleset has the
// stateful shortcut (S1) and exactly the admissions of sg-srv, with a drop
// policy for everything else (S4).
func TestKernelRulesetMirrorsGroups(t *testing.T) {
	for _, want := range []string{
		"policy drop;",
		"ct state established,related accept",
		"ip saddr 192.168.1.0/24 tcp dport 5201 accept",
		"ip saddr 192.168.1.0/24 udp dport 5201 accept",
		"ip saddr 192.168.1.0/24 ip protocol icmp accept",
		`iifname "c0" oifname "s0"`,
	} {
		if !strings.Contains(KernelRuleset, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, KernelRuleset)
		}
	}
}
