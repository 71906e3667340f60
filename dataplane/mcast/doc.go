// Package mcast owns multicast replication (SPEC §6): the compiled
// replication lists of every group, the dynamic IGMP membership that outlives
// them, the per-group, per-member and per-client-entry counters (M6), and the
// IGMP wire format the VRouter reads (reports, leaves) and writes (general
// queries).
//
// A group is (VPC, group address, server instance, members) (M1). The
// control plane compiles the configured groups into an immutable Table with
// Build; the data plane finds a packet's group with Table.Sender (keyed by the
// sending port and the group address, so only packets from a server port of
// the group are replicated) and walks Group.Members (configured) and
// Group.Dynamic (joined by IGMP, M5). The worker that writes the copies lives
// in package dataplane; this package decides nothing about ports, security
// groups or devices.
//
// Who may call what:
//   - controlplane/compile calls Build with the long-lived Membership; Build
//     only creates counters in it (like stats.Registry) and never changes
//     membership.
//   - Forwarding workers call Table.Sender, Group.Members, Group.Dynamic,
//     Member.Live, Member.Accepts and the counters' Record/Add methods on the
//     hot path: no lock, no allocation (AllocsPerRun tests).
//   - Workers call Table.HandleIGMP for every IGMP message an ENI sends (a
//     slow path: joins and leaves lock the Membership and allocate a new
//     member list; refreshing an existing member only stores its expiry).
//   - The agent runs Membership.Expire periodically (next to the general
//     queries of Engine.RunIGMPQuerier) to release members that stopped
//     reporting; the hot path already ignores expired members on its own, so
//     Expire only frees memory and updates the counters.
//   - The API and the metrics exporter call Table.Report and
//     Membership.IGMPCounters at any time.
//
// Synchronisation: a Table and its Groups are immutable once built. Each
// IGMP-enabled group points at a slot of the Membership (one per group id,
// kept across reloads) that publishes its dynamic members as an immutable
// slice behind an atomic.Pointer; writers (join, leave, expire) hold
// Membership.mu and replace the slice (copy-on-write). A member's expiry is
// an atomic.Int64 shared by every version of the slice, so a report that only
// refreshes it needs no copy. Counters are atomics, updated by workers and
// read by exporters; they are created once per name and never reset while
// the process lives (R8), reloads included.
//
// Dynamic members are identified by their ENI id, not only by their port id:
// port ids are stable for unchanged ports but may be reused after a port is
// removed, so the worker skips a dynamic member whose port now carries
// another name (its next report re-binds it).
//
// IGMP follows RFC 2236 (v2) and RFC 3376 (v3) with the VRouter as the only
// querier of each VPC segment: a group membership expires after the Group
// Membership Interval of RFC 3376 8.4, Robustness × Query Interval + Query
// Response Interval = 2 × 125 s + 10 s = 260 s (M5), and a leave (v2 leave or
// a v3 change to an empty include list) removes the member at once, since
// every ENI is a port of its own (no other host behind it).
package mcast
