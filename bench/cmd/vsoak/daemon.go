package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vrouter/vrouter/bench/internal/netenv"
	"github.com/vrouter/vrouter/bench/internal/topo"
	"github.com/vrouter/vrouter/controlplane/compile"
	"github.com/vrouter/vrouter/controlplane/config"
)

// readyMsg and metricsMsg are the vrouterd log lines vsoak waits for.
const (
	readyMsg   = topo.ReadyMsg
	metricsMsg = "metrics listening"
)

// daemon is the vrouterd of a soak run. Its exported-by-convention fields
// are set before startDaemon returns and not changed afterwards; the log
// counters are guarded by mu (the log writer runs on the copying goroutine).
type daemon struct {
	proc        *netenv.Proc
	pid         int
	metricsAddr string
	configPath  string
	clientNS    string
	serverNS    string
	logw        *netenv.LineWriter

	mu        sync.Mutex
	errorLogs int    // level "error" lines
	warnLogs  int    // level "warn" lines
	lastError string // the last of them, for the report

	stopOnce sync.Once
	stopErr  error    // exit status after SIGTERM
	left     []string // namespaces still there after it stopped
}

// startDaemon writes topology V's configuration (topo.VrouterdConfig) to a
// private temporary directory and runs
//
//	vrouterd --config F --state-dir D --api-socket S --metrics-addr 127.0.0.1:0 --log-format json
//
// in vsoak's own namespace, waiting for the "metrics listening" and
// "vrouterd ready" lines. vrouterd creates the client and server namespaces
// (env.Name("vc"), env.Name("vs")) and their TUN ports itself. A cleanup
// registered with env stops it with SIGTERM if the caller has not.
func startDaemon(ctx context.Context, env *netenv.Env, binary string, readyTimeout time.Duration) (*daemon, error) {
	bin, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("vrouterd binary %s is missing or not executable (run `make build`)", bin)
	}
	d := &daemon{clientNS: env.Name("vc"), serverNS: env.Name("vs")}
	for _, ns := range []string{d.clientNS, d.serverNS} {
		if netenv.Exists(ns) {
			return nil, fmt.Errorf("namespace %s already exists", ns)
		}
	}
	// A short directory: the API socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", env.Prefix+"-")
	if err != nil {
		return nil, err
	}
	env.OnCleanup(func() error { return os.RemoveAll(dir) })
	d.configPath = filepath.Join(dir, "vpc.yaml")
	if err := os.WriteFile(d.configPath, []byte(topo.VrouterdConfig(d.clientNS, d.serverNS)), 0o600); err != nil {
		return nil, err
	}
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		return nil, err
	}

	// The log lines arrive in order on one goroutine; the loop below waits
	// for both lines whatever their order.
	changed := make(chan struct{}, 1)
	var seenAddr string
	var seenReady bool
	d.logw = &netenv.LineWriter{Keep: 40, OnLine: func(line string) {
		l, ok := parseLogLine(line)
		if !ok {
			return
		}
		switch l.Level {
		case "error", "dpanic", "panic", "fatal":
			d.mu.Lock()
			d.errorLogs++
			d.lastError = l.Msg + ": " + l.Error
			d.mu.Unlock()
		case "warn":
			d.mu.Lock()
			d.warnLogs++
			d.mu.Unlock()
		}
		if l.Msg != metricsMsg && l.Msg != readyMsg {
			return
		}
		d.mu.Lock()
		if l.Msg == metricsMsg {
			seenAddr = l.Addr
			if seenAddr == "" {
				seenAddr = "?" // reported below
			}
		} else {
			seenReady = true
		}
		d.mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	}}
	// Not CommandContext: vrouterd is stopped with SIGTERM so that it tears
	// down (R4), never killed outright by a cancelled context.
	cmd := exec.Command(bin, "--config", d.configPath, "--state-dir", stateDir,
		"--api-socket", filepath.Join(dir, "api.sock"), "--metrics-addr", "127.0.0.1:0",
		"--log-format", "json")
	cmd.Stdout, cmd.Stderr = d.logw, d.logw
	// If vsoak dies without cleaning up, vrouterd still tears down (R4).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	d.proc, err = env.StartManaged(cmd)
	if err != nil {
		return nil, fmt.Errorf("start vrouterd: %w", err)
	}
	d.pid = d.proc.Pid()
	env.OnCleanup(func() error {
		d.stop(20 * time.Second)
		return nil // stop's findings are judged by the caller
	})

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	for {
		d.mu.Lock()
		addr, ready := seenAddr, seenReady
		d.mu.Unlock()
		if addr == "?" {
			return nil, fmt.Errorf("%q log line without an addr field", metricsMsg)
		}
		if addr != "" && ready {
			d.metricsAddr = addr
			break
		}
		select {
		case <-changed:
		case <-d.proc.Done():
			return nil, fmt.Errorf("vrouterd exited before it was ready (%v):\n%s", d.proc.Wait(ctx), d.logw.Tail())
		case <-timer.C:
			return nil, fmt.Errorf("vrouterd not ready after %v (metrics line seen: %v, ready line seen: %v):\n%s",
				readyTimeout, addr != "", ready, d.logw.Tail())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, ns := range []string{d.clientNS, d.serverNS} {
		if !netenv.Exists(ns) {
			return nil, fmt.Errorf("vrouterd is ready but namespace %s does not exist", ns)
		}
	}
	return d, nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// running reports whether vrouterd is still running.
func (d *daemon) running() bool { return !isClosed(d.proc.Done()) }

// stop sends SIGTERM (once), waits up to grace before SIGKILL, and records
// the exit status and the namespaces vrouterd failed to remove (R4).
func (d *daemon) stop(grace time.Duration) (exitErr error, leftovers []string) {
	d.stopOnce.Do(func() {
		if !d.running() {
			d.stopErr = fmt.Errorf("vrouterd had already exited: %v", d.proc.Wait(context.Background()))
		} else if err := d.proc.Stop(syscall.SIGTERM, grace); err != nil {
			d.stopErr = fmt.Errorf("vrouterd exit after SIGTERM: %v", err)
		}
		for _, ns := range []string{d.clientNS, d.serverNS} {
			if netenv.Exists(ns) {
				d.left = append(d.left, ns)
			}
		}
	})
	return d.stopErr, d.left
}

// logStats returns the counts of error and warning log lines so far.
func (d *daemon) logStats() (errs, warns int, last string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.errorLogs, d.warnLogs, d.lastError
}

// guestPort is one ENI of the configuration as its guest sees it.
type guestPort struct {
	Name   string // the port label of vrouterd's metrics (the ENI id)
	Netns  string
	IfName string
}

// guestPorts lists the ENIs of the configuration vrouterd runs.
func (d *daemon) guestPorts() ([]guestPort, error) {
	cfg, _, err := config.LoadAndValidate(d.configPath)
	if err != nil {
		return nil, err
	}
	var out []guestPort
	for _, s := range compile.PortSpecs(cfg) {
		if s.Netns != "" && s.IfName != "" {
			out = append(out, guestPort{Name: s.Name, Netns: s.Netns, IfName: s.IfName})
		}
	}
	return out, nil
}

// guestCounters are a guest interface's own counters (the other end of the
// TUN: what the guest's kernel sent into the router and received from it).
type guestCounters struct {
	TX, RX, TXDropped uint64
}

// readGuest reads the counters of ifname inside the named namespace.
func readGuest(nsName, ifname string) (guestCounters, error) {
	h, err := netns.GetFromName(nsName)
	if err != nil {
		return guestCounters{}, fmt.Errorf("namespace %s: %w", nsName, err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return guestCounters{}, fmt.Errorf("netlink in %s: %w", nsName, err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(ifname)
	if err != nil {
		return guestCounters{}, fmt.Errorf("%s in %s: %w", ifname, nsName, err)
	}
	st := l.Attrs().Statistics
	if st == nil {
		return guestCounters{}, fmt.Errorf("%s in %s: no statistics", ifname, nsName)
	}
	return guestCounters{TX: st.TxPackets, RX: st.RxPackets, TXDropped: st.TxDropped}, nil
}
