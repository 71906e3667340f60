package stats

import (
	"fmt"
	"testing"
	"time"
)

// TestRouteCountersScale: creating a counter per route is O(1), so a large
// table compiles quickly (P4), and counters are stable per (table, dst).
func TestRouteCountersScale(t *testing.T) {
	r := NewRegistry()
	start := time.Now()
	for i := 0; i < 200000; i++ {
		r.RouteCounter("vtb-big", fmt.Sprintf("10.%d.%d.0/24", i>>8&255, i&255)+fmt.Sprint(i>>16))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("200,000 route counters took %v", d)
	}
	c := r.RouteCounter("vtb-a", "10.0.0.0/8")
	c.Add(3)
	if r.RouteCounter("vtb-a", "10.0.0.0/8") != c || r.RouteHits()[RouteName{"vtb-a", "10.0.0.0/8"}] != 3 {
		t.Error("route counter not stable across calls")
	}
}

// TestLocalFlush: a worker's local counters reach the shared port counters
// once and are cleared.
func TestLocalFlush(t *testing.T) {
	var l Local
	var p Port
	l.Rx(100)
	l.Forward()
	l.Rx(60)
	l.Drop(DropSpoofed)
	l.EgressDropN(DropNoPort, 2)
	l.FlushTo(&p)
	l.FlushTo(&p)
	if p.RxPackets.Load() != 2 || p.RxBytes.Load() != 160 || p.Forwarded.Load() != 1 ||
		p.Drops[DropSpoofed].Load() != 1 || p.EgressDrops[DropNoPort].Load() != 2 {
		t.Errorf("flushed counters wrong: rx %d fwd %d", p.RxPackets.Load(), p.Forwarded.Load())
	}
	for r := DropReason(0); r < NumDropReasons; r++ {
		if got, ok := ParseDropReason(r.String()); !ok || got != r {
			t.Errorf("reason %d does not round-trip (%q)", r, r.String())
		}
	}
}
