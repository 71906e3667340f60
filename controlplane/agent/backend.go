package agent

import (
	"errors"

	"github.com/vrouter/vrouter/controlplane/api"
	"github.com/vrouter/vrouter/controlplane/config"
	"github.com/vrouter/vrouter/controlplane/health"
	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/conntrack"
)

// The agent is the API's backend (R5): the server validates a candidate
// configuration (file + overlay + the new operation) and hands it to Apply.
var _ api.Backend = (*Agent)(nil)

// ConfigPath implements api.Backend.
func (a *Agent) ConfigPath() string { return a.opts.ConfigPath }

// Overlay implements api.Backend.
func (a *Agent) Overlay() *api.Overlay { return a.ov }

// Apply implements api.Backend: it makes a validated candidate the running
// configuration atomically; an error means nothing changed.
func (a *Agent) Apply(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started || a.stopped {
		return errors.New("not running")
	}
	return a.applyLocked(cfg, "api")
}

// ResetOverlay implements api.Backend (`vrouterctl state reset`): the file
// alone becomes the running configuration and the overlay is dropped.
func (a *Agent) ResetOverlay() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started || a.stopped {
		return errors.New("not running")
	}
	eff, err := api.LoadEffective(a.opts.ConfigPath, nil)
	if err != nil {
		return configError(err)
	}
	if err := a.applyLocked(eff.Config, "reset"); err != nil {
		return err
	}
	return a.ov.Reset()
}

// Snapshot implements api.Backend.
func (a *Agent) Snapshot() *dataplane.Snapshot { return a.eng.Snapshot() }

// Conntrack implements api.Backend.
func (a *Agent) Conntrack() *conntrack.Table { return a.ct }

// HealthStates implements api.Backend.
func (a *Agent) HealthStates() []health.State { return a.prob.States() }
