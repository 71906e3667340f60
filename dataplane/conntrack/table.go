package conntrack

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	shardBits  = 6
	numShards  = 1 << shardBits
	chunkShift = 8 // slab chunks of 256 entries (32 KiB)
	chunkSize  = 1 << chunkShift
	chunkMask  = chunkSize - 1
	idxBits    = 25 // slot index bits of a map value
	maxSlots   = 1 << idxBits
	idxMask    = maxSlots - 1
	replyBit   = 1 << 31 // map value: the key is a NAT flow's reply key
	nilIdx     = ^uint32(0)

	// maxEvictionsPerInsert bounds the work one Insert does when the table is
	// over its limit (after SetConfig lowered it, the table shrinks over
	// several inserts instead of stalling one).
	maxEvictionsPerInsert = 64
	// reclaimBudget is the sweep an Insert into a full table without
	// evictable entries runs to reclaim expired ones before refusing.
	reclaimBudget = 4096
	// insertAttempts bounds retries of Insert racing with other writers.
	insertAttempts = 16
)

// entry flags.
const (
	fInUse     = 1 << iota
	fConfirmed // established in the sense of S7: never evicted
	fListed    // on its shard's eviction list
	fNAT       // the reply key's canonical form differs from orig's: it has its own map key
	fPlain     // the reply key is orig.Reverse(): a reply is recognised from orig alone
)

// Meta is the caller's data stored with a flow.
type Meta struct {
	InPort, OutPort uint16 // dense port ids of the original direction's ingress and egress
	// Gen is the policy generation the flow was last verified under (S8):
	// the engine re-verifies a flow whose Gen is older than the current
	// generation at its next packet, then calls SetGen or Delete.
	Gen uint32
	// NAT is reserved for the NAT issue (C6): which rewrites apply. The
	// rewritten tuple itself is the flow's reply key (Insert's reply
	// argument, read back with Keys).
	NAT uint8
}

// entry is one flow. It holds no pointers, so slab chunks are never scanned
// by the garbage collector. It is 128 bytes, two cache lines (slab chunks
// are page aligned), and everything an established-flow Lookup reads or
// writes sits in the first: the original key, the timer, the Handle's
// generation, the caller's Meta (inlined, so that no padding pushes the
// flags out), state and flags. The second holds what only NAT replies,
// insertions, removals and the eviction list need.
type entry struct {
	orig    Key    // bytes 0-39
	last    int64  // caller's clock at the last packet (either direction)
	gen     uint32 // slot generation, validates Handles
	mgen    uint32 // Meta.Gen
	inPort  uint16 // Meta.InPort
	outPort uint16 // Meta.OutPort
	nat     uint8  // Meta.NAT
	state   State
	flags   uint8
	rshard  uint8 // shard whose map holds a NAT flow's reply key (else the flow's own shard)

	reply      Key   // bytes 64-103
	created    int64 // caller's clock when the flow (or its reopening) was created
	prev, next uint32
	_          [8]byte
}

// The layout above is load-bearing (P3): fail the build if it changes size
// or the first line overflows.
var (
	_ [128 - unsafe.Sizeof(entry{})]byte
	_ [unsafe.Sizeof(entry{}) - 128]byte
	_ [64 - unsafe.Offsetof(entry{}.reply)]byte
	_ [unsafe.Offsetof(entry{}.reply) - 64]byte
)

func (e *entry) meta() Meta {
	return Meta{InPort: e.inPort, OutPort: e.outPort, Gen: e.mgen, NAT: e.nat}
}

func (e *entry) setMeta(m Meta) {
	e.inPort, e.outPort, e.mgen, e.nat = m.InPort, m.OutPort, m.Gen, m.NAT
}

// Handle refers to one flow for SetGen, SetMeta, Delete and Keys. A handle
// of a flow that has since been removed is detected and ignored. The zero
// Handle refers to nothing.
type Handle struct {
	idx   uint32
	gen   uint32
	shard uint8
}

// Valid reports whether h was returned for a flow (it may have ended since).
func (h Handle) Valid() bool { return h.gen != 0 }

// InsertResult is the outcome of Insert.
type InsertResult uint8

const (
	Inserted InsertResult = iota // a new flow was created
	Exists                       // a live flow already has the key (or the reply key); its handle is returned
	Refused                      // the table is full of established flows (S7); counted
)

// String returns "inserted", "exists" or "refused".
func (r InsertResult) String() string {
	switch r {
	case Inserted:
		return "inserted"
	case Exists:
		return "exists"
	}
	return "refused"
}

// Stats are the table's counters (R8 vrouter_conntrack_*). All but Entries
// are monotonic for the life of the table.
type Stats struct {
	Entries   int64  // flows in the table (including expired ones not yet swept)
	Inserts   uint64 // flows created by Insert
	Evictions uint64 // live unestablished flows evicted to admit new ones
	Refusals  uint64 // new flows refused because the table was full
	Expired   uint64 // flows removed after their idle timeout
}

// shard is one lock domain: the index from the canonical keys of the flows
// it owns to their slots, the map of NAT reply keys whose hash falls in it,
// the slab, its free list and the eviction list of unestablished flows
// (oldest at head).
type shard struct {
	mu     sync.Mutex
	idx    index          // canonical orig key → slot | shard << idxBits (this shard's flows); guarded by mu
	nat    map[Key]uint32 // canonical NAT reply key → slot | owner shard << idxBits | replyBit; guarded by mu
	chunks [][]entry      // slab; guarded by mu
	n      uint32         // slots ever allocated; guarded by mu
	free   uint32         // free-list head; guarded by mu
	head   uint32         // oldest unestablished flow; guarded by mu
	tail   uint32         // newest unestablished flow; guarded by mu
	hiNow  int64          // largest clock passed by callers; guarded by mu
	// oldest mirrors created of the head (math.MaxInt64 when the list is
	// empty); written under mu, read without it to pick an eviction victim.
	oldest atomic.Int64

	inserts, evictions, refusals, expired atomic.Uint64
}

type paddedShard struct {
	shard
	_ [(128 - unsafe.Sizeof(shard{})%128) % 128]byte // no false sharing between shards
}

// Table is the connection-tracking table. All methods are safe for
// concurrent use.
type Table struct {
	shards [numShards]paddedShard
	seed   uint64

	count atomic.Int64             // flows in the table plus reservations of Inserts in progress
	max   atomic.Int64             // Config.MaxEntries
	tos   atomic.Pointer[timeouts] // idle timeouts by state

	cfgMu sync.Mutex
	cfg   Config // guarded by cfgMu

	gcMu      sync.Mutex // serialises GC sweeps
	gcShard   int        // guarded by gcMu
	gcIdx     uint32     // guarded by gcMu
	gcPending []Handle   // guarded by gcMu

	clock atomic.Pointer[func() int64] // set by RunGC, used by Save
}

// New returns an empty table. Zero fields of cfg take the defaults of S7.
func New(cfg Config) *Table {
	t := &Table{seed: rand.Uint64()}
	for i := range t.shards {
		s := &t.shards[i].shard
		s.nat = make(map[Key]uint32)
		s.free, s.head, s.tail = nilIdx, nilIdx, nilIdx
		s.oldest.Store(math.MaxInt64)
	}
	t.SetConfig(cfg)
	return t
}

// SetConfig applies new limits and timeouts (reload, R3) without losing
// flows. New timeouts apply to existing flows at once; a lower MaxEntries is
// reached by evicting unestablished flows as new ones arrive and by expiry.
func (t *Table) SetConfig(cfg Config) {
	cfg = cfg.normalized()
	t.cfgMu.Lock()
	t.cfg = cfg
	t.tos.Store(newTimeouts(cfg))
	t.max.Store(int64(cfg.MaxEntries))
	t.cfgMu.Unlock()
}

// Config returns the configuration in force (defaults filled in).
func (t *Table) Config() Config {
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	return t.cfg
}

// hash is the seeded hash of a canonical key: its top bits choose the
// shard, its low half is the index tag (tagOf).
func (t *Table) hash(c *Key) uint64 { return symHash(c, t.seed) }

func shardOfHash(h uint64) uint8 { return uint8(h >> (64 - shardBits)) }

func (t *Table) shardOf(k *Key) uint8 { return shardOfHash(t.hash(k)) }

func (t *Table) sh(i uint8) *shard { return &t.shards[i].shard }

func (s *shard) at(idx uint32) *entry { return &s.chunks[idx>>chunkShift][idx&chunkMask] }

func (e *entry) expired(tos *timeouts, now int64) bool {
	return now-e.last > tos[e.state][(e.flags&fConfirmed)>>1]
}

func (e *entry) timeout(tos *timeouts) int64 { return tos[e.state][(e.flags&fConfirmed)>>1] }

func decodeValue(v uint32) (owner uint8, idx uint32, natReply bool) {
	return uint8(v>>idxBits) & (numShards - 1), v & idxMask, v&replyBit != 0
}

// lookupLocked returns the value stored for canonical key c (hash h) in s:
// from the index when c is the key of a flow s owns, from the NAT map when c
// is a NAT flow's reply key. A canonical key is in at most one of them.
func (s *shard) lookupLocked(c *Key, h uint64) (uint32, bool) {
	tag := tagOf(h)
	for i := s.idx.first(tag); ; i = (i + 1) & s.idx.mask() {
		var v uint32
		var ok bool
		if i, v, ok = s.idx.next(tag, i); !ok {
			break
		}
		if e := s.at(v & idxMask); canonical(&e.orig) == *c {
			return v, true
		}
	}
	if len(s.nat) == 0 {
		return 0, false
	}
	v, ok := s.nat[*c]
	return v, ok
}

// find locates the live flow holding key k. On success it returns the
// owner shard locked; the caller must unlock it. An expired flow is removed
// (counted as expired) and reported as not found.
func (t *Table) find(k *Key, tos *timeouts, now int64) (s *shard, si uint8, idx uint32, dir Dir, ok bool) {
	c := canonical(k)
	h := t.hash(&c)
	si = shardOfHash(h)
	s = t.sh(si)
	s.mu.Lock()
	v, found := s.lookupLocked(&c, h)
	if !found {
		s.mu.Unlock()
		return nil, 0, 0, 0, false
	}
	owner, idx, natReply := decodeValue(v)
	if owner != si {
		// A NAT reply key: its flow lives in another shard. Never hold two
		// shard locks here; the exact-key check below re-validates the
		// slot under its owner's lock.
		s.mu.Unlock()
		si, s = owner, t.sh(owner)
		s.mu.Lock()
		if idx >= s.n || s.at(idx).flags&fInUse == 0 {
			s.mu.Unlock()
			return nil, 0, 0, 0, false
		}
	}
	e := s.at(idx)
	switch {
	case natReply:
		if e.reply != *k || e.flags&fNAT == 0 {
			s.mu.Unlock()
			return nil, 0, 0, 0, false
		}
		dir = Reply
	case e.orig == *k:
		dir = Original
	case e.flags&fPlain != 0 && e.orig.Reverse() == *k: // first cache line only
		dir = Reply
	case e.flags&(fPlain|fNAT) == 0 && e.reply == *k:
		dir = Reply
	default: // the mirror of a NAT flow's tuple, or a reused slot
		s.mu.Unlock()
		return nil, 0, 0, 0, false
	}
	if e.expired(tos, now) {
		h := Handle{idx: idx, gen: e.gen, shard: si}
		if e.rshard == si {
			t.removeLocked(s, idx)
			s.expired.Add(1)
			s.mu.Unlock()
		} else {
			s.mu.Unlock()
			t.remove(h, modeExpired, tos, now)
		}
		return nil, 0, 0, 0, false
	}
	if now > s.hiNow {
		s.hiNow = now
	}
	return s, si, idx, dir, true
}

// Lookup finds the flow of a packet with key k in either direction,
// refreshes its timer and advances its state with the packet's TCP flags
// (0 for other protocols). now is the caller's monotonic clock in
// nanoseconds. ok is false if no live flow has the key; an expired flow is
// removed on the way. Lookup allocates nothing.
func (t *Table) Lookup(k *Key, tcpFlags uint8, now int64) (h Handle, dir Dir, meta Meta, ok bool) {
	tos := t.tos.Load()
	s, si, idx, dir, ok := t.find(k, tos, now)
	if !ok {
		return Handle{}, 0, Meta{}, false
	}
	e := s.at(idx)
	if now > e.last {
		e.last = now
	}
	conf := e.flags&fConfirmed != 0
	if ns, nconf := step(e.state, conf, dir, tcpFlags); ns != e.state || nconf != conf {
		s.transitionLocked(idx, ns, nconf, now)
	}
	h, meta = Handle{idx: idx, gen: e.gen, shard: si}, e.meta()
	s.mu.Unlock()
	return h, dir, meta, true
}

// LookupRelated finds the flow an ICMP error belongs to (S1 "related"). inner
// is the key of the header quoted in the error, i.e. the offending packet as
// the error's receiver sent it; it may match the flow in either direction.
// dir is the direction of the ICMP error itself (the opposite of the quoted
// packet's). The flow's timer and state are left alone.
func (t *Table) LookupRelated(inner *Key, now int64) (h Handle, dir Dir, meta Meta, ok bool) {
	s, si, idx, d, ok := t.find(inner, t.tos.Load(), now)
	if !ok {
		return Handle{}, 0, Meta{}, false
	}
	e := s.at(idx)
	h, meta = Handle{idx: idx, gen: e.gen, shard: si}, e.meta()
	s.mu.Unlock()
	return h, 1 - d, meta, true
}

// transitionLocked applies a state change to slot idx, keeping the eviction
// list to exactly the unestablished flows, ordered by creation.
func (s *shard) transitionLocked(idx uint32, ns State, nconf bool, now int64) {
	e := s.at(idx)
	reopened := ns == TCPSynSent && e.state != TCPSynSent
	e.state = ns
	if nconf {
		e.flags |= fConfirmed
		if e.flags&fListed != 0 {
			s.unlinkLocked(idx)
		}
		return
	}
	e.flags &^= fConfirmed
	if reopened {
		// A new connection reusing the tuple: it is the newest candidate.
		e.created = now
		if e.flags&fListed != 0 {
			s.unlinkLocked(idx)
		}
	}
	if e.flags&fListed == 0 {
		s.appendLocked(idx)
	}
}

func (s *shard) appendLocked(idx uint32) {
	e := s.at(idx)
	e.prev, e.next = s.tail, nilIdx
	if s.tail != nilIdx {
		s.at(s.tail).next = idx
	} else {
		s.head = idx
		s.oldest.Store(e.created)
	}
	s.tail = idx
	e.flags |= fListed
}

func (s *shard) unlinkLocked(idx uint32) {
	e := s.at(idx)
	if e.prev != nilIdx {
		s.at(e.prev).next = e.next
	} else {
		s.head = e.next
		if s.head != nilIdx {
			s.oldest.Store(s.at(s.head).created)
		} else {
			s.oldest.Store(math.MaxInt64)
		}
	}
	if e.next != nilIdx {
		s.at(e.next).prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nilIdx, nilIdx
	e.flags &^= fListed
}

// removeLocked frees slot idx of s. The caller holds s.mu and, if the flow's
// reply key lives in another shard, that shard's mu too.
func (t *Table) removeLocked(s *shard, idx uint32) {
	e := s.at(idx)
	co := canonical(&e.orig)
	h := t.hash(&co)
	s.idx.remove(tagOf(h), idx|uint32(shardOfHash(h))<<idxBits)
	if e.flags&fNAT != 0 {
		delete(t.sh(e.rshard).nat, canonical(&e.reply))
	}
	if e.flags&fListed != 0 {
		s.unlinkLocked(idx)
	}
	e.flags = 0
	e.next = s.free
	s.free = idx
	t.count.Add(-1)
}

// lock2 locks shards a and b (possibly equal) in index order, the only order
// in which a goroutine may hold two shard locks.
func (t *Table) lock2(a, b uint8) {
	switch {
	case a == b:
		t.sh(a).mu.Lock()
	case a < b:
		t.sh(a).mu.Lock()
		t.sh(b).mu.Lock()
	default:
		t.sh(b).mu.Lock()
		t.sh(a).mu.Lock()
	}
}

func (t *Table) unlock2(a, b uint8) {
	t.sh(a).mu.Unlock()
	if a != b {
		t.sh(b).mu.Unlock()
	}
}

// Removal modes of remove.
const (
	modeDelete  = iota // unconditional, not counted (Delete)
	modeExpired        // only if expired at now; counted as expired
	modeEvict          // unconditional; counted as expired or as an eviction
)

// remove deletes the flow of h if it still exists, as mode says. It takes
// the locks of both of the flow's shards (never holding any on entry).
func (t *Table) remove(h Handle, mode int, tos *timeouts, now int64) (removed bool) {
	if !h.Valid() || h.shard >= numShards {
		return false
	}
	s := t.sh(h.shard)
	s.mu.Lock()
	if !s.validLocked(h) {
		s.mu.Unlock()
		return false
	}
	rs := s.at(h.idx).rshard
	if rs < h.shard {
		// Re-acquire in order; the slot may change meanwhile.
		s.mu.Unlock()
		t.lock2(h.shard, rs)
		if !s.validLocked(h) {
			t.unlock2(h.shard, rs)
			return false
		}
	} else if rs != h.shard {
		t.sh(rs).mu.Lock()
	}
	expired := mode != modeDelete && s.at(h.idx).expired(tos, now)
	if mode == modeExpired && !expired {
		t.unlock2(h.shard, rs)
		return false
	}
	t.removeLocked(s, h.idx)
	switch {
	case expired:
		s.expired.Add(1)
	case mode == modeEvict:
		s.evictions.Add(1)
	}
	t.unlock2(h.shard, rs)
	return true
}

func (s *shard) validLocked(h Handle) bool {
	if h.idx >= s.n {
		return false
	}
	e := s.at(h.idx)
	return e.flags&fInUse != 0 && e.gen == h.gen
}

// allocLocked takes a free slot of s.
func (s *shard) allocLocked() (uint32, bool) {
	if s.free != nilIdx {
		idx := s.free
		s.free = s.at(idx).next
		return idx, true
	}
	if s.n >= maxSlots {
		return 0, false
	}
	idx := s.n
	if idx&chunkMask == 0 {
		s.chunks = append(s.chunks, make([]entry, chunkSize))
	}
	s.n++
	return idx, true
}

// Insert creates a flow for a packet with key k in the flow's original
// direction, with tcpFlags its TCP flags (0 for other protocols). The reply
// key is k.Reverse(), unless reply is not nil (NAT: the reply tuple after
// rewriting). When the table is full, unestablished flows (a TCP handshake
// not completed, a UDP/ICMP/other flow without reply) are evicted, oldest
// first; if none is left (after reclaiming expired flows) the flow is refused
// and counted (S7). Established flows are never evicted.
//
// Insert does not evaluate security groups: the caller decided to admit the
// flow. If a live flow already has k or the reply key, Insert returns its
// handle and Exists without changing it.
func (t *Table) Insert(k *Key, reply *Key, tcpFlags uint8, meta Meta, now int64) (Handle, InsertResult) {
	rk := k.Reverse()
	if reply != nil {
		rk = *reply
	}
	st, conf := initialState(k.Proto, tcpFlags)
	h, res := t.insert(k, &rk, st, conf, meta, now, now, true, now)
	switch res {
	case Inserted:
		t.sh(h.shard).inserts.Add(1)
	case Refused:
		t.sh(t.shardOf(k)).refusals.Add(1)
	}
	return h, res
}

// insert is Insert with the flow's initial fields given. evict says whether
// a full table may evict (false for Restore).
func (t *Table) insert(k, rk *Key, st State, conf bool, meta Meta, last, created int64, evict bool, now int64) (Handle, InsertResult) {
	tos := t.tos.Load()
	ck, cr := canonical(k), canonical(rk)
	nat := cr != ck
	hk := t.hash(&ck)
	hr := hk
	si := shardOfHash(hk)
	ri := si
	if nat {
		hr = t.hash(&cr)
		ri = shardOfHash(hr)
	}
	s := t.sh(si)
	reserved := false
	release := func() {
		if reserved {
			t.count.Add(-1)
		}
	}
	for attempt := 0; attempt < insertAttempts; attempt++ {
		t.lock2(si, ri)
		// A flow already holding either canonical key? (Its tuple or the
		// mirror of it: a new flow may not claim a tracked flow's tuples.)
		var conflict Handle
		unlocked := false // the conflicting flow's shard is not locked
		var cOwner uint8
		var cIdx uint32
		var cKey *Key
		for _, x := range [2]struct {
			c  *Key
			h  uint64
			sh uint8
		}{{&ck, hk, si}, {&cr, hr, ri}} {
			v, found := t.sh(x.sh).lookupLocked(x.c, x.h)
			if !found {
				continue
			}
			owner, idx, _ := decodeValue(v)
			if owner != si && owner != ri {
				unlocked, cOwner, cIdx, cKey = true, owner, idx, x.c
				break
			}
			e := t.sh(owner).at(idx)
			conflict = Handle{idx: idx, gen: e.gen, shard: owner}
			if !e.expired(tos, now) {
				t.unlock2(si, ri)
				release()
				return conflict, Exists
			}
			break
		}
		if unlocked || conflict.Valid() {
			t.unlock2(si, ri)
			if unlocked {
				var ok bool
				if conflict, ok = t.handleFor(cOwner, cIdx, cKey); !ok {
					continue // it ended meanwhile
				}
			}
			if t.remove(conflict, modeExpired, tos, now) || !t.valid(conflict) {
				continue // it was expired (or ended): try again
			}
			release()
			return conflict, Exists
		}
		if !reserved {
			if c := t.count.Load(); c < t.max.Load() && t.count.CompareAndSwap(c, c+1) {
				reserved = true
			} else {
				t.unlock2(si, ri)
				if !evict || !t.reserveSlow(tos, now) {
					return Handle{}, Refused
				}
				reserved = true
				continue // re-check the keys with the reservation in hand
			}
		}
		idx, ok := s.allocLocked()
		if !ok {
			t.unlock2(si, ri)
			release()
			return Handle{}, Refused
		}
		e := s.at(idx)
		e.gen++
		if e.gen == 0 {
			e.gen = 1
		}
		e.orig, e.reply = *k, *rk
		e.last, e.created = last, created
		e.setMeta(meta)
		e.state = st
		e.flags = fInUse
		if *rk == k.Reverse() {
			e.flags |= fPlain
		}
		e.rshard = ri
		e.prev, e.next = nilIdx, nilIdx
		v := idx | uint32(si)<<idxBits
		s.idx.add(tagOf(hk), v)
		if nat {
			e.flags |= fNAT
			t.sh(ri).nat[cr] = v | replyBit
		}
		if conf {
			e.flags |= fConfirmed
		} else {
			s.appendLocked(idx)
		}
		if now > s.hiNow {
			s.hiNow = now
		}
		h := Handle{idx: idx, gen: e.gen, shard: si}
		t.unlock2(si, ri)
		return h, Inserted
	}
	release()
	return Handle{}, Refused
}

// handleFor returns the handle of the flow in slot idx of shard si if that
// flow still holds canonical key c.
func (t *Table) handleFor(si uint8, idx uint32, c *Key) (Handle, bool) {
	s := t.sh(si)
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx >= s.n {
		return Handle{}, false
	}
	e := s.at(idx)
	if e.flags&fInUse == 0 || (canonical(&e.orig) != *c && (e.flags&fNAT == 0 || canonical(&e.reply) != *c)) {
		return Handle{}, false
	}
	return Handle{idx: idx, gen: e.gen, shard: si}, true
}

// valid reports whether the flow of h still exists.
func (t *Table) valid(h Handle) bool {
	if !h.Valid() || h.shard >= numShards {
		return false
	}
	s := t.sh(h.shard)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validLocked(h)
}

// reserveSlow makes room for one flow by evicting unestablished flows
// (oldest first across all shards) and reserves it. It holds no lock on
// entry or exit.
func (t *Table) reserveSlow(tos *timeouts, now int64) bool {
	for evictions := 0; ; {
		c := t.count.Load()
		if c < t.max.Load() {
			if t.count.CompareAndSwap(c, c+1) {
				return true
			}
			continue
		}
		if evictions == maxEvictionsPerInsert || !t.evictOne(tos, now) {
			return false
		}
		evictions++
	}
}

// evictOne removes the oldest unestablished flow of the table; if there is
// none it sweeps for expired flows. It reports whether anything was removed.
func (t *Table) evictOne(tos *timeouts, now int64) bool {
	for range 4 {
		best, bestT := -1, int64(math.MaxInt64)
		for i := range t.shards {
			if o := t.shards[i].oldest.Load(); o < bestT {
				best, bestT = i, o
			}
		}
		if best < 0 {
			break
		}
		si := uint8(best)
		s := t.sh(si)
		s.mu.Lock()
		idx := s.head
		if idx == nilIdx {
			s.mu.Unlock()
			continue
		}
		e := s.at(idx)
		if e.rshard == si {
			expired := e.expired(tos, now)
			t.removeLocked(s, idx)
			if expired {
				s.expired.Add(1)
			} else {
				s.evictions.Add(1)
			}
			s.mu.Unlock()
			return true
		}
		h := Handle{idx: idx, gen: e.gen, shard: si}
		s.mu.Unlock()
		if t.remove(h, modeEvict, tos, now) {
			return true
		}
	}
	return t.GC(now, reclaimBudget) > 0
}

// SetGen records that the flow of h was verified under policy generation gen
// (S8). It does nothing if the flow has ended.
func (t *Table) SetGen(h Handle, gen uint32) {
	t.update(h, func(e *entry) { e.mgen = gen })
}

// SetMeta replaces the metadata of the flow of h. It does nothing if the
// flow has ended.
func (t *Table) SetMeta(h Handle, m Meta) {
	t.update(h, func(e *entry) { e.setMeta(m) })
}

func (t *Table) update(h Handle, fn func(*entry)) {
	if !h.Valid() || h.shard >= numShards {
		return
	}
	s := t.sh(h.shard)
	s.mu.Lock()
	if s.validLocked(h) {
		fn(s.at(h.idx))
	}
	s.mu.Unlock()
}

// Keys returns the original and reply keys of the flow of h (the reply key
// differs from orig.Reverse() for NAT flows).
func (t *Table) Keys(h Handle) (orig, reply Key, ok bool) {
	if !h.Valid() || h.shard >= numShards {
		return Key{}, Key{}, false
	}
	s := t.sh(h.shard)
	s.mu.Lock()
	if s.validLocked(h) {
		e := s.at(h.idx)
		orig, reply, ok = e.orig, e.reply, true
	}
	s.mu.Unlock()
	return orig, reply, ok
}

// Delete removes the flow of h (S8: a flow the new rules no longer admit).
// It does nothing if the flow has already ended.
func (t *Table) Delete(h Handle) {
	t.remove(h, modeDelete, nil, 0)
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	st := Stats{Entries: t.count.Load()}
	for i := range t.shards {
		s := &t.shards[i].shard
		st.Inserts += s.inserts.Load()
		st.Evictions += s.evictions.Load()
		st.Refusals += s.refusals.Load()
		st.Expired += s.expired.Load()
	}
	return st
}

// EntryInfo describes one flow for `vrouterctl flows` (R6).
type EntryInfo struct {
	Handle      Handle
	State       State
	Established bool  // S7: confirmed by the reply side, never evicted
	Created     int64 // caller's clock when the flow was created (or reopened)
	LastSeen    int64 // caller's clock at its last packet
	Timeout     time.Duration
	Meta        Meta
}

// Expires returns the clock value after which the flow is gone.
func (e EntryInfo) Expires() int64 { return e.LastSeen + int64(e.Timeout) }

// Expired reports whether the flow is expired at now.
func (e EntryInfo) Expired(now int64) bool { return now > e.Expires() }

type rangeItem struct {
	orig, reply Key
	info        EntryInfo
}

// Range calls fn for every flow, including expired ones not yet swept (see
// EntryInfo.Expired), until fn returns false. fn runs without any table lock
// held and may call the table. Flows inserted or removed during Range may or
// may not be seen.
func (t *Table) Range(fn func(k Key, reply Key, e EntryInfo) bool) {
	tos := t.tos.Load()
	var buf []rangeItem
	for i := range t.shards {
		si := uint8(i)
		s := t.sh(si)
		buf = buf[:0]
		s.mu.Lock()
		for idx := uint32(0); idx < s.n; idx++ {
			e := s.at(idx)
			if e.flags&fInUse == 0 {
				continue
			}
			buf = append(buf, rangeItem{e.orig, e.reply, EntryInfo{
				Handle:      Handle{idx: idx, gen: e.gen, shard: si},
				State:       e.state,
				Established: e.flags&fConfirmed != 0,
				Created:     e.created,
				LastSeen:    e.last,
				Timeout:     time.Duration(e.timeout(tos)),
				Meta:        e.meta(),
			}})
		}
		s.mu.Unlock()
		for j := range buf {
			if !fn(buf[j].orig, buf[j].reply, buf[j].info) {
				return
			}
		}
	}
}

// now returns the best current clock the table knows without a caller's:
// the clock given to RunGC, else the largest value callers passed.
func (t *Table) now() int64 {
	if c := t.clock.Load(); c != nil {
		return (*c)()
	}
	var hi int64 = math.MinInt64
	for i := range t.shards {
		s := &t.shards[i].shard
		s.mu.Lock()
		hi = max(hi, s.hiNow)
		s.mu.Unlock()
	}
	return hi
}
