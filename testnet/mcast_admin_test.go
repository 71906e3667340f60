package testnet

// Runtime multicast administration of SPEC §6 against the real vrouterd,
// driven with vrouterctl as a user would: `mcast server -A -m G -j IP` adds
// a member that then receives, `-q` removes it, `-P` counts what was sent
// (M3, M6); the limits of M2 are refused naming them; runtime changes and
// client entries survive a restart and a reload, and `-C` clears the
// server's groups for good (M4).

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

const mcastAdminScenario = `
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-ma
    name: ma
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: cn-hangzhou-b, cidr: 192.168.2.0/24}
    security_groups:
      - id: sg-ma
        inner_access: accept
instances:
  - {id: i-srv, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-ma], netns: "{P}-srv"}
  - {id: i-m1, vswitch: vsw-a, ip: 192.168.1.21, security_groups: [sg-ma], netns: "{P}-m1"}
  - {id: i-m2, vswitch: vsw-a, ip: 192.168.1.22, security_groups: [sg-ma], netns: "{P}-m2"}
  - {id: i-nm, vswitch: vsw-b, ip: 192.168.2.30, security_groups: [sg-ma], netns: "{P}-nm"}
multicast:
  - vpc: vpc-ma
    group: 239.1.1.1
    server: i-srv
    members: [192.168.1.21]
  - vpc: vpc-ma
    group: 239.3.3.3
    server: i-srv
    members: [192.168.1.21]
`

// ctl runs vrouterctl against d and fails the test on a non-zero exit.
func ctl(t *testing.T, d *Daemon, args ...string) string {
	t.Helper()
	out, err := d.Ctl(args...)
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s", err, out)
	}
	return out
}

// ctlRefused runs vrouterctl, requires exit status 1 and returns the error.
func ctlRefused(t *testing.T, d *Daemon, args ...string) string {
	t.Helper()
	out, err := d.Ctl(args...)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("vrouterctl %s: want exit 1, got %v\nstdout:\n%s", strings.Join(args, " "), err, out)
	}
	return err.Error()
}

func mustContain(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Fatalf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

// waitCtl polls vrouterctl until its output contains want (counters are
// read while the workers may still be counting the last copies).
func waitCtl(t *testing.T, d *Daemon, want string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		out := ctl(t, d, args...)
		if strings.Contains(out, want) || time.Now().After(deadline) {
			if !strings.Contains(out, want) {
				t.Fatalf("vrouterctl %s: output lacks %q:\n%s", strings.Join(args, " "), want, out)
			}
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestM3RuntimeJoinQuitStats: `-A -m 239.1.1.1 -j IP` adds a member at
// runtime and it receives; `-q` removes it and it receives nothing more;
// `-P` reports exactly the packets sent and the copies delivered (M6).
func TestM3RuntimeJoinQuitStats(t *testing.T) {
	d := startScenario(t, mcastAdminScenario)
	const group, n = "239.1.1.1", 10
	m1 := joinGroup(t, "-m1", group, 5000)
	nm := joinGroup(t, "-nm", group, 5000)
	snd := mcastSender(t, "-srv", group, 5000)

	sendN(t, snd, "before", n)
	if got := m1.collect(500 * time.Millisecond); len(got) != n {
		t.Fatalf("configured member received %d/%d", len(got), n)
	}
	if got := nm.collect(100 * time.Millisecond); len(got) != 0 {
		t.Fatalf("non-member received %v", got)
	}

	out := ctl(t, d, "mcast", "server", "-A", "-m", group, "-j", "192.168.2.30")
	mustContain(t, "-A -j", out, "group 239.1.1.1: 192.168.2.30 joined", "group 239.1.1.1: 2 members (server i-srv, vpc-ma)")
	mustContain(t, "-L", ctl(t, d, "mcast", "server", "-L", "-m", group), "192.168.2.30  i-nm")
	sendN(t, snd, "joined", n)
	if got := nm.collect(500 * time.Millisecond); len(got) != n || got[0] != "joined-0" {
		t.Fatalf("member added at runtime received %d/%d: %v", len(got), n, got)
	}
	if got := m1.collect(500 * time.Millisecond); len(got) != n {
		t.Fatalf("configured member received %d/%d after the join", len(got), n)
	}

	out = ctl(t, d, "mcast", "server", "--add", "--multiip", group, "--quit", "192.168.2.30")
	mustContain(t, "-A -q", out, "192.168.2.30 quit", "group 239.1.1.1: 1 member (server i-srv, vpc-ma)")
	sendN(t, snd, "quit", n)
	if got := m1.collect(500 * time.Millisecond); len(got) != n {
		t.Fatalf("configured member received %d/%d after the quit", len(got), n)
	}
	if got := nm.collect(200 * time.Millisecond); len(got) != 0 {
		t.Fatalf("member that quit received %v", got)
	}

	// M6: 3n packets from the server; i-m1 got all 3n, i-nm n while it
	// was a member.
	stats := waitCtl(t, d, fmt.Sprintf("packets in: %d, copies out: %d, dropped: 0", 3*n, 4*n), "mcast", "server", "-P", "-m", group)
	mustContain(t, "-P", stats, "group 239.1.1.1 (server i-srv, vpc-ma)", fmt.Sprintf("member 192.168.1.21 (i-m1): copies %d, dropped 0", 3*n))
	if v := metric(t, d, "vrouter_mcast_packets_total", "group="+group, "direction=in"); v != 3*n {
		t.Errorf("vrouter_mcast_packets_total{direction=in} = %v, want %d", v, 3*n)
	}
}

// TestM2LimitsNamed: through vrouterctl against the daemon, the 11th group
// of a server, the 129th member of a group and the 11th group of a member
// are refused with the limit named, and nothing changes.
func TestM2LimitsNamed(t *testing.T) {
	var b strings.Builder
	b.WriteString(mcastAdminScenario[:strings.Index(mcastAdminScenario, "multicast:")])
	// i-many has 129 ENIs (primary + 128 secondary) in one namespace.
	b.WriteString("  - id: i-many\n    vswitch: vsw-b\n    ip: 192.168.2.100\n    security_groups: [sg-ma]\n    netns: \"{P}-many\"\n    enis:\n")
	var addrs []string
	addrs = append(addrs, "192.168.2.100")
	for i := 1; i <= 128; i++ {
		a := fmt.Sprintf("192.168.2.%d", 100+i)
		addrs = append(addrs, a)
		fmt.Fprintf(&b, "      - {id: eni-k%d, vswitch: vsw-b, ip: %s, security_groups: [sg-ma]}\n", i, a)
	}
	d := startScenario(t, b.String())
	if d.Ports != 4+129 {
		t.Fatalf("ports = %d", d.Ports)
	}

	for i := 1; i <= 10; i++ {
		ctl(t, d, "mcast", "server", "-s", "i-srv", "-A", "-m", fmt.Sprintf("239.1.1.%d", i), "-j", "192.168.1.21")
	}
	err := ctlRefused(t, d, "mcast", "server", "-s", "i-srv", "-A", "-m", "239.1.1.11")
	mustContain(t, "11th group", err, "api:CreateMulticastGroup: 239.1.1.11: V17: server i-srv already has 10 groups, the limit (mcast_groups_per_server)")

	out := ctl(t, d, "mcast", "server", "-A", "-m", "239.1.1.1", "-j", strings.Join(addrs[:127], ","))
	mustContain(t, "128 members", out, "group 239.1.1.1: 128 members (server i-srv, vpc-ma)")
	err = ctlRefused(t, d, "mcast", "server", "-A", "-m", "239.1.1.1", "-j", addrs[127])
	mustContain(t, "129th member", err, "api:JoinMulticastGroup: 239.1.1.1: V17: group 239.1.1.1 of i-srv already has 128 members, the limit (mcast_members_per_group)")

	err = ctlRefused(t, d, "mcast", "server", "-s", "i-m2", "-A", "-m", "239.9.9.9", "-j", "192.168.1.21")
	mustContain(t, "11th group of a member", err, "V17: member 192.168.1.21 (i-m1) already receives 10 groups, the limit (mcast_groups_per_member)")

	mustContain(t, "-S", ctl(t, d, "mcast", "server", "-S"), "group 239.1.1.1: 128 members", "group 239.1.1.10: 1 member")
	if out := ctl(t, d, "mcast", "server", "-S"); strings.Count(out, "\n") != 10 {
		t.Fatalf("refused changes changed the groups:\n%s", out)
	}
}

// TestM4RuntimeChangesSurviveRestart: runtime members, groups and client
// entries are replayed after a restart and a reload (M4), a member with a
// client entry receives only the matching port (M3), and `-C` clears the
// server's groups, file ones included, for good.
func TestM4RuntimeChangesSurviveRestart(t *testing.T) {
	d := startScenario(t, mcastAdminScenario)
	ctl(t, d, "mcast", "server", "-A", "-m", "239.1.1.1", "-j", "192.168.1.22")
	ctl(t, d, "mcast", "server", "-A", "-m", "239.2.2.2", "-j", "192.168.1.21,192.168.2.30")
	ctl(t, d, "mcast", "client", "-c", "i-m2", "-A", "-i", "192.168.1.10", "-p", "5000", "-m", "239.1.1.1")
	wantS := []string{"group 239.1.1.1: 2 members (server i-srv, vpc-ma)", "group 239.3.3.3: 1 member", "group 239.2.2.2: 2 members"}
	mustContain(t, "-S before the restart", ctl(t, d, "mcast", "server", "-S"), wantS...)

	// Restart with the same state directory (R4 saves, start replays).
	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d.Restart(t)
	mustContain(t, "-S after the restart", ctl(t, d, "mcast", "server", "-S"), wantS...)
	mustContain(t, "-L after the restart", ctl(t, d, "mcast", "server", "-L", "-m", "239.1.1.1"),
		"192.168.1.21  i-m1", "192.168.1.22  i-m2  clients: 192.168.1.10:5000")
	mustContain(t, "client -L after the restart", ctl(t, d, "mcast", "client", "-c", "i-m2", "-L"),
		"member i-m2 (192.168.1.22): 1 client entry", "group 239.1.1.1 from 192.168.1.10 port 5000")

	// A reload replays them too.
	ctl(t, d, "reload")
	mustContain(t, "-S after a reload", ctl(t, d, "mcast", "server", "-S"), wantS...)

	// Traffic after the restart: i-m1 (no client entry) gets both ports,
	// i-m2 (entry for port 5000) only 5000.
	const n = 10
	m1a, m1b := joinGroup(t, "-m1", "239.1.1.1", 5000), joinGroup(t, "-m1", "239.1.1.1", 5001)
	m2a, m2b := joinGroup(t, "-m2", "239.1.1.1", 5000), joinGroup(t, "-m2", "239.1.1.1", 5001)
	sendN(t, mcastSender(t, "-srv", "239.1.1.1", 5000), "p5000", n)
	sendN(t, mcastSender(t, "-srv", "239.1.1.1", 5001), "p5001", n)
	for _, c := range []struct {
		name string
		r    *mcastReceiver
		want int
	}{{"i-m1:5000", m1a, n}, {"i-m1:5001", m1b, n}, {"i-m2:5000", m2a, n}, {"i-m2:5001", m2b, 0}} {
		if got := c.r.collect(300 * time.Millisecond); len(got) != c.want {
			t.Errorf("%s received %d, want %d", c.name, len(got), c.want)
		}
	}
	waitCtl(t, d, fmt.Sprintf("client 192.168.1.10:5000 of i-m2 (group 239.1.1.1): packets: %d,", n),
		"mcast", "client", "-c", "i-m2", "-P", "-i", "192.168.1.10", "-p", "5000")

	// -C clears every group of the server, the file's included, and the
	// clearing survives a restart.
	mustContain(t, "-C", ctl(t, d, "mcast", "server", "-C"), "multicast groups cleared")
	mustContain(t, "-S after -C", ctl(t, d, "mcast", "server", "-S"), "no multicast groups")
	mustContain(t, "state show", ctl(t, d, "state", "show"), "JoinMulticastGroup", "AddMulticastClient", "ClearMulticastGroups")
	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d.Restart(t)
	mustContain(t, "-S after -C and a restart", ctl(t, d, "mcast", "server", "-S"), "no multicast groups")
	m1 := joinGroup(t, "-m1", "239.1.1.1", 5000)
	sendN(t, mcastSender(t, "-srv", "239.1.1.1", 5000), "cleared", n)
	if got := m1.collect(300 * time.Millisecond); len(got) != 0 {
		t.Errorf("a member of a cleared group received %v", got)
	}
}
