package conntrack

import (
	"context"
	"time"
)

const (
	// gcChunk bounds the slots scanned under one shard lock, so that a sweep
	// never holds up a worker for long.
	gcChunk = 512
	// RunGC sweeps every gcInterval; each sweep covers 1/gcSweepDivisor of
	// the table (plus gcMinBudget slots), so the whole table is visited
	// about every gcInterval × gcSweepDivisor (2 s).
	gcInterval     = 100 * time.Millisecond
	gcSweepDivisor = 20
	gcMinBudget    = 1024
)

// GC removes expired flows, visiting at most budget slots (and at most the
// whole table once) from a cursor that rotates across calls. It returns the
// number of flows removed. GC is for a background goroutine (RunGC) or tests,
// never the packet path; concurrent calls are serialised.
func (t *Table) GC(now int64, budget int) int {
	t.gcMu.Lock()
	defer t.gcMu.Unlock()
	tos := t.tos.Load()
	removed := 0
	for visits := 0; visits <= numShards && budget > 0; {
		si := uint8(t.gcShard)
		s := t.sh(si)
		pending := t.gcPending[:0]
		s.mu.Lock()
		if now > s.hiNow {
			s.hiNow = now
		}
		start := t.gcIdx
		end := min(s.n, start+uint32(min(budget, gcChunk)))
		for idx := start; idx < end; idx++ {
			e := s.at(idx)
			if e.flags&fInUse == 0 || !e.expired(tos, now) {
				continue
			}
			if e.rshard == si {
				t.removeLocked(s, idx)
				s.expired.Add(1)
				removed++
			} else {
				pending = append(pending, Handle{idx: idx, gen: e.gen, shard: si})
			}
		}
		done := end >= s.n
		s.mu.Unlock()
		for _, h := range pending {
			if t.remove(h, modeExpired, tos, now) {
				removed++
			}
		}
		t.gcPending = pending
		budget -= max(int(end-start), 1)
		t.gcIdx = end
		if done {
			t.gcShard = (t.gcShard + 1) % numShards
			t.gcIdx = 0
			visits++
		}
	}
	return removed
}

// RunGC sweeps expired flows in the background until ctx ends. clock returns
// the same monotonic nanoseconds the packet path passes to Lookup; the table
// keeps it to time Save.
func (t *Table) RunGC(ctx context.Context, clock func() int64) {
	t.clock.Store(&clock)
	tick := time.NewTicker(gcInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.GC(clock(), int(t.count.Load()/gcSweepDivisor)+gcMinBudget)
	}
}
