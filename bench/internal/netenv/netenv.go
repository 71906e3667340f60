// Package netenv owns the host resources a vbench run creates: named network
// namespaces (iproute2's /run/netns), child processes started inside them, and
// cleanup actions registered by the topology builders. Its one promise is that
// everything a run created is gone after Env.Cleanup, whether the run finished,
// failed or was interrupted by a signal (DESIGN "Testing conventions": unique
// names with a prefix and the pid, always removed).
//
// Names: every namespace is called Env.Prefix + "-" + suffix, and Prefix
// contains the process id, so Cleanup may also sweep /run/netns for leftovers
// with that prefix (for instance namespaces vrouterd created and failed to
// delete) without touching anybody else's.
//
// Concurrency: an Env may be used from several goroutines; its lists are
// guarded by mu. Cleanup must be called once, after the goroutines that start
// processes have stopped starting them (it kills whatever is still running).
// Do runs a function on a locked OS thread inside a namespace and restores the
// thread afterwards, so the caller's goroutine never changes namespace.
package netenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// NetnsDir is where iproute2 bind-mounts named namespaces.
const NetnsDir = "/run/netns"

// Env tracks what one vbench run created. The zero value is not usable; call New.
type Env struct {
	// Prefix starts every namespace name of this run; it contains the pid.
	Prefix string

	mu         sync.Mutex
	namespaces []string // created with AddNetns, deleted by Cleanup
	procs      []*Proc  // started with Start; killed by Cleanup if still running
	cleanups   []func() error
	cleaned    bool
}

// New returns an Env whose namespaces are named base + pid + "-" + suffix.
func New(base string) *Env {
	return &Env{Prefix: fmt.Sprintf("%s%d", base, os.Getpid())}
}

// Name returns the namespace name for suffix ("kc" → "vb1234-kc").
func (e *Env) Name(suffix string) string { return e.Prefix + "-" + suffix }

// AddNetns creates the named namespace name (`ip netns add`), registers it for
// deletion and returns a handle to it, which the caller must close.
func (e *Env) AddNetns(ctx context.Context, name string) (netns.NsHandle, error) {
	if !strings.HasPrefix(name, e.Prefix+"-") {
		return netns.None(), fmt.Errorf("netenv: namespace %q does not carry this run's prefix %q", name, e.Prefix)
	}
	if Exists(name) {
		return netns.None(), fmt.Errorf("netenv: namespace %q already exists", name)
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return netns.None(), fmt.Errorf("ip netns add %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	e.mu.Lock()
	e.namespaces = append(e.namespaces, name)
	e.mu.Unlock()
	h, err := netns.GetFromName(name)
	if err != nil {
		return netns.None(), fmt.Errorf("netenv: open namespace %s: %w", name, err)
	}
	return h, nil
}

// OnCleanup registers fn to run during Cleanup, after child processes are
// killed and before namespaces are deleted; functions run last-registered first.
func (e *Env) OnCleanup(fn func() error) {
	e.mu.Lock()
	e.cleanups = append(e.cleanups, fn)
	e.mu.Unlock()
}

// Proc is a child process started by Env.Start. Its Wait may be called from
// any number of goroutines.
type Proc struct {
	Cmd     *exec.Cmd
	managed bool // stopped by a cleanup of its own (StartManaged)
	done    chan struct{}
	err     error // set before done is closed
}

// Pid returns the process id (also its process-group id).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited and its output is copied.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit or for ctx to end; it does not kill it.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process group of p unless p has exited.
func (p *Proc) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		// The process leads its own group (Setpgid); signal only that group.
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
	}
}

// Stop sends sig, waits up to grace, then kills the group with SIGKILL and
// waits for it. It returns the process's exit error.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) error {
	p.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
	}
	p.Signal(syscall.SIGKILL)
	<-p.done
	return p.err
}

// Start starts cmd in a process group of its own (so a terminal's Ctrl-C
// reaches vbench first and vbench decides the order of shutdown) and tracks it
// until it exits; Cleanup kills it first thing if it is still running.
// cmd.Stdout and cmd.Stderr must not be pipes obtained with
// StdoutPipe/StderrPipe; use writers.
func (e *Env) Start(cmd *exec.Cmd) (*Proc, error) { return e.start(cmd, false) }

// StartManaged is Start for a process that the caller stops gracefully in a
// function registered with OnCleanup (vrouterd gets SIGTERM and time to tear
// down). Cleanup kills it only if it is still running after the cleanups.
func (e *Env) StartManaged(cmd *exec.Cmd) (*Proc, error) { return e.start(cmd, true) }

func (e *Env) start(cmd *exec.Cmd, managed bool) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// A killed vbench must not leave iperf3 or vrouterd running. Callers may
	// choose a gentler signal (vrouterd gets SIGTERM so it tears down, R4).
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cleaned {
		return nil, errors.New("netenv: environment already cleaned up")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, managed: managed, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return p, nil
}

// Command returns a command that runs name with args inside the named
// namespace (`ip netns exec`, which also gives it the namespace's /sys).
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Cleanup kills the processes started with Start that still run, runs the
// registered cleanups (last first), kills managed processes their cleanup
// failed to stop, deletes the namespaces this run created and sweeps
// /run/netns for any namespace left with this run's prefix. It returns every
// problem it met; it is idempotent.
func (e *Env) Cleanup() []error {
	e.mu.Lock()
	if e.cleaned {
		e.mu.Unlock()
		return nil
	}
	e.cleaned = true
	procs, cleanups, namespaces := e.procs, e.cleanups, e.namespaces
	e.mu.Unlock()

	var errs []error
	kill := func(managed bool) {
		for _, p := range procs {
			if p.managed != managed {
				continue
			}
			select {
			case <-p.done:
				continue
			default:
			}
			if managed {
				errs = append(errs, fmt.Errorf("netenv: pid %d (%s) still running after its cleanup; killed", p.Pid(), p.Cmd.Path))
			}
			p.Signal(syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("netenv: pid %d did not exit after SIGKILL", p.Pid()))
			}
		}
	}
	kill(false)
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	kill(true)
	seen := map[string]bool{}
	for _, ns := range namespaces {
		seen[ns] = true
		if err := DeleteNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	// Sweep: anything else with our prefix (e.g. left by vrouterd) goes too.
	left, err := e.Leftovers()
	if err != nil {
		errs = append(errs, err)
	}
	for _, ns := range left {
		if !seen[ns] {
			errs = append(errs, fmt.Errorf("netenv: namespace %s was left behind by its owner; deleted it", ns))
		}
		if err := DeleteNetns(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Leftovers lists the namespaces in /run/netns that carry this run's prefix.
func (e *Env) Leftovers() ([]string, error) {
	ents, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netenv: %w", err)
	}
	var out []string
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), e.Prefix+"-") {
			out = append(out, de.Name())
		}
	}
	return out, nil
}

// Exists reports whether the named namespace exists in /run/netns.
func Exists(name string) bool {
	_, err := os.Lstat(filepath.Join(NetnsDir, name))
	return err == nil
}

// DeleteNetns deletes the named namespace (`ip netns del`); a namespace that
// is already gone is fine.
func DeleteNetns(name string) error {
	if !Exists(name) {
		return nil
	}
	out, err := exec.Command("ip", "netns", "del", name).CombinedOutput()
	if err != nil && Exists(name) {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// Do runs fn on a locked OS thread that has entered ns, then returns the
// thread to its original namespace. If that fails the thread stays locked and
// the runtime discards it when the helper goroutine exits, so no goroutine
// ever runs in a namespace it did not ask for.
func Do(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netenv: current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netenv: enter namespace: %w", err)
			return
		}
		ferr := fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// WriteSysctl writes value to /proc/sys/<key with dots as slashes> inside ns.
// Network sysctls are resolved against the namespace of the calling thread.
func WriteSysctl(ns netns.NsHandle, key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	return Do(ns, func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", key, err)
		}
		if strings.TrimSpace(string(got)) != value {
			return fmt.Errorf("sysctl %s reads %q after writing %q", key, strings.TrimSpace(string(got)), value)
		}
		return nil
	})
}
