package conntrack

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time of the calling OS thread. The lookup
// benchmarks lock their thread and also report cpu-ns/op, which other
// processes competing for the CPUs do not inflate (wall-clock ns/op on a
// shared 2-vCPU machine varies by 2x between runs of the same code).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// cpuLoop runs body in a b.Loop on a locked thread and reports cpu-ns/op.
func cpuLoop(b *testing.B, body func(i int)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, n := threadCPU(), 0
	for b.Loop() {
		body(n)
		n++
	}
	b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(max(n, 1)), "cpu-ns/op")
}

// flowKey returns the i-th of a family of distinct flow keys.
func flowKey(i int) Key {
	a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	return MakeKey(uint16(i%4), 6, a, srv, uint16(1024+i%50000), 443)
}

// fill inserts n established-looking flows (loose ACK pick-ups confirmed by
// a reply) and returns their keys.
func fill(tb testing.TB, tab *Table, n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = flowKey(i)
		if _, res := tab.Insert(&keys[i], nil, FlagACK, Meta{InPort: 1}, sec); res != Inserted {
			tb.Fatalf("Insert %d: %v", i, res)
		}
		r := keys[i].Reverse()
		tab.Lookup(&r, FlagACK, sec)
	}
	return keys
}

// TestLookupAllocs (house rule 4, P3): the established-flow path allocates
// nothing, in either direction; nor do related lookups, misses, SetGen and
// fragment lookups.
func TestLookupAllocs(t *testing.T) {
	tab := New(DefaultConfig())
	keys := fill(t, tab, 1000)
	nat := MakeKey(5, 6, cli, srv, 1, 2)
	natReply := MakeKey(0, 6, srv, netip.MustParseAddr("203.0.113.1"), 2, 9)
	tab.Insert(&nat, &natReply, FlagSYN, Meta{}, sec)
	miss := flowKey(5000)
	rev := keys[7].Reverse()
	frags := NewFrags(0, 0)
	frags.NoteFirst(fragKey(1), true, Handle{}, sec)
	now := sec
	allocs := testing.AllocsPerRun(2000, func() {
		now++
		h, _, _, _ := tab.Lookup(&keys[3], FlagACK, now)
		tab.Lookup(&rev, FlagACK|FlagPSH, now)
		tab.Lookup(&natReply, FlagACK, now)
		tab.Lookup(&miss, FlagACK, now)
		tab.LookupRelated(&keys[9], now)
		tab.SetGen(h, 3)
		frags.LookupFrag(fragKey(1), false, now)
	})
	if allocs != 0 {
		t.Fatalf("fast path allocates %.1f times per run", allocs)
	}
}

var (
	bigOnce sync.Once
	bigTab  *Table
	bigKeys []Key
)

func bigTable(b *testing.B) (*Table, []Key) {
	bigOnce.Do(func() {
		bigTab = New(DefaultConfig())
		bigKeys = fill(b, bigTab, 1_000_000)
		r := rand.New(rand.NewPCG(3, 4))
		r.Shuffle(len(bigKeys), func(i, j int) { bigKeys[i], bigKeys[j] = bigKeys[j], bigKeys[i] })
	})
	return bigTab, bigKeys
}

// BenchmarkLookupHit1M: the established-flow fast path in a table of
// 1,000,000 flows (P3), keys in random order.
func BenchmarkLookupHit1M(b *testing.B) {
	tab, keys := bigTable(b)
	b.ReportAllocs()
	cpuLoop(b, func(i int) { tab.Lookup(&keys[i&(1<<19-1)], FlagACK, sec) })
}

// BenchmarkLookupHit1MParallel: the same from all CPUs at once.
func BenchmarkLookupHit1MParallel(b *testing.B) {
	tab, keys := bigTable(b)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1) * 7919)
		for pb.Next() {
			tab.Lookup(&keys[i&(1<<19-1)], FlagACK, sec)
			i++
		}
	})
}

// BenchmarkInsertNew: the cost of creating a flow (new-flow path).
func BenchmarkInsertNew(b *testing.B) {
	tab := New(Config{MaxEntries: MaxMaxEntries})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := flowKey(i)
		tab.Insert(&k, nil, FlagSYN, Meta{}, sec)
		i++
	}
}

// BenchmarkInsertFull: inserting into a full table, each new flow evicting
// the oldest unestablished one (a SYN flood, Q3).
func BenchmarkInsertFull(b *testing.B) {
	const size = 100_000
	tab := New(Config{MaxEntries: size})
	for i := range size {
		k := flowKey(i)
		tab.Insert(&k, nil, FlagSYN, Meta{}, sec)
	}
	b.ReportAllocs()
	i := size
	for b.Loop() {
		k := flowKey(i)
		tab.Insert(&k, nil, FlagSYN, Meta{}, sec)
		i++
	}
}

// heapFor1M returns the heap bytes held by a table of 1,000,000 flows.
func heapFor1M(tb testing.TB) (uint64, *Table) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := New(DefaultConfig())
	fill(tb, tab, 1_000_000)
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, tab
}

// BenchmarkMemory1M reports the heap held by 1,000,000 flows (P4).
func BenchmarkMemory1M(b *testing.B) {
	for b.Loop() {
		heap, tab := heapFor1M(b)
		b.ReportMetric(float64(heap)/(1<<20), "MiB/1M-flows")
		b.ReportMetric(float64(heap)/1e6, "B/flow")
		runtime.KeepAlive(tab)
	}
}

// BenchmarkBareMapLookup1M is the floor Lookup is built on: one lookup in a
// plain map[Key]uint32 holding 2,000,000 keys (both keys of 1M flows), in the
// same random order. Compare BenchmarkLookupHit1M with it in one run.
func BenchmarkBareMapLookup1M(b *testing.B) {
	_, keys := bigTable(b)
	m := make(map[Key]uint32, 2*len(keys))
	for i, k := range keys {
		m[k] = uint32(i)
		m[k.Reverse()] = uint32(i)
	}
	cpuLoop(b, func(i int) { _ = m[keys[i&(1<<19-1)]] })
}
