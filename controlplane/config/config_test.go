package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustValid(t *testing.T, y string) (*Config, []*Diag) {
	t.Helper()
	c, warns, err := ParseAndValidate("t.yaml", []byte(y))
	if err != nil {
		t.Fatalf("want valid, got:\n%v", err)
	}
	return c, warns
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Every example in configs/ is valid, without warnings or lint findings.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("only %d example configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, warns, err := LoadAndValidate(f)
			if err != nil {
				t.Fatalf("invalid:\n%v", err)
			}
			for _, w := range append(warns, Lint(c)...) {
				t.Errorf("warning: %v", w)
			}
			for _, e := range c.ENIs() {
				if e.Netns != "" && !strings.HasPrefix(e.Netns, "vr-") {
					t.Errorf("%s: netns %q without vr- prefix", e.ID, e.Netns)
				}
			}
		})
	}
}

// Valid edge cases (V6, V7, V9, V12, V16, V17, V19).
func TestValidEdgeCases(t *testing.T) {
	var b strings.Builder
	t.Run("V9 /29 has exactly 4 usable addresses", func(t *testing.T) {
		c, _ := mustValid(t, base+"      - {id: vsw-s, zone: z1, cidr: 192.168.9.0/29}\ninstances:\n"+
			"  - {id: i-1, vswitch: vsw-s}\n  - {id: i-2, vswitch: vsw-s}\n  - {id: i-3, vswitch: vsw-s}\n  - {id: i-4, vswitch: vsw-s}\n")
		for i, want := range []string{"192.168.9.1", "192.168.9.2", "192.168.9.3", "192.168.9.4"} {
			if got := c.Instances[i].IP; got != addr(want) {
				t.Errorf("i-%d: %v, want %v", i+1, got, want)
			}
		}
		s := c.VSwitchByID("vsw-s")
		if s.UsableCount() != 4 || s.Gateway() != addr("192.168.9.5") || s.Broadcast() != addr("192.168.9.7") {
			t.Errorf("usable %d gateway %v broadcast %v", s.UsableCount(), s.Gateway(), s.Broadcast())
		}
		for _, a := range []string{"192.168.9.0", "192.168.9.5", "192.168.9.6", "192.168.9.7"} {
			if !s.Reserved(addr(a)) {
				t.Errorf("%s not reserved", a)
			}
		}
		if s.Reserved(addr("192.168.9.4")) || !s.Usable(addr("192.168.9.4")) {
			t.Error(".4 should be usable")
		}
	})
	t.Run("V6 V7 VSwitch equal to the VPC CIDR", func(t *testing.T) {
		mustValid(t, hdr+"vpcs:\n  - id: vpc-a\n    cidr: 192.168.0.0/24\n    vswitches:\n      - {id: vsw-a, zone: z1, cidr: 192.168.0.0/24}\n")
	})
	t.Run("V3 /28 VPC and 65532 usable in a /16", func(t *testing.T) {
		c, _ := mustValid(t, hdr+"vpcs:\n  - {id: vpc-a, cidr: 10.0.0.0/28}\n  - {id: vpc-b, cidr: 172.16.0.0/16}\n")
		if n := c.VPCByID("vpc-b").UsableAddresses(); n != 65532 {
			t.Errorf("usable %d", n)
		}
	})
	t.Run("V12 exactly 10 route tables", func(t *testing.T) {
		b.Reset()
		b.WriteString(base + "    route_tables:\n")
		for i := 0; i < 9; i++ {
			fmt.Fprintf(&b, "      - {id: vtb-%d}\n", i)
		}
		c, _ := mustValid(t, b.String())
		if n := len(c.VPCByID("vpc-a").RouteTables); n != 10 {
			t.Errorf("%d tables", n)
		}
	})
	t.Run("V17 128 members and 10 groups per server", func(t *testing.T) {
		b.Reset()
		b.WriteString(base + "instances:\n")
		for i := 0; i < 129; i++ {
			fmt.Fprintf(&b, "  - {id: i-%d, vswitch: vsw-a}\n", i)
		}
		b.WriteString("multicast:\n")
		for g := 0; g < 10; g++ {
			fmt.Fprintf(&b, "  - vpc: vpc-a\n    group: 239.0.0.%d\n    server: i-0\n    members: [", g+1)
			for i := 0; i < 128; i++ {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "192.168.1.%d", i+2)
			}
			b.WriteString("]\n")
		}
		mustValid(t, b.String())
	})
	t.Run("V16 V19 5 groups per ENI, 200 rules", func(t *testing.T) {
		b.Reset()
		b.WriteString(base + "    security_groups:\n" + groupsYAML(4) + "      - id: sg-4\n        rules:\n")
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&b, "          - {direction: egress, policy: drop, protocol: udp, port_range: %d/%d, dest_cidr: 10.0.0.0/8}\n", i+1, i+1)
		}
		b.WriteString("instances:\n  - {id: i-a, vswitch: vsw-a, security_groups: [sg-0, sg-1, sg-2, sg-3, sg-4]}\n")
		mustValid(t, b.String())
	})
	t.Run("V19 150 VSwitches and 200 routes", func(t *testing.T) {
		b.Reset()
		b.WriteString(hdr + "vpcs:\n  - id: vpc-a\n    cidr: 10.0.0.0/8\n    vswitches:\n")
		for i := 0; i < 150; i++ {
			fmt.Fprintf(&b, "      - {id: vsw-%d, zone: z1, cidr: 10.0.%d.0/24}\n", i, i)
		}
		b.WriteString("    route_tables:\n      - id: vtb-a\n        routes:\n")
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&b, "          - {dst: 172.16.%d.0/24, next_hop: i-a}\n", i)
		}
		b.WriteString("instances:\n  - {id: i-a, vswitch: vsw-0}\n")
		mustValid(t, b.String())
	})
	t.Run("V19 raised quotas", func(t *testing.T) {
		b.Reset()
		b.WriteString(hdr + "quotas: {vpcs_per_region: 12, lb_next_hops_max: 8}\nvpcs:\n")
		for i := 0; i < 11; i++ { // + vpc-x = 12
			fmt.Fprintf(&b, "  - {id: vpc-%d, cidr: 10.%d.0.0/16}\n", i, i)
		}
		b.WriteString("  - id: vpc-x\n    cidr: 192.168.0.0/16\n    vswitches: [{id: vsw-x, zone: z1, cidr: 192.168.0.0/24}]\n    route_tables:\n      - id: vtb-x\n        routes:\n          - dst: 0.0.0.0/0\n            next_hops: [")
		for i := 0; i < 8; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{id: i-%d, weight: 7}", i)
		}
		b.WriteString("]\n            health_check: {interval: 100ms, timeout: 50ms, failures: 2, successes: 1}\ninstances:\n")
		for i := 0; i < 8; i++ {
			fmt.Fprintf(&b, "  - {id: i-%d, vswitch: vsw-x}\n", i)
		}
		c, _ := mustValid(t, b.String())
		r := c.RouteTableByID("vtb-x").CustomRoutes()[0]
		if r.ShapeWithin(c.Quotas.LBNextHopsMax) != ShapeLoadBalance || r.Shape() != ShapeNone {
			t.Errorf("shape %v / %v", r.ShapeWithin(8), r.Shape())
		}
		if *r.HealthCheck != (HealthCheck{100 * time.Millisecond, 50 * time.Millisecond, 2, 1}) {
			t.Errorf("health check %+v", *r.HealthCheck)
		}
	})
	t.Run("C5 1000 ClassicLink instances", func(t *testing.T) {
		b.Reset()
		b.WriteString(classicLinkVPC + "classic:\n  security_groups: [{id: sg-c}]\n  instances:\n")
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&b, "    - {id: i-c%d, ip: 10.1.%d.%d, security_groups: [sg-c], link: vpc-l}\n", i, i/250, i%250+1)
		}
		mustValid(t, b.String())
	})
	t.Run("V1 Chinese names and V2 descriptions", func(t *testing.T) {
		mustValid(t, base+"    name: 生产网络-01\n    description: 杭州 production VPC\n")
	})
	t.Run("V11 default VPC", func(t *testing.T) {
		mustValid(t, hdr+"instances:\n  - {id: i-a, vswitch: default, zone: cn-hangzhou-b}\n")
	})
	t.Run("C5 10/8 VPC with VSwitches in 10.111/16", func(t *testing.T) {
		mustValid(t, hdr+"vpcs:\n  - id: vpc-l\n    cidr: 10.0.0.0/8\n    classic_link: true\n    vswitches: [{id: vsw-l, zone: z1, cidr: 10.111.1.0/24}]\n")
	})
	t.Run("YAML anchors, aliases and merge keys", func(t *testing.T) {
		c, _ := mustValid(t, base+"    security_groups:\n      - id: sg-a\n        rules:\n"+
			"          - &web {direction: ingress, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0}\n"+
			"          - {<<: *web, port_range: 443/443}\n")
		rs := c.SecurityGroupByID("sg-a").Rules
		if len(rs) != 2 || rs[1].PortRange != (PortRange{443, 443}) || rs[1].Protocol != ProtoTCP || rs[1].Direction != DirIngress {
			t.Errorf("merge: %+v", rs[1])
		}
	})
}

// V11, V12, V13, V16, §2: what defaults materialize.
func TestDefaults(t *testing.T) {
	c, _ := mustValid(t, base+`    route_tables:
      - id: vtb-a
        routes:
          - {dst: 10.0.0.0/8, next_hop: i-nat}
          - dst: 172.16.0.0/12
            next_hops: [{id: i-a, weight: 100}, {id: eni-b, weight: 0}]
instances:
  - {id: i-nat, vswitch: vsw-a}
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.1, netns: vr-a, source_dest_check: true}
  - id: i-b
    vswitch: vsw-a
    netns: vr-b
    mtu: 9000
    enis:
      - {id: eni-b, vswitch: vsw-b}
      - {id: eni-c, vswitch: vsw-b, ip: 192.168.2.1, netns: vr-other}
  - {id: i-d, vswitch: default, zone: cn-hangzhou-b}
  - {id: i-e, vswitch: default, zone: cn-hangzhou-c}
  - {id: i-f, vswitch: default, zone: cn-hangzhou-b}
`)
	vpc := c.VPCByID("vpc-a")
	if vpc.VRouter.ID != "vrt-a" {
		t.Errorf("vrouter %q", vpc.VRouter.ID)
	}
	sys := vpc.SystemTable()
	if sys == nil || sys.ID != "vtb-sys-a" || vpc.RouteTables[0] != sys || sys.Type != TableSystem {
		t.Fatalf("system table %+v", sys)
	}
	if c.VSwitchByID("vsw-a").RouteTable != "vtb-sys-a" {
		t.Errorf("vsw-a route table %q", c.VSwitchByID("vsw-a").RouteTable)
	}
	wantSys := []string{"100.64.0.0/10", "192.168.1.0/24", "192.168.2.0/24"}
	for _, tb := range vpc.RouteTables {
		for i, w := range wantSys {
			r := tb.Routes[i]
			if r.Type != EntrySystem || r.Dst.String() != w {
				t.Errorf("%s entry %d: %s %s", tb.ID, i, r.Type, r.Dst)
			}
		}
	}
	custom := c.RouteTableByID("vtb-a").Routes[3:]
	if len(custom) != 2 || custom[0].Type != EntryCustom || custom[1].HealthCheck == nil || *custom[1].HealthCheck != DefaultHealthCheck() {
		t.Errorf("custom entries %+v", custom)
	}
	if custom[1].Shape() != ShapeActiveStandby || custom[0].Shape() != ShapeSingle {
		t.Error("shapes")
	}
	g := c.SecurityGroupByID("sg-default-a")
	if g == nil || !g.Default || g.InnerAccess != PolicyAccept || len(g.Rules) != 0 || g.VPC != "vpc-a" {
		t.Errorf("default group %+v", g)
	}
	// Addresses: explicit first (i-a .1, eni-c 2.1), then lowest free in file order.
	for id, want := range map[string]string{"i-nat": "192.168.1.2", "i-a": "192.168.1.1", "i-b": "192.168.1.3", "eni-b": "192.168.2.2", "eni-c": "192.168.2.1"} {
		if got := c.ENIByID(id).IP; got != addr(want) {
			t.Errorf("%s: %v, want %s", id, got, want)
		}
	}
	var ids []string
	for _, e := range c.ENIs() {
		ids = append(ids, e.ID)
	}
	if got := strings.Join(ids, ","); got != "i-nat,i-a,i-b,eni-b,eni-c,i-d,i-e,i-f" {
		t.Errorf("ENIs order %s", got)
	}
	p := c.ENIByID("i-b")
	if !p.Primary || p.IfName != "eth0" || p.MTU != 9000 || p.InstanceID != "i-b" || p.VPC != "vpc-a" || p.SecurityGroups[0] != "sg-default-a" {
		t.Errorf("primary %+v", p)
	}
	eb, ec := c.ENIByID("eni-b"), c.ENIByID("eni-c")
	if eb.IfName != "eth1" || ec.IfName != "eth2" || eb.Netns != "vr-b" || ec.Netns != "vr-other" || eb.MTU != 9000 || eb.Primary {
		t.Errorf("secondary %+v %+v", eb, ec)
	}
	// F4: next hops default to no source/dest check, explicit wins.
	for id, want := range map[string]bool{"i-nat": false, "i-a": true, "eni-b": false, "i-b": true, "eni-c": true} {
		if got := c.ENIByID(id).SourceDestCheck; got != want {
			t.Errorf("%s source_dest_check %v, want %v", id, got, want)
		}
	}
	if c.ENIByAddr("vpc-a", addr("192.168.2.2")) != eb || c.ENIByAddr("vpc-b", addr("192.168.2.2")) != nil {
		t.Error("ENIByAddr")
	}
	// V11: default VPC and per-zone /20s in order of first use.
	dv := c.VPCByID(DefaultVPCID)
	if dv == nil || !dv.Default || dv.CIDR != DefaultVPCCIDR {
		t.Fatalf("default VPC %+v", dv)
	}
	for id, want := range map[string]string{"vsw-default-cn-hangzhou-b": "172.31.0.0/20", "vsw-default-cn-hangzhou-c": "172.31.16.0/20"} {
		s := c.VSwitchByID(id)
		if s == nil || s.CIDR.String() != want || !s.Default || s.VPC != DefaultVPCID {
			t.Errorf("%s: %+v", id, s)
		}
	}
	if c.InstanceByID("i-d").IP != addr("172.31.0.1") || c.InstanceByID("i-f").IP != addr("172.31.0.2") || c.InstanceByID("i-e").IP != addr("172.31.16.1") {
		t.Error("default VPC addresses")
	}
	if c.InstanceByID("i-d").VSwitch != "vsw-default-cn-hangzhou-b" || !c.InstanceByID("i-d").DefaultVSwitch {
		t.Error("default vswitch resolution")
	}
	if q := c.Quotas; q.VPCsPerRegion != 10 || q.LBNextHopsMax != 4 || q.McastMembersPerGroup != 128 {
		t.Errorf("quotas %+v", q)
	}
	if ct := c.Conntrack; ct.MaxEntries != 1<<20 || ct.TCPEstablishedTimeout != 910*time.Second || ct.UDPStreamTimeout != 180*time.Second {
		t.Errorf("conntrack %+v", ct)
	}
	// Idempotent.
	before := Compare(nil, c).String()
	ApplyDefaults(c)
	if after := Compare(nil, c).String(); after != before {
		t.Errorf("ApplyDefaults not idempotent:\n%s\n%s", before, after)
	}
	if _, err := Validate(c); err != nil {
		t.Errorf("after re-defaulting: %v", err)
	}
}

// An explicitly named system table keeps its id and gets the system entries
// before its custom ones.
func TestNamedSystemTable(t *testing.T) {
	c, _ := mustValid(t, base+"    route_tables:\n      - id: vtb-main\n        type: system\n        routes: [{dst: 0.0.0.0/0, next_hop: i-a}]\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n")
	vpc := c.VPCByID("vpc-a")
	if len(vpc.RouteTables) != 1 || vpc.SystemTable().ID != "vtb-main" || c.VSwitchByID("vsw-b").RouteTable != "vtb-main" {
		t.Fatalf("tables %+v", vpc.RouteTables)
	}
	if rs := vpc.SystemTable().Routes; len(rs) != 4 || rs[3].Dst.String() != "0.0.0.0/0" || rs[3].Type != EntryCustom {
		t.Errorf("routes %+v", rs)
	}
}

// §3: every error at once, sorted by position; warnings are not fatal.
func TestMultipleErrorsSorted(t *testing.T) {
	y := hdr + `vpcs:
  - id: vpc-a
    cidr: 8.8.0.0/16
    name: 1x
    vswitches:
      - {id: vsw-a, zone: z1, cidr: 10.0.0.0/33}
      - {id: bad, zone: z1, cidr: 8.8.1.0/24}
instances:
  - {id: i-a, vswitch: vsw-zz, mtu: 1}
bogus: true
`
	_, _, err := ParseAndValidate("t.yaml", []byte(y))
	ds := Diagnostics(err)
	if len(ds) < 6 {
		t.Fatalf("%d errors:\n%v", len(ds), err)
	}
	for i := 1; i < len(ds); i++ {
		if posLess(ds[i].Pos(), ds[i-1].Pos()) {
			t.Errorf("not sorted: %v before %v", ds[i-1], ds[i])
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(ds) || !strings.HasPrefix(lines[0], "t.yaml:5:11: vpc-a: V3: ") {
		t.Errorf("joined output:\n%v", err)
	}
	want := map[string]bool{"V3": false, "V1": false, "V0": false}
	for _, d := range ds {
		if _, ok := want[d.Rule]; ok {
			want[d.Rule] = true
		}
	}
	for r, ok := range want {
		if !ok {
			t.Errorf("missing %s", r)
		}
	}
}

// V20 and C4 warnings are returned separately and do not make a file invalid.
func TestWarnings(t *testing.T) {
	y := hdr + `vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/24
    vswitches: [{id: vsw-a, zone: z1, cidr: 192.168.0.0/24}]
  - id: vpc-b
    cidr: 192.168.0.0/16
    vswitches: [{id: vsw-b, zone: z1, cidr: 192.168.0.0/24}]
cens:
  - {id: cen-a, attachments: [vpc-a, vpc-b]}
`
	_, warns := mustValid(t, y)
	got := map[string]bool{}
	for _, w := range warns {
		if !w.Warning {
			t.Errorf("not a warning: %v", w)
		}
		got[fmt.Sprintf("%d:%s:%s", w.Line, w.Rule, w.ID)] = true
		if !strings.Contains(w.String(), "warning: ") {
			t.Errorf("String: %q", w.String())
		}
	}
	for _, k := range []string{"5:V20:vpc-a", "6:V20:vsw-a", "9:V20:vsw-b", "11:C4:cen-a"} {
		if !got[k] {
			t.Errorf("missing warning %s in %v", k, warns)
		}
	}
}

// Q1: hostile input is rejected quickly and without panics.
func TestHostileInput(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'k'; i++ {
		bomb += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	// A bomb the schema walks: 200 VPCs × 200 groups × 200 rules from a
	// few kilobytes of aliases.
	walked := hdr + "vpcs:\n  - &v {id: vpc-a, cidr: 10.0.0.0/8, security_groups: &g [&s {id: sg-a, rules: &r [" +
		strings.TrimSuffix(strings.Repeat("{direction: ingress, protocol: all, source_cidr: 0.0.0.0/0}, ", 200), ", ") + "]}" +
		strings.Repeat(", *s", 199) + "]}\n" + strings.Repeat("  - *v\n", 199)
	old := nodeBudget
	nodeBudget = 200_000 // the mechanism, not the production figure, is under test
	t.Cleanup(func() { nodeBudget = old })
	cases := []struct {
		name, yaml, want string
	}{
		{"alias bomb in unknown keys", hdr + bomb, "unknown key"},
		{"alias bomb walked by the schema", walked, "more than"},
		{"deep nesting", hdr + "vpcs: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n", "nested deeper"},
		{"multiple documents", hdr + "---\n" + hdr, "more than one YAML document"},
		{"self-referencing merge", hdr + "vpcs:\n  - &v {id: vpc-a, cidr: 10.0.0.0/8, <<: *v}\n", ""},
		{"cyclic alias", hdr + "vpcs: &l [*l]\n", "expected a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, _, err := ParseAndValidate("t.yaml", []byte(tc.yaml))
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("file too large", func(t *testing.T) {
		_, err := Parse("t.yaml", make([]byte, MaxFileSize+1))
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err %v", err)
		}
		f := filepath.Join(t.TempDir(), "big.yaml")
		if err := os.WriteFile(f, []byte(strings.Repeat("#\n", MaxFileSize/2+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(f); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("Load: %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, _, err := LoadAndValidate(filepath.Join(t.TempDir(), "none.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		_, _, err := ParseAndValidate("t.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), "missing version") {
			t.Errorf("err %v", err)
		}
	})
}

// Diag formatting (§3) and Diagnostics extraction.
func TestDiagFormat(t *testing.T) {
	d := &Diag{File: "f.yaml", Line: 3, Col: 7, ID: "vsw-a", Rule: "V6", Msg: "boom"}
	if d.Error() != "f.yaml:3:7: vsw-a: V6: boom" {
		t.Errorf("%q", d.Error())
	}
	w := *d
	w.Warning = true
	if w.String() != "f.yaml:3:7: vsw-a: V6: warning: boom" || w.Error() != d.Error() {
		t.Errorf("%q", w.String())
	}
	if (&Diag{ID: "x", Rule: "V0", Msg: "m"}).Error() != "x: V0: m" {
		t.Error("position-less format")
	}
	err := joinDiags([]*Diag{d, {File: "f.yaml", Line: 1, Col: 1, ID: "a", Rule: "V0", Msg: "m"}, d})
	ds := Diagnostics(fmt.Errorf("wrapped: %w", err))
	if len(ds) != 2 || ds[0].Line != 1 {
		t.Errorf("%v", ds)
	}
}

func TestNameDescription(t *testing.T) {
	for s, want := range map[string]bool{"": true, "ab": true, "a": false, "a b": false, "网络": true, "网": false,
		"vpc_1-x": true, "1vpc": false, "-x": false, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false, "ab.c": false} {
		if NameValid(s) != want {
			t.Errorf("NameValid(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"": true, "ab": true, "a": false, "http://x": false, "https://x": false, "see http://x": true,
		strings.Repeat("d", 256): true, strings.Repeat("d", 257): false} {
		if DescriptionValid(s) != want {
			t.Errorf("DescriptionValid(%q) = %v", s, !want)
		}
	}
}

func TestHelpers(t *testing.T) {
	if KindOfHop("i-x") != HopInstance || KindOfHop("eni-x") != HopENI || KindOfHop("vpn-x") != HopVPNGateway ||
		KindOfHop("ri-x") != HopRouterInterface || KindOfHop("ngw-x") != HopNATGateway || KindOfHop(LeasedLine) != HopLeasedLine ||
		KindOfHop("vsw-x") != HopUnknown {
		t.Error("KindOfHop")
	}
	for s, want := range map[string]PortRange{"22/22": {22, 22}, "-1/-1": AllPorts, "1/65535": {1, 65535}} {
		if got, ok := ParsePortRange(s); !ok || got != want {
			t.Errorf("ParsePortRange(%q) = %v %v", s, got, ok)
		}
	}
	for _, s := range []string{"22", "a/b", "1/70000", "-2/5", ""} {
		if _, ok := ParsePortRange(s); ok {
			t.Errorf("ParsePortRange(%q) ok", s)
		}
	}
	if !AllPorts.Contains(PortRange{1, 2}) || (PortRange{1, 10}).Contains(AllPorts) || !(PortRange{1, 10}).Contains(PortRange{2, 3}) {
		t.Error("PortRange.Contains")
	}
	shapes := []struct {
		h    []NextHopRef
		want HopShape
	}{
		{[]NextHopRef{{"a", 100}, {"b", 0}}, ShapeActiveStandby},
		{[]NextHopRef{{"a", 0}, {"b", 100}}, ShapeActiveStandby},
		{[]NextHopRef{{"a", 100}, {"b", 100}}, ShapeLoadBalance},
		{[]NextHopRef{{"a", 255}, {"b", 255}, {"c", 255}, {"d", 255}}, ShapeLoadBalance},
		{[]NextHopRef{{"a", 100}, {"b", 0}, {"c", 100}}, ShapeNone},
		{[]NextHopRef{{"a", 0}, {"b", 0}}, ShapeNone},
		{[]NextHopRef{{"a", 1}}, ShapeNone},
		{[]NextHopRef{{"a", 1}, {"a", 1}}, ShapeNone},
		{[]NextHopRef{{"a", 256}, {"b", 256}}, ShapeNone},
	}
	for _, s := range shapes {
		r := &RouteEntry{NextHops: s.h}
		if got := r.Shape(); got != s.want {
			t.Errorf("%v: %v, want %v", s.h, got, s.want)
		}
	}
}
