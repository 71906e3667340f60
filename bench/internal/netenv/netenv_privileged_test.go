package netenv

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (make deps)")
	}
}

// TestEnvCleanup checks the contract vbench relies on (DESIGN "Testing
// conventions"): namespaces carry the run's prefix, processes inside them are
// killed, cleanups run, and nothing with the prefix survives Cleanup — even a
// namespace somebody else created with that prefix.
func TestEnvCleanup(t *testing.T) {
	needRoot(t)
	env := New("vbt")
	t.Cleanup(func() { env.Cleanup() })
	ctx := context.Background()

	if _, err := env.AddNetns(ctx, "other-name"); err == nil {
		t.Fatal("AddNetns accepted a name without the run's prefix")
	}
	name := env.Name("a")
	h, err := env.AddNetns(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := env.AddNetns(ctx, name); err == nil {
		t.Fatal("AddNetns created the same namespace twice")
	}

	// Do runs inside the namespace and leaves the caller where it was.
	before, _ := netns.Get()
	defer before.Close()
	var inside bool
	if err := Do(h, func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		inside = cur.Equal(h)
		return nil
	}); err != nil || !inside {
		t.Fatalf("Do: err %v, ran inside the namespace: %v", err, inside)
	}
	if err := WriteSysctl(h, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", name, "cat", "/proc/sys/net/ipv4/ip_forward").Output()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("ip_forward inside the namespace reads %q (%v)", out, err)
	}

	// A leftover with our prefix that AddNetns did not create.
	stray := env.Name("stray")
	if out, err := exec.Command("ip", "netns", "add", stray).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	p, err := env.Start(Command(ctx, name, "sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	env.OnCleanup(func() error {
		select {
		case <-p.Done():
		default:
			t.Error("cleanup ran before the process was killed")
		}
		ran = true
		return nil
	})

	errs := env.Cleanup()
	if !ran {
		t.Error("registered cleanup did not run")
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after Cleanup")
	}
	if Exists(name) || Exists(stray) {
		t.Fatalf("namespaces left: %v %v", Exists(name), Exists(stray))
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), stray) {
		t.Errorf("Cleanup errors %v, want one about %s", errs, stray)
	}
	if left, err := env.Leftovers(); err != nil || len(left) != 0 {
		t.Errorf("Leftovers = %v, %v", left, err)
	}
	if _, err := env.Start(exec.Command("true")); err == nil {
		t.Error("Start succeeded after Cleanup")
	}
	if errs := env.Cleanup(); errs != nil {
		t.Errorf("second Cleanup: %v", errs)
	}
}

// TestManagedProcessStoppedByItsCleanup: a managed process is left to its
// own cleanup (vrouterd gets SIGTERM, R4) and only killed if that fails.
func TestManagedProcessStoppedByItsCleanup(t *testing.T) {
	needRoot(t)
	env := New("vbtm")
	t.Cleanup(func() { env.Cleanup() })
	graceful, err := env.StartManaged(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	stubborn, err := env.StartManaged(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	alive := false
	env.OnCleanup(func() error {
		select {
		case <-graceful.Done():
		default:
			alive = true
		}
		graceful.Stop(syscall.SIGTERM, time.Second)
		return nil
	})
	errs := env.Cleanup()
	if !alive {
		t.Error("managed process was killed before its cleanup ran")
	}
	<-graceful.Done()
	<-stubborn.Done()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "still running after its cleanup") {
		t.Errorf("errors %v, want one about the stubborn process", errs)
	}
}
