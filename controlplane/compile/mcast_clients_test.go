package compile

import (
	"net/netip"
	"testing"

	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// TestMulticastClientEntriesCompiled (M3): a member ENI with client entries
// is Filtered in every group it is a member of and carries the entries
// naming that group; a member without entries is not filtered.
func TestMulticastClientEntriesCompiled(t *testing.T) {
	y := mcastBase + `  - vpc: vpc-1
    group: 239.3.3.3
    server: i-srv
    members: [192.168.1.20, 192.168.2.40]
`
	cfg, _, err := config.ParseAndValidate("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	srv, g1, g3 := netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.3.3.3")
	cfg.McastClients = []*config.McastClient{
		{ENI: "i-m1", Server: srv, Port: 5000, Group: g1},
		{ENI: "i-m1", Server: netip.MustParseAddr("192.168.2.10"), Port: 5001, Group: g1},
	}
	if _, err := config.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	res, err := Compile(Input{Config: cfg, Stats: stats.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Snapshot
	srvPort := portByName(t, s, "i-srv").ID
	cases := []struct {
		group    netip.Addr
		eni      string
		filtered bool
		clients  int
	}{
		{g1, "i-m1", true, 2},
		{g1, "eni-m2b", false, 0},
		{g3, "i-m1", true, 0}, // entries for 239.1.1.1 only: nothing of 239.3.3.3
		{g3, "i-m3", false, 0},
	}
	for _, tc := range cases {
		g := s.Mcast.Sender(srvPort, tc.group)
		if g == nil {
			t.Fatalf("no group %s", tc.group)
		}
		found := false
		for i := range g.Members() {
			m := &g.Members()[i]
			if m.ENI != tc.eni {
				continue
			}
			found = true
			if m.Filtered != tc.filtered || len(m.Clients) != tc.clients {
				t.Errorf("%s in %s: filtered %v with %d clients, want %v with %d", tc.eni, tc.group, m.Filtered, len(m.Clients), tc.filtered, tc.clients)
			}
			// The data plane's decision: only matching (server, port).
			_, okMatch := m.Accepts(srv, 5000)
			_, okOther := m.Accepts(srv, 5002)
			wantMatch := !tc.filtered || tc.clients > 0
			if okMatch != wantMatch || okOther != !tc.filtered {
				t.Errorf("%s in %s: accepts 5000=%v 5002=%v", tc.eni, tc.group, okMatch, okOther)
			}
		}
		if !found {
			t.Errorf("%s is not a member of %s", tc.eni, tc.group)
		}
	}
}
