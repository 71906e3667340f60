// Package apitest provides an in-memory api.Backend for tests of the API,
// of vrouterctl and of anything else that talks to the API without a
// running daemon. It follows the Backend contract the way the agent does —
// LoadEffective at start and on Reload, compile on every Apply, Replace of
// the dropped overlay operations — but touches no host state: there are no
// TUN devices, and the snapshot is compiled with a real conntrack table so
// security groups and Trace behave as in vrouterd.
//
// All methods are safe for concurrent use; mu guards every field.
package apitest

import (
	"errors"
	"sync"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/compile"
	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/controlplane/health"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// Backend is an in-memory api.Backend.
type Backend struct {
	path string
	ov   *api.Overlay
	reg  *stats.Registry
	ct   *conntrack.Table
	fr   *conntrack.Frags

	mu       sync.Mutex
	cfg      *config.Config
	snap     *dataplane.Snapshot
	health   []health.State
	applyErr error
	applies  int
}

// New loads the configuration file at path with the overlay of stateDir
// replayed on top ("" keeps the overlay in memory) and compiles it.
func New(path, stateDir string) (*Backend, error) {
	ov, err := api.OpenOverlay(stateDir)
	if err != nil {
		return nil, err
	}
	b := &Backend{path: path, ov: ov, reg: stats.NewRegistry(),
		ct: conntrack.New(conntrack.DefaultConfig()), fr: conntrack.NewFrags(0, 0)}
	if err := b.Reload(); err != nil {
		return nil, err
	}
	return b, nil
}

// ConfigPath implements api.Backend.
func (b *Backend) ConfigPath() string { return b.path }

// Config implements api.Backend.
func (b *Backend) Config() *config.Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg
}

// Overlay implements api.Backend.
func (b *Backend) Overlay() *api.Overlay { return b.ov }

// Apply implements api.Backend: it compiles cfg and publishes it, or
// fails (after SetApplyError) and changes nothing.
func (b *Backend) Apply(cfg *config.Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applyLocked(cfg)
}

func (b *Backend) applyLocked(cfg *config.Config) error {
	if b.applyErr != nil {
		return b.applyErr
	}
	res, err := compile.Compile(compile.Input{Config: cfg, Prev: b.snap, Stats: b.reg, Conntrack: b.ct, Frags: b.fr})
	if err != nil {
		return err
	}
	b.cfg, b.snap = cfg, res.Snapshot
	b.applies++
	return nil
}

// Reload implements api.Backend: file + overlay, applied; dropped
// operations are removed from the overlay.
func (b *Backend) Reload() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	eff, err := api.LoadEffective(b.path, b.ov.Ops())
	if err != nil {
		return err
	}
	if err := b.applyLocked(eff.Config); err != nil {
		return err
	}
	if len(eff.Dropped) > 0 {
		return b.ov.Replace(eff.Kept, eff.Dropped...)
	}
	return nil
}

// ResetOverlay implements api.Backend.
func (b *Backend) ResetOverlay() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	eff, err := api.LoadEffective(b.path, nil)
	if err != nil {
		return err
	}
	if err := b.applyLocked(eff.Config); err != nil {
		return err
	}
	return b.ov.Reset()
}

// Snapshot implements api.Backend.
func (b *Backend) Snapshot() *dataplane.Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snap
}

// Stats implements api.Backend.
func (b *Backend) Stats() *stats.Registry { return b.reg }

// Conntrack implements api.Backend.
func (b *Backend) Conntrack() *conntrack.Table { return b.ct }

// HealthStates implements api.Backend.
func (b *Backend) HealthStates() []health.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]health.State(nil), b.health...)
}

// SetHealthStates sets what HealthStates returns.
func (b *Backend) SetHealthStates(s []health.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.health = append([]health.State(nil), s...)
}

// SetApplyError makes every later Apply (and Reload, ResetOverlay) fail
// with err; nil restores normal operation.
func (b *Backend) SetApplyError(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applyErr = err
}

// Applies returns how many configurations were applied successfully.
func (b *Backend) Applies() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applies
}

// ErrApply is a convenient error for SetApplyError.
var ErrApply = errors.New("apply failed (test)")

var _ api.Backend = (*Backend)(nil)
