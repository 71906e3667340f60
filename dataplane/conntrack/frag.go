package conntrack

import (
	"sync"
	"time"
)

// FragKey identifies the fragments of one datagram (RFC 791 §2.3 for IPv4;
// RFC 8200 §4.5 for IPv6, whose identification is 32 bits).
type FragKey struct {
	Src, Dst [16]byte
	ID       uint32
	Zone     uint16
	Proto    uint8
}

// Fragment tracker defaults (S9).
const (
	DefaultFragEntries = 65536
	DefaultFragTimeout = 30 * time.Second
	// fragLastGrace keeps a datagram's verdict a little after its last
	// fragment (MF=0) was seen, for fragments reordered behind it.
	fragLastGrace = time.Second
	// maxFragEntries bounds NewFrags' size (slots are int32).
	maxFragEntries = 1 << 24
)

type fragEntry struct {
	key      FragKey
	expires  int64
	flow     Handle
	admitted bool
	used     bool
}

// FragStats are the fragment tracker's counters.
type FragStats struct {
	Entries   int
	Evictions uint64 // live datagrams forgotten to make room (oldest first)
	Expired   uint64
}

// Frags remembers the verdict of each fragmented datagram's first fragment
// so that its other fragments, which carry no ports, get the same verdict
// (S9). It is bounded: when full, the oldest datagram is forgotten. Frags is
// safe for concurrent use (one mutex: fragments are rare).
type Frags struct {
	mu        sync.Mutex
	m         map[FragKey]int32 // → ring slot; guarded by mu
	ring      []fragEntry       // slots in insertion order; guarded by mu
	next      int               // next slot to (re)use; guarded by mu
	max       int
	timeout   int64
	evictions uint64 // guarded by mu
	expired   uint64 // guarded by mu
}

// NewFrags returns a tracker of at most maxEntries datagrams whose entries
// expire after timeout. Zero values take the defaults (65,536; 30 s).
func NewFrags(maxEntries int, timeout time.Duration) *Frags {
	if maxEntries <= 0 {
		maxEntries = DefaultFragEntries
	}
	maxEntries = min(maxEntries, maxFragEntries)
	if timeout <= 0 {
		timeout = DefaultFragTimeout
	}
	return &Frags{m: make(map[FragKey]int32), max: maxEntries, timeout: int64(timeout)}
}

// NoteFirst records the verdict of a datagram's first fragment (offset 0,
// MF=1) and the flow it belongs to (the zero Handle if none).
func (f *Frags) NoteFirst(fk FragKey, admitted bool, h Handle, now int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.m[fk]; ok {
		e := &f.ring[i]
		e.admitted, e.flow, e.expires = admitted, h, now+f.timeout
		return
	}
	i := f.next
	if i == len(f.ring) {
		f.ring = append(f.ring, fragEntry{})
	} else if old := &f.ring[i]; old.used {
		delete(f.m, old.key)
		if now > old.expires {
			f.expired++
		} else {
			f.evictions++
		}
	}
	f.ring[i] = fragEntry{key: fk, expires: now + f.timeout, flow: h, admitted: admitted, used: true}
	f.m[fk] = int32(i)
	f.next = (i + 1) % f.max
}

// LookupFrag returns the verdict recorded for the datagram of a non-first
// fragment and the flow it belongs to. ok is false if the first fragment was
// not seen (or is forgotten): S9 drops such fragments. last reports that this
// fragment has MF=0; the entry then ends after a short grace period.
func (f *Frags) LookupFrag(fk FragKey, last bool, now int64) (admitted bool, h Handle, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, found := f.m[fk]
	if !found {
		return false, Handle{}, false
	}
	e := &f.ring[i]
	if now > e.expires {
		delete(f.m, fk)
		e.used = false
		f.expired++
		return false, Handle{}, false
	}
	if last {
		e.expires = min(e.expires, now+int64(fragLastGrace))
	}
	return e.admitted, e.flow, true
}

// Stats returns the tracker's counters.
func (f *Frags) Stats() FragStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FragStats{Entries: len(f.m), Evictions: f.evictions, Expired: f.expired}
}
