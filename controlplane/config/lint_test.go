package config

import (
	"testing"
)

// Lint findings are marked like invalid cases: "# LINT <rule> <id>".
func TestLint(t *testing.T) {
	cases := []struct{ name, yaml string }{
		{"L1 higher priority superset", base + `    security_groups:
      - id: sg-a
        inner_access: drop
        rules:
          - {direction: ingress, policy: drop, priority: 1, protocol: all, source_cidr: 10.0.0.0/8}
          - {direction: ingress, policy: accept, priority: 2, protocol: tcp, port_range: 22/22, source_cidr: 10.1.0.0/16} # LINT L1 sg-a
          - {direction: ingress, policy: accept, priority: 2, protocol: tcp, port_range: 22/22, source_cidr: 192.168.0.0/16}
`},
		{"L1 equal priority drop beats accept", base + `    security_groups:
      - id: sg-a
        inner_access: drop
        rules:
          - {direction: egress, policy: accept, priority: 5, protocol: udp, port_range: 53/53, dest_cidr: 8.8.8.8/32} # LINT L1 sg-a
          - {direction: egress, policy: drop, priority: 5, protocol: udp, port_range: 1/65535, dest_cidr: 0.0.0.0/0}
`},
		{"L1 duplicate rule reported once", base + `    security_groups:
      - id: sg-a
        inner_access: drop
        rules:
          - {direction: ingress, policy: accept, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0}
          - {direction: ingress, policy: accept, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0} # LINT L1 sg-a
`},
		{"L1 not shadowed: different direction, protocol, port, peer or lower priority", base + `    security_groups:
      - id: sg-a
        inner_access: drop
        rules:
          - {direction: ingress, policy: drop, priority: 2, protocol: tcp, port_range: 22/22, source_cidr: 10.0.0.0/8}
          - {direction: egress, policy: accept, priority: 3, protocol: tcp, port_range: 22/22, dest_cidr: 10.0.0.0/8}
          - {direction: ingress, policy: accept, priority: 3, protocol: udp, port_range: 22/22, source_cidr: 10.0.0.0/8}
          - {direction: ingress, policy: accept, priority: 3, protocol: tcp, port_range: 22/23, source_cidr: 10.0.0.0/8}
          - {direction: ingress, policy: accept, priority: 3, protocol: tcp, port_range: 22/22, source_cidr: 0.0.0.0/0}
          - {direction: ingress, policy: accept, priority: 1, protocol: tcp, port_range: 22/22, source_cidr: 10.1.0.0/16}
`},
		{"L2 drop rule hidden by inner access", base + `    security_groups:
      - id: sg-a
        rules:
          - {direction: ingress, policy: drop, protocol: tcp, port_range: 22/22, source_cidr: 192.168.1.11/32} # LINT L2 sg-a
          - {direction: ingress, policy: drop, protocol: tcp, port_range: 23/23, source_cidr: 172.16.0.0/12}
      - id: sg-b
        rules:
          - {direction: ingress, policy: drop, protocol: all, source_group: sg-b} # LINT L2 sg-b
instances:
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-a]}
  - {id: i-b, vswitch: vsw-a, ip: 192.168.1.11, security_groups: [sg-a]}
`},
		{"L2 drop in one group hidden by inner access of another", base + `    security_groups:
      - id: sg-open
      - id: sg-strict
        inner_access: drop
        rules:
          - {direction: egress, policy: drop, protocol: all, dest_group: sg-open} # LINT L2 sg-strict
instances:
  - {id: i-a, vswitch: vsw-a, security_groups: [sg-open, sg-strict]}
  - {id: i-b, vswitch: vsw-a, security_groups: [sg-open]}
`},
		{"L2 not hidden with inner_access drop", base + `    security_groups:
      - id: sg-a
        inner_access: drop
        rules:
          - {direction: ingress, policy: drop, protocol: all, source_cidr: 192.168.1.0/24}
instances:
  - {id: i-a, vswitch: vsw-a, security_groups: [sg-a]}
  - {id: i-b, vswitch: vsw-a, security_groups: [sg-a]}
`},
		{"L3 covered by more specific entries", base + `    route_tables:
      - id: vtb-a
        routes:
          - {dst: 10.0.0.0/23, next_hop: i-a} # LINT L3 vtb-a
          - {dst: 10.0.0.0/24, next_hop: i-b}
          - {dst: 10.0.1.0/25, next_hop: i-b}
          - {dst: 10.0.1.128/25, next_hop: i-b}
          - {dst: 10.0.2.0/23, next_hop: i-a}
          - {dst: 10.0.2.0/24, next_hop: i-b}
          - {dst: 0.0.0.0/0, next_hop: i-a}
instances:
  - {id: i-a, vswitch: vsw-a}
  - {id: i-b, vswitch: vsw-a}
`},
		{"L3 covered partly by system entries", base + `    route_tables:
      - id: vtb-a
        routes:
          - {dst: 192.168.0.0/23, next_hop: i-a} # LINT L3 vtb-a
          - {dst: 192.168.0.0/24, next_hop: i-a}
instances:
  - {id: i-a, vswitch: vsw-a}
`},
		{"L3 in a VBR", hdr + `vbrs:
  - id: vbr-a
    port: {netns: vr-idc, ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.2}
    routes:
      - {dst: 10.0.0.0/31, next_hop: leased_line} # LINT L3 vbr-a
      - {dst: 10.0.0.0/32, next_hop: leased_line}
      - {dst: 10.0.0.1/32, next_hop: leased_line}
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := mustValid(t, tc.yaml)
			var want []mark
			for _, m := range marks(t, lintMarks(tc.yaml)) {
				want = append(want, m)
			}
			var got []mark
			for _, d := range Lint(c) {
				if !d.Warning {
					t.Errorf("not a warning: %v", d)
				}
				got = append(got, mark{d.Line, d.Rule, d.ID})
			}
			if !sameMarks(got, want) {
				t.Errorf("got  %v\nwant %v\n%v", uniq(got), uniq(want), Lint(c))
			}
		})
	}
}

// lintMarks turns "# LINT" markers into "# ERR" markers for marks().
func lintMarks(y string) string {
	out := []byte(y)
	for i := 0; i+6 <= len(out); i++ {
		if string(out[i:i+6]) == "# LINT" {
			copy(out[i:i+6], "# ERR ")
		}
	}
	return string(out)
}

func TestLintNil(t *testing.T) {
	if Lint(nil) != nil {
		t.Error("nil config")
	}
}
