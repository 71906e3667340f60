package fib

import (
	"fmt"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
)

// splitmix is the test's own 64-bit mixer (SplitMix64 finaliser), used to
// hash random flow tuples independently of the package's mixer.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// tupleHash is a symmetric 5-tuple hash (SPEC F8: both directions of a flow
// hash alike), standing in for the caller's flow hash.
func tupleHash(src, dst uint32, sport, dport uint16, proto uint8) uint64 {
	if src > dst || (src == dst && sport > dport) {
		src, dst, sport, dport = dst, src, dport, sport
	}
	x := uint64(src)<<32 | uint64(dst)
	y := uint64(sport)<<48 | uint64(dport)<<32 | uint64(proto)
	return splitmix(x ^ splitmix(y+0x9e3779b97f4a7c15))
}

func randFlows(seed uint64, n int) []uint64 {
	r := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	out := make([]uint64, n)
	for i := range out {
		out[i] = tupleHash(r.Uint32(), r.Uint32(), uint16(r.Uint32()), uint16(r.Uint32()), []uint8{1, 6, 17}[r.IntN(3)])
	}
	return out
}

// ecmpMembers returns n members with ids in shuffled order (so that the
// rank-by-id mapping is exercised) and one Health flag each.
func ecmpMembers(n int, seed uint64) ([]Member, []*Health) {
	r := rand.New(rand.NewPCG(seed, 99))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("i-%08x", r.Uint32())
	}
	ms := make([]Member, n)
	hs := make([]*Health, n)
	for i := range ms {
		hs[i] = NewHealth(true)
		ms[i] = Member{ID: ids[i], Kind: MemberPort, Port: PortID(i + 1), Weight: 7, Health: hs[i],
			Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 10)})}
	}
	return ms, hs
}

func ecmpGroup(t testing.TB, n int, seed uint64) (*Group, []*Health) {
	t.Helper()
	ms, hs := ecmpMembers(n, seed)
	g, err := NewGroupMax(ECMP, ms, MaxECMPLimit)
	if err != nil {
		t.Fatal(err)
	}
	return g, hs
}

func setMask(hs []*Health, mask uint32) {
	for i, h := range hs {
		h.Set(mask&(1<<i) != 0)
	}
}

// ownerOf is the bucket owner the way Select computes it.
func (g *Group) ownerOf(mask uint32, b uint64) int {
	if g.owners != nil {
		return int(g.owners[uint64(mask)*g.buckets+b])
	}
	return g.decodeOwner(b, mask)
}

// ownerTable returns owners[mask][bucket] for every mask in masks.
func ownerTable(g *Group, masks []uint32) map[uint32][]int8 {
	out := make(map[uint32][]int8, len(masks))
	for _, m := range masks {
		row := make([]int8, g.buckets)
		for b := range g.buckets {
			row[b] = int8(g.ownerOf(m, b))
		}
		out[m] = row
	}
	return out
}

func has(mask uint32, i int8) bool { return i >= 0 && mask&(1<<i) != 0 }

// masksFor returns every non-empty up set for n ≤ 7 and, for n = 8, the
// full set, every set with one or two members down and a random sample.
func masksFor(n int) []uint32 {
	full := uint32(1)<<n - 1
	if n <= 7 {
		var ms []uint32
		for m := uint32(1); m <= full; m++ {
			ms = append(ms, m)
		}
		return ms
	}
	set := map[uint32]bool{full: true}
	for i := range n {
		set[full&^(1<<i)] = true
		for j := range i {
			set[full&^(1<<i|1<<j)] = true
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	for len(set) < 64 {
		if m := r.Uint32() & full; m != 0 {
			set[m] = true
		}
	}
	var ms []uint32
	for m := range set {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return ms
}

// TestECMPBucketsExhaustive checks SPEC F8 on the bucket tables for every
// group size and up set:
//   - each up member owns exactly B/|S| buckets (even spread);
//   - for any change of up set A → B (any subset flipping at once), a bucket
//     changes owner only if its old owner is down in B or its new owner was
//     down in A (a flow never moves while its member is healthy; a
//     recovering member takes only flows that become its own);
//   - when one member m goes down, exactly its buckets move and they spread
//     evenly over the survivors; when it comes back exactly B/|S∪{m}|
//     buckets move, all to m.
func TestECMPBucketsExhaustive(t *testing.T) {
	for n := 2; n <= MaxECMPLimit; n++ {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			if testing.Short() && n > 6 {
				t.Skip("short")
			}
			g, _ := ecmpGroup(t, n, uint64(n))
			if g.buckets != factorial[n] {
				t.Fatalf("buckets %d", g.buckets)
			}
			masks := masksFor(n)
			own := ownerTable(g, masks)
			for _, m := range masks {
				counts := make([]uint64, n)
				for _, o := range own[m] {
					if !has(m, o) {
						t.Fatalf("mask %b: bucket owned by %d, which is down", m, o)
					}
					counts[o]++
				}
				want := g.buckets / uint64(bits.OnesCount32(m))
				for i, c := range counts {
					if has(m, int8(i)) && c != want {
						t.Fatalf("mask %b: member %d owns %d buckets, want %d", m, i, c, want)
					}
				}
			}
			// Arbitrary transitions between any two up sets (n ≤ 6: all
			// pairs; larger groups are covered by single flips below).
			if n <= 6 {
				for _, a := range masks {
					for _, b := range masks {
						ra, rb := own[a], own[b]
						for k := range ra {
							if ra[k] != rb[k] && has(b, ra[k]) && has(a, rb[k]) {
								t.Fatalf("%b→%b: bucket %d moved from healthy %d to %d", a, b, k, ra[k], rb[k])
							}
						}
					}
				}
			}
			// Single flips: down (with ⊇ without) and recovery.
			for _, with := range masks {
				for m := range n {
					without := with &^ (1 << m)
					if without == with || without == 0 || own[without] == nil {
						continue
					}
					rw, ro := own[with], own[without]
					moved := make([]uint64, n)
					var movedBack uint64
					for k := range rw {
						if rw[k] != ro[k] {
							if int(rw[k]) != m {
								t.Fatalf("%b→%b: bucket %d of healthy member %d moved", with, without, k, rw[k])
							}
							moved[ro[k]]++
							movedBack++ // recovery is the reverse transition
						} else if int(rw[k]) == m {
							t.Fatalf("%b→%b: bucket %d stays with down member %d", with, without, k, m)
						}
					}
					survivors := uint64(bits.OnesCount32(without))
					share := g.buckets / uint64(bits.OnesCount32(with))
					if movedBack != share {
						t.Fatalf("%b↔%b: %d buckets moved, want exactly member %d's share %d", with, without, movedBack, m, share)
					}
					for i, c := range moved {
						if has(without, int8(i)) && c != share/survivors {
							t.Fatalf("%b→%b: survivor %d took %d of %d's buckets, want %d", with, without, i, c, m, share/survivors)
						}
					}
				}
			}
		})
	}
}

// TestECMPOwnerTableMatchesDecode: the precomputed owner tables (N ≤ 4)
// agree with on-the-fly decoding (used for N > 4).
func TestECMPOwnerTableMatchesDecode(t *testing.T) {
	for n := 2; n <= ownerTableMax; n++ {
		g, _ := ecmpGroup(t, n, 42)
		if g.owners == nil {
			t.Fatalf("N=%d: no owner table", n)
		}
		for m := uint32(1); m < 1<<n; m++ {
			for b := range g.buckets {
				if got, want := int(g.owners[uint64(m)*g.buckets+b]), g.decodeOwner(b, m); got != want {
					t.Fatalf("N=%d mask %b bucket %d: table %d, decode %d", n, m, b, got, want)
				}
			}
		}
	}
	g, _ := ecmpGroup(t, ownerTableMax+1, 1)
	if g.owners != nil {
		t.Fatal("owner table built beyond ownerTableMax")
	}
	// The division-free decoder used by Select for N > ownerTableMax agrees
	// with bucket decoding for every group size.
	r := rand.New(rand.NewPCG(4, 4))
	for n := 2; n <= MaxECMPLimit; n++ {
		g, _ := ecmpGroup(t, n, uint64(n))
		for range 5000 {
			x, mask := r.Uint64(), r.Uint32()&(1<<n-1)|1<<r.IntN(n)
			bucket, _ := bits.Mul64(x, g.buckets) // bucketOf without the mixer
			if got, want := g.decodeOwnerHash(x, mask), g.decodeOwner(bucket, mask); got != want {
				t.Fatalf("N=%d x=%#x mask %b: hash decoder %d, bucket decoder %d", n, x, mask, got, want)
			}
		}
	}
}

// refPerms lists every permutation of 0..n-1 in lexicographic order by
// recursive enumeration (independent of the package's unranking).
func refPerms(n int) [][]int {
	var out [][]int
	cur := make([]int, 0, n)
	used := make([]bool, n)
	var rec func()
	rec = func() {
		if len(cur) == n {
			out = append(out, slices.Clone(cur))
			return
		}
		for v := range n {
			if !used[v] {
				used[v] = true
				cur = append(cur, v)
				rec()
				cur = cur[:len(cur)-1]
				used[v] = false
			}
		}
	}
	rec()
	return out
}

// refModel is the slow reference Select, written independently of the
// package: ranks by sorting ids, permutations by enumeration, the bucket by
// big-integer arithmetic, health as a plain []bool.
type refModel struct {
	kind    GroupKind
	ids     []string
	posRank []int // posRank[r] = member position with the r-th smallest id
	perms   [][]int
}

func newRefModel(kind GroupKind, ids []string) *refModel {
	m := &refModel{kind: kind, ids: ids}
	if kind == ECMP {
		sorted := slices.Clone(ids)
		sort.Strings(sorted)
		for _, id := range sorted {
			m.posRank = append(m.posRank, slices.Index(ids, id))
		}
		m.perms = refPerms(len(ids))
	}
	return m
}

func (m *refModel) sel(up []bool, hash uint64) (int, bool) {
	switch m.kind {
	case Single:
		return 0, up[0]
	case ActiveStandby:
		for i := range 2 {
			if up[i] {
				return i, true
			}
		}
		return -1, false
	}
	prod := new(big.Int).Mul(new(big.Int).SetUint64(mix64(hash)), big.NewInt(int64(len(m.perms))))
	bucket := prod.Rsh(prod, 64).Int64()
	for _, r := range m.perms[bucket] {
		if p := m.posRank[r]; up[p] {
			return p, true
		}
	}
	return -1, false
}

// TestSelectGolden drives random health changes (any subset flipping at
// once) and compares Select with the reference model; it also checks the
// SPEC F8 movement rule on a fixed set of flows across every change.
func TestSelectGolden(t *testing.T) {
	type gcase struct {
		name string
		kind GroupKind
		n    int
	}
	cases := []gcase{{"single", Single, 1}, {"active-standby", ActiveStandby, 2}}
	for n := 2; n <= MaxECMPLimit; n++ {
		cases = append(cases, gcase{fmt.Sprintf("ecmp%d", n), ECMP, n})
	}
	flows := randFlows(5, 400)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ms, hs := ecmpMembers(tc.n, uint64(tc.n)+100)
			if tc.kind == ActiveStandby {
				ms[0].Weight, ms[1].Weight = 100, 0
			}
			g, err := NewGroupMax(tc.kind, ms, MaxECMPLimit)
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, tc.n)
			for i := range ms {
				ids[i] = ms[i].ID
			}
			ref := newRefModel(tc.kind, ids)
			r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.kind)))
			up := make([]bool, tc.n)
			for i := range up {
				up[i] = true
			}
			prev := make([]int, len(flows))
			prevUp := slices.Clone(up)
			for step := range 300 {
				if step > 0 {
					for i := range up {
						if r.IntN(10) < 3 {
							up[i] = !up[i]
							if changed := hs[i].Set(up[i]); !changed {
								t.Fatal("Set did not report a change")
							}
						}
					}
				}
				for k, h := range flows {
					m, idx, ok := g.Select(h)
					widx, wok := ref.sel(up, h)
					if ok != wok || (ok && idx != widx) {
						t.Fatalf("step %d up %v hash %#x: Select %d %v, reference %d %v", step, up, h, idx, ok, widx, wok)
					}
					if ok && m != &g.Members[idx] {
						t.Fatalf("member pointer does not match index %d", idx)
					}
					if !ok && (m != nil || idx != -1) {
						t.Fatalf("!ok with member %v index %d", m, idx)
					}
					if tc.kind == ECMP && step > 0 && ok && prev[k] >= 0 && idx != prev[k] {
						if up[prev[k]] && prevUp[idx] {
							t.Fatalf("step %d: flow %#x moved from healthy %d to %d", step, h, prev[k], idx)
						}
					}
					prev[k] = idx
				}
				copy(prevUp, up)
				for range 50 {
					h := r.Uint64()
					_, idx, ok := g.Select(h)
					widx, wok := ref.sel(up, h)
					if ok != wok || (ok && idx != widx) {
						t.Fatalf("random hash %#x: Select %d %v, reference %d %v", h, idx, ok, widx, wok)
					}
				}
			}
		})
	}
}

// TestECMPDistribution: SPEC F8 — over 10,000 random flows each of N
// members gets 1/N ± 10%, also after one member fails (survivors), and also
// when the caller's hash is weak (small sequential integers).
func TestECMPDistribution(t *testing.T) {
	random := randFlows(11, 10000)
	sequential := make([]uint64, 10000)
	for i := range sequential {
		sequential[i] = uint64(i)
	}
	for _, src := range []struct {
		name   string
		hashes []uint64
	}{{"random-tuples", random}, {"sequential", sequential}} {
		for n := 2; n <= 4; n++ {
			t.Run(fmt.Sprintf("%s/N=%d", src.name, n), func(t *testing.T) {
				g, hs := ecmpGroup(t, n, uint64(n)*3)
				check := func(down int) {
					counts := make([]int, n)
					for _, h := range src.hashes {
						_, idx, ok := g.Select(h)
						if !ok {
							t.Fatal("no member selected")
						}
						counts[idx]++
					}
					live := n
					if down >= 0 {
						live--
						if counts[down] != 0 {
							t.Fatalf("down member %d got %d flows", down, counts[down])
						}
					}
					want := float64(len(src.hashes)) / float64(live)
					for i, c := range counts {
						if i != down && (float64(c) < 0.9*want || float64(c) > 1.1*want) {
							t.Fatalf("member %d (down=%d): %d flows, want %.0f ± 10%% (%v)", i, down, c, want, counts)
						}
					}
				}
				check(-1)
				for m := range n {
					hs[m].Set(false)
					check(m)
					hs[m].Set(true)
				}
			})
		}
	}
}

// TestECMPSymmetricAndOrderIndependent: both directions of a flow pick the
// same member (the caller's hash is symmetric, Select is a function of it),
// and listing the same next hops in another order picks the same next-hop
// id for every flow and every up set.
func TestECMPSymmetricAndOrderIndependent(t *testing.T) {
	for n := 2; n <= 6; n++ {
		ms, hs := ecmpMembers(n, uint64(n)*17)
		g1, err := NewGroupMax(ECMP, ms, MaxECMPLimit)
		if err != nil {
			t.Fatal(err)
		}
		rev := slices.Clone(ms)
		slices.Reverse(rev)
		g2, err := NewGroupMax(ECMP, rev, MaxECMPLimit)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(uint64(n), 1))
		for range 20 {
			mask := r.Uint32() & (1<<n - 1)
			setMask(hs, mask)
			for range 200 {
				a, b := r.Uint32(), r.Uint32()
				pa, pb := uint16(r.Uint32()), uint16(r.Uint32())
				fwd, back := tupleHash(a, b, pa, pb, 6), tupleHash(b, a, pb, pa, 6)
				m1, _, ok1 := g1.Select(fwd)
				m1b, _, ok1b := g1.Select(back)
				m2, _, ok2 := g2.Select(fwd)
				if ok1 != (mask != 0) || ok1 != ok1b || ok1 != ok2 {
					t.Fatalf("N=%d mask %b: ok %v %v %v", n, mask, ok1, ok1b, ok2)
				}
				if ok1 && (m1.ID != m1b.ID || m1.ID != m2.ID) {
					t.Fatalf("N=%d mask %b: forward %s, reverse %s, reordered %s", n, mask, m1.ID, m1b.ID, m2.ID)
				}
			}
		}
	}
}

func TestActiveStandbyAndSingle(t *testing.T) {
	ha, hb := NewHealth(true), NewHealth(true)
	as := mustGroup(t, ActiveStandby, portMember("i-active", 1, 100, ha), portMember("i-standby", 2, 0, hb))
	steps := []struct {
		a, b bool
		want string // "" = none
	}{
		{true, true, "i-active"},
		{false, true, "i-standby"},
		{false, false, ""},
		{true, false, "i-active"},
		{true, true, "i-active"},
	}
	for i, s := range steps {
		ha.Set(s.a)
		hb.Set(s.b)
		for _, h := range []uint64{0, 1, 1 << 63, ^uint64(0)} {
			m, idx, ok := as.Select(h)
			if s.want == "" {
				if ok {
					t.Fatalf("step %d: got %s, want none", i, m.ID)
				}
				continue
			}
			if !ok || m.ID != s.want || &as.Members[idx] != m {
				t.Fatalf("step %d: got %v %d %v, want %s", i, m, idx, ok, s.want)
			}
		}
	}
	hs := NewHealth(true)
	single := mustGroup(t, Single, Member{ID: "ri-1", Kind: MemberRouterInterface, Peer: 3, Health: hs})
	if m, idx, ok := single.Select(9); !ok || idx != 0 || m.Peer != 3 {
		t.Fatalf("single: %v %d %v", m, idx, ok)
	}
	hs.Set(false)
	if _, idx, ok := single.Select(9); ok || idx != -1 {
		t.Fatal("single selected a down member")
	}
	always := mustGroup(t, Single, portMember("i-nohealth", 4, 0, nil))
	if _, _, ok := always.Select(0); !ok {
		t.Fatal("nil Health must be up")
	}
	var zero Group
	if _, _, ok := zero.Select(0); ok {
		t.Fatal("zero Group selected a member")
	}
}

func TestHealth(t *testing.T) {
	h := NewHealth(false)
	if h.Up() {
		t.Fatal("NewHealth(false) is up")
	}
	for i, s := range []struct{ set, changed bool }{{false, false}, {true, true}, {true, false}, {false, true}} {
		if got := h.Set(s.set); got != s.changed || h.Up() != s.set {
			t.Fatalf("step %d: Set(%v) changed=%v up=%v", i, s.set, got, h.Up())
		}
	}
	var nilH *Health
	if !nilH.Up() {
		t.Fatal("nil Health must be up")
	}
	var zero Health
	if zero.Up() {
		t.Fatal("zero Health must be down")
	}
}

// TestNewGroupShapes: SPEC V15 shapes and the errors for every other one.
func TestNewGroupShapes(t *testing.T) {
	p := func(id string, w uint8) Member { return portMember(id, 1, w, nil) }
	tests := []struct {
		name    string
		kind    GroupKind
		max     int // 0 = NewGroup
		members []Member
		wantErr string // "" = valid
	}{
		{"single", Single, 0, []Member{p("i-1", 0)}, ""},
		{"single weight ignored", Single, 0, []Member{p("i-1", 77)}, ""},
		{"single router interface", Single, 0, []Member{{ID: "ri-1", Kind: MemberRouterInterface, Peer: 0}}, ""},
		{"single two hops", Single, 0, []Member{p("i-1", 0), p("i-2", 0)}, "exactly 1 next hop, got 2"},
		{"no hops", Single, 0, nil, "no next hop"},
		{"active/standby", ActiveStandby, 0, []Member{p("i-1", 100), p("i-2", 0)}, ""},
		{"active/standby reversed", ActiveStandby, 0, []Member{p("i-1", 0), p("i-2", 100)}, "100 (active, first) then 0"},
		{"active/standby 100/50", ActiveStandby, 0, []Member{p("i-1", 100), p("i-2", 50)}, "active/standby (F9)"},
		{"active/standby three", ActiveStandby, 0, []Member{p("i-1", 100), p("i-2", 0), p("i-3", 0)}, "exactly 2 next hops"},
		{"ecmp 2", ECMP, 0, []Member{p("i-1", 1), p("i-2", 1)}, ""},
		{"ecmp 4 weight 255", ECMP, 0, []Member{p("i-1", 255), p("i-2", 255), p("i-3", 255), p("i-4", 255)}, ""},
		{"ecmp 5 by default", ECMP, 0, []Member{p("i-1", 1), p("i-2", 1), p("i-3", 1), p("i-4", 1), p("i-5", 1)}, "2–4 next hops, got 5"},
		{"ecmp 5 raised quota", ECMP, 8, []Member{p("i-1", 1), p("i-2", 1), p("i-3", 1), p("i-4", 1), p("i-5", 1)}, ""},
		{"ecmp 9", ECMP, 8, []Member{p("i-1", 1), p("i-2", 1), p("i-3", 1), p("i-4", 1), p("i-5", 1), p("i-6", 1), p("i-7", 1), p("i-8", 1), p("i-9", 1)}, "at most 8"},
		{"ecmp 1", ECMP, 0, []Member{p("i-1", 1)}, "2–4 next hops, got 1"},
		{"ecmp unequal", ECMP, 0, []Member{p("i-1", 1), p("i-2", 2)}, "equal weights"},
		{"ecmp zero weights", ECMP, 0, []Member{p("i-1", 0), p("i-2", 0)}, "equal weights in 1–255"},
		{"ecmp one zero among three", ECMP, 0, []Member{p("i-1", 10), p("i-2", 10), p("i-3", 0)}, "equal weights"},
		{"duplicate id", ECMP, 0, []Member{p("i-1", 1), p("i-1", 1)}, `duplicate next hop "i-1"`},
		{"empty id", Single, 0, []Member{p("", 0)}, "has no id"},
		{"no port", Single, 0, []Member{{ID: "i-1", Kind: MemberPort, Port: NoPort}}, "has no port"},
		{"no peer", Single, 0, []Member{{ID: "ri-1", Kind: MemberRouterInterface, Peer: -1}}, "no peer router"},
		{"unknown member kind", Single, 0, []Member{{ID: "x-1", Kind: 7}}, "unknown kind"},
		{"unknown group kind", GroupKind(9), 0, []Member{p("i-1", 0)}, "unknown next hop group kind"},
		{"limit too high", ECMP, 9, []Member{p("i-1", 1), p("i-2", 1)}, "outside 2–8"},
		{"limit too low", ECMP, 1, []Member{p("i-1", 1), p("i-2", 1)}, "outside 2–8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g *Group
			var err error
			if tc.max == 0 {
				g, err = NewGroup(tc.kind, tc.members)
			} else {
				g, err = NewGroupMax(tc.kind, tc.members, tc.max)
			}
			if tc.wantErr == "" {
				if err != nil || g == nil {
					t.Fatalf("unexpected error %v", err)
				}
				if g.Kind != tc.kind || len(g.Members) != len(tc.members) {
					t.Fatalf("group %v with %d members", g.Kind, len(g.Members))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
			if g != nil {
				t.Fatal("group returned with an error")
			}
		})
	}
}

func TestNewGroupCopiesMembers(t *testing.T) {
	ms := []Member{portMember("i-1", 1, 1, nil), portMember("i-2", 2, 1, nil)}
	g := mustGroup(t, ECMP, ms...)
	ms[0].ID, ms[0].Port = "i-changed", 9
	if g.Members[0].ID != "i-1" || g.Members[0].Port != 1 {
		t.Fatal("group shares the caller's members slice")
	}
}

func TestInferKind(t *testing.T) {
	tests := []struct {
		weights []uint8
		max     int
		want    GroupKind
		wantErr string
	}{
		{nil, 4, 0, "no next hop"},
		{[]uint8{0}, 4, Single, ""},
		{[]uint8{100, 0}, 4, ActiveStandby, ""},
		{[]uint8{0, 100}, 4, ActiveStandby, ""},
		{[]uint8{1, 1}, 4, ECMP, ""},
		{[]uint8{100, 100}, 4, ECMP, ""},
		{[]uint8{255, 255, 255, 255}, 4, ECMP, ""},
		{[]uint8{100, 50}, 4, 0, "equal weights"},
		{[]uint8{0, 0}, 4, 0, "active/standby (F9) takes weights 100 and 0"},
		{[]uint8{0, 50}, 4, 0, "active/standby (F9) takes weights 100 and 0"},
		{[]uint8{5, 5, 0}, 4, 0, "standby of active/standby"},
		{[]uint8{100, 0, 0}, 4, 0, "exactly 2 next hops"},
		{[]uint8{1, 2, 1}, 4, 0, "equal weights"},
		{[]uint8{1, 1, 1, 1, 1}, 4, 0, "2–4 next hops, got 5"},
		{[]uint8{1, 1, 1, 1, 1}, 8, ECMP, ""},
		{[]uint8{1, 1, 1, 1, 1}, 0, 0, "2–4 next hops"}, // invalid limit → default
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.weights, tc.max), func(t *testing.T) {
			k, err := InferKind(tc.weights, tc.max)
			if tc.wantErr == "" {
				if err != nil || k != tc.want {
					t.Fatalf("InferKind = %v, %v; want %v", k, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestGroupKey(t *testing.T) {
	h1, h2 := NewHealth(true), NewHealth(true)
	a := Member{ID: "i-a", Kind: MemberPort, Port: 1, Weight: 1, Health: h1, Addr: netip.MustParseAddr("10.0.0.5")}
	b := Member{ID: "ri-b", Kind: MemberRouterInterface, Peer: 2, Weight: 1}
	base := mustGroup(t, ECMP, a, b)
	same := mustGroup(t, ECMP, a, b)
	if base.Key() != same.Key() {
		t.Fatalf("equal groups, keys %q and %q", base.Key(), same.Key())
	}
	a2 := a
	a2.Health = h2
	aw := a
	aw.Weight, b.Weight = 2, 2
	aPort := a
	aPort.Port = 5
	aAddr := a
	aAddr.Addr = netip.Addr{}
	bw := b
	bw.Weight = 1
	aw1 := a
	aw1.Weight = 100
	b0 := bw
	b0.Weight = 0
	diff := map[string]*Group{
		"other health": mustGroup(t, ECMP, a2, bw),
		"other weight": mustGroup(t, ECMP, aw, b),
		"other port":   mustGroup(t, ECMP, aPort, bw),
		"no address":   mustGroup(t, ECMP, aAddr, bw),
		"other order":  mustGroup(t, ECMP, bw, a),
		"other kind":   mustGroup(t, ActiveStandby, aw1, b0),
		"single":       mustGroup(t, Single, a),
	}
	seen := map[string]string{base.Key(): "base"}
	for name, g := range diff {
		if prev, dup := seen[g.Key()]; dup {
			t.Fatalf("%s and %s share key %q", name, prev, g.Key())
		}
		seen[g.Key()] = name
	}
	if !strings.HasPrefix(base.Key(), "ECMP[") || !strings.Contains(base.Key(), `"ri-b",peer=2`) {
		t.Fatalf("unexpected key format %q", base.Key())
	}
}

// TestSelectAllocs: Select is on the per-packet path (house rule 4).
func TestSelectAllocs(t *testing.T) {
	g4, hs4 := ecmpGroup(t, 4, 1)
	hs4[1].Set(false)
	g7, hs7 := ecmpGroup(t, 7, 2)
	hs7[3].Set(false)
	as := mustGroup(t, ActiveStandby, portMember("i-1", 1, 100, NewHealth(false)), portMember("i-2", 2, 0, nil))
	single := mustGroup(t, Single, portMember("i-1", 1, 0, nil))
	groups := []*Group{g4, g7, as, single}
	var sink int
	h := uint64(12345)
	if n := testing.AllocsPerRun(1000, func() {
		for _, g := range groups {
			h = splitmix(h)
			if _, idx, ok := g.Select(h); ok {
				sink += idx
			}
		}
	}); n != 0 {
		t.Fatalf("Select allocates %v per run", n)
	}
	_ = sink
}

func BenchmarkSelect(b *testing.B) {
	type bc struct {
		name string
		g    *Group
	}
	g2, _ := ecmpGroup(b, 2, 1)
	g4, _ := ecmpGroup(b, 4, 1)
	g4d, hs := ecmpGroup(b, 4, 1)
	hs[0].Set(false)
	g8, _ := ecmpGroup(b, 8, 1)
	g8d, hs8 := ecmpGroup(b, 8, 1)
	hs8[0].Set(false)
	hs8[5].Set(false)
	cases := []bc{
		{"single", mustGroup(b, Single, portMember("i-1", 1, 0, NewHealth(true)))},
		{"active-standby-failed-over", mustGroup(b, ActiveStandby, portMember("i-1", 1, 100, NewHealth(false)), portMember("i-2", 2, 0, NewHealth(true)))},
		{"ecmp2", g2}, {"ecmp4", g4}, {"ecmp4-one-down", g4d}, {"ecmp8", g8}, {"ecmp8-two-down", g8d},
	}
	hashes := randFlows(3, 1024)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var sink int
			i := 0
			for b.Loop() {
				_, idx, _ := c.g.Select(hashes[i&1023])
				sink += idx
				i++
			}
			_ = sink
		})
	}
}
