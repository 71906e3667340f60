package conntrack

// index is one shard's hash index from the canonical key of every flow the
// shard owns to the flow's slab slot (budget P3: an established-flow lookup
// touches one cache line of the index and one of the entry).
//
// It is an open-addressing table of uint64 words, one per bucket: the key's
// tag (32 bits of its seeded hash, lowest bit forced to 1, so that a used
// word is never 0) in the high half and the slot value (slot index | owner
// shard << idxBits, as in decodeValue) in the low half. The full key lives
// only in the slab entry, so a lookup compares tags in the index and then the
// key of each candidate entry; with 32-bit tags a candidate is almost always
// the flow. The bucket of a key is a function of its tag alone, so the index
// grows (doubling at 3/4 load) and deletes (backward shift, no tombstones)
// without reading any key. An index never shrinks, like the slab.
//
// Every method requires the owning shard's mutex.
type index struct {
	words []uint64
	shift uint8 // 32 - log2(len(words))
	n     int   // keys held
}

const (
	indexMinSize = 16
	fibMul       = 0x9E3779B1 // 2^32 / golden ratio: Fibonacci hashing
)

// tagOf is the index tag of a key whose seeded hash is h. The shard is taken
// from the top bits of h, the tag from the low half, so they are independent.
func tagOf(h uint64) uint32 { return uint32(h) | 1 }

func (x *index) home(tag uint32) int { return int((tag * fibMul) >> x.shift) }

func (x *index) mask() int { return len(x.words) - 1 }

// next returns the first bucket at or after i (cyclically) holding tag, and
// the bucket that ends the probe (the empty one) when there is none; ok
// reports which. Callers verify the candidate against its entry and call
// next again from the following bucket when it is not the key they seek.
func (x *index) next(tag uint32, i int) (bucket int, v uint32, ok bool) {
	if len(x.words) == 0 {
		return 0, 0, false
	}
	m := x.mask()
	for {
		w := x.words[i]
		if w == 0 {
			return i, 0, false
		}
		if uint32(w>>32) == tag {
			return i, uint32(w), true
		}
		i = (i + 1) & m
	}
}

// first returns the start of tag's probe sequence.
func (x *index) first(tag uint32) int {
	if len(x.words) == 0 {
		return 0
	}
	return x.home(tag)
}

// add records value v under tag. The caller has checked that the key is not
// present.
func (x *index) add(tag uint32, v uint32) {
	if (x.n+1)*4 > len(x.words)*3 {
		x.grow()
	}
	m := x.mask()
	i := x.home(tag)
	for x.words[i] != 0 {
		i = (i + 1) & m
	}
	x.words[i] = uint64(tag)<<32 | uint64(v)
	x.n++
}

// remove deletes the word (tag, v), which must be present, and closes the
// gap by shifting back the words after it that probed past it.
func (x *index) remove(tag uint32, v uint32) {
	want := uint64(tag)<<32 | uint64(v)
	m := x.mask()
	i := x.home(tag)
	for x.words[i] != want {
		if x.words[i] == 0 {
			panic("conntrack: index word not found")
		}
		i = (i + 1) & m
	}
	for j := (i + 1) & m; x.words[j] != 0; j = (j + 1) & m {
		// The word at j may move to the hole at i if i lies on its probe
		// path, i.e. it is at least as far from its home as from i.
		if (j-x.home(uint32(x.words[j]>>32)))&m >= (j-i)&m {
			x.words[i] = x.words[j]
			i = j
		}
	}
	x.words[i] = 0
	x.n--
}

// grow doubles the index (or creates it) and re-places every word by its
// tag.
func (x *index) grow() {
	old := x.words
	size := max(indexMinSize, 2*len(old))
	x.words = make([]uint64, size)
	x.shift = uint8(32 - log2(size))
	m := size - 1
	for _, w := range old {
		if w == 0 {
			continue
		}
		i := x.home(uint32(w >> 32))
		for x.words[i] != 0 {
			i = (i + 1) & m
		}
		x.words[i] = w
	}
}

func log2(n int) int {
	b := 0
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}
