// Package conntrack owns the connection-tracking table that makes security
// groups stateful (SPEC S1, S7–S9, Q3, Q7; budgets P3, P4).
//
// # Who calls what
//
// The engine's workers call Lookup for every packet (the established-flow
// fast path: it allocates nothing), LookupRelated for ICMP errors, Insert
// after the security groups admitted a new flow, SetGen or Delete when a
// flow's policy generation is stale (S8), and Frags for fragments (S9). A
// background goroutine runs RunGC. The control plane calls SetConfig on
// reload, Range for `vrouterctl flows` (R6), Stats for metrics (R8), and
// Save/Restore around a `--on-exit keep` restart (Q7). The table outlives
// snapshots: every snapshot points at the same *Table.
//
// The package reads no clock: callers pass now, a monotonic clock in
// nanoseconds (the engine reads a coarse clock once per batch).
//
// # Layout and synchronisation
//
// A flow has two keys, its original and its reply tuple. Flows are found by
// the canonical form of a key (the key or its mirror, whichever is
// smaller), which both keys of a flow share. The table is split into 64
// shards, each with its own mutex guarding its index, NAT map, slab, free
// list and eviction list; a shard is chosen by the top bits of a seeded hash
// of the canonical key, so a lookup takes one lock. A flow lives in one slot
// of its shard's slab of pointer-free 128-byte entries (the garbage
// collector never scans it), whose first cache line holds everything an
// established-flow lookup reads and writes; the slot's stored tuples give
// the packet's direction. The shard's index (index.go) maps the canonical
// key to the slot: an open-addressing array of 8-byte words, a 32-bit hash
// tag and the slot, with the key itself only in the entry, so a lookup costs
// one cache line of index and one of entry (P3) and the index costs 8-16
// bytes a flow (P4). A NAT flow (Insert with a reply key whose canonical
// form differs) also has an entry for its reply tuple in the NAT map
// (map[Key]uint32) of the shard that key hashes to, possibly another one;
// the flow lives in its original key's shard, the reply entry names that
// owner, and code that needs both shards locks them in index order (lock2) —
// the only way a goroutine ever holds two shard locks. A new flow whose tuple or reply tuple is a tracked
// flow's tuple or the mirror of one is not inserted (Exists). Counters and
// the per-shard "oldest candidate" are atomics read without locks.
// Table-wide: count (atomic), max and timeouts (atomic, replaced by
// SetConfig), the GC cursor (gcMu).
//
// # States and timeouts (S7)
//
// TCP: SYN_SENT (SYN from the original side), SYN_RECV (SYN-ACK, or a
// simultaneous-open SYN, from the reply side), ESTABLISHED (the original
// side's ACK of the SYN-ACK), FIN_WAIT / CLOSE_WAIT (FIN from the original /
// reply side), TIME_WAIT (FINs from both), CLOSE (RST from either side,
// ended within min(10 s, closing timeout)). A SYN from the original side in
// TIME_WAIT or CLOSE reopens the tuple as SYN_SENT. Timeouts: handshake for
// SYN_SENT and SYN_RECV, established for ESTABLISHED, closing for the FIN
// states. Loose pick-up: a TCP flow whose first packet is not a SYN (a flow
// that was open before vrouterd started, or whose entry was lost) is tracked
// as ESTABLISHED but unconfirmed — handshake timeout and evictable — until a
// packet from its reply side confirms it, like Linux with
// nf_conntrack_tcp_loose=1. Whether such a packet may create a flow at all
// is the security groups' decision, made by the caller before Insert.
//
// UDP and other protocols: the udp timeout until a reply is seen, then the
// udp stream timeout. ICMP echo: the icmp timeout, keyed by the echo
// identifier in both port fields.
//
// "Established" in S7 (never evicted) means confirmed by the reply side:
// the TCP handshake completed (or a picked-up flow answered) or a UDP/ICMP
// reply seen. When the table is full, Insert evicts unconfirmed flows oldest
// first (by creation across all shards; within a shard, in the order they
// became candidates, which is creation order unless concurrent callers pass
// slightly different clocks), sweeps for expired flows if there are none,
// and only then refuses the new flow and counts it. A lower
// MaxEntries after SetConfig is reached gradually (at most 64 evictions per
// Insert).
//
// Expired flows are removed lazily by the lookups that meet them and by
// GC, which sweeps a bounded number of slots per call from a rotating
// cursor; Range shows expired flows not yet swept (EntryInfo.Expired).
// Slabs, indexes and maps keep their size after a flood (bounded by
// MaxEntries).
package conntrack
