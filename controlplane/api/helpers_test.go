package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/api/apitest"
)

// testYAML is the SPEC §2 example plus an empty VSwitch (vsw-c), an
// instance behind the custom table (i-app) and an empty VPC (vpc-other).
const testYAML = `version: 1
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
          - dst: 10.0.0.0/8
            next_hops: [{id: i-fw1, weight: 100}, {id: i-fw2, weight: 100}]
          - dst: 172.16.0.0/12
            next_hops: [{id: i-fw1, weight: 100}, {id: i-fw2, weight: 0}]
            health_check: {interval: 200ms, timeout: 150ms, failures: 3, successes: 3}
    security_groups:
      - id: sg-web
        inner_access: accept
        rules:
          - {direction: ingress, policy: accept, priority: 1, protocol: tcp, port_range: 80/80, source_cidr: 0.0.0.0/0}
          - {direction: ingress, policy: drop,   priority: 1, protocol: all, port_range: -1/-1, source_cidr: 10.0.0.1/32}
  - id: vpc-other
    cidr: 10.20.0.0/16
instances:
  - {id: i-web1, vswitch: vsw-a, ip: 192.168.1.10, security_groups: [sg-web], netns: web1}
  - {id: i-nat,  vswitch: vsw-a, ip: 192.168.1.20, netns: nat}
  - id: i-fw1
    vswitch: vsw-a
    ip: 192.168.1.30
    netns: fw1
    enis: [{id: eni-fw1b, vswitch: vsw-b, ip: 192.168.2.30, ifname: eth1}]
  - {id: i-fw2,  vswitch: vsw-a, ip: 192.168.1.31, netns: fw2}
  - {id: i-app,  vswitch: vsw-b, ip: 192.168.2.10, netns: app}
`

// testClock is the fixed clock of test servers.
var testClock = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	dir, cfgPath, stateDir string
	b                      *apitest.Backend
	srv                    *api.Server
}

// newEnv writes yaml to a temporary file and starts an in-memory backend
// and a server over it (not listening).
func newEnv(t *testing.T, yaml string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, cfgPath: filepath.Join(dir, "vrouter.yaml"), stateDir: filepath.Join(dir, "state")}
	if err := os.WriteFile(e.cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	e.restart(t)
	return e
}

// restart makes a new backend and server from the file and the state
// directory, as a daemon restart does (Q5).
func (e *env) restart(t *testing.T) {
	t.Helper()
	b, err := apitest.New(e.cfgPath, e.stateDir)
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	e.b = b
	e.srv = api.NewServer(b, nil, api.WithClock(func() time.Time { return testClock }))
}

// call runs action through the HTTP handler and returns the status and
// the reply body.
func (e *env) call(t *testing.T, action string, params any) (int, []byte) {
	t.Helper()
	body := []byte("{}")
	if params != nil {
		var err error
		if body, err = json.Marshal(params); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/"+action, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// ok runs action, requires 200 and decodes the reply into out (if not nil).
func (e *env) ok(t *testing.T, action string, params any, out any) {
	t.Helper()
	code, body := e.call(t, action, params)
	if code != http.StatusOK {
		t.Fatalf("%s: status %d: %s", action, code, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: decoding %s: %v", action, body, err)
		}
	}
}

// fail runs action, requires the status and returns the error body.
func (e *env) fail(t *testing.T, action string, params any, status int) *api.Error {
	t.Helper()
	code, body := e.call(t, action, params)
	if code != status {
		t.Fatalf("%s: status %d, want %d: %s", action, code, status, body)
	}
	var ae api.Error
	if err := json.Unmarshal(body, &ae); err != nil {
		t.Fatalf("%s: error body %s: %v", action, body, err)
	}
	return &ae
}

// configJSON renders the running configuration (exported fields) for
// comparisons.
func (e *env) configJSON(t *testing.T) string {
	t.Helper()
	data, err := json.Marshal(e.b.Config())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func intp(i int) *int       { return &i }
func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

var errApply = apitest.ErrApply

// mkdirWithFile creates a non-empty directory at path.
func mkdirWithFile(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(path, "x"), nil, 0o644)
}
