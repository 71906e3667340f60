package config

import (
	"strings"
	"testing"
)

const diffOld = hdr + `vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z1, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: z1, cidr: 192.168.2.0/24}
    route_tables:
      - id: vtb-a
        routes:
          - {dst: 10.0.0.0/8, next_hop: i-a}
    security_groups:
      - id: sg-a
        rules:
          - {direction: ingress, protocol: tcp, port_range: 22/22, source_cidr: 0.0.0.0/0}
  - id: vpc-gone
    cidr: 10.0.0.0/16
    vswitches:
      - {id: vsw-gone, zone: z1, cidr: 10.0.1.0/24}
instances:
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10, netns: vr-a}
  - {id: i-b, vswitch: vsw-a, ip: 192.168.1.11, netns: vr-b, security_groups: [sg-a]}
  - {id: i-gone, vswitch: vsw-gone, netns: vr-gone}
multicast:
  - {vpc: vpc-a, group: 239.1.1.1, server: i-a, members: [192.168.1.11]}
vpn_gateways:
  - {id: vpn-a, vpc: vpc-a, port: {netns: vr-vpn, ifname: vpn0, ip: 192.0.2.1, peer_ip: 192.0.2.2}}
`

// The same file after a reload: vpc-gone removed with everything in it
// (V5), vsw-c added, i-b changed address, groups and mtu, a route and a
// rule changed, the multicast members and the VPN port changed.
const diffNew = hdr + `vpcs:
  - id: vpc-a
    name: renamed
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z1, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: z1, cidr: 192.168.2.0/24}
      - {id: vsw-c, zone: z1, cidr: 192.168.3.0/24}
    route_tables:
      - id: vtb-a
        routes:
          - {dst: 10.0.0.0/8, next_hop: i-b}
          - {dst: 172.16.0.0/12, next_hop: i-a}
    security_groups:
      - id: sg-a
        rules:
          - {direction: ingress, protocol: tcp, port_range: 22/22, source_cidr: 10.0.0.0/8}
instances:
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10, netns: vr-a}
  - {id: i-b, vswitch: vsw-a, ip: 192.168.1.12, netns: vr-b, mtu: 9000}
multicast:
  - {vpc: vpc-a, group: 239.1.1.1, server: i-a, members: [192.168.1.12]}
vpn_gateways:
  - {id: vpn-a, vpc: vpc-a, port: {netns: vr-vpn, ifname: vpn1, ip: 192.0.2.1, peer_ip: 192.0.2.2}}
`

func TestCompare(t *testing.T) {
	old, _ := mustValid(t, diffOld)
	nw, _ := mustValid(t, diffNew)
	if d := Compare(old, old); !d.Empty() || d.String() != "no changes" {
		t.Errorf("self diff: %v", d)
	}
	again, _ := mustValid(t, diffOld)
	if d := Compare(old, again); !d.Empty() {
		t.Errorf("reparse diff: %v", d)
	}
	d := Compare(old, nw)
	if d.Empty() || len(d.Immutable) != 0 {
		t.Fatalf("diff %v", d)
	}
	type want struct {
		kind   Kind
		id     string
		op     Op
		fields string
	}
	for _, w := range []want{
		{KindVPC, "vpc-gone", Removed, ""},
		{KindVPC, "vpc-a", Changed, "name"},
		{KindVSwitch, "vsw-gone", Removed, ""},
		{KindVSwitch, "vsw-c", Added, ""},
		{KindRouteTable, "vtb-sys-gone", Removed, ""},
		{KindRouteEntry, "vtb-a 10.0.0.0/8", Changed, "next_hop"},
		{KindRouteEntry, "vtb-a 172.16.0.0/12", Added, ""},
		{KindRouteEntry, "vtb-a 192.168.3.0/24", Added, ""},     // V13 system entry of vsw-c
		{KindRouteEntry, "vtb-sys-a 192.168.3.0/24", Added, ""}, // in every table
		{KindSecurityGroup, "sg-a", Changed, "rules"},
		{KindSecurityGroup, "sg-default-gone", Removed, ""},
		{KindENI, "i-b", Changed, "ip,security_groups,mtu,source_dest_check"}, // F4: now a next hop
		{KindENI, "i-gone", Removed, ""},
		{KindENI, "i-a", Changed, "source_dest_check"}, // no longer the only next hop? it still is: see below
		{KindMcastGroup, "vpc-a/239.1.1.1/i-a", Changed, "members"},
		{KindExternalPort, "vpn-a", Changed, "ifname"},
	} {
		c, ok := d.Find(w.kind, w.id)
		if w.id == "i-a" {
			// i-a stays a next hop (172.16.0.0/12), so nothing changes.
			if ok {
				t.Errorf("unexpected change %v", c)
			}
			continue
		}
		if !ok || c.Op != w.op || strings.Join(c.Fields, ",") != w.fields {
			t.Errorf("%s %s: got %+v (found %v), want %s %s", w.kind, w.id, c, ok, w.op, w.fields)
		}
	}
	if got := d.Of(KindVSwitch, Added); len(got) != 1 || got[0] != "vsw-c" {
		t.Errorf("Of: %v", got)
	}
	if _, ok := d.Find(KindENI, "i-a"); ok {
		t.Error("i-a unchanged")
	}
	s := d.String()
	if !strings.HasPrefix(s, "4 added, 7 removed, 6 changed\n") || !strings.Contains(s, "removed vpc vpc-gone") || !strings.Contains(s, "changed eni i-b (ip, security_groups, mtu, source_dest_check)") {
		t.Errorf("String:\n%s", s)
	}
	// Sorted by kind order then id.
	for i := 1; i < len(d.Changes); i++ {
		a, b := d.Changes[i-1], d.Changes[i]
		if kindOrder[a.Kind] > kindOrder[b.Kind] || (a.Kind == b.Kind && a.ID > b.ID) {
			t.Errorf("unsorted: %v before %v", a, b)
		}
	}
	// Everything added from nothing, everything removed to nothing.
	if len(Compare(nil, nw).Of(KindVPC, Added)) != 1 || len(Compare(old, nil).Of(KindVPC, Removed)) != 2 {
		t.Error("nil configs")
	}
	if ValidateTransition(old, nw) != nil {
		t.Error("V5: removing a VPC with everything in it is a valid reload")
	}
}

// V4: VPC and VSwitch CIDRs are immutable; errors point into the new file.
func TestValidateTransition(t *testing.T) {
	old, _ := mustValid(t, diffOld)
	changed := strings.Replace(diffOld, "cidr: 192.168.0.0/16", "cidr: 192.168.0.0/17 # line 5", 1)
	changed = strings.Replace(changed, "{id: vsw-b, zone: z1, cidr: 192.168.2.0/24}", "{id: vsw-b, zone: z1, cidr: 192.168.2.0/25}", 1)
	changed = strings.Replace(changed, "      - {id: vsw-gone, zone: z1, cidr: 10.0.1.0/24}\n", "", 1)
	changed = strings.Replace(changed, "  - {id: i-gone, vswitch: vsw-gone, netns: vr-gone}\n", "", 1)
	changed = strings.Replace(changed, "      - {id: vsw-a, zone: z1, cidr: 192.168.1.0/24}\n", "      - {id: vsw-a, zone: z1, cidr: 192.168.1.0/24}\n      - {id: vsw-gone, zone: z1, cidr: 192.168.9.0/24}\n", 1)
	nw, _ := mustValid(t, changed)
	err := ValidateTransition(old, nw)
	got := map[string]bool{}
	for _, d := range Diagnostics(err) {
		if d.Rule != "V4" || !strings.Contains(d.Msg, "delete and recreate") && !strings.Contains(d.Msg, "cannot change VPC") {
			t.Errorf("diag %v", d)
		}
		got[mark{d.Line, d.Rule, d.ID}.String()] = true
	}
	for _, w := range []string{"5:V4:vpc-a", "8:V4:vsw-gone", "9:V4:vsw-b"} {
		if !got[w] {
			t.Errorf("missing %s in:\n%v", w, err)
		}
	}
	if n := len(Diagnostics(err)); n != 4 { // vsw-gone: cidr changed and moved
		t.Errorf("%d errors:\n%v", n, err)
	}
	if d := Compare(old, nw); len(d.Immutable) != 4 || !strings.Contains(d.String(), "immutable") {
		t.Errorf("Compare.Immutable: %v", d.Immutable)
	}
}
