package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrouter/vrouter/controlplane/api"
)

// TestServerOverSocket: the API on a unix socket with the Client (R5).
func TestServerOverSocket(t *testing.T) {
	e := newEnv(t, testYAML)
	sock := filepath.Join(e.dir, "api.sock")
	if err := e.srv.Serve(sock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, %v", fi.Mode(), err)
	}
	if err := e.srv.Serve(sock); err == nil {
		t.Fatal("second Serve succeeded")
	}
	// A second server on the same live socket is refused.
	if err := api.NewServer(e.b, nil).Serve(sock); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server: %v", err)
	}

	c := api.NewClient(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var vpcs api.DescribeVpcsResponse
	if err := c.Call(ctx, "DescribeVpcs", nil, &vpcs); err != nil || vpcs.TotalCount != 2 {
		t.Fatalf("DescribeVpcs: %v %+v", err, vpcs)
	}
	var m api.MutationResponse
	if err := c.Call(ctx, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "10.9.0.0/16", NextHopID: "i-fw1"}, &m); err != nil || m.OverlayOps != 1 {
		t.Fatalf("CreateRouteEntry: %v %+v", err, m)
	}
	var raw json.RawMessage
	if err := c.Call(ctx, "StateShow", json.RawMessage(`{}`), &raw); err != nil || !strings.Contains(string(raw), `"CreateRouteEntry"`) {
		t.Fatalf("StateShow: %v %s", err, raw)
	}
	err = c.Call(ctx, "CreateRouteEntry", api.CreateRouteEntryParams{RouteTableID: "vtb-b", DestinationCidrBlock: "192.168.2.0/24", NextHopID: "i-fw1"}, nil)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != api.CodeValidationFailed || len(ae.Errors) != 1 ||
		!strings.HasPrefix(ae.Errors[0], "api:CreateRouteEntry: vtb-b: V13:") || !strings.Contains(ae.Error(), "\napi:CreateRouteEntry") {
		t.Fatalf("V13 error = %#v", err)
	}
	err = c.Call(ctx, "NoSuchAction", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != api.CodeUnknownAction {
		t.Fatalf("unknown action: %v", err)
	}

	// Only POST /v1/<Action>.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v1/DescribeVpcs", 405},
		{http.MethodPost, "/v2/DescribeVpcs", 404},
		{http.MethodPost, "/v1/", 404},
	} {
		req, _ := http.NewRequest(tc.method, "http://vrouterd"+tc.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body api.Error
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || body.Code == "" {
			t.Errorf("%s %s: %d %+v", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	hc.CloseIdleConnections()

	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after Close: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Call(ctx, "DescribeVpcs", nil, nil); err == nil || !strings.Contains(err.Error(), "cannot reach vrouterd") {
		t.Fatalf("call after close: %v", err)
	}
}

// TestServeRemovesStaleSocket: a socket file left by a crashed process is
// replaced; a regular file is not touched.
func TestServeRemovesStaleSocket(t *testing.T) {
	e := newEnv(t, testYAML)
	sock := filepath.Join(e.dir, "stale.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := e.srv.Serve(sock); err != nil {
		t.Fatalf("Serve over a stale socket: %v", err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}

	file := filepath.Join(e.dir, "regular")
	writeFile(t, file, "keep me")
	if err := api.NewServer(e.b, nil).Serve(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Serve over a regular file: %v", err)
	}
	if data, _ := os.ReadFile(file); string(data) != "keep me" {
		t.Fatal("regular file changed")
	}
}

// TestActionsCovered: every action answers (nothing unknown among the
// advertised names).
func TestActionsCovered(t *testing.T) {
	e := newEnv(t, testYAML)
	for _, a := range api.Actions() {
		code, body := e.call(t, a, map[string]string{"Bogus": "x"})
		if code != 400 {
			t.Errorf("%s with an unknown parameter: %d %s", a, code, body)
		}
	}
}
