package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Each invalid case marks the lines where errors are expected with
// "# ERR <rule> <id>" (several separated by ";"). The test asserts that the
// set of (line, rule, id) reported equals the set marked: the rule id, the
// line and the resource id of every error, and no stray error.

const hdr = "version: 1\nregion: cn-hangzhou\n"

// base is a valid config ending inside vpc-a's mapping, so that cases can
// append VPC keys (4 spaces) or top-level keys (no indent).
const base = hdr + `vpcs:
  - id: vpc-a
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z1, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: z1, cidr: 192.168.2.0/24}
`

// two VPCs; vpc-b is 172.16.0.0/16 with vsw-c.
const base2 = base + `  - id: vpc-b
    cidr: 172.16.0.0/16
    vswitches:
      - {id: vsw-c, zone: z2, cidr: 172.16.1.0/24}
`

const inetPort = "internet:\n  port: {netns: vr-inet, ifname: inet0, ip: 203.0.113.1, peer_ip: 203.0.113.2}\n"

type invalidCase struct {
	name string
	yaml string
}

var markRE = regexp.MustCompile(`#\s*ERR\s+(.*)$`)

type mark struct {
	line     int
	rule, id string
}

func (m mark) String() string { return fmt.Sprintf("%d:%s:%s", m.line, m.rule, m.id) }

func marks(t *testing.T, y string) []mark {
	var out []mark
	for i, l := range strings.Split(y, "\n") {
		m := markRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, part := range strings.Split(m[1], ";") {
			f := strings.Fields(part)
			if len(f) != 2 {
				t.Fatalf("bad marker %q", l)
			}
			out = append(out, mark{i + 1, f[0], f[1]})
		}
	}
	return out
}

func invalidCases() []invalidCase {
	cs := []invalidCase{
		// ---- V0 schema
		{"V0 unknown top-level key", hdr + "bogus: 1 # ERR V0 config\n"},
		{"V0 unknown VPC key", base + "    cidrs: 10.0.0.0/8 # ERR V0 vpc-a\n"},
		{"V0 unknown key in flow mapping", base + "instances:\n  - {id: i-a, vswitch: vsw-a, adress: 192.168.1.9} # ERR V0 i-a\n"},
		{"V0 wrong type version", "version: \"1\" # ERR V0 version\nregion: r\n"},
		{"V0 unsupported version", "version: 2 # ERR V0 version\nregion: r\n"},
		{"V0 missing version", "region: r # ERR V0 version\n"},
		{"V0 missing region", "version: 1 # ERR V0 region\n"},
		{"V0 bad region", "version: 1\nregion: Hang Zhou # ERR V0 region\n"},
		{"V0 missing VPC id", hdr + "vpcs:\n  - cidr: 10.0.0.0/16 # ERR V0 vpcs[0]\n"},
		{"V0 id without prefix", hdr + "vpcs:\n  - id: net-a # ERR V0 net-a\n    cidr: 10.0.0.0/16\n"},
		{"V0 id with bad characters", hdr + "vpcs:\n  - id: vpc-a/b # ERR V0 vpc-a/b\n    cidr: 10.0.0.0/16\n"},
		{"V0 id used twice", base + "      - {id: vsw-a, zone: z1, cidr: 192.168.3.0/24} # ERR V0 vsw-a\n"},
		{"V0 id used twice across kinds", base + "instances:\n  - {id: i-a, vswitch: vsw-a}\n  - {id: i-a, vswitch: vsw-b} # ERR V0 i-a\n"},
		{"V0 VPC id used twice without cascades", base + "  - id: vpc-a # ERR V0 vpc-a\n    cidr: 10.0.0.0/16\n"},
		{"V0 vrouter id clashes with a generated one", hdr + "vpcs:\n  - id: vpc-x\n    cidr: 10.0.0.0/16\n    vrouter: {id: vrt-a}\n  - id: vpc-a # ERR V0 vrt-a\n    cidr: 10.1.0.0/16\n"},
		{"V0 key given twice", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 10.0.0.0/16\n    cidr: 10.1.0.0/16 # ERR V0 vpc-a\n"},
		{"V0 CIDR unparsable", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 10.0.0.0/33 # ERR V0 vpc-a\n"},
		{"V0 missing VPC cidr", hdr + "vpcs:\n  - id: vpc-a # ERR V0 vpc-a\n    name: ab\n"},
		{"V0 IPv6 address", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: \"2001:db8::1\"} # ERR V0 i-a\n"},
		{"V0 duration not Go syntax", base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - dst: 10.0.0.0/8\n            next_hops: [{id: i-a, weight: 100}, {id: i-b, weight: 0}]\n            health_check: {interval: 5} # ERR V0 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n  - {id: i-b, vswitch: vsw-a}\n"},
		{"V0 list expected", hdr + "vpcs: vpc-a # ERR V0 config\n"},
		{"V0 mapping expected", hdr + "vpcs:\n  - vpc-a # ERR V0 vpcs[0]\n"},
		{"V0 boolean expected", base + "    classic_link: yes # ERR V0 vpc-a\n"},
		{"V0 integer expected", base + "instances:\n  - {id: i-a, vswitch: vsw-a, mtu: big} # ERR V0 i-a\n"},
		{"V0 unknown vswitch", base + "instances:\n  - {id: i-a, vswitch: vsw-zz} # ERR V0 i-a\n"},
		{"V0 missing vswitch", base + "instances:\n  - {id: i-a, netns: vr-a} # ERR V0 i-a\n"},
		{"V0 missing zone", base + "      - {id: vsw-z, cidr: 192.168.9.0/24} # ERR V0 vsw-z\n"},
		{"V0 mtu out of range", base + "instances:\n  - {id: i-a, vswitch: vsw-a, mtu: 40} # ERR V0 i-a\n"},
		{"V0 ifname too long", base + "instances:\n  - {id: i-a, vswitch: vsw-a, netns: vr-a, ifname: averyveryverylongname} # ERR V0 i-a\n"},
		{"V0 netns invalid", base + "instances:\n  - {id: i-a, vswitch: vsw-a, netns: ../etc} # ERR V0 i-a\n"},
		{"V0 ifname twice in a netns", base + "instances:\n  - id: i-a\n    vswitch: vsw-a\n    netns: vr-a\n    enis:\n      - {id: eni-a, vswitch: vsw-b, ifname: eth0} # ERR V0 eni-a\n"},
		{"V0 syntax error (line of the enclosing block)", hdr + "vpcs:\n  - id: vpc-a # ERR V0 yaml\n    cidr: 10.0.0.0/16\n   name: x\n"},
		{"V0 syntax error", hdr + "vpcs:\n  - {id: vpc-a, cidr: [} # ERR V0 yaml\n"},
		{"V5 dangling reference after removal is V0", base + "instances:\n  - {id: i-a, vswitch: vsw-removed} # ERR V0 i-a\n"},

		// ---- V1 names, V2 descriptions
		{"V1 name starts with digit", base + "    name: 1abc # ERR V1 vpc-a\n"},
		{"V1 name one character", base + "    name: a # ERR V1 vpc-a\n"},
		{"V1 name with space", base + "    name: my vpc # ERR V1 vpc-a\n"},
		{"V1 name too long", base + "    name: a" + strings.Repeat("b", 128) + " # ERR V1 vpc-a\n"},
		{"V1 instance name with dot", base + "instances:\n  - {id: i-a, vswitch: vsw-a, name: web.1} # ERR V1 i-a\n"},
		{"V1 route table name", base + "    route_tables:\n      - {id: vtb-a, name: _x} # ERR V1 vtb-a\n"},
		{"V1 vrouter name", base + "    vrouter: {name: \"-r\"} # ERR V1 vrt-a\n"},
		{"V2 description URL", base + "    description: https://example.com # ERR V2 vpc-a\n"},
		{"V2 description one character", base + "      - {id: vsw-d, zone: z1, cidr: 192.168.4.0/24, description: x} # ERR V2 vsw-d\n"},
		{"V2 description too long", base + "    description: " + strings.Repeat("d", 257) + " # ERR V2 vpc-a\n"},

		// ---- V3 VPC CIDR
		{"V3 public CIDR", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 8.8.0.0/16 # ERR V3 vpc-a\n"},
		{"V3 too long", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 10.0.0.0/29 # ERR V3 vpc-a\n"},
		{"V3 shorter than its block", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 172.0.0.0/8 # ERR V3 vpc-a\n"},
		{"V3 host bits", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 192.168.0.1/16 # ERR V3 vpc-a\n"},

		// ---- V6–V8 VSwitches
		{"V6 outside VPC", base + "      - {id: vsw-x, zone: z1, cidr: 10.0.0.0/24} # ERR V6 vsw-x\n"},
		{"V6 prefix /30", base + "      - {id: vsw-x, zone: z1, cidr: 192.168.3.0/30} # ERR V6 vsw-x\n"},
		{"V6 prefix /15", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 10.0.0.0/8\n    vswitches:\n      - {id: vsw-x, zone: z1, cidr: 10.0.0.0/15} # ERR V6 vsw-x\n"},
		{"V6 host bits", base + "      - {id: vsw-x, zone: z1, cidr: 192.168.3.1/24} # ERR V6 vsw-x\n"},
		{"V7 equal to VPC and not alone", hdr + "vpcs:\n  - id: vpc-a\n    cidr: 192.168.0.0/24\n    vswitches:\n      - {id: vsw-a, zone: z1, cidr: 192.168.0.0/24} # ERR V7 vsw-a\n      - {id: vsw-b, zone: z1, cidr: 192.168.0.0/25} # ERR V8 vsw-b\n"},
		{"V8 overlap", base + "      - {id: vsw-x, zone: z1, cidr: 192.168.1.128/25} # ERR V8 vsw-x\n"},
		{"V8 overlap containing earlier", base + "      - {id: vsw-x, zone: z1, cidr: 192.168.0.0/22} # ERR V8 vsw-x\n"},

		// ---- V9 reserved, V10 ENI addresses
		{"V9 first address", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.0} # ERR V9 i-a\n"},
		{"V9 gateway", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.253} # ERR V9 i-a\n"},
		{"V9 broadcast", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.255} # ERR V9 i-a\n"},
		{"V9 secondary ip reserved", base + "instances:\n  - {id: i-a, vswitch: vsw-a, secondary_ips: [192.168.1.254]} # ERR V9 i-a\n"},
		{"V9 /29 holds 4 addresses", base + "      - {id: vsw-s, zone: z1, cidr: 192.168.9.0/29}\ninstances:\n" +
			"  - {id: i-1, vswitch: vsw-s}\n  - {id: i-2, vswitch: vsw-s}\n  - {id: i-3, vswitch: vsw-s}\n  - {id: i-4, vswitch: vsw-s}\n" +
			"  - {id: i-5, vswitch: vsw-s} # ERR V9 i-5\n"},
		{"V10 outside VSwitch", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.2.10} # ERR V10 i-a\n"},
		{"V10 duplicate address", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10}\n  - {id: i-b, vswitch: vsw-a, ip: 192.168.1.10} # ERR V10 i-b\n"},
		{"V10 duplicate with secondary ip", base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10}\n  - {id: i-b, vswitch: vsw-a, secondary_ips: [192.168.1.10]} # ERR V10 i-b\n"},
		{"V10 secondary ENI in other VPC", base2 + "instances:\n  - id: i-a\n    vswitch: vsw-a\n    enis:\n      - {id: eni-a, vswitch: vsw-c} # ERR V10 eni-a\n"},
		{"V10 secondary ENI in other zone", base + "      - {id: vsw-z2, zone: z2, cidr: 192.168.5.0/24}\ninstances:\n  - id: i-a\n    vswitch: vsw-a\n    enis:\n      - {id: eni-a, vswitch: vsw-z2} # ERR V10 eni-a\n"},
		{"V10 netns shared", base + "instances:\n  - {id: i-a, vswitch: vsw-a, netns: vr-x}\n  - {id: i-b, vswitch: vsw-a, netns: vr-x} # ERR V10 i-b\n"},
		{"V10 zone differs", base + "instances:\n  - {id: i-a, vswitch: vsw-a, zone: z9} # ERR V10 i-a\n"},

		// ---- V11 default VPC
		{"V11 default without zone", base + "instances:\n  - {id: i-a, vswitch: default} # ERR V11 i-a\n"},
		{"V11 default VPC with another CIDR", hdr + "vpcs:\n  - id: vpc-default\n    cidr: 10.0.0.0/16 # ERR V11 vpc-default\ninstances:\n  - {id: i-a, vswitch: vsw-default-z1, zone: z1} # ERR V0 i-a\n"},
		{"V11 default VSwitch id in another VPC", base + "      - {id: vsw-default-z1, zone: z1, cidr: 192.168.7.0/24}\ninstances:\n  - {id: i-a, vswitch: default, zone: z1} # ERR V11 i-a\n"},

		// ---- V12 route tables
		{"V12 two system tables", base + "    route_tables:\n      - {id: vtb-s1, type: system}\n      - {id: vtb-s2, type: system} # ERR V12 vtb-s2\n"},
		{"V12 unknown route table", base + "      - {id: vsw-x, zone: z1, cidr: 192.168.3.0/24, route_table: vtb-zz} # ERR V12 vsw-x\n"},
		{"V12 route table of another VPC", base + "      - {id: vsw-x, zone: z1, cidr: 192.168.3.0/24, route_table: vtb-b} # ERR V12 vsw-x\n  - id: vpc-b\n    cidr: 172.16.0.0/16\n    route_tables:\n      - {id: vtb-b}\n"},
		{"V12 bad type", base + "    route_tables:\n      - {id: vtb-a, type: main} # ERR V12 vtb-a\n"},

		// ---- V13, V14 route entries
		{"V13 equals VSwitch entry", base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - {dst: 192.168.1.0/24, next_hop: i-a} # ERR V13 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n"},
		{"V13 equals cloud-service entry", base + "    route_tables:\n      - id: vtb-a\n        type: system\n        routes:\n          - {dst: 100.64.0.0/10, next_hop: i-a} # ERR V13 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n"},
		{"V14 not canonical", base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - {dst: 10.0.0.1/8, next_hop: i-a} # ERR V14 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n"},
		{"V14 duplicate dst", base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - {dst: 10.0.0.0/8, next_hop: i-a}\n          - {dst: 10.0.0.0/8, next_hop: i-b} # ERR V14 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n  - {id: i-b, vswitch: vsw-a}\n"},
		{"V0 missing dst", base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - {next_hop: i-a} # ERR V0 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n"},

		// ---- V15 next hops
		{"V15 both next_hop and next_hops", routeCase("{dst: 10.0.0.0/8, next_hop: i-a, next_hops: [{id: i-a, weight: 1}, {id: i-b, weight: 1}]}", "V15")},
		{"V15 no next hop", routeCase("{dst: 10.0.0.0/8}", "V15")},
		{"V15 three hops 100,0,100", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 100}, {id: i-b, weight: 0}, {id: i-c, weight: 100}]}", "V15")},
		{"V15 unequal weights", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 100}, {id: i-b, weight: 50}]}", "V15")},
		{"V15 five hops", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 1}, {id: i-b, weight: 1}, {id: i-c, weight: 1}, {id: i-d, weight: 1}, {id: i-e, weight: 1}]}", "V15")},
		{"V15 duplicate hop", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 1}, {id: i-a, weight: 1}]}", "V15")},
		{"V15 single entry next_hops", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 100}]}", "V15")},
		{"V15 weight above 255", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 300}, {id: i-b, weight: 300}]}", "V15")},
		{"V15 missing weight", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a}, {id: i-b, weight: 1}]}", "V15")},
		{"V15 unknown next hop", routeCase("{dst: 10.0.0.0/8, next_hop: i-zz}", "V15")},
		{"V15 next hop not a hop kind", routeCase("{dst: 10.0.0.0/8, next_hop: vsw-a}", "V15")},
		{"V15 next hop in another VPC", base2 + "    route_tables:\n      - id: vtb-c\n        routes:\n          - {dst: 10.0.0.0/8, next_hop: i-a} # ERR V15 vtb-c\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n"},
		{"V15 health_check on a single hop", routeCase("{dst: 10.0.0.0/8, next_hop: i-a, health_check: {interval: 1s}}", "V15")},
		{"V15 health_check timeout above interval", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 100}, {id: i-b, weight: 0}], health_check: {interval: 100ms, timeout: 200ms}}", "V15")},
		{"V15 health_check failures 0", routeCase("{dst: 10.0.0.0/8, next_hops: [{id: i-a, weight: 100}, {id: i-b, weight: 0}], health_check: {failures: 0}}", "V15")},
		{"V15 leased_line in a VPC", routeCase("{dst: 10.0.0.0/8, next_hop: leased_line}", "V15")},
		{"V15 NAT gateway inside next_hops", base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - {dst: 10.0.0.0/8, next_hops: [{id: ngw-a, weight: 1}, {id: i-a, weight: 1}]} # ERR V15 vtb-a\ninstances:\n  - {id: i-a, vswitch: vsw-a}\n" + inetPort + "eips:\n  - {id: eip-a, ip: 198.51.100.1}\nnat_gateways:\n  - {id: ngw-a, vpc: vpc-a}\n"},
		{"V15 secondary ENI of another VPC", base2 + "    route_tables:\n      - id: vtb-c\n        routes:\n          - {dst: 10.0.0.0/8, next_hop: eni-a} # ERR V15 vtb-c\ninstances:\n  - id: i-a\n    vswitch: vsw-a\n    enis: [{id: eni-a, vswitch: vsw-b}]\n"},

		// ---- V16 security groups
		{"V16 priority 0", sgCase("{direction: ingress, priority: 0, protocol: all, source_cidr: 0.0.0.0/0}")},
		{"V16 priority 101", sgCase("{direction: ingress, priority: 101, protocol: all, source_cidr: 0.0.0.0/0}")},
		{"V16 tcp with -1/-1", sgCase("{direction: ingress, protocol: tcp, port_range: -1/-1, source_cidr: 0.0.0.0/0}")},
		{"V16 tcp without port_range", sgCase("{direction: ingress, protocol: tcp, source_cidr: 0.0.0.0/0}")},
		{"V16 icmp with ports", sgCase("{direction: ingress, protocol: icmp, port_range: 22/22, source_cidr: 0.0.0.0/0}")},
		{"V16 reversed range", sgCase("{direction: ingress, protocol: udp, port_range: 80/79, source_cidr: 0.0.0.0/0}")},
		{"V16 malformed port_range", sgCase("{direction: ingress, protocol: udp, port_range: \"80\", source_cidr: 0.0.0.0/0}")},
		{"V16 port 65536", sgCase("{direction: ingress, protocol: udp, port_range: 1/65536, source_cidr: 0.0.0.0/0}")},
		{"V16 ingress with dest_cidr", sgCase("{direction: ingress, protocol: all, dest_cidr: 0.0.0.0/0}")},
		{"V16 egress with source_group", sgCase("{direction: egress, protocol: all, source_group: sg-a}")},
		{"V16 both cidr and group", sgCase("{direction: ingress, protocol: all, source_cidr: 0.0.0.0/0, source_group: sg-a}")},
		{"V16 no peer", sgCase("{direction: ingress, protocol: all}")},
		{"V16 unknown peer group", sgCase("{direction: ingress, protocol: all, source_group: sg-zz}")},
		{"V16 bad direction", sgCase("{direction: inbound, protocol: all, source_cidr: 0.0.0.0/0}")},
		{"V16 bad protocol", sgCase("{direction: ingress, protocol: sctp, source_cidr: 0.0.0.0/0}")},
		{"V16 peer cidr with host bits", sgCase("{direction: ingress, protocol: all, source_cidr: 10.0.0.1/8}")},
		{"V16 peer group of another VPC", base2 + "    security_groups:\n      - id: sg-b\n        rules:\n          - {direction: ingress, protocol: all, source_group: sg-default-a} # ERR V16 sg-b\n"},
		{"V16 ENI in no group", base + "instances:\n  - {id: i-a, vswitch: vsw-a, security_groups: []} # ERR V16 i-a\n"},
		{"V16 ENI group of another VPC", base2 + "instances:\n  - {id: i-a, vswitch: vsw-a, security_groups: [sg-default-b]} # ERR V16 i-a\n"},
		{"V16 ENI unknown group", base + "instances:\n  - {id: i-a, vswitch: vsw-a, security_groups: [sg-zz]} # ERR V16 i-a\n"},
		{"V16 ENI group twice", base + "instances:\n  - {id: i-a, vswitch: vsw-a, security_groups: [sg-default-a, sg-default-a]} # ERR V16 i-a\n"},
		{"V16 bad inner_access", base + "    security_groups:\n      - {id: sg-a, inner_access: allow} # ERR V16 sg-a\n"},

		// ---- V17 multicast
		{"V17 group in 224.0.0.0/24", mcCase("224.0.0.5 # ERR V17 224.0.0.5", "i-a", "[192.168.1.11]")},
		{"V17 group not multicast", mcCase("10.1.1.1 # ERR V17 10.1.1.1", "i-a", "[192.168.1.11]")},
		{"V17 unknown server", mcCase("239.1.1.1", "i-zz # ERR V17 239.1.1.1", "[192.168.1.11]")},
		{"V17 member not an ENI address", mcCase("239.1.1.1", "i-a", "[192.168.1.99] # ERR V17 239.1.1.1")},
		{"V17 member twice", mcCase("239.1.1.1", "i-a", "[192.168.1.11, 192.168.1.11] # ERR V17 239.1.1.1")},
		{"V17 unknown VPC", base + "instances:\n  - {id: i-a, vswitch: vsw-a}\nmulticast:\n  - {vpc: vpc-zz, group: 239.1.1.1, server: i-a} # ERR V17 239.1.1.1\n"},
		{"V17 server in another VPC", base2 + "instances:\n  - {id: i-a, vswitch: vsw-a}\nmulticast:\n  - {vpc: vpc-b, group: 239.1.1.1, server: i-a} # ERR V17 239.1.1.1\n"},
		{"V17 group defined twice", base + "instances:\n  - {id: i-a, vswitch: vsw-a}\nmulticast:\n  - {vpc: vpc-a, group: 239.1.1.1, server: i-a}\n  - {vpc: vpc-a, group: 239.1.1.1, server: i-a} # ERR V17 239.1.1.1\n"},

		// ---- V19 quotas
		{"V19 quota below default", hdr + "quotas:\n  vpcs_per_region: 5 # ERR V19 quotas\n"},
		{"V19 quota above ceiling", hdr + "quotas:\n  lb_next_hops_max: 64 # ERR V19 quotas\n"},
		{"V19 six groups per ENI", base + "    security_groups:\n" + groupsYAML(6) + "instances:\n  - {id: i-a, vswitch: vsw-a, security_groups: [sg-0, sg-1, sg-2, sg-3, sg-4, sg-5]} # ERR V19 i-a\n"},

		// ---- conntrack (S7)
		{"S7 max_entries too small", hdr + "conntrack:\n  max_entries: 10 # ERR S7 conntrack\n"},
		{"S7 zero timeout", hdr + "conntrack:\n  icmp_timeout: 0s # ERR S7 conntrack\n"},
		{"S7 udp stream shorter than udp", hdr + "conntrack:\n  udp_timeout: 60s\n  udp_stream_timeout: 30s # ERR S7 conntrack\n"},
		{"V0 conntrack unknown key", hdr + "conntrack:\n  tcp_timeout: 10s # ERR V0 conntrack\n"},

		// ---- C1 router interfaces
		{"C1 peers do not name each other", riBase + "router_interfaces:\n  - {id: ri-a, vpc: vpc-a, peer: ri-b} # ERR C1 ri-a\n  - {id: ri-b, vpc: vpc-b, peer: ri-c}\n  - {id: ri-c, vpc: vpc-a, peer: ri-b}\n"},
		{"C1 no end", riBase + "router_interfaces:\n  - {id: ri-a, peer: ri-b} # ERR C1 ri-a\n  - {id: ri-b, vpc: vpc-b, peer: ri-a}\n"},
		{"C1 both vpc and vbr", riBase + vbrYAML + "router_interfaces:\n  - {id: ri-a, vpc: vpc-a, vbr: vbr-a, peer: ri-b} # ERR C1 ri-a\n  - {id: ri-b, vpc: vpc-b, peer: ri-a}\n"},
		{"C1 unknown peer", riBase + "router_interfaces:\n  - {id: ri-a, vpc: vpc-a, peer: ri-zz} # ERR C1 ri-a\n"},
		{"C1 unknown vpc", riBase + "router_interfaces:\n  - {id: ri-a, vpc: vpc-zz, peer: ri-b} # ERR C1 ri-a\n  - {id: ri-b, vpc: vpc-b, peer: ri-a}\n"},
		{"C1 same VPC both ends", riBase + "router_interfaces:\n  - {id: ri-a, vpc: vpc-a, peer: ri-b} # ERR C1 ri-a\n  - {id: ri-b, vpc: vpc-a, peer: ri-a} # ERR C1 ri-b\n"},
		{"C1 two VBRs", riBase + vbrYAML + "  - id: vbr-b\n    port: {netns: vr-idc2, ifname: ll0, ip: 192.0.2.5, peer_ip: 192.0.2.6}\nrouter_interfaces:\n  - {id: ri-a, vbr: vbr-a, peer: ri-b} # ERR C1 ri-a\n  - {id: ri-b, vbr: vbr-b, peer: ri-a} # ERR C1 ri-b\n"},
		{"C1 route names another VPC's interface", base2 + "    route_tables:\n      - id: vtb-c\n        routes:\n          - {dst: 10.0.0.0/8, next_hop: ri-a} # ERR C1 vtb-c\nrouter_interfaces:\n  - {id: ri-a, vpc: vpc-a, peer: ri-b}\n  - {id: ri-b, vpc: vpc-b, peer: ri-a}\n"},
		{"C2 next_hops over interfaces toward a VPC", base2 + "    route_tables:\n      - id: vtb-c\n        type: system\n        routes:\n          - {dst: 10.0.0.0/8, next_hops: [{id: ri-b, weight: 100}, {id: ri-d, weight: 0}]} # ERR C2 vtb-c; C2 vtb-c\n" +
			"  - {id: vpc-d, cidr: 172.18.0.0/16}\nrouter_interfaces:\n  - {id: ri-a, vpc: vpc-a, peer: ri-b}\n  - {id: ri-b, vpc: vpc-b, peer: ri-a}\n  - {id: ri-c, vpc: vpc-d, peer: ri-d}\n  - {id: ri-d, vpc: vpc-b, peer: ri-c}\n"},

		// ---- C2 VBRs
		{"C2 VBR route to an instance", hdr + vbrYAML + "    routes:\n      - {dst: 10.0.0.0/8, next_hop: i-a} # ERR C2 vbr-a\n"},
		{"C2 VBR route with next_hops", hdr + vbrYAML + "    routes:\n      - {dst: 10.0.0.0/8, next_hops: [{id: leased_line, weight: 1}, {id: ri-x, weight: 1}]} # ERR C2 vbr-a\n"},
		{"C2 VBR route to another VBR's interface", riBase + vbrYAML + "    routes:\n      - {dst: 192.168.0.0/16, next_hop: ri-b} # ERR C1 vbr-a\n" +
			"  - id: vbr-b\n    port: {netns: vr-idc2, ifname: ll0, ip: 192.0.2.5, peer_ip: 192.0.2.6}\nrouter_interfaces:\n  - {id: ri-a, vpc: vpc-a, peer: ri-b}\n  - {id: ri-b, vbr: vbr-b, peer: ri-a}\n"},
		{"C2 port without ifname", hdr + "vbrs:\n  - id: vbr-a\n    port: {netns: vr-idc, ip: 192.0.2.1, peer_ip: 192.0.2.2} # ERR C2 vbr-a\n"},
		{"C2 port ip equals peer_ip", hdr + "vbrs:\n  - id: vbr-a\n    port: {netns: vr-idc, ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.1} # ERR C2 vbr-a\n"},
		{"C2 port ifname longer than 15", hdr + "vbrs:\n  - id: vbr-a\n    port: {netns: vr-idc, ifname: leasedline-to-idc, ip: 192.0.2.1, peer_ip: 192.0.2.2} # ERR C2 vbr-a\n"},
		{"C2 port peer_ip multicast", hdr + "vbrs:\n  - id: vbr-a\n    port: {netns: vr-idc, ifname: ll0, ip: 192.0.2.1, peer_ip: 239.0.0.1} # ERR C2 vbr-a\n"},
		{"C2 missing port", hdr + "vbrs:\n  - id: vbr-a # ERR C2 vbr-a\n    name: idc\n"},

		// ---- C3 VPN gateways
		{"C3 unknown vpc", hdr + "vpn_gateways:\n  - {id: vpn-a, vpc: vpc-zz, port: {netns: vr-b, ifname: vpn0, ip: 192.0.2.1, peer_ip: 192.0.2.2}} # ERR C3 vpn-a\n"},
		{"C3 missing port fields", base + "vpn_gateways:\n  - id: vpn-a\n    vpc: vpc-a\n    port: {ifname: vpn0, ip: 192.0.2.1, peer_ip: 192.0.2.2} # ERR C3 vpn-a\n"},
		{"C3 ifname clash in a namespace", base + "vpn_gateways:\n  - {id: vpn-a, vpc: vpc-a, port: {netns: vr-x, ifname: p0, ip: 192.0.2.1, peer_ip: 192.0.2.2}}\n  - {id: vpn-b, vpc: vpc-a, port: {netns: vr-x, ifname: p0, ip: 192.0.2.5, peer_ip: 192.0.2.6}} # ERR C3 vpn-b\n"},

		// ---- C4 CEN
		{"C4 unknown attachment", base + "cens:\n  - {id: cen-a, attachments: [vpc-a, vpc-zz]} # ERR C4 cen-a\n"},
		{"C4 bad attachment kind", base + "cens:\n  - {id: cen-a, attachments: [vpc-a, vsw-a]} # ERR C4 cen-a\n"},
		{"C4 attachment in two CENs", base2 + "cens:\n  - {id: cen-a, attachments: [vpc-a, vpc-b]}\n  - {id: cen-b, attachments: [vpc-a]} # ERR C4 cen-b\n"},
		{"C4 empty CEN", base + "cens:\n  - {id: cen-a, attachments: []} # ERR C4 cen-a\n"},

		// ---- C5 ClassicLink
		{"C5 classic ip in 10.111.0.0/16", classicCase("ip: 10.111.0.5 # ERR C5 i-c", "")},
		{"C5 classic ip outside 10.0.0.0/8", classicCase("ip: 172.16.0.5 # ERR C5 i-c", "")},
		{"C5 link to VPC without classic_link", classicCase("ip: 10.1.0.5", "link: vpc-a # ERR C5 i-c")},
		{"C5 link to unknown VPC", classicCase("ip: 10.1.0.5", "link: vpc-zz # ERR C5 i-c")},
		{"C5 classic instance without group", hdr + "classic:\n  instances:\n    - {id: i-c, ip: 10.1.0.5} # ERR C5 i-c\n"},
		{"C5 custom route inside 10.0.0.0/8", hdr + "vpcs:\n  - id: vpc-l\n    cidr: 172.16.0.0/16\n    classic_link: true\n    vswitches:\n      - {id: vsw-l, zone: z1, cidr: 172.16.1.0/24}\n    route_tables:\n      - id: vtb-l\n        type: system\n        routes:\n          - {dst: 10.2.0.0/16, next_hop: i-a} # ERR C5 vtb-l\ninstances:\n  - {id: i-a, vswitch: vsw-l}\n"},
		{"C5 VPC in 10/8 without 10.111", hdr + "vpcs:\n  - id: vpc-l\n    cidr: 10.1.0.0/16 # ERR C5 vpc-l\n    classic_link: true\n"},
		{"C5 VSwitch of a 10/8 VPC outside 10.111", hdr + "vpcs:\n  - id: vpc-l\n    cidr: 10.0.0.0/8\n    classic_link: true\n    vswitches:\n      - {id: vsw-l, zone: z1, cidr: 10.1.0.0/24} # ERR C5 vsw-l\n"},
		{"C5 six VPC groups in a link rule", classicLinkVPC + "    security_groups:\n" + groupsYAML(6) + "classic:\n  security_groups:\n    - id: sg-c\n      classic_link_rules:\n        - {vpc_security_groups: [sg-0, sg-1, sg-2, sg-3, sg-4, sg-5], mode: both, protocol: all} # ERR C5 sg-c\n"},
		{"C5 unknown VPC group in a link rule", classicLinkVPC + "classic:\n  security_groups:\n    - id: sg-c\n      classic_link_rules:\n        - {vpc_security_groups: [sg-zz], mode: both, protocol: all} # ERR C5 sg-c\n"},
		{"C5 bad mode", classicLinkVPC + "classic:\n  security_groups:\n    - id: sg-c\n      classic_link_rules:\n        - {vpc_security_groups: [sg-default-l], mode: sideways, protocol: all} # ERR C5 sg-c\n"},
		{"C5 link rule group of a non-ClassicLink VPC", base + "classic:\n  security_groups:\n    - id: sg-c\n      classic_link_rules:\n        - {vpc_security_groups: [sg-default-a], protocol: all} # ERR C5 sg-c\n"},
		{"C5 duplicate classic ip", hdr + "classic:\n  security_groups: [{id: sg-c}]\n  instances:\n    - {id: i-c1, ip: 10.1.0.5, security_groups: [sg-c]}\n    - {id: i-c2, ip: 10.1.0.5, security_groups: [sg-c]} # ERR C5 i-c2\n"},

		// ---- C6 internet, EIPs, NAT gateways
		{"C6 EIP private address", base + inetPort + "eips:\n  - {id: eip-a, ip: 192.168.9.9} # ERR C6 eip-a\n"},
		{"C6 EIP address twice", base + inetPort + "eips:\n  - {id: eip-a, ip: 198.51.100.1}\n  - {id: eip-b, ip: 198.51.100.1} # ERR C6 eip-b\n"},
		{"C6 EIP unknown instance", base + inetPort + "eips:\n  - {id: eip-a, ip: 198.51.100.1, instance: i-zz} # ERR C6 eip-a\n"},
		{"C6 two EIPs on one instance", base + inetPort + "instances:\n  - {id: i-a, vswitch: vsw-a}\neips:\n  - {id: eip-a, ip: 198.51.100.1, instance: i-a}\n  - {id: eip-b, ip: 198.51.100.2, instance: i-a} # ERR C6 eip-b\n"},
		{"C6 EIP without internet", base + "eips:\n  - {id: eip-a, ip: 198.51.100.1} # ERR C6 eip-a\n"},
		{"C6 internet port ifname longer than 15", hdr + "internet:\n  port: {netns: vr-inet, ifname: internet-uplink0, ip: 203.0.113.1, peer_ip: 203.0.113.2} # ERR C6 internet\n"},
		{"C6 SNAT VSwitch of another VPC", natCase("snat: [{source: vsw-c, eip: eip-a}] # ERR C6 ngw-a")},
		{"C6 SNAT CIDR outside the VPC", natCase("snat: [{source: 10.0.0.0/8, eip: eip-a}] # ERR C6 ngw-a")},
		{"C6 SNAT source not a CIDR", natCase("snat: [{source: everything, eip: eip-a}] # ERR C6 ngw-a")},
		{"C6 SNAT with an instance's EIP", natCase("snat: [{source: vsw-a, eip: eip-i}] # ERR C6 ngw-a")},
		{"C6 SNAT unknown EIP", natCase("snat: [{source: vsw-a, eip: eip-zz}] # ERR C6 ngw-a")},
		{"C6 DNAT bad protocol", natCase("dnat: [{eip: eip-a, protocol: icmp, external_port: 80, internal_ip: 192.168.1.10, internal_port: 80}] # ERR C6 ngw-a")},
		{"C6 DNAT port 0", natCase("dnat: [{eip: eip-a, protocol: tcp, external_port: 0, internal_ip: 192.168.1.10, internal_port: 80}] # ERR C6 ngw-a")},
		{"C6 DNAT port 70000", natCase("dnat: [{eip: eip-a, protocol: udp, external_port: 53, internal_ip: 192.168.1.10, internal_port: 70000}] # ERR C6 ngw-a")},
		{"C6 DNAT internal_ip not an ENI", natCase("dnat: [{eip: eip-a, protocol: tcp, external_port: 80, internal_ip: 192.168.1.99, internal_port: 80}] # ERR C6 ngw-a")},
		{"C6 DNAT duplicate mapping", natCase("dnat:\n      - {eip: eip-a, protocol: tcp, external_port: 80, internal_ip: 192.168.1.10, internal_port: 80}\n      - {eip: eip-a, protocol: tcp, external_port: 80, internal_ip: 192.168.1.10, internal_port: 81} # ERR C6 ngw-a")},
		{"C6 NAT gateway unknown VPC", base + inetPort + "nat_gateways:\n  - {id: ngw-a, vpc: vpc-zz} # ERR C6 ngw-a\n"},
		{"C6 next_hop NAT gateway of another VPC", base2 + "    route_tables:\n      - id: vtb-c\n        routes:\n          - {dst: 0.0.0.0/0, next_hop: ngw-a} # ERR V15 vtb-c\n" + inetPort + "nat_gateways:\n  - {id: ngw-a, vpc: vpc-a}\n"},
	}
	cs = append(cs, limitCases()...)
	return cs
}

const riBase = base + `  - id: vpc-b
    cidr: 172.16.0.0/16
`

const vbrYAML = "vbrs:\n  - id: vbr-a\n    port: {netns: vr-idc, ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.2}\n"

const classicLinkVPC = hdr + `vpcs:
  - id: vpc-l
    cidr: 172.16.0.0/16
    classic_link: true
`

func routeCase(entry, rule string) string {
	return base + "    route_tables:\n      - id: vtb-a\n        routes:\n          - " + entry + " # ERR " + rule + " vtb-a\n" +
		"instances:\n  - {id: i-a, vswitch: vsw-a}\n  - {id: i-b, vswitch: vsw-a}\n  - {id: i-c, vswitch: vsw-a}\n  - {id: i-d, vswitch: vsw-a}\n  - {id: i-e, vswitch: vsw-a}\n"
}

func sgCase(rule string) string {
	return base + "    security_groups:\n      - id: sg-a\n        rules:\n          - " + rule + " # ERR V16 sg-a\n"
}

func mcCase(group, server, members string) string {
	return base + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10}\n  - {id: i-b, vswitch: vsw-a, ip: 192.168.1.11}\n" +
		"multicast:\n  - vpc: vpc-a\n    group: " + group + "\n    server: " + server + "\n    members: " + members + "\n"
}

func classicCase(ipLine, linkLine string) string {
	s := base + "classic:\n  security_groups: [{id: sg-c}]\n  instances:\n    - id: i-c\n      security_groups: [sg-c]\n      " + ipLine + "\n"
	if linkLine != "" {
		s += "      " + linkLine + "\n"
	}
	return s
}

func natCase(body string) string {
	return base2 + "instances:\n  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10}\n" + inetPort +
		"eips:\n  - {id: eip-a, ip: 198.51.100.1}\n  - {id: eip-i, ip: 198.51.100.2, instance: i-a}\n" +
		"nat_gateways:\n  - id: ngw-a\n    vpc: vpc-a\n    " + body + "\n"
}

func groupsYAML(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - {id: sg-%d}\n", i)
	}
	return b.String()
}

// limitCases generates the configurations for the limits of V19, V17 and
// C5 (one past each limit).
func limitCases() []invalidCase {
	var out []invalidCase
	add := func(name string, b *strings.Builder) { out = append(out, invalidCase{name, b.String()}) }

	var b strings.Builder
	b.WriteString(hdr + "vpcs:\n")
	for i := 0; i < 11; i++ {
		mark := ""
		if i == 10 {
			mark = " # ERR V19 vpc-10"
		}
		fmt.Fprintf(&b, "  - {id: vpc-%d, cidr: 10.%d.0.0/16}%s\n", i, i, mark)
	}
	add("V19 11 VPCs", &b)

	b.Reset()
	b.WriteString(hdr + "vpcs:\n  - id: vpc-a\n    cidr: 10.0.0.0/8\n    vswitches:\n")
	for i := 0; i < 151; i++ {
		mark := ""
		if i == 150 {
			mark = " # ERR V19 vsw-150"
		}
		fmt.Fprintf(&b, "      - {id: vsw-%d, zone: z1, cidr: 10.%d.%d.0/24}%s\n", i, i/256, i%256, mark)
	}
	add("V19 151 VSwitches", &b)

	b.Reset()
	b.WriteString(base + "    route_tables:\n")
	for i := 0; i < 10; i++ { // + the system table = 11
		mark := ""
		if i == 9 {
			mark = " # ERR V19 vtb-9"
		}
		fmt.Fprintf(&b, "      - {id: vtb-%d}%s\n", i, mark)
	}
	add("V19 11 route tables", &b)

	b.Reset()
	b.WriteString(base + "    route_tables:\n      - id: vtb-a\n        routes:\n")
	for i := 0; i < 201; i++ {
		mark := ""
		if i == 200 {
			mark = " # ERR V19 vtb-a"
		}
		fmt.Fprintf(&b, "          - {dst: 10.%d.%d.0/24, next_hop: i-a}%s\n", i/256, i%256, mark)
	}
	b.WriteString("instances:\n  - {id: i-a, vswitch: vsw-a}\n")
	add("V19 201 custom routes", &b)

	b.Reset()
	b.WriteString(base + "    security_groups:\n      - id: sg-a\n        rules:\n")
	for i := 0; i < 201; i++ {
		mark := ""
		if i == 200 {
			mark = " # ERR V19 sg-a"
		}
		fmt.Fprintf(&b, "          - {direction: ingress, protocol: tcp, port_range: %d/%d, source_cidr: 0.0.0.0/0}%s\n", i+1, i+1, mark)
	}
	add("V19 201 rules", &b)

	b.Reset()
	b.WriteString(base + "instances:\n")
	for i := 0; i < 129; i++ {
		fmt.Fprintf(&b, "  - {id: i-%d, vswitch: vsw-a}\n", i)
	}
	b.WriteString("multicast:\n  - vpc: vpc-a\n    group: 239.1.1.1\n    server: i-0\n    members: [")
	for i := 0; i < 129; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "192.168.1.%d", i+1)
	}
	b.WriteString("] # ERR V17 239.1.1.1\n")
	add("V17 129 members", &b)

	b.Reset()
	b.WriteString(base + "instances:\n  - {id: i-s, vswitch: vsw-a, ip: 192.168.1.10}\n  - {id: i-m, vswitch: vsw-a, ip: 192.168.1.11}\nmulticast:\n")
	for i := 0; i < 11; i++ {
		fmt.Fprintf(&b, "  - vpc: vpc-a\n    group: 239.1.1.%d\n", i+1)
		if i == 10 {
			fmt.Fprintf(&b, "    server: i-s # ERR V17 239.1.1.11\n")
		} else {
			fmt.Fprintf(&b, "    server: i-s\n")
		}
		if i == 10 {
			fmt.Fprintf(&b, "    members: [192.168.1.11] # ERR V17 239.1.1.11\n")
		} else {
			fmt.Fprintf(&b, "    members: [192.168.1.11]\n")
		}
	}
	add("V17 11 groups per server", &b)

	b.Reset()
	b.WriteString(base + "instances:\n  - {id: i-s1, vswitch: vsw-a, ip: 192.168.1.10}\n  - {id: i-s2, vswitch: vsw-a, ip: 192.168.1.12}\n  - {id: i-m, vswitch: vsw-a, ip: 192.168.1.11}\nmulticast:\n")
	for i := 0; i < 11; i++ {
		srv := "i-s1"
		if i >= 6 {
			srv = "i-s2"
		}
		mark := ""
		if i == 10 {
			mark = " # ERR V17 239.1.2.11"
		}
		fmt.Fprintf(&b, "  - {vpc: vpc-a, group: 239.1.2.%d, server: %s, members: [192.168.1.11]}%s\n", i+1, srv, mark)
	}
	add("V17 11 groups per member", &b)

	b.Reset()
	b.WriteString(classicLinkVPC + "classic:\n  security_groups: [{id: sg-c}]\n  instances:\n")
	for i := 0; i < 1001; i++ {
		mark := ""
		if i == 1000 {
			mark = " # ERR C5 i-c1000"
		}
		fmt.Fprintf(&b, "    - {id: i-c%d, ip: 10.1.%d.%d, security_groups: [sg-c], link: vpc-l}%s\n", i, i/250, i%250+1, mark)
	}
	add("C5 1001 ClassicLink instances", &b)
	return out
}

func TestValidateInvalid(t *testing.T) {
	cases := invalidCases()
	if len(cases) < 80 {
		t.Fatalf("only %d invalid cases", len(cases))
	}
	rules := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := marks(t, tc.yaml)
			if len(want) == 0 {
				t.Fatal("case has no # ERR marker")
			}
			_, _, err := ParseAndValidate("t.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("valid, want %v", want)
			}
			var got []mark
			for _, d := range Diagnostics(err) {
				if d.File != "t.yaml" {
					t.Errorf("file %q", d.File)
				}
				if !strings.HasPrefix(d.Error(), fmt.Sprintf("t.yaml:%d:%d: %s: %s: ", d.Line, d.Col, d.ID, d.Rule)) {
					t.Errorf("format: %q", d.Error())
				}
				got = append(got, mark{d.Line, d.Rule, d.ID})
			}
			if !sameMarks(got, want) {
				t.Errorf("got  %v\nwant %v\nerrors:\n%v", uniq(got), uniq(want), err)
			}
			for _, m := range want {
				rules[m.rule] = true
			}
		})
	}
	for _, r := range []string{"V0", "V1", "V2", "V3", "V6", "V7", "V8", "V9", "V10", "V11", "V12", "V13", "V14", "V15", "V16", "V17", "V19",
		"C1", "C2", "C3", "C4", "C5", "C6", "S7"} {
		if !rules[r] {
			t.Errorf("no invalid case for %s", r)
		}
	}
}

func uniq(ms []mark) []string {
	set := map[string]bool{}
	for _, m := range ms {
		set[m.String()] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameMarks(a, b []mark) bool {
	x, y := uniq(a), uniq(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}
