package conntrack

import (
	"math/rand/v2"
	"testing"
)

// find returns whether (tag, v) is reachable by probing from tag's home.
func (x *index) find(tag, v uint32) bool {
	for i := x.first(tag); ; i = (i + 1) & x.mask() {
		var got uint32
		var ok bool
		if i, got, ok = x.next(tag, i); !ok {
			return false
		}
		if got == v {
			return true
		}
	}
}

// TestIndex checks the compact index (P3) against a map under random adds
// and removes, with tags drawn so that their homes cluster (long probe runs,
// wrap-around at the end of the table, backward shifts across it).
func TestIndex(t *testing.T) {
	tests := []struct {
		name  string
		homes int // tags are drawn among those whose home (at 64 buckets) is < homes; 0: any tag
		ops   int
		max   int // keys held at most
	}{
		{"spread", 0, 20000, 3000},
		{"clustered", 4, 20000, 40},
		{"one home", 1, 5000, 30},
		{"wrap-around", -1, 5000, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tt.homes)))
			probe := index{shift: 32 - 6} // home at 64 buckets
			tag := func() uint32 {
				for {
					g := tagOf(r.Uint64())
					h := probe.home(g)
					switch {
					case tt.homes == 0,
						tt.homes > 0 && h < tt.homes,
						tt.homes < 0 && h == 63:
						return g
					}
				}
			}
			var x index
			model := map[uint32]uint32{} // value → tag (values are unique, like slots)
			next := uint32(0)
			for op := 0; op < tt.ops; op++ {
				if len(model) < tt.max && (len(model) == 0 || r.IntN(3) != 0) {
					g := tag()
					x.add(g, next)
					model[next] = g
					next++
				} else {
					for v, g := range model {
						x.remove(g, v)
						delete(model, v)
						break
					}
				}
				if x.n != len(model) || x.n*4 > len(x.words)*3 {
					t.Fatalf("op %d: n %d, model %d, buckets %d", op, x.n, len(model), len(x.words))
				}
				if op%97 == 0 || len(model) < 50 {
					used := 0
					for _, w := range x.words {
						if w != 0 {
							used++
						}
					}
					if used != len(model) {
						t.Fatalf("op %d: %d words used, %d keys", op, used, len(model))
					}
					for v, g := range model {
						if !x.find(g, v) {
							t.Fatalf("op %d: (%#x, %d) unreachable", op, g, v)
						}
					}
				}
			}
		})
	}
}

// TestIndexEmpty: an index that never held a key finds nothing.
func TestIndexEmpty(t *testing.T) {
	var x index
	if _, _, ok := x.next(tagOf(7), x.first(tagOf(7))); ok {
		t.Fatal("empty index found a word")
	}
}

// TestLookupTagCollision: when another flow's index word carries the same
// tag and comes first in the probe sequence, the lookup verifies the key,
// skips it and still finds the flow.
func TestLookupTagCollision(t *testing.T) {
	tab := New(DefaultConfig())
	a := flowKey(1)
	ca := canonical(&a)
	ha := tab.hash(&ca)
	sa := shardOfHash(ha)
	var b, cb Key
	var hb uint64
	for i := 2; ; i++ {
		b = flowKey(i)
		cb = canonical(&b)
		if hb = tab.hash(&cb); shardOfHash(hb) == sa {
			break
		}
	}
	ha1, _ := tab.Insert(&a, nil, FlagSYN, Meta{InPort: 1}, sec)
	hb1, _ := tab.Insert(&b, nil, FlagSYN, Meta{InPort: 2}, sec)
	s := tab.sh(sa)
	va, vb := ha1.idx|uint32(sa)<<idxBits, hb1.idx|uint32(sa)<<idxBits
	// Re-insert so that b's word, now tagged like a, precedes a's.
	s.idx.remove(tagOf(ha), va)
	s.idx.remove(tagOf(hb), vb)
	s.idx.add(tagOf(ha), vb)
	s.idx.add(tagOf(ha), va)
	if v, ok := s.lookupLocked(&ca, ha); !ok || v != va {
		t.Fatalf("lookup of a = %#x %v, want %#x", v, ok, va)
	}
	h, dir, m, ok := tab.Lookup(&a, FlagACK, sec+1)
	if !ok || h != ha1 || dir != Original || m.InPort != 1 {
		t.Fatalf("Lookup(a) = %+v %v %+v %v", h, dir, m, ok)
	}
}
