package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/config"
)

// connYAML has a ClassicLink VPC, a VPC without ClassicLink, classic
// instances (one linked), the internet, a bound EIP, a free EIP and a NAT
// gateway's EIP (C5, C6).
const connYAML = `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-link
    cidr: 172.16.0.0/16
    classic_link: true
    vswitches:
      - {id: vsw-link, zone: z, cidr: 172.16.1.0/24}
  - id: vpc-plain
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-plain, zone: z, cidr: 192.168.1.0/24}
instances:
  - {id: i-app, vswitch: vsw-link, ip: 172.16.1.10}
  - {id: i-web, vswitch: vsw-plain, ip: 192.168.1.10}
  - {id: i-db, vswitch: vsw-plain, ip: 192.168.1.20}
classic:
  security_groups:
    - id: sg-classic
      classic_link_rules:
        - {vpc_security_groups: [sg-default-link], mode: both, protocol: icmp}
  instances:
    - {id: i-legacy, ip: 10.1.0.10, security_groups: [sg-classic], link: vpc-link}
    - {id: i-legacy2, ip: 10.1.0.11, security_groups: [sg-classic]}
    - {id: i-legacy3, ip: 10.1.0.12, security_groups: [sg-classic], link: vpc-link}
internet:
  port: {netns: inet, ifname: inet0, ip: 203.0.113.1, peer_ip: 203.0.113.2}
eips:
  - {id: eip-web, ip: 198.51.100.10, instance: i-web}
  - {id: eip-free, ip: 198.51.100.11}
  - {id: eip-ngw, ip: 198.51.100.12}
nat_gateways:
  - id: ngw-plain
    vpc: vpc-plain
    snat:
      - {source: vsw-plain, eip: eip-ngw}
`

// connectionMutationActions are the actions whose success cases live here
// (they need a configuration with classic instances and EIPs) rather than
// in TestMutationsApply.
func connectionMutationActions() []string {
	return []string{"AssociateEipAddress", "UnassociateEipAddress", "AttachClassicLinkVpc", "DetachClassicLinkVpc"}
}

func classicLink(c *config.Config, id string) string {
	if ci := c.ClassicInstanceByID(id); ci != nil {
		return ci.Link
	}
	return "<none>"
}

// TestConnectionMutationsApply: each runtime change of C5 and C6 applies,
// lands in the overlay and survives a restart (R5, Q5).
func TestConnectionMutationsApply(t *testing.T) {
	detachLegacy3 := step{"DetachClassicLinkVpc", api.DetachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: "i-legacy3", VpcID: "vpc-link"}}}
	cases := []struct {
		name   string
		setup  []step
		action string
		params any
		check  func(t *testing.T, c *config.Config)
	}{
		{name: "AssociateEipAddress", action: "AssociateEipAddress",
			params: api.AssociateEipAddressParams{AllocationID: "eip-free", InstanceID: "i-db"},
			check: func(t *testing.T, c *config.Config) {
				if e := c.EIPByID("eip-free"); e.Instance != "i-db" || c.EIPOfInstance("i-db") != e {
					t.Fatalf("eip-free = %+v", e)
				}
			}},
		{name: "UnassociateEipAddress", action: "UnassociateEipAddress",
			params: api.UnassociateEipAddressParams{AllocationID: "eip-web", InstanceID: "i-web"},
			check: func(t *testing.T, c *config.Config) {
				if e := c.EIPByID("eip-web"); e.Instance != "" || c.EIPOfInstance("i-web") != nil {
					t.Fatalf("eip-web = %+v", e)
				}
			}},
		{name: "UnassociateEipAddress then bind elsewhere", action: "AssociateEipAddress",
			setup:  []step{{"UnassociateEipAddress", api.UnassociateEipAddressParams{AllocationID: "eip-web"}}},
			params: api.AssociateEipAddressParams{AllocationID: "eip-web", InstanceID: "i-db"},
			check: func(t *testing.T, c *config.Config) {
				if e := c.EIPByID("eip-web"); e.Instance != "i-db" {
					t.Fatalf("eip-web = %+v", e)
				}
			}},
		{name: "AttachClassicLinkVpc", action: "AttachClassicLinkVpc",
			setup:  []step{detachLegacy3},
			params: api.AttachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: "i-legacy2", VpcID: "vpc-link"}},
			check: func(t *testing.T, c *config.Config) {
				if l := classicLink(c, "i-legacy2"); l != "vpc-link" {
					t.Fatalf("i-legacy2 link = %q", l)
				}
			}},
		{name: "DetachClassicLinkVpc", action: "DetachClassicLinkVpc",
			params: api.DetachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: "i-legacy", VpcID: "vpc-link"}},
			check: func(t *testing.T, c *config.Config) {
				if l := classicLink(c, "i-legacy"); l != "" {
					t.Fatalf("i-legacy link = %q", l)
				}
			}},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.action] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, connYAML)
			for _, s := range tc.setup {
				e.ok(t, s.action, s.params, nil)
			}
			var resp api.MutationResponse
			e.ok(t, tc.action, tc.params, &resp)
			if resp.Action != tc.action || resp.OverlayOps != len(tc.setup)+1 {
				t.Errorf("reply = %+v", resp)
			}
			tc.check(t, e.b.Config())
			before := e.configJSON(t)
			e.restart(t)
			if after := e.configJSON(t); after != before {
				t.Fatalf("effective configuration after restart differs:\n%s\n%s", before, after)
			}
			tc.check(t, e.b.Config())
		})
	}
	for _, a := range connectionMutationActions() {
		if !seen[a] {
			t.Errorf("no success case for %s", a)
		}
	}
}

// TestConnectionMutationsRejected: every C5/C6 constraint holds on the API
// path too (R5: validated exactly like the file); nothing changes and
// nothing is persisted.
func TestConnectionMutationsRejected(t *testing.T) {
	attach := func(inst, vpc string) api.AttachClassicLinkVpcParams {
		return api.AttachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: inst, VpcID: vpc}}
	}
	detach := func(inst, vpc string) api.DetachClassicLinkVpcParams {
		return api.DetachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: inst, VpcID: vpc}}
	}
	cases := []struct {
		name   string
		setup  []step
		action string
		params any
		status int
		code   string
		want   string
	}{
		{"C6 unknown EIP", nil, "AssociateEipAddress", api.AssociateEipAddressParams{AllocationID: "eip-x", InstanceID: "i-db"},
			404, api.CodeNotFound, "EIP eip-x does not exist"},
		{"C6 unknown instance", nil, "AssociateEipAddress", api.AssociateEipAddressParams{AllocationID: "eip-free", InstanceID: "i-x"},
			404, api.CodeNotFound, "instance i-x does not exist"},
		{"C6 missing parameter", nil, "AssociateEipAddress", api.AssociateEipAddressParams{AllocationID: "eip-free"},
			400, api.CodeInvalidParameter, "InstanceId is required"},
		{"C6 EIP bound elsewhere", nil, "AssociateEipAddress", api.AssociateEipAddressParams{AllocationID: "eip-web", InstanceID: "i-db"},
			409, api.CodeConflict, "bound to instance i-web"},
		{"C6 EIP of a NAT gateway", nil, "AssociateEipAddress", api.AssociateEipAddressParams{AllocationID: "eip-ngw", InstanceID: "i-db"},
			409, api.CodeDependencyViolation, "used by an SNAT entry of ngw-plain"},
		{"C6 instance already has an EIP", nil, "AssociateEipAddress", api.AssociateEipAddressParams{AllocationID: "eip-free", InstanceID: "i-web"},
			422, api.CodeValidationFailed, "api:AssociateEipAddress: eip-free: C6: instance i-web already has the EIP eip-web"},
		{"C6 unbind an unbound EIP", nil, "UnassociateEipAddress", api.UnassociateEipAddressParams{AllocationID: "eip-free"},
			409, api.CodeConflict, "not bound"},
		{"C6 unbind from the wrong instance", nil, "UnassociateEipAddress", api.UnassociateEipAddressParams{AllocationID: "eip-web", InstanceID: "i-db"},
			409, api.CodeConflict, "bound to i-web, not to i-db"},
		{"C5 unknown classic instance", nil, "AttachClassicLinkVpc", attach("i-x", "vpc-link"),
			404, api.CodeNotFound, "classic instance i-x does not exist"},
		{"C5 unknown VPC", nil, "AttachClassicLinkVpc", attach("i-legacy2", "vpc-x"),
			404, api.CodeNotFound, "VPC vpc-x does not exist"},
		{"C5 VPC without classic_link", nil, "AttachClassicLinkVpc", attach("i-legacy2", "vpc-plain"),
			422, api.CodeValidationFailed, "api:AttachClassicLinkVpc: i-legacy2: C5: link: vpc-plain does not have classic_link: true"},
		{"C5 at most one VPC", nil, "AttachClassicLinkVpc", attach("i-legacy", "vpc-plain"),
			409, api.CodeConflict, "links to at most one VPC"},
		{"C5 already linked", nil, "AttachClassicLinkVpc", attach("i-legacy", "vpc-link"),
			409, api.CodeConflict, "already linked"},
		{"C5 detach an unlinked instance", nil, "DetachClassicLinkVpc", detach("i-legacy2", "vpc-link"),
			409, api.CodeConflict, "not linked"},
		{"C5 detach from the wrong VPC", nil, "DetachClassicLinkVpc", detach("i-legacy", "vpc-plain"),
			409, api.CodeConflict, "linked to vpc-link, not to vpc-plain"},
		{"C5 disabling ClassicLink with linked instances", nil, "ModifyVpcAttribute",
			api.ModifyVpcAttributeParams{VpcID: "vpc-link", ClassicLink: boolp(false)},
			409, api.CodeDependencyViolation, "disabling ClassicLink with linked instances is rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, connYAML)
			for _, s := range tc.setup {
				e.ok(t, s.action, s.params, nil)
			}
			before := e.configJSON(t)
			applies := e.b.Applies()
			ae := e.fail(t, tc.action, tc.params, tc.status)
			if ae.Code != tc.code {
				t.Errorf("code = %s, want %s", ae.Code, tc.code)
			}
			found := strings.Contains(ae.Message, tc.want)
			for _, s := range ae.Errors {
				found = found || strings.Contains(s, tc.want)
			}
			if !found {
				t.Errorf("no error contains %q:\n%s", tc.want, ae.Error())
			}
			if e.configJSON(t) != before || e.b.Applies() != applies {
				t.Error("the running configuration changed")
			}
			if n := e.b.Overlay().Len(); n != len(tc.setup) {
				t.Errorf("overlay has %d operations, want %d", n, len(tc.setup))
			}
		})
	}
}

// TestClassicLinkQuotaAPI: the 1,001st instance linked to a VPC through the
// API breaks V19's classic_links_per_vpc like in the file (C5).
func TestClassicLinkQuotaAPI(t *testing.T) {
	var b strings.Builder
	b.WriteString(`version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-link
    cidr: 172.16.0.0/16
    classic_link: true
classic:
  security_groups:
    - id: sg-classic
  instances:
`)
	for i := 0; i <= 1000; i++ {
		link := ", link: vpc-link"
		if i == 1000 {
			link = ""
		}
		fmt.Fprintf(&b, "    - {id: i-c%d, ip: 10.2.%d.%d, security_groups: [sg-classic]%s}\n", i, i/250, i%250+1, link)
	}
	e := newEnv(t, b.String())
	ae := e.fail(t, "AttachClassicLinkVpc", api.AttachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: "i-c1000", VpcID: "vpc-link"}}, 422)
	if ae.Code != api.CodeValidationFailed || !strings.Contains(strings.Join(ae.Errors, "\n"), "api:AttachClassicLinkVpc: i-c1000: C5: more than 1000 classic instances linked to vpc-link (quota classic_links_per_vpc)") {
		t.Fatalf("%s: %v", ae.Code, ae.Errors)
	}
	e.ok(t, "DetachClassicLinkVpc", api.DetachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: "i-c0", VpcID: "vpc-link"}}, nil)
	e.ok(t, "AttachClassicLinkVpc", api.AttachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: "i-c1000", VpcID: "vpc-link"}}, nil)
}
