//go:build !race

package conntrack

import (
	"runtime"
	"testing"
)

// TestMemory1M (P4): 1,000,000 flows fit well inside the 1 GiB budget shared
// with a 1M-route table. Skipped under -race and -short (it builds the table).
func TestMemory1M(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-flow table")
	}
	heap, tab := heapFor1M(t)
	t.Logf("1,000,000 flows: %.1f MiB heap, %d bytes/flow", float64(heap)/(1<<20), heap/1_000_000)
	if heap > 400<<20 {
		t.Fatalf("1M flows hold %d MiB of heap, budget 400 MiB", heap>>20)
	}
	if st := tab.Stats(); st.Entries != 1_000_000 {
		t.Fatalf("stats %+v", st)
	}
	runtime.KeepAlive(tab)
}
