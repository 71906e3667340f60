// Package agent runs vrouterd's control loop (DESIGN "Config path"): load →
// validate → compile → reconcile host ports → publish the snapshot; reload
// on request keeping the last good state; stop cleanly (SPEC R1–R4, Q7).
//
// Concurrency: Start, Reload and Stop (and, later, API mutations) are
// serialised by Agent.mu; everything they touch (cfg, ports, prev) is only
// read or written with mu held. The data plane runs on its own goroutines
// and only ever sees published snapshots.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/compile"
	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/controlplane/health"
	"github.com/vrouter/vrouter/controlplane/hostnet"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// Options configure an Agent.
type Options struct {
	ConfigPath  string
	StateDir    string
	APISocket   string
	MetricsAddr string // "" disables the metrics endpoint
	KeepOnExit  bool   // --on-exit keep (Q7)
	Log         *zap.Logger
	Host        hostnet.Host // nil: the real Linux host
	// SkipPreflight disables the root and /dev/net/tun checks (tests
	// with a fake host).
	SkipPreflight bool
}

// Agent owns the running configuration, the ports and the engine.
type Agent struct {
	opts Options
	log  *zap.Logger
	host hostnet.Host
	eng  *dataplane.Engine
	reg  *stats.Registry
	ct   *conntrack.Table
	frag *conntrack.Frags
	met  *metrics
	prob *health.Prober
	ov   *api.Overlay
	srv  *api.Server
	mcm  *mcast.Membership // IGMP joins outlive snapshots (M5)

	mu      sync.Mutex // serialises Start, Reload, Stop; guards the fields below
	cfg     *config.Config
	ports   map[string]*hostnet.Port // by port name (ENI id)
	started bool
	stopped bool
	httpSrv *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns an agent; nothing happens until Start.
func New(opts Options) *Agent {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	a := &Agent{opts: opts, log: opts.Log, reg: stats.NewRegistry(), ports: map[string]*hostnet.Port{}}
	a.host = opts.Host
	if a.host == nil {
		a.host = hostnet.NewLinux(opts.Log)
	}
	a.eng = dataplane.New()
	a.mcm = mcast.NewMembership()
	a.eng.OnPortError = func(port string, err error) {
		a.log.Warn("port read failed", zap.String("port", port), zap.Error(err))
	}
	a.prob = health.New(opts.Log, engineSender{a.eng})
	a.eng.OnEchoReply = func(src, dst netip.Addr, id, seq uint16) {
		a.prob.HandleReply(src, dst, id, seq, time.Now())
	}
	a.met = newMetrics(a)
	return a
}

// engineSender writes health probes through the data plane's own ports (F9).
type engineSender struct{ eng *dataplane.Engine }

func (s engineSender) Send(port uint16, pkt []byte) error { return s.eng.Send(fib.PortID(port), pkt) }

// healthTargets converts the compiler's probe list for the prober.
func healthTargets(ts []compile.HealthTarget) []health.Target {
	out := make([]health.Target, len(ts))
	for i, t := range ts {
		out[i] = health.Target{
			Key: t.Key, Table: t.Table, Dst: t.Dst, NextHop: t.NextHop, Addr: t.Addr, Source: t.Source,
			Port: uint16(t.Port), Interval: t.Check.Interval, Timeout: t.Check.Timeout,
			Failures: t.Check.Failures, Successes: t.Check.Successes, Flag: t.Health,
		}
	}
	return out
}

// Prober exposes the next-hop health prober (API, metrics).
func (a *Agent) Prober() *health.Prober { return a.prob }

// Engine exposes the data plane (for tests and the API).
func (a *Agent) Engine() *dataplane.Engine { return a.eng }

// Stats exposes the counter registry.
func (a *Agent) Stats() *stats.Registry { return a.reg }

// Config returns the running configuration.
func (a *Agent) Config() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// preflight checks the privileges and devices vrouterd needs (R2).
func preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("vrouterd needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create TUN devices and enter namespaces")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no /dev/net/tun: %v (load the tun module)", err)
	}
	return nil
}

// invalidConfig renders every validation error one per line (R2, Q2) and
// keeps the diagnostics reachable with errors.Unwrap, so the API can return
// them as a list (R5).
type invalidConfig struct {
	err error
	n   int
}

func (e *invalidConfig) Error() string {
	ds := config.Diagnostics(e.err)
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.Error()
	}
	return fmt.Sprintf("invalid configuration (%d errors):\n%s", e.n, strings.Join(lines, "\n"))
}

func (e *invalidConfig) Unwrap() error { return e.err }

func configError(err error) error {
	ds := config.Diagnostics(err)
	if len(ds) == 0 {
		return err
	}
	return &invalidConfig{err: err, n: len(ds)}
}

// loadEffective reads the file, validates it alone, replays the API
// overlay on top (R5, Q5) and returns the effective configuration with the
// overlay operations that still apply. Operations that no longer apply are
// logged and reported.
func (a *Agent) loadEffective() (*api.Effective, error) {
	var ops []api.Op
	if a.ov != nil {
		ops = a.ov.Ops()
	}
	eff, err := api.LoadEffective(a.opts.ConfigPath, ops)
	if err != nil {
		return nil, configError(err)
	}
	for _, w := range eff.Warnings {
		a.log.Warn("configuration warning", zap.String("warning", w.Error()))
	}
	for _, d := range eff.Dropped {
		a.log.Warn("overlay operation dropped", zap.Int("index", d.Index), zap.String("action", d.Op.Action), zap.String("reason", d.Reason))
	}
	return eff, nil
}

// pruneOverlay drops the operations that no longer apply, after the
// configuration they were replayed on was applied.
func (a *Agent) pruneOverlay(eff *api.Effective) {
	if a.ov != nil && len(eff.Dropped) > 0 {
		if err := a.ov.Replace(eff.Kept, eff.Dropped...); err != nil {
			a.log.Warn("overlay", zap.Error(err))
		}
	}
}

// Start loads the configuration, creates every port and starts forwarding.
// On failure everything it created is removed again (R2).
func (a *Agent) Start(ctx context.Context) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("agent already started")
	}
	if !a.opts.SkipPreflight {
		if err := preflight(); err != nil {
			return err
		}
	}
	if a.opts.StateDir != "" {
		if err := os.MkdirAll(a.opts.StateDir, 0o755); err != nil {
			return fmt.Errorf("state directory: %v", err)
		}
		a.host.AdoptNamespaces(a.loadNamespaces())
	}
	if a.ov, err = api.OpenOverlay(a.opts.StateDir); err != nil {
		return fmt.Errorf("state: %v", err)
	}
	eff, err := a.loadEffective()
	if err != nil {
		return err
	}
	cfg := eff.Config
	defer func() {
		if err != nil {
			a.eng.Stop()
			if terr := a.host.Teardown(); terr != nil {
				a.log.Warn("rollback", zap.Error(terr))
			}
			a.ports = map[string]*hostnet.Port{}
		}
	}()

	a.ct = conntrack.New(conntrackConfig(cfg))
	a.frag = conntrack.NewFrags(0, 0)
	if n, rerr := a.restoreFlows(); rerr != nil {
		a.log.Warn("saved flows not restored", zap.Error(rerr))
	} else if n > 0 {
		a.log.Info("flows restored", zap.Int("flows", n))
	}

	reattached := 0
	for _, spec := range compile.PortSpecs(cfg) {
		p, err := a.host.Create(hostSpec(spec))
		if err != nil {
			return err
		}
		if p.Reattached {
			reattached++
		}
		a.ports[spec.Name] = p
	}
	res, err := compile.Compile(a.compileInputPorts(cfg, nil, a.ports))
	if err != nil {
		return fmt.Errorf("compile: %v", err)
	}
	// Flows restored from a --on-exit keep stop were verified under the
	// policy generation saved with them; keep it when the rules are the
	// same, so they are not re-verified needlessly (Q7, S8).
	if meta, ok := a.loadFlowMeta(); ok && meta.PolicyKey == res.Snapshot.PolicyKey {
		res.Snapshot.PolicyGen = meta.PolicyGen
	}
	// Remember the namespaces created so far, so that even after a crash
	// the next run deletes them at teardown (Q7, R4).
	if err := a.saveNamespaces(a.host.CreatedNamespaces()); err != nil {
		a.log.Warn("state", zap.Error(err))
	}
	a.eng.Apply(res.Snapshot)
	a.prob.Update(healthTargets(res.Health))
	a.logCENConflicts(res) // C4: connections.go
	a.cfg = cfg
	a.met.generation.Set(float64(res.Snapshot.Gen))

	gctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(3)
	go func() {
		defer a.wg.Done()
		a.ct.RunGC(gctx, func() int64 { return time.Now().UnixNano() })
	}()
	go func() {
		defer a.wg.Done()
		a.eng.RunIGMPQuerier(gctx, time.Second) // M5: queries and expiry
	}()
	go func() {
		defer a.wg.Done()
		a.prob.Run(gctx)
	}()

	if a.opts.MetricsAddr != "" {
		if err := a.serveMetrics(); err != nil {
			cancel()
			a.wg.Wait()
			return err
		}
	}
	a.pruneOverlay(eff)
	if a.opts.APISocket != "" {
		a.srv = api.NewServer(a, a.log)
		if err := a.srv.Serve(a.opts.APISocket); err != nil {
			cancel()
			a.wg.Wait()
			if a.httpSrv != nil {
				_ = a.httpSrv.Close()
			}
			return fmt.Errorf("api socket %s: %v", a.opts.APISocket, err)
		}
	}
	a.started = true
	a.log.Info("vrouterd ready", zap.Int("ports", len(a.ports)), zap.Int("reattached", reattached),
		zap.Int("vpcs", len(cfg.VPCs)), zap.String("config", a.opts.ConfigPath))
	return nil
}

func conntrackConfig(cfg *config.Config) conntrack.Config {
	c := conntrack.DefaultConfig()
	cc := cfg.Conntrack
	if cc.MaxEntries > 0 {
		c.MaxEntries = cc.MaxEntries
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&c.TCPEstablished, cc.TCPEstablishedTimeout)
	set(&c.TCPHandshake, cc.TCPHandshakeTimeout)
	set(&c.TCPClosing, cc.TCPClosingTimeout)
	set(&c.UDP, cc.UDPTimeout)
	set(&c.UDPStream, cc.UDPStreamTimeout)
	set(&c.ICMP, cc.ICMPTimeout)
	return c
}

func hostSpec(s compile.PortSpec) hostnet.PortSpec {
	return hostnet.PortSpec{
		Key: s.Name, Netns: s.Netns, IfName: s.IfName, MTU: s.MTU, Addr: s.Addr,
		Secondary: s.Secondary, Gateway: s.Gateway, Metric: s.Metric, VnetHdr: true,
		Peer: s.Peer, Routes: s.Routes, // external ports (§7)
	}
}

// HandleSIGHUP reloads through the API server when it runs, so that a
// reload never interleaves with an API change (R3, R5).
func (a *Agent) HandleSIGHUP() error {
	if a.srv != nil {
		_, err := a.srv.Reload()
		return err
	}
	return a.Reload()
}

// Reload re-reads the configuration file, replays the overlay and applies
// only what changed (R3). An invalid file changes nothing and returns every
// error with its position. Reload implements api.Backend.
func (a *Agent) Reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started || a.stopped {
		return errors.New("not running")
	}
	eff, err := a.loadEffective()
	if err == nil {
		err = a.applyLocked(eff.Config, "file")
	}
	if err != nil {
		a.met.reloads.WithLabelValues("error").Inc()
		a.log.Warn("reload rejected", zap.Error(err))
		return err
	}
	a.pruneOverlay(eff)
	return nil
}

// applyLocked makes cfg, a validated configuration, the running one: new
// ports first, then the compiled snapshot in one atomic store, then removals
// and in-place updates (R3). If anything fails before the store, nothing
// changed.
//
// source says what asked for it ("file": a reload, which R8 counts; "api":
// an API change; "reset": `state reset`) and is logged.
func (a *Agent) applyLocked(cfg *config.Config, source string) error {
	if err := config.ValidateTransition(a.cfg, cfg); err != nil {
		return configError(err)
	}
	// Create new ports first: if that or compiling fails, only these are
	// undone and the running state is untouched (Q2).
	specs := compile.PortSpecs(cfg)
	created := map[string]*hostnet.Port{}
	replaced := map[string]*hostnet.Port{}
	updates := map[string]hostnet.PortSpec{}
	rollback := func() {
		for _, p := range created {
			if err := a.host.Remove(p); err != nil {
				a.log.Warn("reload rollback", zap.String("port", p.Spec.Key), zap.Error(err))
			}
		}
	}
	want := map[string]bool{}
	gone := 0 // ports whose namespace or link vanished (Q4)
	for _, s := range specs {
		want[s.Name] = true
		hs := hostSpec(s)
		old, ok := a.ports[s.Name]
		if ok && !a.host.LinkGone(old) && old.Spec.Netns == hs.Netns {
			if !sameSpec(old.Spec, hs) {
				updates[s.Name] = hs
			}
			continue
		}
		if ok && old.Spec.Netns == hs.Netns && old.Spec.IfName == hs.IfName {
			// Q4: the port's namespace or link vanished: remove what is
			// left so the new port can take the same name.
			a.log.Warn("port gone, recreating", zap.String("port", s.Name), zap.String("netns", hs.Netns))
			_ = a.host.Remove(old)
			delete(a.ports, s.Name)
			ok = false
			gone++
		}
		p, err := a.host.Create(hs)
		if err != nil {
			rollback()
			return err
		}
		created[s.Name] = p
		if ok {
			replaced[s.Name] = old
		}
	}
	devs := map[string]*hostnet.Port{}
	for name, p := range a.ports {
		if want[name] {
			devs[name] = p
		}
	}
	for name, p := range created {
		devs[name] = p
	}
	prev := a.eng.Snapshot()
	in := a.compileInputPorts(cfg, prev, devs)
	res, err := compile.Compile(in)
	if err != nil {
		rollback()
		return fmt.Errorf("compile: %v", err)
	}
	a.ct.SetConfig(conntrackConfig(cfg))
	// Publish: one atomic store; workers of removed ports stop here.
	a.eng.Apply(res.Snapshot)
	a.prob.Update(healthTargets(res.Health))
	a.logCENConflicts(res) // C4: connections.go

	var removed []string
	for name, p := range a.ports {
		if !want[name] {
			if err := a.host.Remove(p); err != nil {
				a.log.Warn("remove port", zap.String("port", name), zap.Error(err))
			}
			removed = append(removed, name)
			delete(a.ports, name)
		}
	}
	for name, old := range replaced {
		if err := a.host.Remove(old); err != nil {
			a.log.Warn("remove replaced port", zap.String("port", name), zap.Error(err))
		}
	}
	for name, p := range created {
		a.ports[name] = p
	}
	for name, hs := range updates {
		if err := a.host.Update(a.ports[name], hs); err != nil {
			a.log.Warn("update port", zap.String("port", name), zap.Error(err))
		}
	}
	a.cfg = cfg
	a.met.generation.Set(float64(res.Snapshot.Gen))
	if err := a.saveNamespaces(a.host.CreatedNamespaces()); err != nil {
		a.log.Warn("state", zap.Error(err))
	}
	sort.Strings(removed)
	if source == "file" {
		a.met.reloads.WithLabelValues("success").Inc()
	}
	a.log.Info("reloaded", zap.String("source", source), zap.Uint32("generation", res.Snapshot.Gen), zap.Int("ports", len(a.ports)),
		zap.Int("added", len(created)-len(replaced)-gone), zap.Int("removed", len(removed)),
		zap.Int("updated", len(updates)), zap.Int("recreated", len(replaced)+gone))
	return nil
}

// compileInputPorts is the compiler's input for cfg over the given ports.
// Mcast: every snapshot, the first included, counts and joins into the
// long-lived membership (M5, M6).
func (a *Agent) compileInputPorts(cfg *config.Config, prev *dataplane.Snapshot, ports map[string]*hostnet.Port) compile.Input {
	devs := make(map[string]tun.Device, len(ports))
	for name, p := range ports {
		devs[name] = p.Dev
	}
	return compile.Input{Config: cfg, Prev: prev, Stats: a.reg, Devices: devs, Conntrack: a.ct, Frags: a.frag, Mcast: a.mcm}
}

func sameSpec(a, b hostnet.PortSpec) bool {
	if a.Netns != b.Netns || a.IfName != b.IfName || a.MTU != b.MTU || a.Addr != b.Addr ||
		a.Peer != b.Peer || a.Gateway != b.Gateway || a.Metric != b.Metric || a.VnetHdr != b.VnetHdr ||
		len(a.Secondary) != len(b.Secondary) || len(a.Routes) != len(b.Routes) {
		return false
	}
	for i := range a.Secondary {
		if a.Secondary[i] != b.Secondary[i] {
			return false
		}
	}
	for i := range a.Routes {
		if a.Routes[i] != b.Routes[i] {
			return false
		}
	}
	return true
}

// Stop stops forwarding and removes (or, with KeepOnExit, leaves) every
// port and the namespaces vrouterd created (R4, Q7).
func (a *Agent) Stop() error {
	// Close the API first, outside a.mu: an API call in flight holds the
	// server's lock and may be waiting for a.mu (lock order: server, agent).
	if a.srv != nil {
		_ = a.srv.Close()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return nil
	}
	a.stopped = true
	if a.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.httpSrv.Shutdown(ctx)
		cancel()
	}
	a.eng.Stop()
	if a.cancel != nil {
		a.cancel()
		a.wg.Wait()
	}
	var errs []error
	if a.opts.KeepOnExit {
		if err := a.saveFlows(); err != nil {
			errs = append(errs, fmt.Errorf("save flows: %v", err))
		}
		for name, p := range a.ports {
			if err := a.host.Detach(p); err != nil {
				errs = append(errs, fmt.Errorf("detach %s: %v", name, err))
			}
		}
		if err := a.saveNamespaces(a.host.CreatedNamespaces()); err != nil {
			errs = append(errs, err)
		}
		a.log.Info("stopped, ports kept", zap.Int("ports", len(a.ports)))
	} else {
		if err := a.host.Teardown(); err != nil {
			errs = append(errs, err)
		}
		_ = a.saveNamespaces(nil)
		a.removeFlowFile()
		a.log.Info("stopped, ports removed", zap.Int("ports", len(a.ports)))
	}
	a.ports = map[string]*hostnet.Port{}
	return errors.Join(errs...)
}

// serveMetrics starts the Prometheus endpoint (R8).
func (a *Agent) serveMetrics() error {
	ln, err := net.Listen("tcp", a.opts.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics address %s: %v", a.opts.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.met.handler())
	// Profiles for performance work (issue 8); the endpoint listens on
	// loopback by default (R1).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.httpSrv.Serve(ln) }()
	a.log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	return nil
}

func (a *Agent) statePath(name string) string { return filepath.Join(a.opts.StateDir, name) }
