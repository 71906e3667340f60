package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/hostnet"
)

const cfgA = `version: 1
region: r
vpcs:
  - id: vpc-t
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: z, cidr: 192.168.2.0/24}
instances:
  - {id: i-a, vswitch: vsw-a, ip: 192.168.1.10, netns: ns-a}
  - {id: i-b, vswitch: vsw-b, ip: 192.168.2.10, netns: ns-b}
`

func newTestAgent(t *testing.T, yaml string) (*Agent, *hostnet.Fake, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "vpc.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fake := hostnet.NewFake()
	a := New(Options{ConfigPath: path, StateDir: filepath.Join(dir, "state"), Host: fake, SkipPreflight: true})
	return a, fake, path
}

func TestStartReloadStop(t *testing.T) {
	a, fake, path := newTestAgent(t, cfgA)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := fake.Held(); len(got) != 2 {
		t.Fatalf("held ports %v", got)
	}
	s1 := a.Engine().Snapshot()

	// R3: an invalid file changes nothing and reports the position.
	bad := strings.Replace(cfgA, "192.168.2.0/24}", "192.168.2.0/24, bogus: 1}", 1)
	os.WriteFile(path, []byte(bad), 0o644)
	err := a.Reload()
	if err == nil || !strings.Contains(err.Error(), "vpc.yaml:8:52") || !strings.Contains(err.Error(), "V0") {
		t.Fatalf("invalid reload: %v", err)
	}
	if a.Engine().Snapshot() != s1 {
		t.Fatal("invalid reload replaced the snapshot")
	}

	// V4: changing a VSwitch CIDR is refused.
	os.WriteFile(path, []byte(strings.Replace(cfgA, "192.168.2.0/24}", "192.168.3.0/24}", 1)), 0o644)
	if err := a.Reload(); err == nil {
		t.Fatal("VSwitch CIDR change accepted")
	}

	// A valid reload adds a port and keeps the others untouched.
	more := cfgA + "  - {id: i-c, vswitch: vsw-b, ip: 192.168.2.11, netns: ns-c}\n"
	os.WriteFile(path, []byte(more), 0o644)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	s2 := a.Engine().Snapshot()
	if len(fake.Held()) != 3 || s2.Gen != s1.Gen+1 {
		t.Fatalf("after reload: held %v gen %d", fake.Held(), s2.Gen)
	}
	for i := 0; i < 2; i++ {
		if s1.Ports[i].Dev != s2.Ports[i].Dev || s1.Ports[i].ID != s2.Ports[i].ID {
			t.Errorf("unchanged port %s was replaced", s1.Ports[i].Name)
		}
	}
	// Removing it again removes the port.
	os.WriteFile(path, []byte(cfgA), 0o644)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(fake.Held()) != 2 {
		t.Fatalf("held after removal %v", fake.Held())
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(fake.Held()) != 0 || len(fake.Namespaces()) != 0 {
		t.Fatalf("teardown left ports %v namespaces %v", fake.Held(), fake.Namespaces())
	}
}

// TestStartRollsBack: R2 — a port that cannot be created leaves nothing.
func TestStartRollsBack(t *testing.T) {
	a, fake, _ := newTestAgent(t, cfgA)
	fake.SetFailure(func(op string, spec hostnet.PortSpec) error {
		if op == "create" && spec.Key == "i-b" {
			return errors.New("injected")
		}
		return nil
	})
	if err := a.Start(context.Background()); err == nil {
		t.Fatal("start succeeded")
	}
	if len(fake.Held()) != 0 || len(fake.Namespaces()) != 0 {
		t.Fatalf("rollback left ports %v namespaces %v", fake.Held(), fake.Namespaces())
	}
}

func TestStartInvalidConfig(t *testing.T) {
	a, _, _ := newTestAgent(t, strings.Replace(cfgA, "192.168.1.10", "192.168.1.255", 1))
	err := a.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "V9") {
		t.Fatalf("want V9 error, got %v", err)
	}
}

// TestKeepOnExit: Q7 — ports are detached, not removed, and a new agent
// re-attaches them.
func TestKeepOnExit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vpc.yaml")
	os.WriteFile(path, []byte(cfgA), 0o644)
	fake := hostnet.NewFake()
	a := New(Options{ConfigPath: path, StateDir: filepath.Join(dir, "state"), Host: fake, SkipPreflight: true, KeepOnExit: true})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := fake.Link("ns-a", "eth0"); !ok {
		t.Fatal("keep removed the link")
	}
	b := New(Options{ConfigPath: path, StateDir: filepath.Join(dir, "state"), Host: fake, SkipPreflight: true})
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(fake.Namespaces()) != 0 {
		t.Fatalf("namespaces created by the first run survived teardown: %v", fake.Namespaces())
	}
}
