package fib

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func mustGroup(t testing.TB, kind GroupKind, members ...Member) *Group {
	t.Helper()
	g, err := NewGroup(kind, members)
	if err != nil {
		t.Fatalf("NewGroup(%v): %v", kind, err)
	}
	return g
}

func portMember(id string, port PortID, w uint8, h *Health) Member {
	return Member{ID: id, Kind: MemberPort, Port: port, Weight: w, Health: h}
}

// TestLookupF5Example is the example table of SPEC F5 (with the system
// entries of SPEC V13).
func TestLookupF5Example(t *testing.T) {
	tb := NewTable("vtb-example")
	gA := mustGroup(t, Single, portMember("i-12345678", 1, 0, nil))
	gB := mustGroup(t, Single, portMember("i-87654321", 2, 0, nil))
	for i, r := range []*Route{
		{Dst: netip.MustParsePrefix("100.64.0.0/10"), Type: System, Action: ActionReserved, VSwitch: -1},
		{Dst: netip.MustParsePrefix("192.168.0.0/24"), Type: System, Action: ActionLocal, VSwitch: 0},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Type: Custom, Action: ActionForward, Group: gA, VSwitch: -1},
		{Dst: netip.MustParsePrefix("10.0.0.0/24"), Type: Custom, Action: ActionForward, Group: gB, VSwitch: -1},
	} {
		r.ID = "vtb-example:" + r.Dst.String()
		r.Index = i
		if err := tb.Insert(r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		addr   string
		dst    string
		action Action
		hop    string
	}{
		{"10.0.0.1", "10.0.0.0/24", ActionForward, "i-87654321"},
		{"10.0.1.1", "0.0.0.0/0", ActionForward, "i-12345678"},
		{"192.168.0.7", "192.168.0.0/24", ActionLocal, ""},
		{"100.100.1.1", "100.64.0.0/10", ActionReserved, ""},
		{"100.128.0.1", "0.0.0.0/0", ActionForward, "i-12345678"},
		{"::ffff:10.0.0.1", "10.0.0.0/24", ActionForward, "i-87654321"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			r, ok := tb.Lookup(netip.MustParseAddr(tc.addr))
			if !ok {
				t.Fatalf("no route")
			}
			if r.Dst.String() != tc.dst || r.Action != tc.action {
				t.Fatalf("got %v %v, want %v %v", r.Dst, r.Action, tc.dst, tc.action)
			}
			if tc.hop != "" {
				m, _, ok := r.Group.Select(1)
				if !ok || m.ID != tc.hop {
					t.Fatalf("next hop %v %v, want %s", m, ok, tc.hop)
				}
			}
		})
	}
	// Without the default route an address outside every entry is unrouted
	// (SPEC F5: ICMP net unreachable is the caller's business).
	tb2 := NewTable("vtb-nodefault")
	if err := tb2.Insert(&Route{Dst: netip.MustParsePrefix("192.168.0.0/24"), Action: ActionLocal}); err != nil {
		t.Fatal(err)
	}
	if r, ok := tb2.Lookup(netip.MustParseAddr("10.0.1.1")); ok {
		t.Fatalf("unexpected route %v", r.Dst)
	}
	if _, ok := tb2.Lookup(netip.Addr{}); ok {
		t.Fatal("invalid address matched")
	}
}

// goldenLPM is the slow reference: a linear scan for the longest prefix
// containing a.
func goldenLPM(prefixes []netip.Prefix, a netip.Addr) (netip.Prefix, bool) {
	best, found := netip.Prefix{}, false
	for _, p := range prefixes {
		if p.Contains(a) && (!found || p.Bits() > best.Bits()) {
			best, found = p, true
		}
	}
	return best, found
}

func randAddr(r *rand.Rand, v6 bool) netip.Addr {
	if v6 {
		var b [16]byte
		hi, lo := r.Uint64(), r.Uint64()
		for i := range 8 {
			b[i] = byte(hi >> (56 - 8*i))
			b[8+i] = byte(lo >> (56 - 8*i))
		}
		// Keep to a few /16s so prefixes nest.
		b[0], b[1] = 0x20, byte(r.IntN(3))
		return netip.AddrFrom16(b)
	}
	v := r.Uint32()
	// Mostly inside a few /8s so prefixes nest and overlap.
	if r.IntN(4) != 0 {
		v = v&0x00FFFFFF | uint32(10+r.IntN(3))<<24
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func randPrefix(r *rand.Rand, v6 bool) netip.Prefix {
	maxBits := 32
	if v6 {
		maxBits = 128
	}
	bitsN := r.IntN(maxBits + 1)
	if r.IntN(8) != 0 { // bias towards realistic lengths
		bitsN = maxBits/4 + r.IntN(maxBits-maxBits/4+1)
	}
	return netip.PrefixFrom(randAddr(r, v6), bitsN).Masked()
}

// TestLookupGolden compares LPM (SPEC F5) against a linear scan on random
// nested IPv4 and IPv6 prefixes (SPEC F13: address-family agnostic).
func TestLookupGolden(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(t.Name()))))
			tb := NewTable("golden")
			var prefixes []netip.Prefix
			for len(prefixes) < 800 {
				p := randPrefix(r, v6)
				if _, dup := tb.Get(p); dup {
					continue
				}
				if err := tb.Insert(&Route{Dst: p, Action: ActionReserved, ID: p.String(), Index: len(prefixes)}); err != nil {
					t.Fatal(err)
				}
				prefixes = append(prefixes, p)
			}
			if tb.Len() != len(prefixes) {
				t.Fatalf("Len %d, want %d", tb.Len(), len(prefixes))
			}
			queries := make([]netip.Addr, 0, 4000)
			for _, p := range prefixes[:500] {
				// The first address of a prefix and the one just past it.
				queries = append(queries, p.Addr(), lastAddr(p).Next())
			}
			for len(queries) < cap(queries) {
				queries = append(queries, randAddr(r, v6))
			}
			for _, a := range queries {
				if !a.IsValid() {
					continue
				}
				want, wok := goldenLPM(prefixes, a)
				got, gok := tb.Lookup(a)
				if wok != gok || (gok && got.Dst != want) {
					t.Fatalf("Lookup(%v) = %v %v, golden %v %v", a, routeDst(got), gok, want, wok)
				}
			}
		})
	}
}

func routeDst(r *Route) any {
	if r == nil {
		return nil
	}
	return r.Dst
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestInsertErrors(t *testing.T) {
	g := mustGroup(t, Single, portMember("i-1", 1, 0, nil))
	tests := []struct {
		name string
		r    *Route
		want string
	}{
		{"nil", nil, "nil route"},
		{"invalid prefix", &Route{Action: ActionReserved}, "invalid destination"},
		{"host bits (V14)", &Route{Dst: netip.MustParsePrefix("10.0.0.1/24"), Action: ActionReserved}, "host bits"},
		{"4in6", &Route{Dst: netip.MustParsePrefix("::ffff:10.0.0.0/120"), Action: ActionReserved}, "IPv4-mapped"},
		{"duplicate (V13)", &Route{Dst: netip.MustParsePrefix("192.168.0.0/24"), Type: Custom, Action: ActionForward, Group: g}, "already in table"},
		{"forward without group", &Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Action: ActionForward}, "without next hop"},
		{"local without vswitch", &Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Action: ActionLocal, VSwitch: -1}, "without VSwitch"},
		{"unknown action", &Route{Dst: netip.MustParsePrefix("10.0.0.0/8"), Action: 9}, "unknown action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable("vtb-x")
			if err := tb.Insert(&Route{Dst: netip.MustParsePrefix("192.168.0.0/24"), Type: System, Action: ActionLocal, ID: "sys"}); err != nil {
				t.Fatal(err)
			}
			err := tb.Insert(tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Insert error %v, want it to contain %q", err, tc.want)
			}
			if tb.Len() != 1 {
				t.Fatalf("failed insert changed the table: Len %d", tb.Len())
			}
		})
	}
}

func TestRoutesSortedAndGet(t *testing.T) {
	tb := NewTable("vtb-sorted")
	in := []string{"10.0.0.0/24", "0.0.0.0/0", "2001:db8::/32", "10.0.0.0/8", "192.168.0.0/16", "10.0.0.128/25", "::/0"}
	for _, s := range in {
		if err := tb.Insert(&Route{Dst: netip.MustParsePrefix(s), Action: ActionReserved, ID: s}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range tb.Routes() {
		got = append(got, r.Dst.String())
	}
	want := []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/24", "10.0.0.128/25", "192.168.0.0/16", "::/0", "2001:db8::/32"}
	if !slices.Equal(got, want) {
		t.Fatalf("Routes order %v, want %v", got, want)
	}
	if tb.Len() != len(in) {
		t.Fatalf("Len %d", tb.Len())
	}
	if r, ok := tb.Get(netip.MustParsePrefix("10.0.0.0/8")); !ok || r.ID != "10.0.0.0/8" {
		t.Fatalf("Get exact: %v %v", r, ok)
	}
	if _, ok := tb.Get(netip.MustParsePrefix("10.0.0.0/9")); ok {
		t.Fatal("Get matched a prefix that is not in the table")
	}
	if NewTable("empty").Routes() == nil || len(NewTable("empty").Routes()) != 0 {
		t.Fatal("empty table Routes must be an empty slice")
	}
}

// TestLookupAllocs: the lookup is on the per-packet path (house rule 4).
func TestLookupAllocs(t *testing.T) {
	tb := NewTable("vtb-alloc")
	r := rand.New(rand.NewPCG(7, 7))
	for tb.Len() < 1000 {
		p := randPrefix(r, false)
		if _, dup := tb.Get(p); !dup {
			if err := tb.Insert(&Route{Dst: p, Action: ActionReserved}); err != nil {
				t.Fatal(err)
			}
		}
	}
	p6 := netip.MustParsePrefix("2001:db8::/32")
	if err := tb.Insert(&Route{Dst: p6, Action: ActionReserved}); err != nil {
		t.Fatal(err)
	}
	addrs := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("11.200.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("8.8.8.8")}
	var sink int
	if n := testing.AllocsPerRun(1000, func() {
		for _, a := range addrs {
			if r, ok := tb.Lookup(a); ok {
				sink += r.Index
			}
		}
	}); n != 0 {
		t.Fatalf("Lookup allocates %v per run", n)
	}
	_ = sink
}

// TestConcurrentReaders runs lookups and selections from several goroutines
// while a prober flips health flags (run with -race): published tables and
// groups need no locks.
func TestConcurrentReaders(t *testing.T) {
	hs := []*Health{NewHealth(true), NewHealth(true), NewHealth(true), NewHealth(true)}
	g := mustGroup(t, ECMP, portMember("i-a", 1, 1, hs[0]), portMember("i-b", 2, 1, hs[1]), portMember("i-c", 3, 1, hs[2]), portMember("i-d", 4, 1, hs[3]))
	tb := NewTable("vtb-conc")
	if err := tb.Insert(&Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Action: ActionForward, Group: g}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	flipped := make(chan int)
	var flips atomic.Int64 // readers keep going until the prober flipped a few times
	go func() {            // the prober
		r := rand.New(rand.NewPCG(3, 3))
		n := 0
		for {
			select {
			case <-stop:
				flipped <- n
				return
			default:
			}
			if hs[r.IntN(len(hs))].Set(r.IntN(2) == 0) {
				n++
				flips.Add(1)
			}
			runtime.Gosched()
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			h := uint64(w)
			for i := 0; i < 20000 || flips.Load() < 10; i++ {
				h = h*6364136223846793005 + 1442695040888963407
				r, ok := tb.Lookup(netip.AddrFrom4([4]byte{byte(h >> 56), byte(h >> 48), 1, 2}))
				if !ok {
					t.Error("no route")
					return
				}
				if m, idx, ok := r.Group.Select(h); ok && m != &r.Group.Members[idx] {
					t.Errorf("Select returned member %p, index %d", m, idx)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if n := <-flipped; n == 0 {
		t.Fatal("prober never changed a flag while readers ran")
	}
}

// BenchmarkLookup1M looks up random addresses in a table of 1,000,000
// random /8–/32 IPv4 routes and reports the heap taken by the routes and by
// the bart trie.
func BenchmarkLookup1M(b *testing.B) {
	const n = 1_000_000
	r := rand.New(rand.NewPCG(2026, 1))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	seen := make(map[netip.Prefix]struct{}, n)
	routes := make([]*Route, 0, n)
	for len(routes) < n {
		v := r.Uint32()
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 8+r.IntN(25)).Masked()
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		routes = append(routes, &Route{Dst: p, Type: Custom, Action: ActionReserved, Index: len(routes), VSwitch: -1})
	}
	seen = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	routesHeap := ms.HeapAlloc - before
	tb := NewTable("vtb-1m")
	for _, rt := range routes {
		if err := tb.Insert(rt); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	trieHeap := ms.HeapAlloc - before - routesHeap
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		v := r.Uint32()
		addrs[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var hits int
	i := 0
	for b.Loop() {
		if _, ok := tb.Lookup(addrs[i&4095]); ok {
			hits++
		}
		i++
	}
	b.ReportMetric(float64(trieHeap)/(1<<20), "trie-MiB")
	b.ReportMetric(float64(routesHeap)/(1<<20), "routes-MiB")
	b.ReportMetric(float64(trieHeap)/n, "trie-B/route")
	runtime.KeepAlive(routes)
	_ = hits
}
