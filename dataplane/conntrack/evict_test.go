package conntrack

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// establish runs a TCP handshake for k through the table.
func establish(t testing.TB, tab *Table, k Key, now int64) Handle {
	t.Helper()
	h, res := tab.Insert(&k, nil, FlagSYN, Meta{}, now)
	if res != Inserted {
		t.Fatalf("Insert(%v) = %v", k, res)
	}
	r := k.Reverse()
	tab.Lookup(&r, FlagSYN|FlagACK, now)
	if _, _, _, ok := tab.Lookup(&k, FlagACK, now); !ok {
		t.Fatal("handshake lookup missed")
	}
	return h
}

// TestEvictionOrder (S7): when full, unestablished flows are evicted oldest
// first; established flows never; refusals are counted.
func TestEvictionOrder(t *testing.T) {
	tab := New(Config{MaxEntries: 5})
	key := func(i int) Key { return tcpKey(uint16(100 + i)) }
	alive := func(i int) bool {
		k := key(i)
		_, _, _, ok := tab.LookupRelated(&k, 10*sec)
		return ok
	}
	now := sec
	ins := func(i int, flags uint8) InsertResult {
		now++
		k := key(i)
		_, res := tab.Insert(&k, nil, flags, Meta{}, now)
		return res
	}
	ins(0, FlagSYN) // oldest candidate
	ins(1, FlagSYN)
	now++
	establish(t, tab, key(2), now) // established: never evicted
	ins(3, FlagACK)                // loose pick-up: a candidate until confirmed
	now++
	u := MakeKey(1, 17, cli, srv, 9, 53)
	tab.Insert(&u, nil, 0, Meta{}, now) // udp without reply: a candidate
	if st := tab.Stats(); st.Entries != 5 {
		t.Fatalf("entries %d", st.Entries)
	}
	// Touching the oldest flow does not save it: the order is by creation.
	k0 := key(0)
	tab.Lookup(&k0, FlagSYN, now)
	if ins(5, FlagSYN) != Inserted || alive(0) || !alive(1) {
		t.Fatal("flow 0 (oldest) should have been evicted")
	}
	// Confirming flow 1 (handshake) takes it off the candidates.
	r1 := key(1).Reverse()
	tab.Lookup(&r1, FlagSYN|FlagACK, now)
	k1 := key(1)
	tab.Lookup(&k1, FlagACK, now)
	if ins(6, FlagSYN) != Inserted || !alive(1) || alive(3) {
		t.Fatal("flow 3 should have been evicted, flow 1 kept")
	}
	// The UDP flow gets its reply: established.
	ru := u.Reverse()
	tab.Lookup(&ru, 0, now)
	// Candidates now: 5, 6. Two more inserts evict them; then only
	// established flows are left and the next flow is refused.
	if ins(7, FlagSYN) != Inserted || alive(5) || ins(8, FlagSYN) != Inserted || alive(6) {
		t.Fatal("flows 5 and 6 should have been evicted in order")
	}
	k7, k8 := key(7), key(8)
	establish2 := func(k Key) {
		r := k.Reverse()
		tab.Lookup(&r, FlagSYN|FlagACK, now)
		tab.Lookup(&k, FlagACK, now)
	}
	establish2(k7)
	establish2(k8)
	if res := ins(9, FlagSYN); res != Refused {
		t.Fatalf("insert into a table of established flows = %v", res)
	}
	for _, i := range []int{1, 2, 7, 8} {
		if !alive(i) {
			t.Errorf("established flow %d lost", i)
		}
	}
	if _, _, _, ok := tab.LookupRelated(&u, 10*sec); !ok {
		t.Error("established udp flow lost")
	}
	st := tab.Stats()
	if st.Entries != 5 || st.Evictions != 4 || st.Refusals != 1 || st.Inserts != 9 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, tab)
	// Once established flows expire, the table reclaims them for new flows
	// even before GC runs.
	k10 := key(10)
	if _, res := tab.Insert(&k10, nil, FlagSYN, Meta{}, 2000*sec); res != Inserted {
		t.Fatalf("insert after expiry = %v", res)
	}
	if st := tab.Stats(); st.Entries != 1 || st.Expired != 5 {
		t.Fatalf("stats after reclaim %+v", st)
	}
}

// TestSYNFloodQ3 (Q3, S7): a 10,000-entry table flooded with SYNs keeps every
// established flow; the flood only churns the unestablished ones.
func TestSYNFloodQ3(t *testing.T) {
	const max, established = 10000, 6000
	flood := 200000
	if raceEnabled {
		flood = 40000
	}
	tab := New(Config{MaxEntries: max})
	now := sec
	var est []Key
	for i := range established {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		k := MakeKey(1, 6, a, srv, 40000, 443)
		if i%3 == 0 { // some UDP flows with replies
			k = MakeKey(1, 17, a, srv, 40000, 53)
			tab.Insert(&k, nil, 0, Meta{}, now)
			r := k.Reverse()
			tab.Lookup(&r, 0, now)
		} else {
			establish(t, tab, k, now)
		}
		est = append(est, k)
	}
	r := rand.New(rand.NewPCG(1, 2))
	refused := 0
	for i := range flood {
		if i%1000 == 0 {
			now += sec / 100
		}
		a := netip.AddrFrom4([4]byte{100, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		k := MakeKey(1, 6, a, srv, uint16(r.Uint32()), 443)
		if _, res := tab.Insert(&k, nil, FlagSYN, Meta{}, now); res == Refused {
			refused++
		}
	}
	if refused != 0 {
		t.Fatalf("%d SYNs refused although evictable flows existed", refused)
	}
	for _, k := range est {
		if _, _, _, ok := tab.Lookup(&k, FlagACK, now); !ok {
			t.Fatalf("established flow %v lost in the flood", k)
		}
	}
	st := tab.Stats()
	if st.Entries != max || st.Refusals != 0 || st.Evictions < uint64(flood-(max-established)) {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, tab)
}

// TestConcurrent exercises Lookup, LookupRelated, Insert (with NAT reply
// keys), Delete, SetGen, GC, Range and SetConfig from many goroutines; run
// under -race. The table must stay consistent.
func TestConcurrent(t *testing.T) {
	tab := New(Config{MaxEntries: 3000})
	var clock atomic.Int64
	clock.Store(sec)
	ctx, cancel := context.WithCancel(context.Background())
	var gcDone sync.WaitGroup
	gcDone.Add(1)
	go func() { defer gcDone.Done(); tab.RunGC(ctx, clock.Load) }()
	ops := 20000
	if testing.Short() {
		ops = 4000
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var hs []Handle
			for range ops {
				now := clock.Add(int64(r.IntN(3)) * sec / 10)
				a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(64))})
				proto := []uint8{6, 17, 1}[r.IntN(3)]
				k := MakeKey(uint16(r.IntN(2)), proto, a, srv, uint16(r.IntN(8)), 80)
				switch op := r.IntN(10); {
				case op < 3:
					var reply *Key
					if r.IntN(4) == 0 {
						rk := MakeKey(0, proto, srv, netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(4))}), 80, uint16(r.IntN(64)))
						reply = &rk
					}
					if h, res := tab.Insert(&k, reply, modelFlags[r.IntN(16)], Meta{}, now); res == Inserted {
						hs = append(hs, h)
					}
				case op < 7:
					if r.IntN(2) == 0 {
						k = k.Reverse()
					}
					tab.Lookup(&k, modelFlags[r.IntN(16)], now)
				case op == 7:
					tab.LookupRelated(&k, now)
				case op == 8 && len(hs) > 0:
					h := hs[r.IntN(len(hs))]
					if r.IntN(2) == 0 {
						tab.Delete(h)
					} else {
						tab.SetGen(h, uint32(r.IntN(9)))
						tab.Keys(h)
					}
				case op == 9:
					switch r.IntN(20) {
					case 0:
						n := 0
						tab.Range(func(k, reply Key, e EntryInfo) bool { n++; return n < 500 })
					case 1:
						tab.SetConfig(Config{MaxEntries: 1000 + r.IntN(3000), UDP: time.Duration(1+r.IntN(30)) * time.Second})
					default:
						tab.GC(now, 200)
					}
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	gcDone.Wait()
	checkTable(t, tab, false) // goroutines pass clock values out of order
	n := 0
	tab.Range(func(k, reply Key, e EntryInfo) bool {
		n++
		for _, key := range []Key{k, reply} {
			if _, _, _, ok := tab.LookupRelated(&key, e.LastSeen); !ok {
				t.Fatalf("flow %v not found by key %v", k, key)
			}
		}
		return true
	})
	if st := tab.Stats(); int64(n) != st.Entries || st.Inserts == 0 {
		t.Fatalf("Range saw %d flows, stats %+v", n, st)
	}
}

// TestGCBudget: GC visits at most budget slots per call and eventually
// sweeps the whole table from its rotating cursor.
func TestGCBudget(t *testing.T) {
	tab := New(DefaultConfig())
	for i := range 3000 {
		k := MakeKey(0, 17, netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), srv, 1, 2)
		tab.Insert(&k, nil, 0, Meta{}, sec)
	}
	// Half of them get a reply later and stay alive longer.
	live := 0
	tab.Range(func(k, reply Key, e EntryInfo) bool {
		if live%2 == 0 {
			tab.Lookup(&reply, 0, 20*sec)
		}
		live++
		return true
	})
	now := 40 * sec // unreplied flows (30 s after 1 s) are expired, replied ones not
	total := 0
	for range 1000 {
		n := tab.GC(now, 100)
		if n > 100 {
			t.Fatalf("GC with budget 100 removed %d", n)
		}
		total += n
		if tab.Stats().Entries == 1500 {
			break
		}
	}
	if total != 1500 || tab.Stats().Expired != 1500 {
		t.Fatalf("GC removed %d, stats %+v", total, tab.Stats())
	}
	if n := tab.GC(now, 1<<20); n != 0 {
		t.Fatalf("second sweep removed %d", n)
	}
	if n := tab.GC(500*sec, 1<<20); n != 1500 {
		t.Fatalf("full sweep removed %d", n)
	}
	checkInvariants(t, tab)
}

// TestRunGC: the background sweeper removes expired flows and stops with its
// context.
func TestRunGC(t *testing.T) {
	tab := New(DefaultConfig())
	var clock atomic.Int64
	clock.Store(sec)
	k := MakeKey(0, 17, cli, srv, 1, 2)
	tab.Insert(&k, nil, 0, Meta{}, sec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tab.RunGC(ctx, clock.Load); close(done) }()
	clock.Store(100 * sec)
	deadline := time.Now().Add(10 * time.Second)
	for tab.Stats().Entries != 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunGC did not sweep the expired flow")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if tab.now() != 100*sec {
		t.Fatalf("table clock %d, want RunGC's", tab.now())
	}
}
