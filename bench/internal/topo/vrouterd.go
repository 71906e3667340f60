package topo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vrouter/vrouter/bench/internal/netenv"
)

// VrouterdConfig returns the configuration (SPEC §2) of topology V: one VPC
// with vsw-a (the client) on the system table and vsw-b (the server) on the
// custom table vtb-b, whose custom route 10.0.0.0/8 → i-client puts a custom
// table on the server's path; the server is in sg-srv, which admits TCP and
// UDP 5201 and ICMP from the client subnet, and the client in sg-cli, which
// has no rules (egress accept, ingress drop by default: S4). The client keeps
// anti-spoofing on (source_dest_check: true) although it is a next hop (F4),
// so V's pipeline does every check the other topologies are compared with.
func VrouterdConfig(clientNS, serverNS string) string {
	return fmt.Sprintf(`version: 1
region: bench
vpcs:
  - id: vpc-bench
    name: vbench
    cidr: %[1]s
    vswitches:
      - {id: vsw-a, zone: bench-a, cidr: %[2]s}
      - {id: vsw-b, zone: bench-a, cidr: %[3]s, route_table: vtb-b}
    route_tables:
      - id: vtb-b
        name: bench-custom
        routes:
          - {dst: %[4]s, next_hop: i-client}
    security_groups:
      - id: sg-cli
        name: bench-client
      - id: sg-srv
        name: bench-server
        rules:
          - {direction: ingress, policy: accept, priority: 1, protocol: tcp, port_range: 5201/5201, source_cidr: %[2]s}
          - {direction: ingress, policy: accept, priority: 1, protocol: udp, port_range: 5201/5201, source_cidr: %[2]s}
          - {direction: ingress, policy: accept, priority: 1, protocol: icmp, port_range: -1/-1, source_cidr: %[2]s}
instances:
  - {id: i-client, vswitch: vsw-a, ip: %[5]s, security_groups: [sg-cli], netns: %[7]s, mtu: %[9]d, source_dest_check: true}
  - {id: i-server, vswitch: vsw-b, ip: %[6]s, security_groups: [sg-srv], netns: %[8]s, mtu: %[9]d}
`, VPCCIDR, ClientAddr.Masked(), ServerAddr.Masked(), CustomRoute,
		ClientAddr.Addr(), ServerAddr.Addr(), clientNS, serverNS, MTU)
}

// VrouterdOptions configures Vrouterd.
type VrouterdOptions struct {
	Binary string // path of vrouterd
	// ReadyTimeout bounds the wait for the "vrouterd ready" log line.
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

// logLine is the part of a vrouterd JSON log line vbench looks at.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Error string `json:"error"`
}

// ReadyMsg is the message vrouterd logs once every port forwards (SPEC R1).
const ReadyMsg = "vrouterd ready"

// Vrouterd builds topology V: it writes VrouterdConfig to a temporary
// directory, starts vrouterd on it (state directory, API socket and metrics
// on 127.0.0.1:0 all private to this run, JSON logs), and waits for the ready
// line. vrouterd itself creates the namespaces <prefix>-vc and -vs with their
// TUN ports. Cleanup sends SIGTERM and waits: vrouterd must remove the ports
// and the namespaces it created (R4); if it does not, netenv's sweep deletes
// them and the cleanup reports it.
func Vrouterd(ctx context.Context, env *netenv.Env, opts VrouterdOptions) (*Topology, error) {
	t := &Topology{
		ID:       "V",
		Desc:     "vrouterd (security groups + custom route table)",
		ClientNS: env.Name("vc"),
		ServerNS: env.Name("vs"),
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 20 * time.Second
	}
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			opts.Log(format, args...)
		}
	}
	bin, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("V: vrouterd binary %s is missing or not executable (run `make build`)", bin)
	}
	for _, ns := range []string{t.ClientNS, t.ServerNS} {
		if netenv.Exists(ns) {
			return nil, fmt.Errorf("V: namespace %s already exists", ns)
		}
	}
	dir, err := os.MkdirTemp("", env.Prefix+"-vrouterd-")
	if err != nil {
		return nil, err
	}
	env.OnCleanup(func() error { return os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "vpc.yaml")
	if err := os.WriteFile(cfg, []byte(VrouterdConfig(t.ClientNS, t.ServerNS)), 0o644); err != nil {
		return nil, err
	}
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		return nil, err
	}

	ready := make(chan struct{})
	var lastErr string
	logw := &netenv.LineWriter{Keep: 40, OnLine: func(line string) {
		var l logLine
		if json.Unmarshal([]byte(line), &l) != nil {
			return
		}
		if l.Level == "error" {
			lastErr = strings.TrimSpace(l.Msg + ": " + l.Error)
		}
		if l.Msg == ReadyMsg {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	}}
	// Not CommandContext: vrouterd is stopped with SIGTERM by the cleanup
	// below, never killed outright by a cancelled context.
	cmd := exec.Command(bin, "--config", cfg, "--state-dir", stateDir,
		"--api-socket", filepath.Join(dir, "api.sock"), "--metrics-addr", "127.0.0.1:0",
		"--log-format", "json")
	cmd.Stdout, cmd.Stderr = logw, logw
	// If vbench dies without cleaning up, vrouterd still tears down (R4).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p, err := env.StartManaged(cmd)
	if err != nil {
		return nil, fmt.Errorf("V: start vrouterd: %w", err)
	}
	env.OnCleanup(func() error {
		var errs []string
		select {
		case <-p.Done():
			// It exited on its own; that was reported where it was noticed
			// (build error or the topology's notes).
		default:
			if serr := p.Stop(syscall.SIGTERM, opts.StopTimeout); serr != nil {
				errs = append(errs, fmt.Sprintf("vrouterd exit after SIGTERM: %v", serr))
			}
		}
		for _, ns := range []string{t.ClientNS, t.ServerNS} {
			if netenv.Exists(ns) {
				errs = append(errs, fmt.Sprintf("namespace %s still exists after vrouterd stopped (R4)", ns))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("V: %s; last log lines:\n%s", strings.Join(errs, "; "), logw.Tail())
		}
		return nil
	})

	timer := time.NewTimer(opts.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-p.Done():
		return nil, fmt.Errorf("V: vrouterd exited before ready (%v): %s\n%s", p.Wait(ctx), lastErr, logw.Tail())
	case <-timer.C:
		return nil, fmt.Errorf("V: vrouterd not ready after %v:\n%s", opts.ReadyTimeout, logw.Tail())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, ns := range []string{t.ClientNS, t.ServerNS} {
		if !netenv.Exists(ns) {
			return nil, fmt.Errorf("V: vrouterd is ready but namespace %s does not exist", ns)
		}
	}
	logf("V: vrouterd pid %d ready", p.Pid())
	t.Notes = func() string {
		select {
		case <-p.Done():
			return fmt.Sprintf("vrouterd exited early: %v", p.Wait(context.Background()))
		default:
			return ""
		}
	}
	return t, nil
}
