package agent

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vrouter/vrouter/controlplane/hostnet"
)

// cfgCEN has a VBR leased line (an external port, §7) and a CEN whose two
// VPCs both announce 10.9.9.0/24 (a C4 conflict).
const cfgCEN = `version: 1
region: r
vpcs:
  - id: vpc-c
    cidr: 10.0.0.0/8
    vswitches:
      - {id: vsw-c, zone: z, cidr: 10.9.9.0/24}
  - id: vpc-d
    cidr: 10.9.0.0/16
    vswitches:
      - {id: vsw-d, zone: z, cidr: 10.9.9.0/24}
vbrs:
  - id: vbr-x
    port: {netns: ns-idc, ifname: ll0, ip: 192.0.2.1, peer_ip: 192.0.2.2}
    routes:
      - {dst: 172.20.0.0/16, next_hop: leased_line}
cens:
  - {id: cen-x, attachments: [vpc-c, vpc-d, vbr-x]}
instances:
  - {id: i-c, vswitch: vsw-c, ip: 10.9.9.10, netns: ns-c}
`

// TestExternalPortsAndCENConflicts: the agent creates the leased line as a
// point-to-point port without a default route (§7) and logs the CEN
// conflict the compiler reports (C4).
func TestExternalPortsAndCENConflicts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vpc.yaml")
	if err := os.WriteFile(path, []byte(cfgCEN), 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	fake := hostnet.NewFake()
	a := New(Options{ConfigPath: path, StateDir: filepath.Join(dir, "state"), Host: fake, SkipPreflight: true, Log: zap.New(core)})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	l, ok := fake.Link("ns-idc", "ll0")
	if !ok {
		t.Fatalf("no leased line link; calls %+v", fake.Calls())
	}
	if l.Spec.Key != "vbr-x" || l.Spec.Addr != netip.MustParsePrefix("192.0.2.2/32") || l.Spec.Peer != netip.MustParseAddr("192.0.2.1") ||
		l.Spec.Gateway.IsValid() || len(l.Spec.Routes) != 0 {
		t.Errorf("leased line spec %+v", l.Spec)
	}
	found := logs.FilterMessage("cen route conflict").All()
	if len(found) != 1 {
		t.Fatalf("%d conflict lines: %+v", len(found), logs.All())
	}
	f := found[0].ContextMap()
	if f["cen"] != "cen-x" || f["dst"] != "10.9.9.0/24" {
		t.Errorf("conflict line %v", f)
	}
	// A reload logs the conflict again while it lasts.
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessage("cen route conflict").Len(); n != 2 {
		t.Errorf("%d conflict lines after reload, want 2", n)
	}
}
