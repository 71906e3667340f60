package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/api/apitest"
)

const ctlYAML = `version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-demo
    name: demo
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: cn-hangzhou-b, cidr: 192.168.2.0/24, route_table: vtb-b}
      - {id: vsw-c, zone: cn-hangzhou-b, cidr: 192.168.3.0/24}
    route_tables:
      - id: vtb-b
        name: Table1
        routes:
          - {dst: 0.0.0.0/0, next_hop: i-nat}
          - dst: 172.16.0.0/12
            next_hops: [{id: i-fw1, weight: 100}, {id: i-fw2, weight: 0}]
    security_groups:
      - id: sg-web
        rules:
          - {direction: ingress, policy: accept, priority: 1, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0}
  - id: vpc-other
    cidr: 10.20.0.0/16
instances:
  - {id: i-web1, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-web], netns: web1}
  - {id: i-nat,  vswitch: vsw-a, ip: 192.168.1.20, netns: nat}
  - {id: i-fw1,  vswitch: vsw-a, ip: 192.168.1.30, netns: fw1}
  - {id: i-fw2,  vswitch: vsw-a, ip: 192.168.1.31, netns: fw2}
  - {id: i-app,  vswitch: vsw-b, ip: 192.168.2.10, netns: app}
`

var markOnce sync.Once

// ctlEnv is a vrouterd stand-in: an in-memory backend served on a unix
// socket, as vrouterctl meets it.
type ctlEnv struct {
	cfgPath, sock string
	b             *apitest.Backend
}

func newCtlEnv(t *testing.T) *ctlEnv {
	t.Helper()
	markOnce.Do(func() { markRunErrors(rootCmd) })
	dir := t.TempDir()
	e := &ctlEnv{cfgPath: filepath.Join(dir, "vrouter.yaml"), sock: filepath.Join(dir, "api.sock")}
	if err := os.WriteFile(e.cfgPath, []byte(ctlYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := apitest.New(e.cfgPath, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	e.b = b
	srv := api.NewServer(b, nil)
	if err := srv.Serve(e.sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return e
}

// resetFlags puts every flag of every command back to its default:
// cobra keeps flag values between Execute calls in one process.
func resetFlags(c *cobra.Command) {
	reset := func(f *pflag.Flag) {
		if f.Changed {
			f.Value.Set(f.DefValue)
			f.Changed = false
		}
	}
	c.Flags().VisitAll(reset)
	c.PersistentFlags().VisitAll(reset)
	for _, sub := range c.Commands() {
		resetFlags(sub)
	}
}

// run executes vrouterctl in-process against the test server.
func (e *ctlEnv) run(args ...string) (code int, stdout, stderr string) {
	resetFlags(rootCmd)
	outputFmt = outputTable
	var out, errb bytes.Buffer
	code = execute(append([]string{"--socket", e.sock}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// SPEC R6: one subcommand per API action; tables for people, -o json for
// programs; exit 0 ok, 1 API/validation error, 2 usage.
func TestAPICommands(t *testing.T) {
	e := newCtlEnv(t)
	cases := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout, in order
		err  []string // substrings of stderr
	}{
		{"describe-vpcs", []string{"describe-vpcs"}, 0,
			[]string{"VPC", "USABLE IPS", "vpc-demo", "demo", "192.168.0.0/16", "vrt-demo", "vsw-a,vsw-b,vsw-c", "65532", "vpc-other"}, nil},
		{"describe-vpcs json", []string{"describe-vpcs", "-o", "json", "--vpc", "vpc-other"}, 0,
			[]string{`"Vpcs": [`, `"VpcId": "vpc-other"`, `"TotalCount": 1`}, nil},
		{"describe-vswitches", []string{"describe-vswitches", "--vpc", "vpc-demo"}, 0,
			[]string{"vsw-a", "192.168.1.253", "248", "vtb-sys-demo (system)", "vsw-b", "vtb-b (custom)"}, nil},
		{"describe-route-tables", []string{"describe-route-tables"}, 0, []string{"vtb-sys-demo", "System", "vtb-b", "Table1", "Custom", "vsw-b"}, nil},
		{"describe-route-entry-list", []string{"describe-route-entry-list", "--table", "vtb-b"}, 0,
			[]string{"DESTINATION", "100.64.0.0/10", "System", "service", "192.168.2.0/24", "local", "vsw-b",
				"0.0.0.0/0", "Custom", "single", "i-nat", "172.16.0.0/12", "active/standby", "i-fw1(w100,up) i-fw2(w0,up)"}, nil},
		{"describe-route-entry-list needs --table", []string{"describe-route-entry-list"}, 2, nil, []string{`required flag(s) "table" not set`}},
		{"describe-security-groups", []string{"describe-security-groups"}, 0, []string{"sg-web", "accept", "sg-default-demo", "yes"}, nil},
		{"describe-security-group-attribute", []string{"describe-security-group-attribute", "--group", "sg-web"}, 0,
			[]string{"sg-web (-) in vpc-demo, inner access accept", "ingress", "accept", "tcp", "80/80", "0.0.0.0/0"}, nil},
		{"describe-instances", []string{"describe-instances", "--vswitch", "vsw-b"}, 0, []string{"i-app", "192.168.2.10", "eth0=192.168.2.10"}, nil},
		{"describe-network-interfaces", []string{"describe-network-interfaces", "--group", "sg-web"}, 0, []string{"i-web1", "primary", "web1", "eth0"}, nil},
		{"unknown VPC", []string{"describe-vpcs", "--vpc", "vpc-x"}, 1, nil, []string{"vrouterctl: VPC vpc-x does not exist"}},

		{"create-route-entry", []string{"create-route-entry", "--table", "vtb-b", "--dst", "10.9.0.0/16", "--next-hop", "i-fw1"}, 0,
			[]string{"CreateRouteEntry: done (overlay: 1 operations)"}, nil},
		{"create-route-entry weighted", []string{"create-route-entry", "--table", "vtb-b", "--dst", "10.8.0.0/16", "--next-hops", "i-fw1:100,i-fw2:100",
			"--health-interval", "2s", "--health-failures", "2"}, 0, []string{"done (overlay: 2 operations)"}, nil},
		{"V13 via the CLI", []string{"create-route-entry", "--table", "vtb-b", "--dst", "192.168.1.0/24", "--next-hop", "i-fw1"}, 1, nil,
			[]string{"CreateRouteEntry rejected", "api:CreateRouteEntry: vtb-b: V13: dst 192.168.1.0/24 equals the system entry of VSwitch vsw-a"}},
		{"next-hop flags exclusive", []string{"create-route-entry", "--table", "vtb-b", "--dst", "10.7.0.0/16", "--next-hop", "i-fw1", "--next-hops", "i-fw1:1,i-fw2:1"}, 2, nil, []string{"none of the others can be"}},
		{"bad --next-hops", []string{"create-route-entry", "--table", "vtb-b", "--dst", "10.7.0.0/16", "--next-hops", "i-fw1"}, 2, nil, []string{"ID:WEIGHT"}},
		{"delete-route-entry", []string{"delete-route-entry", "--table", "vtb-b", "--dst", "10.9.0.0/16"}, 0, []string{"DeleteRouteEntry: done"}, nil},
		{"create-route-table", []string{"create-route-table", "--vpc", "vpc-demo", "--table", "vtb-c", "--name", "Table2"}, 0, []string{"CreateRouteTable: done"}, nil},
		{"associate-route-table", []string{"associate-route-table", "--table", "vtb-c", "--vswitch", "vsw-c"}, 0, []string{"done"}, nil},
		{"unassociate-route-table", []string{"unassociate-route-table", "--table", "vtb-c", "--vswitch", "vsw-c"}, 0, []string{"done"}, nil},
		{"delete-route-table", []string{"delete-route-table", "--table", "vtb-c"}, 0, []string{"DeleteRouteTable: done"}, nil},
		{"authorize-security-group", []string{"authorize-security-group", "--group", "sg-web", "--direction", "ingress", "--protocol", "tcp",
			"--port-range", "22/22", "--source-cidr", "0.0.0.0/0", "--policy", "accept", "--priority", "1"}, 0, []string{"AuthorizeSecurityGroup: done"}, nil},
		{"authorize-security-group-egress", []string{"authorize-security-group-egress", "--group", "sg-web", "--protocol", "tcp",
			"--port-range", "25/25", "--dest-cidr", "0.0.0.0/0", "--policy", "drop"}, 0, []string{"done"}, nil},
		{"revoke-security-group-egress", []string{"revoke-security-group-egress", "--group", "sg-web", "--protocol", "tcp",
			"--port-range", "25/25", "--dest-cidr", "0.0.0.0/0", "--policy", "drop"}, 0, []string{"done"}, nil},
		{"revoke-security-group", []string{"revoke-security-group", "--group", "sg-web", "--protocol", "tcp", "--port-range", "22/22", "--source-cidr", "0.0.0.0/0"}, 0, []string{"done"}, nil},
		{"V16 port range", []string{"authorize-security-group", "--group", "sg-web", "--protocol", "icmp", "--port-range", "1/2", "--source-cidr", "0.0.0.0/0"}, 1, nil,
			[]string{"api:AuthorizeSecurityGroup: sg-web: V16: port_range 1/2 for icmp must be -1/-1"}},
		{"create-security-group", []string{"create-security-group", "--vpc", "vpc-demo", "--group", "sg-db", "--inner-access", "drop"}, 0, []string{"done"}, nil},
		{"join-security-group", []string{"join-security-group", "--instance", "i-nat", "--group", "sg-db"}, 0, []string{"done"}, nil},
		{"delete a group in use", []string{"delete-security-group", "--group", "sg-db"}, 1, nil, []string{"V16: in use by i-nat"}},
		{"leave-security-group", []string{"leave-security-group", "--instance", "i-nat", "--group", "sg-db"}, 0, []string{"done"}, nil},
		{"join needs one of --instance/--eni", []string{"join-security-group", "--group", "sg-db"}, 2, nil, []string{"instance"}},
		{"delete-security-group", []string{"delete-security-group", "--group", "sg-db"}, 0, []string{"done"}, nil},
		{"modify-vpc-attribute", []string{"modify-vpc-attribute", "--vpc", "vpc-demo", "--name", "production"}, 0, []string{"done"}, nil},
		{"modify-vpc-attribute nothing", []string{"modify-vpc-attribute", "--vpc", "vpc-demo"}, 2, nil, []string{"nothing to change"}},
		{"modify-vswitch-attribute", []string{"modify-vswitch-attribute", "--vswitch", "vsw-a", "--description", "web tier"}, 0, []string{"done"}, nil},
		{"create-vswitch", []string{"create-vswitch", "--vpc", "vpc-demo", "--vswitch", "vsw-d", "--zone", "cn-hangzhou-b", "--cidr", "192.168.4.0/24"}, 0, []string{"done"}, nil},
		{"delete-vswitch", []string{"delete-vswitch", "--vswitch", "vsw-d"}, 0, []string{"done"}, nil},
		{"V5 delete-vswitch with ENIs", []string{"delete-vswitch", "--vswitch", "vsw-a"}, 1, nil, []string{"api:DeleteVSwitch: vsw-a: V5: holds ENIs"}},
		{"create-vpc", []string{"create-vpc", "--vpc", "vpc-lab", "--cidr", "172.16.0.0/16"}, 0, []string{"done"}, nil},
		{"delete-vpc", []string{"delete-vpc", "--vpc", "vpc-lab"}, 0, []string{"done"}, nil},
		{"V5 delete-vpc with VSwitches", []string{"delete-vpc", "--vpc", "vpc-demo"}, 1, nil, []string{"V5: has VSwitches"}},
		{"positional argument", []string{"describe-vpcs", "extra"}, 2, nil, []string{"takes no arguments"}},

		{"state show", []string{"state", "show"}, 0, []string{"#", "ACTION", "CreateRouteEntry", "DeleteRouteEntry", "DeleteVpc", "operations in "}, nil},
		{"state bogus", []string{"state", "bogus"}, 2, nil, []string{"unknown state subcommand"}},
		{"reload", []string{"reload"}, 0, []string{"reloaded (overlay: 21 operations, 0 dropped)"}, nil},
		{"trace", []string{"trace", "--from", "i-nat", "--dst", "192.168.1.10", "--proto", "tcp", "--dport", "80"}, 0,
			[]string{"packet: tcp 192.168.1.20:49152 -> 192.168.1.10:80 from i-nat", "STAGE", "anti-spoofing", "route", "vtb-sys-demo",
				"security-group ingress", "rule sg-web", "verdict: forward to i-web1"}, nil},
		{"trace drop", []string{"trace", "--from", "192.168.1.10", "--dst", "192.168.1.20"}, 0, []string{"verdict: drop (sg_ingress)"}, nil},
		{"trace json", []string{"trace", "--from", "i-web1", "--dst", "100.64.0.9", "-o", "json"}, 0, []string{`"Verdict": "drop"`, `"Reason": "cloud_service"`}, nil},
		{"trace needs --dst", []string{"trace", "--from", "i-web1"}, 2, nil, []string{`"dst" not set`}},
		{"flows", []string{"flows", "--proto", "tcp"}, 0, []string{"PROTO", "0 flows"}, nil},
		{"stats", []string{"stats"}, 0, []string{"PORT", "RX PACKETS", "i-web1", "conntrack: 0/1048576 entries"}, nil},
		{"health", []string{"health"}, 0, []string{"TABLE", "NEXT HOP", "STATE"}, nil},
		{"state reset", []string{"state", "reset"}, 0, []string{"overlay reset: 21 operations dropped"}, nil},
	}
	for _, tc := range cases {
		code, out, errs := e.run(tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.name, code, tc.code, out, errs)
			continue
		}
		rest := out
		for _, s := range tc.out {
			i := strings.Index(rest, s)
			if i < 0 {
				t.Errorf("%s: stdout lacks %q (in order):\n%s", tc.name, s, out)
				break
			}
			rest = rest[i+len(s):]
		}
		for _, s := range tc.err {
			if !strings.Contains(errs, s) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, s, errs)
			}
		}
		if tc.code != 0 && out != "" && !strings.HasPrefix(tc.name, "V") {
			t.Errorf("%s: failure printed on stdout:\n%s", tc.name, out)
		}
	}
	if n := e.b.Overlay().Len(); n != 0 {
		t.Fatalf("overlay after state reset = %d", n)
	}
}

// SPEC R3/R6: reload exits 1 and prints every error when the file is
// invalid; the running configuration stays.
func TestReloadInvalidExitsOne(t *testing.T) {
	e := newCtlEnv(t)
	bad := strings.Replace(ctlYAML, "cidr: 192.168.3.0/24", "cidr: 192.168.3.0/24\n        bogus: 1", 1)
	if err := os.WriteFile(e.cfgPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := e.run("reload")
	if code != 1 || out != "" || !strings.Contains(errs, "reload rejected") || !strings.Contains(errs, e.cfgPath+":10:") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	code, out, _ = e.run("describe-vswitches", "--vswitch", "vsw-c")
	if code != 0 || !strings.Contains(out, "vsw-c") {
		t.Fatalf("after a rejected reload: %d %s", code, out)
	}
}

// The dropped operations of a reload are listed (R5).
func TestReloadListsDropped(t *testing.T) {
	e := newCtlEnv(t)
	if code, _, errs := e.run("create-route-entry", "--table", "vtb-b", "--dst", "10.9.0.0/16", "--next-hop", "i-fw2"); code != 0 {
		t.Fatal(errs)
	}
	if err := os.WriteFile(e.cfgPath, []byte(strings.Replace(ctlYAML, "  - {id: i-fw2,  vswitch: vsw-a, ip: 192.168.1.31, netns: fw2}\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// i-fw2 also names the standby hop of 172.16.0.0/12 in the file, so
	// the file alone is invalid.
	if code, _, _ := e.run("reload"); code != 1 {
		t.Fatalf("reload of an invalid file: exit %d", code)
	}
	fixed := strings.Replace(ctlYAML, "  - {id: i-fw2,  vswitch: vsw-a, ip: 192.168.1.31, netns: fw2}\n", "", 1)
	fixed = strings.Replace(fixed, "{id: i-fw2, weight: 0}", "{id: i-web1, weight: 0}", 1)
	if err := os.WriteFile(e.cfgPath, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := e.run("reload")
	if code != 0 || !strings.Contains(out, "dropped overlay operation #1 CreateRouteEntry") || !strings.Contains(out, "V15: next hop i-fw2: no such instance") ||
		!strings.Contains(out, "reloaded (overlay: 0 operations, 1 dropped)") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// Every API subcommand documents itself (R6: Short, Long and Example).
func TestAPICommandsDocumented(t *testing.T) {
	want := map[string]bool{}
	for _, a := range api.Actions() {
		want[kebab(a)] = true
	}
	for _, c := range rootCmd.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		delete(want, c.Name())
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: Short, Long and Example are required", c.Name())
		}
		for _, s := range c.Commands() {
			if s.Short == "" || s.Long == "" || s.Example == "" {
				t.Errorf("%s %s: Short, Long and Example are required", c.Name(), s.Name())
			}
		}
	}
	// Runtime endpoints have their own names (state show/reset).
	delete(want, "state-show")
	delete(want, "state-reset")
	for name := range want {
		t.Errorf("no subcommand %s", name)
	}
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	if err := rootCmd.GenBashCompletion(&out); err != nil || !strings.Contains(out.String(), "describe-route-entry-list") {
		t.Fatalf("bash completion: %v", err)
	}
}

// kebab turns an action name into its subcommand name.
func kebab(action string) string {
	var b strings.Builder
	for i, r := range action {
		if r >= 'A' && r <= 'Z' {
			// "VSwitch" stays one word, like the cloud CLI.
			if i > 0 && !(action[i-1] == 'V' && r == 'S') {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
