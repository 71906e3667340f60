package api_test

import (
	"slices"
	"testing"

	"github.com/vrouter/vrouter/controlplane/api"
)

func TestDescribeVpcs(t *testing.T) {
	e := newEnv(t, testYAML)
	var r api.DescribeVpcsResponse
	e.ok(t, "DescribeVpcs", nil, &r)
	if r.TotalCount != 2 {
		t.Fatalf("vpcs = %+v", r)
	}
	v := r.Vpcs[0]
	// V3: a /16 reports 65,532 usable addresses.
	if v.VpcID != "vpc-demo" || v.VRouterID != "vrt-demo" || v.UsableIPCount != 65532 || v.CidrBlock != "192.168.0.0/16" ||
		!slices.Equal(v.VSwitchIDs, []string{"vsw-a", "vsw-b", "vsw-c"}) || !slices.Equal(v.RouteTableIDs, []string{"vtb-sys-demo", "vtb-b"}) ||
		v.SystemRouteTableID != "vtb-sys-demo" || v.DefaultSecurityGroupID != "sg-default-demo" {
		t.Fatalf("vpc-demo = %+v", v)
	}
	e.ok(t, "DescribeVpcs", api.DescribeVpcsParams{VpcID: "vpc-other"}, &r)
	if r.TotalCount != 1 || r.Vpcs[0].VpcID != "vpc-other" || len(r.Vpcs[0].VSwitchIDs) != 0 {
		t.Fatalf("filtered = %+v", r)
	}
	if ae := e.fail(t, "DescribeVpcs", api.DescribeVpcsParams{VpcID: "vpc-nope"}, 404); ae.Code != api.CodeNotFound {
		t.Fatalf("code = %s", ae.Code)
	}
}

func TestDescribeVSwitches(t *testing.T) {
	e := newEnv(t, testYAML)
	var r api.DescribeVSwitchesResponse
	e.ok(t, "DescribeVSwitches", api.DescribeVSwitchesParams{VpcID: "vpc-demo"}, &r)
	want := map[string]struct {
		avail int
		table string
		typ   string
		gw    string
	}{
		// V9: 2^8 − 4 − addresses in use.
		"vsw-a": {252 - 4, "vtb-sys-demo", "System", "192.168.1.253"},
		"vsw-b": {252 - 2, "vtb-b", "Custom", "192.168.2.253"},
		"vsw-c": {252, "vtb-sys-demo", "System", "192.168.3.253"},
	}
	if r.TotalCount != 3 {
		t.Fatalf("vswitches = %+v", r)
	}
	for _, s := range r.VSwitches {
		w := want[s.VSwitchID]
		if s.AvailableIPAddressCount != w.avail || s.RouteTableID != w.table || s.RouteTableType != w.typ || s.GatewayIP != w.gw || s.ZoneID != "cn-hangzhou-b" {
			t.Errorf("%s = %+v", s.VSwitchID, s)
		}
	}
	e.ok(t, "DescribeVSwitches", api.DescribeVSwitchesParams{ZoneID: "nowhere"}, &r)
	if r.TotalCount != 0 {
		t.Fatalf("zone filter = %+v", r)
	}
}

func TestDescribeRouteTablesAndEntries(t *testing.T) {
	e := newEnv(t, testYAML)
	var rt api.DescribeRouteTablesResponse
	e.ok(t, "DescribeRouteTables", api.DescribeRouteTablesParams{VpcID: "vpc-demo"}, &rt)
	if rt.TotalCount != 2 || rt.RouteTables[1].RouteTableID != "vtb-b" || rt.RouteTables[1].RouteTableType != "Custom" ||
		!slices.Equal(rt.RouteTables[1].VSwitchIDs, []string{"vsw-b"}) || rt.RouteTables[1].RouteEntryCount != 7 || rt.RouteTables[1].CustomEntryCount != 3 {
		t.Fatalf("tables = %+v", rt)
	}

	// F9: flip the active hop's shared health flag; the entry list shows it.
	snap := e.b.Snapshot()
	snap.Health["vtb-b|172.16.0.0/12|i-fw1"].Set(false)
	var r api.DescribeRouteEntryListResponse
	e.ok(t, "DescribeRouteEntryList", api.DescribeRouteEntryListParams{RouteTableID: "vtb-b"}, &r)
	if r.TotalCount != 7 || r.VpcID != "vpc-demo" {
		t.Fatalf("entries = %+v", r)
	}
	byDst := map[string]api.RouteEntry{}
	for _, x := range r.RouteEntries {
		byDst[x.DestinationCidrBlock] = x
	}
	// V13: system entries first.
	if x := r.RouteEntries[0]; x.DestinationCidrBlock != "100.64.0.0/10" || x.Type != "System" || x.Shape != "service" {
		t.Errorf("first entry = %+v", x)
	}
	if x := byDst["192.168.2.0/24"]; x.Type != "System" || x.Shape != "local" || x.NextHops[0].NextHopID != "vsw-b" || x.NextHops[0].NextHopType != "Local" {
		t.Errorf("vsw-b entry = %+v", x)
	}
	if x := byDst["0.0.0.0/0"]; x.Type != "Custom" || x.Shape != "single" || x.NextHops[0].NextHopID != "i-nat" ||
		x.NextHops[0].NextHopType != "Instance" || x.NextHops[0].Weight != nil || x.NextHops[0].Health != "" {
		t.Errorf("default entry = %+v", x)
	}
	as := byDst["172.16.0.0/12"]
	if as.Shape != "active/standby" || len(as.NextHops) != 2 || as.NextHops[0].Health != "down" || as.NextHops[1].Health != "up" ||
		*as.NextHops[0].Weight != 100 || *as.NextHops[1].Weight != 0 || as.HealthCheck == nil || as.HealthCheck.Interval != "200ms" {
		t.Errorf("active/standby entry = %+v", as)
	}
	if x := byDst["10.0.0.0/8"]; x.Shape != "load balancing" || x.NextHops[1].Health != "up" || x.HealthCheck == nil || x.HealthCheck.Interval != "1s" {
		t.Errorf("ECMP entry = %+v", x)
	}

	e.ok(t, "DescribeRouteEntryList", api.DescribeRouteEntryListParams{RouteTableID: "vtb-b", RouteEntryType: "Custom"}, &r)
	if r.TotalCount != 3 {
		t.Errorf("custom filter = %d", r.TotalCount)
	}
	e.ok(t, "DescribeRouteEntryList", api.DescribeRouteEntryListParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.0.0.0/8"}, &r)
	if r.TotalCount != 1 {
		t.Errorf("dst filter = %d", r.TotalCount)
	}
	e.fail(t, "DescribeRouteEntryList", nil, 400)
	e.fail(t, "DescribeRouteEntryList", api.DescribeRouteEntryListParams{RouteTableID: "vtb-x"}, 404)
	e.fail(t, "DescribeRouteEntryList", api.DescribeRouteEntryListParams{RouteTableID: "vtb-b", RouteEntryType: "Other"}, 400)
}

func TestDescribeSecurityGroups(t *testing.T) {
	e := newEnv(t, testYAML)
	var r api.DescribeSecurityGroupsResponse
	e.ok(t, "DescribeSecurityGroups", api.DescribeSecurityGroupsParams{VpcID: "vpc-demo"}, &r)
	if r.TotalCount != 2 {
		t.Fatalf("groups = %+v", r)
	}
	for _, g := range r.SecurityGroups {
		switch g.SecurityGroupID {
		case "sg-web":
			if g.RuleCount != 2 || g.MemberCount != 1 || g.IsDefault || g.InnerAccessPolicy != "accept" {
				t.Errorf("sg-web = %+v", g)
			}
		case "sg-default-demo":
			if g.RuleCount != 0 || g.MemberCount != 5 || !g.IsDefault {
				t.Errorf("default = %+v", g)
			}
		}
	}
	var a api.DescribeSecurityGroupAttributeResponse
	e.ok(t, "DescribeSecurityGroupAttribute", api.DescribeSecurityGroupAttributeParams{SecurityGroupID: "sg-web"}, &a)
	// S3: at equal priority drop is evaluated before accept.
	if len(a.Permissions) != 2 || a.Permissions[0].Policy != "drop" || a.Permissions[0].SourceCidrIP != "10.0.0.1/32" ||
		a.Permissions[1].PortRange != "80/80" || a.Permissions[1].IPProtocol != "tcp" {
		t.Fatalf("permissions = %+v", a.Permissions)
	}
	e.ok(t, "DescribeSecurityGroupAttribute", api.DescribeSecurityGroupAttributeParams{SecurityGroupID: "sg-web", Direction: "egress"}, &a)
	if len(a.Permissions) != 0 {
		t.Fatalf("egress = %+v", a.Permissions)
	}
	e.fail(t, "DescribeSecurityGroupAttribute", api.DescribeSecurityGroupAttributeParams{SecurityGroupID: "sg-web", Direction: "up"}, 400)
}

func TestDescribeInstancesAndInterfaces(t *testing.T) {
	e := newEnv(t, testYAML)
	var r api.DescribeInstancesResponse
	e.ok(t, "DescribeInstances", nil, &r)
	if r.TotalCount != 5 {
		t.Fatalf("instances = %d", r.TotalCount)
	}
	e.ok(t, "DescribeInstances", api.DescribeInstancesParams{InstanceID: "i-fw1"}, &r)
	in := r.Instances[0]
	if in.PrimaryIPAddress != "192.168.1.30" || in.Netns != "fw1" || len(in.NetworkInterfaces) != 2 ||
		in.NetworkInterfaces[1].NetworkInterfaceID != "eni-fw1b" || in.NetworkInterfaces[1].Type != "Secondary" ||
		in.NetworkInterfaces[1].Netns != "fw1" || in.NetworkInterfaces[1].IfName != "eth1" || in.NetworkInterfaces[0].SourceDestCheck {
		t.Fatalf("i-fw1 = %+v", in)
	}
	e.ok(t, "DescribeInstances", api.DescribeInstancesParams{VSwitchID: "vsw-b"}, &r)
	if r.TotalCount != 2 { // i-fw1 (secondary ENI) and i-app
		t.Fatalf("vsw-b instances = %+v", r)
	}
	var n api.DescribeNetworkInterfacesResponse
	e.ok(t, "DescribeNetworkInterfaces", api.DescribeNetworkInterfacesParams{SecurityGroupID: "sg-web"}, &n)
	if n.TotalCount != 1 || n.NetworkInterfaces[0].NetworkInterfaceID != "i-web1" || !n.NetworkInterfaces[0].SourceDestCheck {
		t.Fatalf("sg-web members = %+v", n)
	}
	e.ok(t, "DescribeNetworkInterfaces", nil, &n)
	if n.TotalCount != 6 {
		t.Fatalf("enis = %d", n.TotalCount)
	}
	e.fail(t, "DescribeNetworkInterfaces", api.DescribeNetworkInterfacesParams{NetworkInterfaceID: "eni-x"}, 404)
}
