package testnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the daemon harness (variables so that the harness's own tests
// can shorten them).
var (
	readyTimeout = 20 * time.Second // start until "vrouterd ready"
	stopTimeout  = 10 * time.Second // signal until exit, before SIGKILL
)

var build struct {
	once     sync.Once
	dir      string
	vrouterd string
	ctl      string
	err      error
}

// BuildBinaries builds cmd/vrouterd and cmd/vrouterctl once per test process
// into a temporary directory (removed by Main) and returns their paths.
func BuildBinaries(t testing.TB) (vrouterd, vrouterctl string) {
	t.Helper()
	build.once.Do(func() {
		build.err = buildBinaries()
	})
	if build.err != nil {
		t.Fatalf("testnet: %v", build.err)
	}
	return build.vrouterd, build.ctl
}

func buildBinaries() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("not inside the vrouter module: cannot build the binaries")
	}
	root := filepath.Dir(gomod)
	dir, err := os.MkdirTemp("", "vrouter-testbin-")
	if err != nil {
		return err
	}
	build.dir = dir
	for _, name := range []string{"vrouterd", "vrouterctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/%s failed: %v\n%s", name, err, out)
		}
	}
	build.vrouterd = filepath.Join(dir, "vrouterd")
	build.ctl = filepath.Join(dir, "vrouterctl")
	return nil
}

func removeBinaries() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// Daemon is a running (or stopped) vrouterd started by StartVrouterd. Its
// exported fields are set before StartVrouterd or Restart returns and are not
// changed while the process runs; the log buffer is guarded by mu.
type Daemon struct {
	Cmd         *exec.Cmd
	StateDir    string
	Socket      string
	ConfigPath  string
	MetricsAddr string // host:port of /metrics, from the "metrics listening" line
	Ports       int    // "ports" field of the "vrouterd ready" line
	Netns       string // namespace vrouterd runs in ("" = the test process's)
	// SkipAccounting turns off the accounting check that cleanup runs on a
	// still-running daemon (CheckAccounting); set it only in tests that
	// break the identity on purpose (deleted namespaces, crashes).
	SkipAccounting bool

	starts int // processes started (Restart makes more)

	t   testing.TB
	bin string
	ctl string

	mu      sync.Mutex
	logs    bytes.Buffer
	entries []map[string]any // parsed JSON log lines, in order
	changed chan struct{}    // closed and replaced whenever a line arrives

	exited  chan struct{} // closed when the current process has been waited for
	waitErr error         // the current process's exit status, after exited
}

// StartVrouterd runs vrouterd with configYAML in the test process's namespace;
// see StartVrouterdIn.
func StartVrouterd(t testing.TB, configYAML string, extraArgs ...string) *Daemon {
	t.Helper()
	return StartVrouterdIn(t, "", configYAML, extraArgs...)
}

// StartVrouterdIn writes configYAML to a temporary file and runs
//
//	vrouterd --config F --state-dir D --api-socket S --metrics-addr 127.0.0.1:0 --log-format json EXTRA...
//
// inside ns ("" = the test process's namespace; a test namespace keeps the
// temporary TUNs vrouterd makes there out of the host's). It waits up to 20 s
// for the "vrouterd ready" and "metrics listening" log lines and fails the
// test if vrouterd exits first. t.Cleanup stops it (SIGTERM, then SIGKILL
// after 10 s), dumps its logs when the test failed and removes the files.
func StartVrouterdIn(t testing.TB, ns, configYAML string, extraArgs ...string) *Daemon {
	t.Helper()
	bin, ctl := BuildBinaries(t)
	return startDaemon(t, bin, ctl, ns, configYAML, extraArgs)
}

// startDaemon is StartVrouterdIn with the binaries given.
func startDaemon(t testing.TB, bin, ctl, ns, configYAML string, extraArgs []string) *Daemon {
	t.Helper()
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "vrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &Daemon{
		t: t, bin: bin, ctl: ctl, Netns: ns,
		StateDir:   filepath.Join(dir, "state"),
		Socket:     filepath.Join(dir, "api.sock"),
		ConfigPath: filepath.Join(dir, "vrouterd.yaml"),
		changed:    make(chan struct{}),
	}
	if err := os.Mkdir(d.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteConfig(configYAML); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.Running() && !t.Failed() && !d.SkipAccounting {
			d.CheckAccounting(t)
		}
		if d.Running() {
			if err := d.Stop(syscall.SIGTERM); err != nil {
				t.Errorf("testnet: vrouterd did not stop cleanly: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("vrouterd logs:\n%s", d.Logs())
		}
	})
	if err := d.start(extraArgs); err != nil {
		t.Fatalf("testnet: %v\nvrouterd logs:\n%s", err, d.Logs())
	}
	return d
}

// Restart starts vrouterd again after Stop, with the same configuration file,
// state directory and socket and the given extra arguments (SPEC Q5, Q7).
func (d *Daemon) Restart(t testing.TB, extraArgs ...string) {
	t.Helper()
	if d.Running() {
		t.Fatal("testnet: Restart of a running vrouterd; Stop it first")
	}
	d.mu.Lock()
	fmt.Fprintf(&d.logs, "---- restart %s ----\n", strings.Join(extraArgs, " "))
	d.mu.Unlock()
	if err := d.start(extraArgs); err != nil {
		t.Fatalf("testnet: %v\nvrouterd logs:\n%s", err, d.Logs())
	}
}

// WriteConfig replaces the configuration file (then Signal(syscall.SIGHUP) or
// Ctl("reload") applies it, SPEC R3).
func (d *Daemon) WriteConfig(configYAML string) error {
	tmp := d.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(configYAML), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.ConfigPath)
}

func (d *Daemon) start(extraArgs []string) error {
	args := append([]string{
		"--config", d.ConfigPath,
		"--state-dir", d.StateDir,
		"--api-socket", d.Socket,
		"--metrics-addr", "127.0.0.1:0",
		"--log-format", "json",
	}, extraArgs...)
	cmd := exec.Command(d.bin, args...)
	// Kill vrouterd if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = logWriter{d}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	d.mu.Lock()
	mark := len(d.entries)
	d.mu.Unlock()
	// The child inherits the namespace of the thread that forks it.
	if err := InNS(d.Netns, cmd.Start); err != nil {
		return fmt.Errorf("start vrouterd: %w", err)
	}
	exited := make(chan struct{})
	d.Cmd, d.exited, d.MetricsAddr, d.Ports = cmd, exited, "", 0
	d.starts++
	go func() {
		d.scan(stderr)
		err := cmd.Wait()
		d.mu.Lock()
		d.waitErr = err
		d.mu.Unlock()
		close(exited)
	}()

	deadline := time.Now().Add(readyTimeout)
	for {
		d.mu.Lock()
		var ready, metrics map[string]any
		for _, e := range d.entries[mark:] {
			switch e["msg"] {
			case "vrouterd ready":
				ready = e
			case "metrics listening":
				metrics = e
			}
		}
		changed := d.changed
		d.mu.Unlock()
		if ready != nil && metrics != nil {
			addr, _ := metrics["addr"].(string)
			if addr == "" {
				return errors.New(`"metrics listening" line has no "addr" field`)
			}
			ports, ok := ready["ports"].(float64)
			if !ok {
				return errors.New(`"vrouterd ready" line has no numeric "ports" field`)
			}
			d.MetricsAddr, d.Ports = addr, int(ports)
			return nil
		}
		select {
		case <-changed:
		case <-exited:
			return fmt.Errorf("vrouterd exited before it was ready: %v", d.exitErr())
		case <-time.After(time.Until(deadline)):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("vrouterd not ready within %v (ready line seen: %v, metrics line seen: %v)", readyTimeout, ready != nil, metrics != nil)
		}
	}
}

// logWriter appends stdout to the log buffer.
type logWriter struct{ d *Daemon }

func (w logWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.d.logs.Write(p)
	return len(p), nil
}

// scan copies stderr lines into the log buffer, parsing JSON lines.
func (d *Daemon) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e map[string]any
		if json.Unmarshal(line, &e) != nil {
			e = nil
		}
		d.mu.Lock()
		d.logs.Write(line)
		d.logs.WriteByte('\n')
		if e != nil {
			d.entries = append(d.entries, e)
		}
		close(d.changed)
		d.changed = make(chan struct{})
		d.mu.Unlock()
	}
	// Drain anything left after a scanner error so the process never blocks.
	_, _ = io.Copy(logWriter{d}, r)
}

func (d *Daemon) exitErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waitErr
}

// Running reports whether the current vrouterd process has not exited.
func (d *Daemon) Running() bool {
	if d.exited == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// Signal sends sig to vrouterd (SIGHUP reloads, SPEC R3).
func (d *Daemon) Signal(sig os.Signal) error {
	if !d.Running() {
		return errors.New("testnet: vrouterd is not running")
	}
	return d.Cmd.Process.Signal(sig)
}

// Stop sends sig, waits up to 10 s for vrouterd to exit, then kills it. It
// returns the exit status: nil for exit code 0 (SPEC R4).
func (d *Daemon) Stop(sig os.Signal) error {
	if d.exited == nil {
		return errors.New("testnet: vrouterd was never started")
	}
	if d.Running() {
		if err := d.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		select {
		case <-d.exited:
		case <-time.After(stopTimeout):
			_ = d.Cmd.Process.Kill()
			<-d.exited
			return fmt.Errorf("testnet: vrouterd ignored %v for %v and was killed", sig, stopTimeout)
		}
	}
	return d.exitErr()
}

// Logs returns everything vrouterd wrote so far, across restarts.
func (d *Daemon) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// LogMark returns a position in the parsed log lines for WaitLog.
func (d *Daemon) LogMark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// sawLog reports whether any log line so far has the given msg.
func (d *Daemon) sawLog(msg string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.entries {
		if e["msg"] == msg {
			return true
		}
	}
	return false
}

// WaitLog waits up to timeout for a JSON log line with the given msg after
// position since (LogMark) and returns its fields.
func (d *Daemon) WaitLog(since int, msg string, timeout time.Duration) (map[string]any, error) {
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for _, e := range d.entries[min(since, len(d.entries)):] {
			if e["msg"] == msg {
				d.mu.Unlock()
				return e, nil
			}
		}
		changed := d.changed
		d.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return nil, fmt.Errorf("testnet: no %q log line within %v", msg, timeout)
		}
	}
}

// Ctl runs vrouterctl --socket d.Socket args... and returns its stdout; a
// non-zero exit is an error carrying stderr.
func (d *Daemon) Ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.ctl, append([]string{"--socket", d.Socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("vrouterctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Metrics fetches the Prometheus text from /metrics (SPEC R8), from inside the
// daemon's namespace.
func (d *Daemon) Metrics() (string, error) {
	if d.MetricsAddr == "" {
		return "", errors.New("testnet: no metrics address")
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return DialTCP(d.Netns, addr, 5*time.Second)
			},
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + d.MetricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("testnet: GET /metrics: %s", resp.Status)
	}
	return string(body), nil
}
