package topo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/bench/internal/netenv"
	"github.com/vrouter/vrouter/bench/internal/traffic"
)

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	for _, tool := range append([]string{"ip", "ping"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (make deps)", tool)
		}
	}
}

// reach pings the server from the client a few times.
func reach(t *testing.T, env *netenv.Env, tp *Topology) {
	t.Helper()
	r := &traffic.Runner{Env: env, PingCount: 5, PingInterval: 10 * time.Millisecond}
	p, err := r.Ping(context.Background(), tp.Endpoints())
	if err != nil || len(p.RTTs) < 4 {
		t.Fatalf("%s: client cannot reach server: %v (%d replies)", tp.ID, err, len(p.RTTs))
	}
}

// blocked reports whether a ping from src to dst gets no reply.
func blocked(ns, dst string) bool {
	return exec.Command("ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "1", dst).Run() != nil
}

func checkGone(t *testing.T, env *netenv.Env) {
	t.Helper()
	for _, e := range env.Cleanup() {
		t.Errorf("cleanup: %v", e)
	}
	if left, err := env.Leftovers(); err != nil || len(left) > 0 {
		t.Errorf("left behind: %v %v", left, err)
	}
}

// TestKernel builds K: the client reaches the server through the router, and
// the stateful filter drops a new flow from the server toward the client
// (sg-cli has no ingress rule, S4).
func TestKernel(t *testing.T) {
	needRoot(t, "nft")
	env := netenv.New("vbk")
	t.Cleanup(func() { env.Cleanup() })
	tp, err := Kernel(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	reach(t, env, tp)
	if !blocked(tp.ServerNS, ClientAddr.Addr().String()) {
		t.Error("a new flow from the server to the client passed the kernel router's filter")
	}
	out, err := exec.Command("ip", "netns", "exec", env.Name("kr"), "ip", "route", "show", "table", "100").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.0.0.0/8 via 192.168.1.10") {
		t.Errorf("custom table: %s %v", out, err)
	}
	checkGone(t, env)
}

// TestTunLoop builds T: packets cross the copy loop with their vnet header
// in both directions, and closing the loop removes the TUNs.
func TestTunLoop(t *testing.T) {
	needRoot(t)
	env := netenv.New("vbt")
	t.Cleanup(func() { env.Cleanup() })
	tp, err := TunLoop(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	reach(t, env, tp)
	notes := tp.Notes()
	if strings.Contains(notes, "client→server 0 pkts") || strings.Contains(notes, "server→client 0 pkts") {
		t.Errorf("copy loop counters: %s", notes)
	}
	checkGone(t, env)
}

// TestVrouterd builds V when bin/vrouterd has been built (make build): the
// daemon comes up, forwards, and removes its namespaces on SIGTERM (R4).
func TestVrouterd(t *testing.T) {
	needRoot(t)
	bin, _ := filepath.Abs("../../../bin/vrouterd")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/vrouterd not built (make build)")
	}
	env := netenv.New("vbv")
	t.Cleanup(func() { env.Cleanup() })
	tp, err := Vrouterd(context.Background(), env, VrouterdOptions{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	reach(t, env, tp)
	if !blocked(tp.ServerNS, ClientAddr.Addr().String()) {
		t.Error("a new flow from the server to the client passed sg-cli")
	}
	checkGone(t, env)
}
