package fib

import "sync/atomic"

// Health is a next hop's up/down flag. The health prober
// (controlplane/health) flips it with Set without recompiling; Group.Select
// reads it with an atomic load. One Health is shared by every Group and
// every snapshot that names the same next hop, so its state survives
// reloads. The zero value is a flag that is down; use NewHealth.
type Health struct {
	up atomic.Bool
}

// NewHealth returns a flag in the given state.
func NewHealth(up bool) *Health {
	h := &Health{}
	h.up.Store(up)
	return h
}

// Up reports whether the next hop is up. A nil *Health is always up.
func (h *Health) Up() bool {
	return h == nil || h.up.Load()
}

// Set stores the state and reports whether it changed. Safe for concurrent
// use with Up and with other calls to Set.
func (h *Health) Set(up bool) (changed bool) {
	return h.up.Swap(up) != up
}
