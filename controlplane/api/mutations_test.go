package api_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/config"
)

type step struct {
	action string
	params any
}

func findRoute(c *config.Config, table, dst string) *config.RouteEntry {
	t := c.RouteTableByID(table)
	if t == nil {
		return nil
	}
	for _, r := range t.Routes {
		if r.Dst == netip.MustParsePrefix(dst) {
			return r
		}
	}
	return nil
}

func hasRule(g *config.SecurityGroup, dir config.Direction, proto config.Protocol, pr string, peer string) bool {
	for _, r := range g.Rules {
		p := r.PeerGroup
		if r.PeerCIDR.IsValid() {
			p = r.PeerCIDR.String()
		}
		if r.Direction == dir && r.Protocol == proto && r.PortRange.String() == pr && p == peer {
			return true
		}
	}
	return false
}

// TestMutationsApply runs every mutating action once successfully (R5):
// the running configuration changes, the operation lands in the overlay,
// and a restart (file + overlay replayed, Q5) yields the same effective
// configuration.
func TestMutationsApply(t *testing.T) {
	cases := []struct {
		name   string
		setup  []step
		action string
		params any
		check  func(t *testing.T, c *config.Config)
	}{
		{name: "CreateRouteEntry single next hop", action: "CreateRouteEntry",
			params: api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.9.0.0/16", NextHopID: "i-fw1", RouteEntryName: "to-fw"},
			check: func(t *testing.T, c *config.Config) {
				r := findRoute(c, "vtb-b", "10.9.0.0/16")
				if r == nil || r.NextHop != "i-fw1" || r.Type != config.EntryCustom || r.Name != "to-fw" {
					t.Fatalf("entry = %+v", r)
				}
				if e := c.ENIByID("i-fw1"); e.SourceDestCheck {
					t.Errorf("F4: a next hop's source_dest_check should default to false")
				}
			}},
		{name: "CreateRouteEntry load balancing with health check", action: "CreateRouteEntry",
			params: api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.8.0.0/16",
				NextHopList: []api.NextHopParam{{NextHopID: "i-fw1", Weight: intp(50)}, {NextHopID: "i-fw2", Weight: intp(50)}},
				HealthCheck: &api.HealthCheckParam{Interval: "600ms", Failures: intp(2)}},
			check: func(t *testing.T, c *config.Config) {
				r := findRoute(c, "vtb-b", "10.8.0.0/16")
				if r == nil || r.Shape() != config.ShapeLoadBalance || r.HealthCheck == nil ||
					r.HealthCheck.Interval.String() != "600ms" || r.HealthCheck.Failures != 2 || r.HealthCheck.Successes != 3 {
					t.Fatalf("entry = %+v hc %+v", r, r.HealthCheck)
				}
			}},
		{name: "DeleteRouteEntry", action: "DeleteRouteEntry",
			params: api.DeleteRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "0.0.0.0/0"},
			check: func(t *testing.T, c *config.Config) {
				if findRoute(c, "vtb-b", "0.0.0.0/0") != nil {
					t.Fatal("entry still present")
				}
			}},
		{name: "CreateRouteTable", action: "CreateRouteTable",
			params: api.CreateRouteTableParams{VpcID: "vpc-demo", RouteTableID: "vtb-new", RouteTableName: "new"},
			check: func(t *testing.T, c *config.Config) {
				tb := c.RouteTableByID("vtb-new")
				if tb == nil || tb.Type != config.TableCustom || tb.VPC != "vpc-demo" {
					t.Fatalf("table = %+v", tb)
				}
				// V13: system entries in every table of the VPC.
				if findRoute(c, "vtb-new", "100.64.0.0/10") == nil || findRoute(c, "vtb-new", "192.168.3.0/24") == nil {
					t.Fatal("system entries missing from the new table")
				}
			}},
		{name: "DeleteRouteTable", action: "DeleteRouteTable",
			setup:  []step{{"CreateRouteTable", api.CreateRouteTableParams{VpcID: "vpc-demo", RouteTableID: "vtb-new"}}},
			params: api.DeleteRouteTableParams{RouteTableID: "vtb-new"},
			check: func(t *testing.T, c *config.Config) {
				if c.RouteTableByID("vtb-new") != nil {
					t.Fatal("table still present")
				}
			}},
		{name: "AssociateRouteTable", action: "AssociateRouteTable",
			params: api.AssociateRouteTableParams{RouteTableID: "vtb-b", VSwitchID: "vsw-c"},
			check: func(t *testing.T, c *config.Config) {
				if s := c.VSwitchByID("vsw-c"); s.RouteTable != "vtb-b" {
					t.Fatalf("vsw-c table = %s", s.RouteTable)
				}
			}},
		{name: "UnassociateRouteTable", action: "UnassociateRouteTable",
			params: api.UnassociateRouteTableParams{RouteTableID: "vtb-b", VSwitchID: "vsw-b"},
			check: func(t *testing.T, c *config.Config) {
				if s := c.VSwitchByID("vsw-b"); s.RouteTable != "vtb-sys-demo" {
					t.Fatalf("vsw-b table = %s, want the system table", s.RouteTable)
				}
			}},
		{name: "AuthorizeSecurityGroup", action: "AuthorizeSecurityGroup",
			params: api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "TCP", PortRange: "22/22", SourceCidrIP: "0.0.0.0/0", Priority: intp(1)},
			check: func(t *testing.T, c *config.Config) {
				if !hasRule(c.SecurityGroupByID("sg-web"), config.DirIngress, config.ProtoTCP, "22/22", "0.0.0.0/0") {
					t.Fatal("rule missing")
				}
			}},
		{name: "AuthorizeSecurityGroupEgress", action: "AuthorizeSecurityGroupEgress",
			params: api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "tcp", PortRange: "25/25", DestCidrIP: "0.0.0.0/0", Policy: "drop"},
			check: func(t *testing.T, c *config.Config) {
				if !hasRule(c.SecurityGroupByID("sg-web"), config.DirEgress, config.ProtoTCP, "25/25", "0.0.0.0/0") {
					t.Fatal("rule missing")
				}
			}},
		{name: "RevokeSecurityGroup", action: "RevokeSecurityGroup",
			params: api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "tcp", PortRange: "80/80", SourceCidrIP: "0.0.0.0/0"},
			check: func(t *testing.T, c *config.Config) {
				g := c.SecurityGroupByID("sg-web")
				if hasRule(g, config.DirIngress, config.ProtoTCP, "80/80", "0.0.0.0/0") || len(g.Rules) != 1 {
					t.Fatalf("rules = %d", len(g.Rules))
				}
			}},
		{name: "RevokeSecurityGroupEgress", action: "RevokeSecurityGroupEgress",
			setup: []step{{"AuthorizeSecurityGroupEgress", api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "udp",
				PortRange: "53/53", DestGroupID: "sg-web"}}},
			params: api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "udp", PortRange: "53/53", DestGroupID: "sg-web"},
			check: func(t *testing.T, c *config.Config) {
				if hasRule(c.SecurityGroupByID("sg-web"), config.DirEgress, config.ProtoUDP, "53/53", "sg-web") {
					t.Fatal("rule still present")
				}
			}},
		{name: "CreateSecurityGroup", action: "CreateSecurityGroup",
			params: api.CreateSecurityGroupParams{VpcID: "vpc-demo", SecurityGroupID: "sg-db", SecurityGroupName: "db", InnerAccessPolicy: "Drop"},
			check: func(t *testing.T, c *config.Config) {
				g := c.SecurityGroupByID("sg-db")
				if g == nil || g.InnerAccess != config.PolicyDrop || g.VPC != "vpc-demo" {
					t.Fatalf("group = %+v", g)
				}
			}},
		{name: "DeleteSecurityGroup", action: "DeleteSecurityGroup",
			setup:  []step{{"CreateSecurityGroup", api.CreateSecurityGroupParams{VpcID: "vpc-demo", SecurityGroupID: "sg-db"}}},
			params: api.DeleteSecurityGroupParams{SecurityGroupID: "sg-db"},
			check: func(t *testing.T, c *config.Config) {
				if c.SecurityGroupByID("sg-db") != nil {
					t.Fatal("group still present")
				}
			}},
		{name: "JoinSecurityGroup", action: "JoinSecurityGroup",
			params: api.MembershipParams{InstanceID: "i-nat", SecurityGroupID: "sg-web"},
			check: func(t *testing.T, c *config.Config) {
				if got := c.ENIByID("i-nat").SecurityGroups; !slices.Equal(got, []string{"sg-default-demo", "sg-web"}) {
					t.Fatalf("groups = %v", got)
				}
			}},
		{name: "LeaveSecurityGroup secondary ENI", action: "LeaveSecurityGroup",
			setup:  []step{{"JoinSecurityGroup", api.MembershipParams{NetworkInterfaceID: "eni-fw1b", SecurityGroupID: "sg-web"}}},
			params: api.MembershipParams{NetworkInterfaceID: "eni-fw1b", SecurityGroupID: "sg-default-demo"},
			check: func(t *testing.T, c *config.Config) {
				if got := c.ENIByID("eni-fw1b").SecurityGroups; !slices.Equal(got, []string{"sg-web"}) {
					t.Fatalf("groups = %v", got)
				}
			}},
		{name: "ModifyVpcAttribute", action: "ModifyVpcAttribute",
			params: api.ModifyVpcAttributeParams{VpcID: "vpc-demo", VpcName: strp("production"), Description: strp("main VPC")},
			check: func(t *testing.T, c *config.Config) {
				if v := c.VPCByID("vpc-demo"); v.Name != "production" || v.Description != "main VPC" {
					t.Fatalf("vpc = %s %q", v.Name, v.Description)
				}
			}},
		{name: "ModifyVSwitchAttribute", action: "ModifyVSwitchAttribute",
			params: api.ModifyVSwitchAttributeParams{VSwitchID: "vsw-a", VSwitchName: strp("front")},
			check: func(t *testing.T, c *config.Config) {
				if s := c.VSwitchByID("vsw-a"); s.Name != "front" {
					t.Fatalf("name = %s", s.Name)
				}
			}},
		{name: "CreateVSwitch", action: "CreateVSwitch",
			params: api.CreateVSwitchParams{VpcID: "vpc-demo", VSwitchID: "vsw-d", ZoneID: "cn-hangzhou-b", CidrBlock: "192.168.4.0/24"},
			check: func(t *testing.T, c *config.Config) {
				if s := c.VSwitchByID("vsw-d"); s == nil || s.RouteTable != "vtb-sys-demo" {
					t.Fatalf("vswitch = %+v", s)
				}
				if r := findRoute(c, "vtb-b", "192.168.4.0/24"); r == nil || r.Type != config.EntrySystem {
					t.Fatal("V13: the new VSwitch's system entry is missing from vtb-b")
				}
			}},
		{name: "DeleteVSwitch", action: "DeleteVSwitch",
			params: api.DeleteVSwitchParams{VSwitchID: "vsw-c"},
			check: func(t *testing.T, c *config.Config) {
				if c.VSwitchByID("vsw-c") != nil || findRoute(c, "vtb-b", "192.168.3.0/24") != nil {
					t.Fatal("vswitch or its system entry still present")
				}
			}},
		{name: "CreateVpc", action: "CreateVpc",
			params: api.CreateVpcParams{VpcID: "vpc-new", CidrBlock: "172.16.0.0/16", VpcName: "new"},
			check: func(t *testing.T, c *config.Config) {
				v := c.VPCByID("vpc-new")
				if v == nil || v.VRouter.ID != "vrt-new" || v.SystemTable() == nil || c.SecurityGroupByID("sg-default-new") == nil {
					t.Fatalf("vpc = %+v", v)
				}
			}},
		{name: "DeleteVpc", action: "DeleteVpc",
			params: api.DeleteVpcParams{VpcID: "vpc-other"},
			check: func(t *testing.T, c *config.Config) {
				if c.VPCByID("vpc-other") != nil || c.RouteTableByID("vtb-sys-other") != nil || c.SecurityGroupByID("sg-default-other") != nil {
					t.Fatal("V5: the VPC, its system table or its default group is still present")
				}
			}},
	}
	cases = append(cases, mcastMutationCases()...) // mcast_test.go
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.action] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testYAML)
			for _, s := range tc.setup {
				e.ok(t, s.action, s.params, nil)
			}
			var resp api.MutationResponse
			e.ok(t, tc.action, tc.params, &resp)
			if resp.Action != tc.action || resp.OverlayOps != len(tc.setup)+1 {
				t.Errorf("reply = %+v", resp)
			}
			tc.check(t, e.b.Config())
			ops := e.b.Overlay().Ops()
			if len(ops) != len(tc.setup)+1 || ops[len(ops)-1].Action != tc.action || !ops[len(ops)-1].Time.Equal(testClock) {
				t.Fatalf("overlay = %+v", ops)
			}
			// Q5: a restart replays the overlay onto the file and gets
			// the same effective configuration.
			before := e.configJSON(t)
			e.restart(t)
			if after := e.configJSON(t); after != before {
				t.Fatalf("effective configuration after restart differs:\n%s\n%s", before, after)
			}
			tc.check(t, e.b.Config())
		})
	}
	for _, a := range connectionMutationActions() {
		seen[a] = true // TestConnectionMutationsApply (connections_test.go): they need EIPs and classic instances
	}
	for _, a := range api.MutatingActions() {
		if !seen[a] {
			t.Errorf("no success case for %s", a)
		}
	}
}

// TestMutationsRejected covers a validation failure or refused operation
// of every mutating action: nothing changes and nothing is persisted.
func TestMutationsRejected(t *testing.T) {
	cases := []struct {
		name   string
		setup  []step
		action string
		params any
		status int
		code   string
		want   string // substring of one of the errors
	}{
		{"V13 dst equal to a system entry", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "192.168.1.0/24", NextHopID: "i-fw1"},
			422, api.CodeValidationFailed, "api:CreateRouteEntry: vtb-b: V13: dst 192.168.1.0/24 equals the system entry of VSwitch vsw-a"},
		{"V14 duplicate dst", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.0.0.0/8", NextHopID: "i-fw1"},
			422, api.CodeValidationFailed, "V14"},
		{"V15 unequal weights", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.7.0.0/16",
				NextHopList: []api.NextHopParam{{NextHopID: "i-fw1", Weight: intp(100)}, {NextHopID: "i-fw2", Weight: intp(50)}}},
			422, api.CodeValidationFailed, "api:CreateRouteEntry: vtb-b: V15: next_hops: 2 entries with weights 100,50"},
		{"V15 missing weight", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.7.0.0/16",
				NextHopList: []api.NextHopParam{{NextHopID: "i-fw1"}, {NextHopID: "i-fw2", Weight: intp(1)}}},
			422, api.CodeValidationFailed, "missing weight"},
		{"V15 both next_hop and next_hops", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.7.0.0/16", NextHopID: "i-fw1",
				NextHopList: []api.NextHopParam{{NextHopID: "i-fw1", Weight: intp(1)}, {NextHopID: "i-fw2", Weight: intp(1)}}},
			422, api.CodeValidationFailed, "exactly one of next_hop or next_hops"},
		{"unknown table", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-x", DestinationCidrBlock: "10.7.0.0/16", NextHopID: "i-fw1"},
			404, api.CodeNotFound, "api:CreateRouteEntry: vtb-x: V12: route table vtb-x does not exist"},
		{"missing parameter", nil, "CreateRouteEntry",
			api.CreateRouteEntryParams{RouteTableID: "vtb-b", NextHopID: "i-fw1"},
			400, api.CodeInvalidParameter, "DestinationCidrBlock is required"},
		{"V13 delete a system entry", nil, "DeleteRouteEntry",
			api.DeleteRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "100.64.0.0/10"},
			400, api.CodeInvalidParameter, "V13"},
		{"delete a missing entry", nil, "DeleteRouteEntry",
			api.DeleteRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.6.0.0/16"},
			404, api.CodeNotFound, "no custom entry"},
		{"V0 route table id prefix", nil, "CreateRouteTable",
			api.CreateRouteTableParams{VpcID: "vpc-demo", RouteTableID: "table-x"},
			422, api.CodeValidationFailed, `api:CreateRouteTable: table-x: V0: route table id "table-x" must start with "vtb-"`},
		{"V12 delete the system table", nil, "DeleteRouteTable",
			api.DeleteRouteTableParams{RouteTableID: "vtb-sys-demo"},
			400, api.CodeInvalidParameter, "never deleted"},
		{"V12 delete an associated table", nil, "DeleteRouteTable",
			api.DeleteRouteTableParams{RouteTableID: "vtb-b"},
			409, api.CodeDependencyViolation, "associated with vsw-b"},
		{"V12 associate across VPCs",
			[]step{{"CreateRouteTable", api.CreateRouteTableParams{VpcID: "vpc-other", RouteTableID: "vtb-o"}}},
			"AssociateRouteTable", api.AssociateRouteTableParams{RouteTableID: "vtb-o", VSwitchID: "vsw-a"},
			400, api.CodeInvalidParameter, "V12"},
		{"unassociate a table not associated", nil, "UnassociateRouteTable",
			api.UnassociateRouteTableParams{RouteTableID: "vtb-b", VSwitchID: "vsw-a"},
			409, api.CodeConflict, "vsw-a is associated with vtb-sys-demo"},
		{"V16 tcp without port range", nil, "AuthorizeSecurityGroup",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "tcp", SourceCidrIP: "0.0.0.0/0"},
			422, api.CodeValidationFailed, "api:AuthorizeSecurityGroup: sg-web: V16: missing port_range"},
		{"V16 priority out of range", nil, "AuthorizeSecurityGroup",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "icmp", SourceCidrIP: "0.0.0.0/0", Priority: intp(101)},
			422, api.CodeValidationFailed, "priority 101 outside 1–100"},
		{"V16 ingress with a dest peer", nil, "AuthorizeSecurityGroup",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "all", DestCidrIP: "10.0.0.0/8"},
			422, api.CodeValidationFailed, "ingress rules take source_cidr or source_group"},
		{"duplicate rule", nil, "AuthorizeSecurityGroup",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "tcp", PortRange: "80/80", SourceCidrIP: "0.0.0.0/0"},
			409, api.CodeConflict, "already has"},
		{"egress action with ingress direction", nil, "AuthorizeSecurityGroupEgress",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", Direction: "ingress", IPProtocol: "all", SourceCidrIP: "10.0.0.0/8"},
			400, api.CodeInvalidParameter, "takes egress rules"},
		{"revoke a missing rule", nil, "RevokeSecurityGroup",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-web", IPProtocol: "tcp", PortRange: "443/443", SourceCidrIP: "0.0.0.0/0"},
			404, api.CodeNotFound, "no ingress rule"},
		{"revoke egress from an unknown group", nil, "RevokeSecurityGroupEgress",
			api.SecurityGroupRuleParams{SecurityGroupID: "sg-nope", IPProtocol: "all", DestCidrIP: "0.0.0.0/0"},
			404, api.CodeNotFound, "sg-nope does not exist"},
		{"V0 group id used twice", nil, "CreateSecurityGroup",
			api.CreateSecurityGroupParams{VpcID: "vpc-demo", SecurityGroupID: "sg-web"},
			422, api.CodeValidationFailed, "id sg-web is used twice"},
		{"V16 delete the default group", nil, "DeleteSecurityGroup",
			api.DeleteSecurityGroupParams{SecurityGroupID: "sg-default-demo"},
			400, api.CodeInvalidParameter, "default security group"},
		{"V16 delete a group in use", nil, "DeleteSecurityGroup",
			api.DeleteSecurityGroupParams{SecurityGroupID: "sg-web"},
			409, api.CodeDependencyViolation, "in use by i-web1"},
		{"V16 join a group of another VPC", nil, "JoinSecurityGroup",
			api.MembershipParams{InstanceID: "i-nat", SecurityGroupID: "sg-default-other"},
			422, api.CodeValidationFailed, "belongs to vpc-other"},
		{"join twice", nil, "JoinSecurityGroup",
			api.MembershipParams{InstanceID: "i-web1", SecurityGroupID: "sg-web"},
			409, api.CodeConflict, "already a member"},
		{"V16 leave the last group", nil, "LeaveSecurityGroup",
			api.MembershipParams{InstanceID: "i-web1", SecurityGroupID: "sg-web"},
			409, api.CodeDependencyViolation, "at least one group"},
		{"V1 bad VPC name", nil, "ModifyVpcAttribute",
			api.ModifyVpcAttributeParams{VpcID: "vpc-demo", VpcName: strp("1st")},
			422, api.CodeValidationFailed, `api:ModifyVpcAttribute: vpc-demo: V1: name "1st"`},
		{"nothing to modify", nil, "ModifyVpcAttribute",
			api.ModifyVpcAttributeParams{VpcID: "vpc-demo"},
			400, api.CodeInvalidParameter, "nothing to change"},
		{"V2 description with http://", nil, "ModifyVSwitchAttribute",
			api.ModifyVSwitchAttributeParams{VSwitchID: "vsw-a", Description: strp("http://example")},
			422, api.CodeValidationFailed, "V2"},
		{"V8 overlapping VSwitch", nil, "CreateVSwitch",
			api.CreateVSwitchParams{VpcID: "vpc-demo", VSwitchID: "vsw-d", ZoneID: "cn-hangzhou-b", CidrBlock: "192.168.1.128/25"},
			422, api.CodeValidationFailed, "V8"},
		{"V6 VSwitch outside the VPC", nil, "CreateVSwitch",
			api.CreateVSwitchParams{VpcID: "vpc-demo", VSwitchID: "vsw-d", ZoneID: "cn-hangzhou-b", CidrBlock: "10.1.0.0/24"},
			422, api.CodeValidationFailed, "api:CreateVSwitch: vsw-d: V6: cidr 10.1.0.0/24 is not inside the VPC cidr"},
		{"V5 delete a VSwitch holding ENIs", nil, "DeleteVSwitch",
			api.DeleteVSwitchParams{VSwitchID: "vsw-b"},
			409, api.CodeDependencyViolation, "api:DeleteVSwitch: vsw-b: V5: holds ENIs eni-fw1b, i-app"},
		{"V3 public VPC CIDR", nil, "CreateVpc",
			api.CreateVpcParams{VpcID: "vpc-new", CidrBlock: "8.8.0.0/16"},
			422, api.CodeValidationFailed, "api:CreateVpc: vpc-new: V3"},
		{"V5 delete a VPC with VSwitches", nil, "DeleteVpc",
			api.DeleteVpcParams{VpcID: "vpc-demo"},
			409, api.CodeDependencyViolation, "api:DeleteVpc: vpc-demo: V5: has VSwitches vsw-a, vsw-b, vsw-c"},
		{"V5 delete a VPC with a custom group",
			[]step{{"CreateSecurityGroup", api.CreateSecurityGroupParams{VpcID: "vpc-other", SecurityGroupID: "sg-o"}}},
			"DeleteVpc", api.DeleteVpcParams{VpcID: "vpc-other"},
			409, api.CodeDependencyViolation, "security group sg-o"},
		{"unknown parameter", nil, "DeleteVpc",
			map[string]string{"VpcId": "vpc-other", "Force": "yes"},
			400, api.CodeInvalidParameter, `unknown field "Force"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testYAML)
			for _, s := range tc.setup {
				e.ok(t, s.action, s.params, nil)
			}
			before := e.configJSON(t)
			applies := e.b.Applies()
			ae := e.fail(t, tc.action, tc.params, tc.status)
			if ae.Code != tc.code {
				t.Errorf("code = %s, want %s", ae.Code, tc.code)
			}
			found := false
			for _, s := range ae.Errors {
				found = found || strings.Contains(s, tc.want)
			}
			if !found && !strings.Contains(ae.Message, tc.want) {
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

// TestApplyAndPersistFailures: a failed Apply persists nothing; a failed
// overlay write rolls the change back (R5: applied and persisted, or
// neither).
func TestApplyAndPersistFailures(t *testing.T) {
	params := api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.9.0.0/16", NextHopID: "i-fw1"}

	t.Run("apply fails", func(t *testing.T) {
		e := newEnv(t, testYAML)
		e.b.SetApplyError(errApply)
		ae := e.fail(t, "CreateRouteEntry", params, http.StatusInternalServerError)
		if ae.Code != api.CodeInternal || e.b.Overlay().Len() != 0 {
			t.Fatalf("error %+v, overlay %d", ae, e.b.Overlay().Len())
		}
	})
	t.Run("persist fails", func(t *testing.T) {
		e := newEnv(t, testYAML)
		before := e.b.Config()
		// A directory where overlay.json goes makes the rename fail.
		if err := mkdirWithFile(e.b.Overlay().Path()); err != nil {
			t.Fatal(err)
		}
		ae := e.fail(t, "CreateRouteEntry", params, http.StatusInternalServerError)
		if !strings.Contains(ae.Message, "rolled back") {
			t.Fatalf("message = %s", ae.Message)
		}
		if e.b.Config() != before || findRoute(e.b.Config(), "vtb-b", "10.9.0.0/16") != nil {
			t.Fatal("the change was not rolled back")
		}
		if e.b.Overlay().Len() != 0 {
			t.Fatal("overlay changed")
		}
	})
}

// TestConcurrentMutations: changes made at the same time are serialised;
// none is lost (R5).
func TestConcurrentMutations(t *testing.T) {
	e := newEnv(t, testYAML)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			p := api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 200, byte(i), 0}), 24).String(), NextHopID: "i-fw1"}
			body, _ := json.Marshal(p)
			_, err := e.srv.Do("CreateRouteEntry", body)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(e.b.Config().RouteTableByID("vtb-b").CustomRoutes()); got != 3+n {
		t.Fatalf("custom routes = %d, want %d", got, 3+n)
	}
	if e.b.Overlay().Len() != n {
		t.Fatalf("overlay = %d", e.b.Overlay().Len())
	}
}
