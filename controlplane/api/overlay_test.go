package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/config"
)

func mkOp(t *testing.T, action string, params any) api.Op {
	t.Helper()
	data, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return api.Op{Action: action, Params: data, Time: testClock}
}

// TestOverlayPersistence: operations survive reopening (Q5), writes are
// atomic (no temporary file left behind) and a damaged file is an error,
// never an empty overlay.
func TestOverlayPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	o, err := api.OpenOverlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 {
		t.Fatal("new overlay not empty")
	}
	ops := []api.Op{
		mkOp(t, "CreateVpc", api.CreateVpcParams{VpcID: "vpc-a", CidrBlock: "10.1.0.0/16"}),
		mkOp(t, "CreateRouteTable", api.CreateRouteTableParams{VpcID: "vpc-a", RouteTableID: "vtb-a"}),
		mkOp(t, "DeleteVpc", api.DeleteVpcParams{VpcID: "vpc-x"}),
	}
	for _, op := range ops {
		if err := o.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	re, err := api.OpenOverlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := re.Ops()
	if len(got) != 3 || got[1].Action != "CreateRouteTable" || string(got[1].Params) != string(ops[1].Params) || !got[2].Time.Equal(testClock) {
		t.Fatalf("reopened ops = %+v", got)
	}
	fi, err := os.Stat(filepath.Join(dir, api.OverlayFile))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("overlay file mode %v, %v", fi.Mode(), err)
	}
	if err := re.Replace(got[:1]); err != nil {
		t.Fatal(err)
	}
	if err := re.Reset(); err != nil {
		t.Fatal(err)
	}
	if re2, _ := api.OpenOverlay(dir); re2.Len() != 0 {
		t.Fatal("reset not persisted")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d files, want only %s", len(entries), api.OverlayFile)
	}

	for name, content := range map[string]string{
		"not json":      "{",
		"wrong version": `{"version": 7, "ops": []}`,
		"unknown field": `{"version": 1, "ops": [], "extra": 1}`,
		"no action":     `{"version": 1, "ops": [{"params": {}, "time": "2025-01-01T00:00:00Z"}]}`,
	} {
		bad := filepath.Join(t.TempDir(), "s")
		os.MkdirAll(bad, 0o750)
		writeFile(t, filepath.Join(bad, api.OverlayFile), content)
		if _, err := api.OpenOverlay(bad); err == nil {
			t.Errorf("%s: OpenOverlay accepted a damaged overlay", name)
		}
	}

	mem, err := api.OpenOverlay("")
	if err != nil || mem.Path() != "" || mem.Append(ops[0]) != nil || mem.Len() != 1 {
		t.Fatalf("in-memory overlay: %v", err)
	}
}

func loadYAML(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, _, err := config.ParseAndValidate("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReplay: operations apply in order; one whose target left the file
// or that now breaks a rule is dropped and reported (R5).
func TestReplay(t *testing.T) {
	ops := []api.Op{
		mkOp(t, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-gone", DestinationCidrBlock: "10.1.0.0/16", NextHopID: "i-fw1"}),
		mkOp(t, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.2.0.0/16", NextHopID: "i-fw1"}),
		mkOp(t, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.0.0.0/8", NextHopID: "i-fw1"}),
		mkOp(t, "CreateRouteTable", api.CreateRouteTableParams{VpcID: "vpc-demo", RouteTableID: "vtb-new"}),
		mkOp(t, "AssociateRouteTable", api.AssociateRouteTableParams{RouteTableID: "vtb-new", VSwitchID: "vsw-c"}),
	}
	c := loadYAML(t, testYAML)
	kept, dropped := api.Replay(c, ops)
	if len(kept) != 3 || len(dropped) != 2 {
		t.Fatalf("kept %d dropped %+v", len(kept), dropped)
	}
	if dropped[0].Index != 0 || !strings.Contains(dropped[0].Reason, "api:CreateRouteEntry: vtb-gone: V12: route table vtb-gone does not exist") {
		t.Errorf("dropped[0] = %+v", dropped[0])
	}
	if dropped[1].Index != 2 || !strings.Contains(dropped[1].Reason, "V14") {
		t.Errorf("dropped[1] = %+v", dropped[1])
	}
	if findRoute(c, "vtb-b", "10.2.0.0/16") == nil || c.VSwitchByID("vsw-c").RouteTable != "vtb-new" {
		t.Error("kept operations were not applied")
	}
	if _, err := config.Validate(c); err != nil {
		t.Errorf("replayed configuration invalid: %v", err)
	}

	// All operations apply: the fast path keeps everything.
	c2 := loadYAML(t, testYAML)
	kept, dropped = api.Replay(c2, []api.Op{ops[1], ops[3], ops[4]})
	if len(kept) != 3 || len(dropped) != 0 || c2.VSwitchByID("vsw-c").RouteTable != "vtb-new" {
		t.Fatalf("kept %d dropped %+v", len(kept), dropped)
	}
}

// TestReloadDropsOperations: after the file changes, Reload reports the
// operations that no longer apply and removes them from the persisted
// overlay (R3, R5).
func TestReloadDropsOperations(t *testing.T) {
	yaml := strings.Replace(testYAML, "    route_tables:\n", "    route_tables:\n      - id: vtb-x\n", 1)
	e := newEnv(t, yaml)
	e.ok(t, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-x", DestinationCidrBlock: "10.1.0.0/16", NextHopID: "i-fw1"}, nil)
	e.ok(t, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.2.0.0/16", NextHopID: "i-fw2"}, nil)

	var r api.ReloadResponse
	e.ok(t, "Reload", nil, &r)
	if !r.Reloaded || len(r.Dropped) != 0 || r.OverlayOps != 2 {
		t.Fatalf("unchanged file: %+v", r)
	}

	writeFile(t, e.cfgPath, testYAML) // vtb-x left the file
	r = api.ReloadResponse{}
	e.ok(t, "Reload", nil, &r)
	if len(r.Dropped) != 1 || r.Dropped[0].Index != 0 || r.OverlayOps != 1 ||
		!strings.Contains(r.Dropped[0].Reason, "vtb-x does not exist") {
		t.Fatalf("reload = %+v", r)
	}
	if findRoute(e.b.Config(), "vtb-b", "10.2.0.0/16") == nil {
		t.Fatal("the surviving operation is not applied")
	}
	re, _ := api.OpenOverlay(e.stateDir)
	if ops := re.Ops(); len(ops) != 1 || !strings.Contains(string(ops[0].Params), "10.2.0.0/16") {
		t.Fatalf("persisted overlay = %+v", ops)
	}
	// The next reload drops nothing more.
	r = api.ReloadResponse{}
	e.ok(t, "Reload", nil, &r)
	if len(r.Dropped) != 0 {
		t.Fatalf("second reload = %+v", r)
	}
}

// TestReloadInvalidFile: an invalid file changes nothing and every error
// is reported with its position (R3, Q2).
func TestReloadInvalidFile(t *testing.T) {
	e := newEnv(t, testYAML)
	before := e.configJSON(t)
	bad := strings.Replace(testYAML, "cidr: 192.168.3.0/24", "cidr: 192.168.3.0/33", 1)
	bad = strings.Replace(bad, "region: cn-hangzhou", "region: cn-hangzhou\nbogus: 1", 1)
	writeFile(t, e.cfgPath, bad)
	ae := e.fail(t, "Reload", nil, 422)
	if ae.Code != api.CodeInvalidConfig || len(ae.Errors) < 2 {
		t.Fatalf("reload error = %+v", ae)
	}
	for _, s := range ae.Errors {
		if !strings.HasPrefix(s, e.cfgPath+":") {
			t.Errorf("error without position: %s", s)
		}
	}
	if e.configJSON(t) != before {
		t.Fatal("configuration changed")
	}
}

// TestStateShowReset: StateShow lists the overlay; StateReset drops it and
// the file alone applies again (R5).
func TestStateShowReset(t *testing.T) {
	e := newEnv(t, testYAML)
	fileOnly := e.configJSON(t)
	e.ok(t, "CreateVpc", api.CreateVpcParams{VpcID: "vpc-new", CidrBlock: "172.16.0.0/16"}, nil)
	e.ok(t, "ModifyVpcAttribute", api.ModifyVpcAttributeParams{VpcID: "vpc-new", VpcName: strp("new")}, nil)
	var show api.StateShowResponse
	e.ok(t, "StateShow", nil, &show)
	if show.Count != 2 || show.Ops[0].Action != "CreateVpc" || show.Ops[1].Action != "ModifyVpcAttribute" {
		t.Fatalf("show = %+v", show)
	}
	var reset api.StateResetResponse
	e.ok(t, "StateReset", nil, &reset)
	if !reset.Reset || reset.DroppedOps != 2 || e.b.Overlay().Len() != 0 {
		t.Fatalf("reset = %+v", reset)
	}
	if e.configJSON(t) != fileOnly {
		t.Fatal("configuration after reset is not the file's")
	}
	e.fail(t, "StateShow", map[string]int{"x": 1}, 400)
}

// TestCloneConfigIndependent: a clone shares nothing mutable with the
// original.
func TestCloneConfigIndependent(t *testing.T) {
	c := loadYAML(t, testYAML)
	orig, _ := json.Marshal(c)
	cl := api.CloneConfig(c)
	cl.VPCByID("vpc-demo").Name = "changed"
	cl.RouteTableByID("vtb-b").Routes[3].NextHop = "i-web1"
	cl.InstanceByID("i-web1").SecurityGroups[0] = "sg-x"
	cl.SecurityGroupByID("sg-web").Rules[0].Priority = 9
	cl.RouteTableByID("vtb-b").Routes = nil
	if now, _ := json.Marshal(c); string(now) != string(orig) {
		t.Fatal("changing the clone changed the original")
	}
	if c.VPCByID("vpc-demo") == cl.VPCByID("vpc-demo") {
		t.Fatal("lookups of the clone return the original's objects")
	}
	if api.CloneConfig(nil) != nil {
		t.Fatal("clone of nil")
	}
}
