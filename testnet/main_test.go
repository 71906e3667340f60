package testnet

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestMain removes the built binaries and sweeps leftover namespaces carrying
// Prefix() when the test binary ends (scenario files must not define another).
// Re-executed with TESTNET_FAKE set, the test binary plays vrouterd or
// vrouterctl for the harness's own tests.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTNET_FAKE") {
	case "vrouterd":
		os.Exit(fakeVrouterd(os.Args[1:]))
	case "vrouterctl":
		fmt.Println(strings.Join(os.Args[1:], " "))
		if len(os.Args) > 3 && os.Args[3] == "fail" {
			fmt.Fprintln(os.Stderr, "fake failure")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(Main(m))
}

// fakeVrouterd logs like vrouterd (zap JSON on stderr): it serves /metrics,
// reports ready with the number of "eni-" words in its config, logs
// "reloaded" on SIGHUP and exits 0 on SIGTERM. With --fail-start it exits 1
// before being ready; with --ignore-term it ignores SIGTERM.
func fakeVrouterd(args []string) int {
	enc := json.NewEncoder(os.Stderr)
	logf := func(fields map[string]any) { _ = enc.Encode(fields) }
	var cfg string
	ignoreTerm := false
	for i, a := range args {
		switch a {
		case "--config":
			cfg = args[i+1]
		case "--fail-start":
			logf(map[string]any{"level": "error", "msg": "cannot start"})
			return 1
		case "--ignore-term":
			ignoreTerm = true
		}
	}
	data, err := os.ReadFile(cfg)
	if err != nil {
		logf(map[string]any{"level": "error", "msg": err.Error()})
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "vrouter_fake_up 1")
	}))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	fmt.Println("plain stdout line")
	logf(map[string]any{"level": "info", "msg": "metrics listening", "addr": ln.Addr().String()})
	logf(map[string]any{"level": "info", "msg": "vrouterd ready", "ports": strings.Count(string(data), "eni-")})
	for s := range sigs {
		if s == syscall.SIGHUP {
			logf(map[string]any{"level": "info", "msg": "reloaded"})
			continue
		}
		if !ignoreTerm {
			logf(map[string]any{"level": "info", "msg": "stopped"})
			return 0
		}
	}
	return 0
}
