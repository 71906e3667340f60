package conntrack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// This file holds an independent, map-based model of the table (one flat
// map, no shards, no slab, no lists: eviction candidates are found by
// scanning) and a harness that drives the real table and the model with the
// same operation stream and compares every answer. TestModel feeds it random
// streams; FuzzTable feeds it fuzzer input.

type mflow struct {
	orig, reply   Key
	state         State
	conf          bool
	last, created int64
	meta          Meta
	h             Handle // the real table's handle, fixed for the flow's life
}

type model struct {
	cfg   Config
	flows map[Key]*mflow // both keys → flow
	// claimed holds both keys of every flow and their mirrors: a new flow
	// whose key or reply key is among them conflicts with that flow.
	claimed map[Key]*mflow
	n       int
	stats   Stats
}

func newModel(cfg Config) *model {
	return &model{cfg: cfg.normalized(), flows: map[Key]*mflow{}, claimed: map[Key]*mflow{}}
}

func (m *model) claims(f *mflow) []Key {
	return []Key{f.orig, f.orig.Reverse(), f.reply, f.reply.Reverse()}
}

// modelTimeout is S7 read directly from the Config.
func (m *model) timeout(f *mflow) int64 {
	c := m.cfg
	var d time.Duration
	switch f.state {
	case TCPSynSent, TCPSynRecv:
		d = c.TCPHandshake
	case TCPEstablished:
		d = c.TCPHandshake
		if f.conf {
			d = c.TCPEstablished
		}
	case TCPFinWait, TCPCloseWait, TCPTimeWait:
		d = c.TCPClosing
	case TCPClose:
		d = min(10*time.Second, c.TCPClosing)
	case ICMPUnreplied, ICMPReplied:
		d = c.ICMP
	default: // UDP and other protocols
		d = c.UDP
		if f.conf {
			d = c.UDPStream
		}
	}
	return int64(d)
}

func (m *model) expired(f *mflow, now int64) bool { return now-f.last > m.timeout(f) }

func (m *model) del(f *mflow) {
	delete(m.flows, f.orig)
	delete(m.flows, f.reply)
	for _, k := range m.claims(f) {
		delete(m.claimed, k)
	}
	m.n--
}

// modelTCPRules is the TCP machine as a transition list: from state, packet
// direction (-1: either), a predicate on the flags, the new state and the new
// confirmation (-1: unchanged).
type tcpRule struct {
	from State
	dir  int
	when func(syn, ack, fin bool) bool
	to   State
	conf int
}

var modelTCPRules = []tcpRule{
	{TCPSynSent, int(Reply), func(syn, ack, fin bool) bool { return syn }, TCPSynRecv, 0},
	{TCPSynRecv, int(Original), func(syn, ack, fin bool) bool { return !syn && !fin && ack }, TCPEstablished, 1},
	{TCPSynRecv, int(Original), func(syn, ack, fin bool) bool { return !syn && fin }, TCPFinWait, 1},
	{TCPEstablished, int(Original), func(syn, ack, fin bool) bool { return !syn && fin }, TCPFinWait, -1},
	{TCPEstablished, int(Reply), func(syn, ack, fin bool) bool { return !syn && fin }, TCPCloseWait, -1},
	{TCPFinWait, int(Reply), func(syn, ack, fin bool) bool { return !syn && fin }, TCPTimeWait, -1},
	{TCPCloseWait, int(Original), func(syn, ack, fin bool) bool { return !syn && fin }, TCPTimeWait, -1},
	{TCPTimeWait, int(Original), func(syn, ack, fin bool) bool { return syn && !ack }, TCPSynSent, 0},
	{TCPClose, int(Original), func(syn, ack, fin bool) bool { return syn && !ack }, TCPSynSent, 0},
}

func (m *model) advance(f *mflow, dir Dir, flags uint8, now int64) {
	switch f.orig.Proto {
	case 6:
	case 17, 136:
		if dir == Reply {
			f.state, f.conf = UDPReplied, true
		}
		return
	case 1, 58:
		if dir == Reply {
			f.state, f.conf = ICMPReplied, true
		}
		return
	default:
		if dir == Reply {
			f.state, f.conf = OtherReplied, true
		}
		return
	}
	if flags&FlagRST != 0 {
		f.state = TCPClose
		return
	}
	if dir == Reply && (f.state == TCPEstablished || f.state == TCPFinWait || f.state == TCPCloseWait || f.state == TCPTimeWait) {
		f.conf = true // both directions seen after the handshake (or a loose pick-up)
	}
	syn, ack, fin := flags&FlagSYN != 0, flags&FlagACK != 0, flags&FlagFIN != 0
	for _, r := range modelTCPRules {
		if r.from != f.state || (r.dir >= 0 && Dir(r.dir) != dir) || !r.when(syn, ack, fin) {
			continue
		}
		if r.to == TCPSynSent && f.state != TCPSynSent {
			f.created = now // reopened: the newest eviction candidate
		}
		f.state = r.to
		if r.conf >= 0 {
			f.conf = r.conf == 1
		}
		return
	}
}

func (m *model) initial(proto, flags uint8) State {
	switch proto {
	case 6:
		if flags&FlagRST != 0 {
			return TCPClose
		}
		if flags&FlagSYN != 0 && flags&FlagACK == 0 {
			return TCPSynSent
		}
		return TCPEstablished
	case 17, 136:
		return UDPUnreplied
	case 1, 58:
		return ICMPUnreplied
	}
	return OtherUnreplied
}

// find mirrors the lazy expiry of the table.
func (m *model) find(k Key, now int64) (*mflow, Dir) {
	f := m.flows[k]
	if f == nil {
		return nil, 0
	}
	if m.expired(f, now) {
		m.del(f)
		m.stats.Expired++
		return nil, 0
	}
	if f.orig == k {
		return f, Original
	}
	return f, Reply
}

func (m *model) lookup(k Key, flags uint8, now int64) (*mflow, Dir) {
	f, dir := m.find(k, now)
	if f != nil {
		f.last = now
		m.advance(f, dir, flags, now)
	}
	return f, dir
}

func (m *model) gc(now int64) int {
	n := 0
	for _, f := range m.all() {
		if m.expired(f, now) {
			m.del(f)
			m.stats.Expired++
			n++
		}
	}
	return n
}

func (m *model) all() []*mflow {
	var fs []*mflow
	for k, f := range m.flows {
		if f.orig == k {
			fs = append(fs, f)
		}
	}
	return fs
}

func (m *model) evictOne(now int64) bool {
	var victim *mflow
	for _, f := range m.all() {
		if !f.conf && (victim == nil || f.created < victim.created) {
			victim = f
		}
	}
	if victim == nil {
		return m.gc(now) > 0
	}
	m.del(victim)
	if m.expired(victim, now) {
		m.stats.Expired++
	} else {
		m.stats.Evictions++
	}
	return true
}

// insert returns the result and, for Exists, the existing flow.
func (m *model) insert(k, rk Key, flags uint8, meta Meta, now int64) (InsertResult, *mflow) {
	for _, x := range []Key{k, rk} {
		if f := m.claimed[x]; f != nil {
			if !m.expired(f, now) {
				return Exists, f
			}
			m.del(f)
			m.stats.Expired++
		}
	}
	for evictions := 0; m.n >= m.cfg.MaxEntries; evictions++ {
		if evictions == maxEvictionsPerInsert || !m.evictOne(now) {
			m.stats.Refusals++
			return Refused, nil
		}
	}
	st := m.initial(k.Proto, flags)
	f := &mflow{orig: k, reply: rk, state: st, last: now, created: now, meta: meta}
	m.flows[k] = f
	m.flows[rk] = f
	for _, c := range m.claims(f) {
		m.claimed[c] = f
	}
	m.n++
	m.stats.Inserts++
	return Inserted, f
}

// harness drives a Table and a model with one operation stream.
type harness struct {
	tb      testing.TB
	tab     *Table
	mod     *model
	now     int64
	keys    []Key    // keys seen, for lookups of existing flows
	handles []Handle // handles seen, live or stale
	data    []byte
	pos     int
}

var modelAddrs = []netip.Addr{
	netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
	netip.MustParseAddr("192.168.1.9"), netip.MustParseAddr("fd00::1"),
}

var modelProtos = []uint8{6, 6, 17, 1, 47, 6, 17, 58}

var modelFlags = []uint8{
	FlagSYN, FlagSYN | FlagACK, FlagACK, FlagFIN | FlagACK, FlagRST, 0, FlagPSH | FlagACK, FlagRST | FlagACK,
	FlagSYN, FlagACK, FlagACK, FlagFIN, FlagSYN | FlagFIN, FlagACK, FlagSYN | FlagACK, FlagACK | FlagURG,
}

func (h *harness) b() byte {
	if h.pos >= len(h.data) {
		return 0
	}
	h.pos++
	return h.data[h.pos-1]
}

func (h *harness) key() Key {
	x, y := h.b(), h.b()
	proto := modelProtos[y&7]
	sport, dport := uint16(1+(x>>4)&3), uint16(1+(x>>6)&3)
	if proto == 1 || proto == 58 {
		dport = sport // echo id in both
	}
	return MakeKey(uint16(y>>3&1), proto, modelAddrs[x&3], modelAddrs[x>>2&3], sport, dport)
}

// existingOrNew picks one of the most recently inserted keys (either
// direction) most of the time, so that flows see whole conversations.
func (h *harness) existingOrNew() (Key, Dir) {
	sel := h.b()
	if sel&7 != 0 && len(h.keys) > 0 {
		k := h.keys[len(h.keys)-1-int(h.b())%min(len(h.keys), 3)]
		if sel&8 != 0 {
			return k.Reverse(), Reply
		}
		return k, Original
	}
	return h.key(), Original
}

// flags picks TCP flags, usually ones that make sense for the direction.
func (h *harness) flags(dir Dir) uint8 {
	sel := h.b()
	switch {
	case sel&3 == 0:
		return modelFlags[sel>>4]
	case dir == Reply:
		return []uint8{FlagSYN | FlagACK, FlagACK, FlagFIN | FlagACK, FlagSYN | FlagACK, FlagACK, FlagPSH | FlagACK, FlagFIN | FlagACK, FlagACK}[sel>>5]
	}
	return []uint8{FlagACK, FlagACK, FlagFIN | FlagACK, FlagACK, FlagPSH | FlagACK, FlagACK, FlagFIN, FlagSYN}[sel>>5]
}

func (h *harness) fail(format string, args ...any) {
	h.tb.Helper()
	h.tb.Fatalf("op at byte %d, now %d: %s", h.pos, h.now, fmt.Sprintf(format, args...))
}

func (h *harness) step() {
	h.now += 1 + int64(h.b()%8)
	switch op := h.b() % 12; op {
	case 0, 1, 2: // Insert
		k := h.key()
		flags := h.flags(Original)
		if h.b()&1 == 0 {
			flags = FlagSYN
		}
		var reply *Key
		rk := k.Reverse()
		if sel := h.b(); sel&7 == 0 { // NAT: a rewritten reply tuple
			rk = h.key()
			reply = &rk
		}
		meta := Meta{InPort: uint16(h.b()), OutPort: 7, Gen: 1}
		gotH, got := h.tab.Insert(&k, reply, flags, meta, h.now)
		want, f := h.mod.insert(k, rk, flags, meta, h.now)
		if got != want {
			h.fail("Insert(%v, reply %v, flags %#x) = %v, model %v", k, rk, flags, got, want)
		}
		switch got {
		case Inserted:
			f.h = gotH
			h.keys = append(h.keys, k)
			h.handles = append(h.handles, gotH)
		case Exists:
			if gotH != f.h {
				h.fail("Insert Exists handle %+v, model %+v", gotH, f.h)
			}
		case Refused:
			if gotH.Valid() {
				h.fail("Refused with a valid handle")
			}
		}
	case 3, 4, 5, 6: // Lookup
		k, d := h.existingOrNew()
		flags := h.flags(d)
		gotH, dir, meta, ok := h.tab.Lookup(&k, flags, h.now)
		f, wdir := h.mod.lookup(k, flags, h.now)
		if ok != (f != nil) {
			h.fail("Lookup(%v) ok=%v, model %v", k, ok, f != nil)
		}
		if ok && (gotH != f.h || dir != wdir || meta != f.meta) {
			h.fail("Lookup(%v) = %+v %v %+v, model %+v %v %+v", k, gotH, dir, meta, f.h, wdir, f.meta)
		}
	case 7: // LookupRelated
		k, _ := h.existingOrNew()
		gotH, dir, _, ok := h.tab.LookupRelated(&k, h.now)
		f, wdir := h.mod.find(k, h.now)
		if ok != (f != nil) || (ok && (gotH != f.h || dir != 1-wdir)) {
			h.fail("LookupRelated(%v) = %+v %v %v, model %v", k, gotH, dir, ok, f)
		}
	case 8: // Delete, possibly of a stale handle
		if len(h.handles) == 0 {
			return
		}
		hd := h.handles[int(h.b())%len(h.handles)]
		h.tab.Delete(hd)
		for _, f := range h.mod.all() {
			if f.h == hd {
				h.mod.del(f)
			}
		}
	case 9: // SetGen
		if len(h.handles) == 0 {
			return
		}
		hd, gen := h.handles[int(h.b())%len(h.handles)], uint32(h.b())
		h.tab.SetGen(hd, gen)
		for _, f := range h.mod.all() {
			if f.h == hd {
				f.meta.Gen = gen
			}
		}
	case 10: // GC over the whole (small) table
		if got, want := h.tab.GC(h.now, 1<<20), h.mod.gc(h.now); got != want {
			h.fail("GC removed %d, model %d", got, want)
		}
	case 11:
		switch h.b() % 3 {
		case 0: // reload with other limits and timeouts (R3)
			c := h.b()
			cfg := Config{
				MaxEntries: 1 + int(c%24), TCPHandshake: 60, TCPEstablished: 910,
				TCPClosing: 120 + time.Duration(c>>5), UDP: 30, UDPStream: 180, ICMP: 30 + time.Duration(c>>6),
			}
			h.tab.SetConfig(cfg)
			h.mod.cfg = cfg.normalized()
		default: // time passes
			h.now += int64(h.b()) * 8
		}
	}
}

// compare checks the whole table against the model.
func (h *harness) compare() {
	h.tb.Helper()
	got := map[Key]EntryInfo{}
	replies := map[Key]Key{}
	h.tab.Range(func(k, reply Key, e EntryInfo) bool {
		got[k] = e
		replies[k] = reply
		return true
	})
	fs := h.mod.all()
	if len(got) != len(fs) {
		h.fail("table has %d flows, model %d", len(got), len(fs))
	}
	for _, f := range fs {
		e, ok := got[f.orig]
		if !ok {
			h.fail("flow %v missing from table", f.orig)
		}
		if e.Handle != f.h || e.State != f.state || e.Established != f.conf || e.LastSeen != f.last ||
			e.Created != f.created || e.Meta != f.meta || replies[f.orig] != f.reply ||
			int64(e.Timeout) != h.mod.timeout(f) {
			h.fail("flow %v: table %+v reply %v, model %+v", f.orig, e, replies[f.orig], *f)
		}
	}
	st := h.tab.Stats()
	want := h.mod.stats
	want.Entries = int64(h.mod.n)
	if st != want {
		h.fail("stats %+v, model %+v", st, want)
	}
	checkInvariants(h.tb, h.tab)
}

func runModel(tb testing.TB, data []byte) {
	cfg := Config{MaxEntries: 12, TCPHandshake: 60, TCPEstablished: 910, TCPClosing: 120, UDP: 30, UDPStream: 180, ICMP: 30}
	h := &harness{tb: tb, tab: New(cfg), mod: newModel(cfg), data: data}
	for h.pos < len(h.data) {
		h.step()
		h.compare()
	}
}

// checkInvariants verifies the table's internal structure: every live slot
// is reachable from both its keys, maps hold nothing else, eviction lists
// hold exactly the unconfirmed flows in creation order, and count matches.
func checkInvariants(tb testing.TB, t *Table) { checkTable(tb, t, true) }

// checkTable is checkInvariants; ordered requires the eviction lists in
// creation order (true unless callers passed clocks out of order).
func checkTable(tb testing.TB, t *Table, ordered bool) {
	tb.Helper()
	live, keys := 0, 0
	for i := range t.shards {
		si := uint8(i)
		s := t.sh(si)
		keys += s.idx.n + len(s.nat)
		if c := s.idx.n; c > 0 && c*4 > len(s.idx.words)*3 {
			tb.Fatalf("shard %d: index holds %d keys in %d buckets", i, c, len(s.idx.words))
		}
		var listed []uint32
		for idx := s.head; idx != nilIdx; idx = s.at(idx).next {
			listed = append(listed, idx)
			if len(listed) > int(s.n) {
				tb.Fatalf("shard %d: eviction list loops", i)
			}
		}
		want := int64(math64Max)
		if len(listed) > 0 {
			want = s.at(listed[0]).created
		}
		if s.oldest.Load() != want {
			tb.Fatalf("shard %d: oldest %d, head created %d", i, s.oldest.Load(), want)
		}
		for j := 1; ordered && j < len(listed); j++ {
			if s.at(listed[j-1]).created > s.at(listed[j]).created {
				tb.Fatalf("shard %d: eviction list out of creation order", i)
			}
		}
		nlisted := 0
		for idx := range s.n {
			e := s.at(idx)
			if e.flags&fInUse == 0 {
				continue
			}
			live++
			nat := e.flags&fNAT != 0
			if nat {
				keys--
			}
			if nat != (canonical(&e.reply) != canonical(&e.orig)) || (!nat && e.rshard != si) ||
				(e.flags&fPlain != 0) != (e.reply == e.orig.Reverse()) {
				tb.Fatalf("shard %d slot %d: NAT flag %v for %v / %v", i, idx, nat, e.orig, e.reply)
			}
			if (e.flags&fListed != 0) != (e.flags&fConfirmed == 0) {
				tb.Fatalf("shard %d slot %d: listed %v but confirmed %v", i, idx, e.flags&fListed != 0, e.flags&fConfirmed != 0)
			}
			if e.flags&fListed != 0 {
				nlisted++
				if !slices.Contains(listed, idx) {
					tb.Fatalf("shard %d slot %d: flagged listed but not on the list", i, idx)
				}
			}
			co := canonical(&e.orig)
			if v, ok := s.lookupLocked(&co, t.hash(&co)); !ok || v != idx|uint32(si)<<idxBits {
				tb.Fatalf("shard %d slot %d: orig key maps to %#x (%v)", i, idx, v, ok)
			}
			if t.shardOf(&co) != si {
				tb.Fatalf("shard %d slot %d: orig key hashes elsewhere", i, idx)
			}
			if nat {
				cr := canonical(&e.reply)
				if t.shardOf(&cr) != e.rshard {
					tb.Fatalf("shard %d slot %d: reply shard %d, hash says %d", i, idx, e.rshard, t.shardOf(&cr))
				}
				if v, ok := t.sh(e.rshard).nat[cr]; !ok || v != idx|uint32(si)<<idxBits|replyBit {
					tb.Fatalf("shard %d slot %d: reply key maps to %#x (%v)", i, idx, v, ok)
				}
			}
		}
		if nlisted != len(listed) {
			tb.Fatalf("shard %d: %d flagged listed, %d on the list", i, nlisted, len(listed))
		}
	}
	if keys != live {
		tb.Fatalf("maps hold %d stray keys", keys-live)
	}
	if c := t.count.Load(); c != int64(live) {
		tb.Fatalf("count %d, live flows %d", c, live)
	}
}

const math64Max = 1<<63 - 1

// TestModel compares the table with the model on random operation streams
// (S1, S7, S8): states, timers, lazy expiry, eviction order, refusals,
// NAT reply keys, stale handles, reloads.
func TestModel(t *testing.T) {
	runs := 300
	if testing.Short() || raceEnabled {
		runs = 40
	}
	for seed := range uint64(runs) {
		r := rand.New(rand.NewPCG(seed, 42))
		data := make([]byte, 3000)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, data) })
	}
}

// FuzzTable runs fuzzer-chosen operation sequences against the model.
func FuzzTable(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x01\x02\x03\x04\x05\x06\x07"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			return
		}
		runModel(t, data)
	})
}
