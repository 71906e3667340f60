package config

import (
	"fmt"
	"strings"
	"testing"
)

const mcClientsYAML = base + `instances:
  - {id: i-srv, vswitch: vsw-a, ip: 192.168.1.10}
  - {id: i-m1, vswitch: vsw-a, ip: 192.168.1.11, secondary_ips: [192.168.1.111]}
  - id: i-m2
    vswitch: vsw-a
    ip: 192.168.1.12
    enis: [{id: eni-m2b, vswitch: vsw-b, ip: 192.168.2.12}]
multicast:
  - {vpc: vpc-a, group: 239.1.1.1, server: i-srv, members: [192.168.1.11, 192.168.2.12]}
`

func mcClient(eni, server string, port uint16, group string) *McastClient {
	return &McastClient{ENI: eni, Server: addr(server), Port: port, Group: addr(group)}
}

// TestMcastClientsValidate: client entries (M3) are checked like the file
// (V17): a real member ENI, a unicast server, a port, a group address, one
// entry per (member, server, port), and at most mcast_groups_per_member
// groups per member. Findings carry no position (they come from the API).
func TestMcastClientsValidate(t *testing.T) {
	tooMany := func() []*McastClient {
		var out []*McastClient
		for i := range 11 {
			out = append(out, mcClient("i-m1", "192.168.1.10", uint16(5000+i), fmt.Sprintf("239.1.1.%d", i+1)))
		}
		return out
	}
	cases := []struct {
		name    string
		clients []*McastClient
		want    []string // rendered findings, in order; none = valid
	}{
		{"valid", []*McastClient{mcClient("i-m1", "192.168.1.10", 5000, "239.1.1.1"), mcClient("eni-m2b", "192.168.1.10", 5000, "239.1.1.1"),
			mcClient("i-m1", "192.168.1.10", 5001, "239.9.9.9")}, nil},
		{"unknown ENI", []*McastClient{mcClient("eni-x", "192.168.1.10", 5000, "239.1.1.1")},
			[]string{"eni-x: V17: member eni-x: no such ENI"}},
		{"no ENI", []*McastClient{{Server: addr("192.168.1.10"), Port: 1, Group: addr("239.1.1.1")}},
			[]string{"mcast_clients[0]: V17: client entry without a member ENI"}},
		{"multicast server", []*McastClient{mcClient("i-m1", "239.1.1.2", 5000, "239.1.1.1")},
			[]string{"i-m1: V17: client entry server 239.1.1.2 is not a unicast IPv4 address"}},
		{"port 0", []*McastClient{mcClient("i-m1", "192.168.1.10", 0, "239.1.1.1")},
			[]string{"i-m1: V17: client entry port 0: a UDP port is 1–65535"}},
		{"link-local group", []*McastClient{mcClient("i-m1", "192.168.1.10", 1, "224.0.0.9")},
			[]string{"i-m1: V17: client entry group 224.0.0.9 must be in 224.0.0.0/4 but not in 224.0.0.0/24"}},
		{"twice", []*McastClient{mcClient("i-m1", "192.168.1.10", 5000, "239.1.1.1"), mcClient("i-m1", "192.168.1.10", 5000, "239.2.2.2")},
			[]string{"i-m1: V17: client entry 192.168.1.10:5000 is listed twice"}},
		{"V17 groups per member", tooMany(),
			[]string{"i-m1: V17: client entries of i-m1 name more than 10 groups (limit mcast_groups_per_member)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := mustValid(t, mcClientsYAML)
			c.McastClients = tc.clients
			_, err := Validate(c)
			var got []string
			for _, d := range Diagnostics(err) {
				if d.Line != 0 {
					t.Errorf("finding with a file position: %v", d)
				}
				got = append(got, d.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestMcastClientsDiffAndLookup: client entries appear in Compare (kind
// mcast_client, id "<ENI> <server>:<port>") and McastClientsOf.
func TestMcastClientsDiffAndLookup(t *testing.T) {
	old, _ := mustValid(t, mcClientsYAML)
	cur, _ := mustValid(t, mcClientsYAML)
	old.McastClients = []*McastClient{mcClient("i-m1", "192.168.1.10", 5000, "239.1.1.1"), mcClient("i-m1", "192.168.1.10", 5001, "239.1.1.1")}
	cur.McastClients = []*McastClient{mcClient("i-m1", "192.168.1.10", 5000, "239.2.2.2"), mcClient("eni-m2b", "192.168.1.10", 5000, "239.1.1.1")}
	d := Compare(old, cur)
	want := "1 added, 1 removed, 1 changed\n  added mcast_client eni-m2b 192.168.1.10:5000\n" +
		"  changed mcast_client i-m1 192.168.1.10:5000 (group)\n  removed mcast_client i-m1 192.168.1.10:5001"
	if got := d.String(); got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	if got := cur.McastClientsOf("i-m1"); len(got) != 1 || got[0].Group != addr("239.2.2.2") {
		t.Fatalf("McastClientsOf(i-m1) = %v", got)
	}
	if got := cur.McastClientsOf("i-m2"); got != nil {
		t.Fatalf("McastClientsOf(i-m2) = %v", got)
	}
}

// TestMcastMemberENITwice (V17): two addresses of one ENI in a group would
// make it a member twice; the second is an error at its own line.
func TestMcastMemberENITwice(t *testing.T) {
	y := strings.Replace(mcClientsYAML, "members: [192.168.1.11, 192.168.2.12]", "members: [192.168.1.11, 192.168.1.111]", 1)
	_, _, err := ParseAndValidate("t.yaml", []byte(y))
	ds := Diagnostics(err)
	line := 1 + strings.Count(y[:strings.LastIndex(y, "192.168.1.111]")], "\n")
	if len(ds) != 1 || ds[0].Line != line || ds[0].ID != "239.1.1.1" || ds[0].Rule != "V17" ||
		ds[0].Msg != "member 192.168.1.111 is an address of i-m1, which is already a member as 192.168.1.11" {
		t.Fatalf("findings: %v", err)
	}
}
