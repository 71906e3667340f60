package main

import (
	"fmt"
	"strings"
	"testing"
)

// ctlCase is one vrouterctl run: exit code, substrings of stdout in order,
// substrings of stderr.
type ctlCase struct {
	name string
	args []string
	code int
	out  []string
	err  []string
}

func (e *ctlEnv) runCases(t *testing.T, cases []ctlCase) {
	t.Helper()
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
		if tc.code != 0 && out != "" {
			t.Errorf("%s: failure printed on stdout:\n%s", tc.name, out)
		}
	}
}

func args(s string) []string { return strings.Fields(s) }

// TestMcastServerFlags (SPEC M3): `mcast server` accepts the classic
// multis_admin flags, short and long, prints comparable output and exits
// 0/1/2.
func TestMcastServerFlags(t *testing.T) {
	e := newCtlEnv(t)
	e.runCases(t, []ctlCase{
		{"nothing yet", args("mcast server -S"), 0, []string{"no multicast groups\n"}, nil},
		{"no server to default to", args("mcast server -A -m 239.1.1.1 -j 192.168.1.20"), 1, nil,
			[]string{"no instance is a multicast server yet; name the server instance with -s ID"}},
		{"-A -j", args("mcast server -s i-web1 -A -m 239.1.1.1 -j 192.168.1.20,192.168.1.30"), 0,
			[]string{"group 239.1.1.1: 192.168.1.20, 192.168.1.30 joined\n", "group 239.1.1.1: 2 members (server i-web1, vpc-demo)\n"}, nil},
		{"--add --join with further arguments", args("mcast server --server i-web1 --add --multiip 239.1.1.1 --join 192.168.2.10 192.168.1.31"), 0,
			[]string{"192.168.2.10, 192.168.1.31 joined", "group 239.1.1.1: 4 members"}, nil},
		{"-A -q, default server", args("mcast server -A -m 239.1.1.1 -q 192.168.1.31"), 0,
			[]string{"group 239.1.1.1: 192.168.1.31 quit\n", "group 239.1.1.1: 3 members (server i-web1, vpc-demo)"}, nil},
		{"--quit", args("mcast server --add --multiip 239.1.1.1 --quit 192.168.2.10"), 0, []string{"group 239.1.1.1: 2 members"}, nil},
		{"join twice", args("mcast server -A -m 239.1.1.1 -j 192.168.1.20"), 1, nil,
			[]string{"api:JoinMulticastGroup: 239.1.1.1: V17: 192.168.1.20 (i-nat) is already a member of group 239.1.1.1 of i-web1"}},
		{"-A alone adds a group", args("mcast server -A -m 239.2.2.2 --igmp"), 0,
			[]string{"group 239.2.2.2 added\n", "group 239.2.2.2: 0 members (server i-web1, vpc-demo, igmp)\n"}, nil},
		{"-S", args("mcast server -S"), 0,
			[]string{"group 239.1.1.1: 2 members (server i-web1, vpc-demo)\n", "group 239.2.2.2: 0 members (server i-web1, vpc-demo, igmp)\n"}, nil},
		{"--show -m", args("mcast server --show --multiip 239.2.2.2"), 0, []string{"group 239.2.2.2: 0 members"}, nil},
		{"-L", args("mcast server -L -m 239.1.1.1"), 0,
			[]string{"group 239.1.1.1: 2 members (server i-web1, vpc-demo)\n", "  192.168.1.30  i-fw1\n", "  192.168.1.20  i-nat\n"}, nil},
		{"--list of a missing group", args("mcast server --list --multiip 239.9.9.9"), 1, nil, []string{"no multicast group 239.9.9.9"}},
		{"-P", args("mcast server -P -m 239.1.1.1"), 0,
			[]string{"group 239.1.1.1 (server i-web1, vpc-demo)\n", "packets in: 0, copies out: 0, dropped: 0\n", "bytes in: 0, bytes out: 0\n",
				"dropped by security groups: 0, by ports: 0, too big: 0\n", "member 192.168.1.30 (i-fw1): copies 0, dropped 0\n",
				"member 192.168.1.20 (i-nat): copies 0, dropped 0\n"}, nil},
		{"--stats of every group", args("mcast server --stats"), 0, []string{"group 239.1.1.1 (", "\n\ngroup 239.2.2.2 ("}, nil},
		{"-o json", args("mcast server -S -o json"), 0, []string{`"Groups": [`, `"Group": "239.1.1.1"`, `"TotalCount": 2`}, nil},
		{"-D", args("mcast server -D -m 239.2.2.2"), 0, []string{"group 239.2.2.2 deleted\n"}, nil},
		{"--delete a missing group", args("mcast server --delete --multiip 239.2.2.2"), 1, nil, []string{"server i-web1 has no group 239.2.2.2"}},
		{"-C", args("mcast server -s i-web1 -C"), 0, []string{"multicast groups of i-web1 cleared\n"}, nil},
		{"--clear with no server left", args("mcast server --clear"), 1, nil, []string{"-s ID"}},
		{"after the clear", args("mcast server -S"), 0, []string{"no multicast groups\n"}, nil},

		{"-H", args("mcast server -H"), 0, []string{"multis_admin", "-A, --add -m GROUP -j IP1,IP2", "Usage:"}, nil},
		{"--help", args("mcast server --help"), 0, []string{"multis_admin"}, nil},
		{"no action", args("mcast server -m 239.1.1.1"), 2, nil, []string{"give one of -A, -D, -C, -P, -S, -L (-H for help)"}},
		{"two actions", args("mcast server -S -L"), 2, nil, []string{"give only one of -A, -D, -C, -P, -S, -L, not -S and -L"}},
		{"-A without -m", args("mcast server -A -j 192.168.1.20"), 2, nil, []string{"-A needs the group: -m GROUP"}},
		{"-D without -m", args("mcast server --delete"), 2, nil, []string{"-D needs the group"}},
		{"-j without -A", args("mcast server -S -j 192.168.1.20"), 2, nil, []string{"-j (--join) does not go with -S"}},
		{"-C with -m", args("mcast server -C -m 239.1.1.1"), 2, nil, []string{"-m (--multiip) does not go with -C"}},
		{"-j and -q", args("mcast server -A -m 239.1.1.1 -j 192.168.1.20 -q 192.168.1.30"), 2, nil, []string{"give -j or -q, not both"}},
		{"stray argument", args("mcast server -S 192.168.1.20"), 2, nil, []string{"unexpected arguments"}},
		{"unknown flag", args("mcast server -X"), 2, nil, []string{"unknown shorthand flag: 'X'"}},
		{"mcast alone", args("mcast"), 2, nil, []string{"mcast needs a subcommand: server or client"}},
		{"mcast bogus", args("mcast bogus"), 2, nil, []string{`unknown mcast subcommand "bogus"`}},
	})
}

// TestMcastServerLimits (M2, V17): the 11th group of a server is refused
// with the limit named, exit 1.
func TestMcastServerLimits(t *testing.T) {
	e := newCtlEnv(t)
	for i := 1; i <= 10; i++ {
		if code, _, errs := e.run(args(fmt.Sprintf("mcast server -s i-web1 -A -m 239.1.1.%d", i))...); code != 0 {
			t.Fatalf("group %d: %s", i, errs)
		}
	}
	e.runCases(t, []ctlCase{
		{"V17 11th group", args("mcast server -A -m 239.1.1.11"), 1, nil,
			[]string{"api:CreateMulticastGroup: 239.1.1.11: V17: server i-web1 already has 10 groups, the limit (mcast_groups_per_server)"}},
	})
}

// TestMcastClientFlags (SPEC M3): `mcast client` accepts the classic
// multic_admin flags, short and long.
func TestMcastClientFlags(t *testing.T) {
	e := newCtlEnv(t)
	if code, _, errs := e.run(args("mcast server -s i-web1 -A -m 239.1.1.1 -j 192.168.1.20,192.168.1.30")...); code != 0 {
		t.Fatal(errs)
	}
	e.runCases(t, []ctlCase{
		{"-L empty", args("mcast client -c i-nat -L"), 0, []string{"member i-nat: no client entries (receives every group it is a member of)\n"}, nil},
		{"-A", args("mcast client -c i-nat -A -i 192.168.1.10 -p 5000 -m 239.1.1.1"), 0,
			[]string{"client entry added: i-nat accepts group 239.1.1.1 from 192.168.1.10 port 5000\n"}, nil},
		{"--add by address", args("mcast client --member 192.168.1.30 --add --ip 192.168.1.10 --port 5001 --multiip 239.1.1.1"), 0, []string{"client entry added"}, nil},
		{"-A twice", args("mcast client -c i-nat -A -i 192.168.1.10 -p 5000 -m 239.1.1.1"), 1, nil, []string{"i-nat already has the client entry 192.168.1.10:5000"}},
		{"-A for a missing group", args("mcast client -c i-nat -A -i 192.168.1.10 -p 5002 -m 239.7.7.7"), 1, nil, []string{"no multicast group 239.7.7.7 in vpc-demo"}},
		{"-L", args("mcast client -c 192.168.1.20 -L"), 0,
			[]string{"member i-nat (192.168.1.20): 1 client entry\n", "  group 239.1.1.1 from 192.168.1.10 port 5000\n"}, nil},
		{"--list of every member", args("mcast client --list"), 0,
			[]string{"member i-nat (192.168.1.20): 1 client entry", "member i-fw1 (192.168.1.30): 1 client entry", "port 5001"}, nil},
		{"the server's -L shows entries", args("mcast server -L -m 239.1.1.1"), 0, []string{"192.168.1.20  i-nat  clients: 192.168.1.10:5000"}, nil},
		{"-P", args("mcast client -c i-nat -P -i 192.168.1.10 -p 5000"), 0,
			[]string{"client 192.168.1.10:5000 of i-nat (group 239.1.1.1): packets: 0, bytes: 0\n"}, nil},
		{"--stats of a missing entry", args("mcast client -c i-nat --stats --ip 192.168.1.10 --port 5001"), 1, nil,
			[]string{"i-nat has no client entry from 192.168.1.10 to port 5001"}},
		{"-o json", args("mcast client -c i-nat -L -o json"), 0, []string{`"Clients": [`, `"Member": "i-nat"`, `"Active": true`}, nil},
		{"-D", args("mcast client -c i-nat -D -i 192.168.1.10 -p 5000"), 0, []string{"client entry removed: i-nat from 192.168.1.10 port 5000\n"}, nil},
		{"--delete a missing entry", args("mcast client -c i-nat --delete --ip 192.168.1.10 --port 5000"), 1, nil, []string{"i-nat has no client entry 192.168.1.10:5000"}},
		{"-C", args("mcast client -c i-fw1 -C"), 0, []string{"client entries of i-fw1 cleared\n"}, nil},
		{"--clear", args("mcast client --member i-fw1 --clear"), 0, []string{"client entries of i-fw1 cleared\n"}, nil},
		{"none left", args("mcast client -L"), 0, []string{"no client entries\n"}, nil},

		{"-H", args("mcast client -H"), 0, []string{"multic_admin", "-A, --add -i SERVER_IP -p PORT -m GROUP"}, nil},
		{"no action", args("mcast client -c i-nat"), 2, nil, []string{"give one of -A, -D, -C, -P, -L"}},
		{"-A without -c", args("mcast client -A -i 192.168.1.10 -p 5000 -m 239.1.1.1"), 2, nil, []string{"-A needs the member: -c ID"}},
		{"-A without -p", args("mcast client -c i-nat -A -i 192.168.1.10 -m 239.1.1.1"), 2, nil, []string{"-A needs the server address and port: -i SERVER_IP -p PORT"}},
		{"-A without -m", args("mcast client -c i-nat -A -i 192.168.1.10 -p 5000"), 2, nil, []string{"-A needs the group: -m GROUP"}},
		{"-P without -i", args("mcast client -P -p 5000"), 2, nil, []string{"-P needs the server address and port"}},
		{"-m with -D", args("mcast client -c i-nat -D -i 192.168.1.10 -p 5000 -m 239.1.1.1"), 2, nil, []string{"-m (--multiip) does not go with -D"}},
		{"-i with -L", args("mcast client -L -i 192.168.1.10"), 2, nil, []string{"-i (--ip) does not go with -L"}},
		{"bad port", args("mcast client -c i-nat -A -i 192.168.1.10 -p x -m 239.1.1.1"), 2, nil, []string{"invalid argument"}},
	})
}

// TestMcastActionCommands (R6): one kebab-case subcommand per multicast
// action.
func TestMcastActionCommands(t *testing.T) {
	e := newCtlEnv(t)
	e.runCases(t, []ctlCase{
		{"create", args("create-multicast-group --server i-web1 --group 239.1.1.1 --igmp"), 0, []string{"CreateMulticastGroup: done (overlay: 1 operations)"}, nil},
		{"join", args("join-multicast-group --group 239.1.1.1 --members 192.168.1.20,i-fw1"), 0, []string{"JoinMulticastGroup: done"}, nil},
		{"join needs --members", args("join-multicast-group --group 239.1.1.1"), 2, nil, []string{`"members" not set`}},
		{"quit", args("quit-multicast-group --group 239.1.1.1 --members i-fw1"), 0, []string{"QuitMulticastGroup: done"}, nil},
		{"describe groups", args("describe-multicast-groups"), 0,
			[]string{"GROUP", "PACKETS IN", "239.1.1.1", "vpc-demo", "i-web1", "yes", "1"}, nil},
		{"add client", args("add-multicast-client --member i-nat --server-ip 192.168.1.10 --port 5000 --group 239.1.1.1"), 0, []string{"AddMulticastClient: done"}, nil},
		{"describe clients", args("describe-multicast-clients --member i-nat"), 0,
			[]string{"MEMBER", "i-nat", "192.168.1.20", "239.1.1.1", "192.168.1.10", "5000", "yes", "1 client entries"}, nil},
		{"remove client", args("remove-multicast-client --member i-nat --server-ip 192.168.1.10 --port 5000"), 0, []string{"RemoveMulticastClient: done"}, nil},
		{"clear clients", args("clear-multicast-clients --member i-nat"), 0, []string{"ClearMulticastClients: done"}, nil},
		{"delete group", args("delete-multicast-group --group 239.1.1.1"), 0, []string{"DeleteMulticastGroup: done"}, nil},
		{"clear groups", args("clear-multicast-groups --server i-web1"), 0, []string{"ClearMulticastGroups: done (overlay: 8 operations)"}, nil},
		{"state show", args("state show"), 0, []string{"CreateMulticastGroup", `"Server":"i-web1"`, "ClearMulticastGroups", `"Groups":[]`}, nil},
	})
}
