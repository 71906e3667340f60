// Package fib owns the forwarding information base of the data plane: route
// tables (longest-prefix match on github.com/gaissmai/bart), next-hop groups
// (single, ECMP, active/standby) and the health flags those groups read.
//
// # Who may call what
//
//   - controlplane/compile builds everything in this package. It creates
//     Tables with NewTable and fills them with Insert, and creates Groups with
//     NewGroup (or NewGroupMax when the lb_next_hops_max quota is raised) and
//     Health flags with NewHealth. It interns Groups across compiles by
//     Group.Key and carries Health flags over so that probe state survives
//     reloads (DESIGN "State outlives configuration").
//   - The data plane (package dataplane) only reads: Table.Lookup,
//     Table.Get and Group.Select on the packet path; Table.Routes and
//     Table.Len for the API.
//   - controlplane/health only calls Health.Set (and Health.Up).
//
// # Synchronisation
//
// A Table is written only while the compiler builds it (Insert is not safe
// for concurrent use) and is read-only once it is published in a snapshot;
// the atomic store of the snapshot pointer orders all Inserts before every
// reader, so readers need no locks. A Group and its Members slice are
// immutable after NewGroup. The only mutable state is Health: a single
// atomic flag per next hop, shared by every Group (and every snapshot) that
// names that next hop. Group.Select reads the flags with atomic loads and
// never writes anything, so any number of workers may call it concurrently
// while the prober flips flags.
//
// # Route lookup (SPEC F5, V13, C1)
//
// Table.Lookup is a longest-prefix match over system and custom entries
// (SPEC F5). Each Route carries an Action: ActionLocal for the system entry
// of a VSwitch CIDR (the caller resolves the ENI owning the destination),
// ActionReserved for the system entry 100.64.0.0/10 (cloud services, dropped
// and counted unless a service port is attached) and ActionForward for
// everything that goes through a Group. A Group member of kind
// MemberRouterInterface tells the caller to continue the lookup in the peer
// router's table in the same pass (SPEC C1). The package is address-family
// agnostic (SPEC F13): IPv6 prefixes work exactly like IPv4 ones.
//
// # Next-hop selection (SPEC V15, F8, F9)
//
// V15 allows three shapes: one next hop (Single), two next hops weighted 100
// then 0 (ActiveStandby, SPEC F9: member 0 while it is up, else member 1)
// and 2–MaxECMP next hops of equal weight (ECMP, SPEC F8).
//
// ECMP maps the caller's symmetric flow hash to one of B = N! buckets, where
// N is the number of members. Bucket b carries the b-th permutation (in
// lexicographic order) of the members ranked by their next-hop id, and its
// owner is the first member of that permutation that is up. Because every
// permutation occurs exactly once:
//
//   - with any set S of up members, each member of S owns exactly B/|S|
//     buckets (flows spread evenly);
//   - a bucket's owner changes only if its old owner went down or a member
//     that precedes it in the bucket's permutation came back up, so a flow
//     never moves while its member stays healthy, a failed member's flows are
//     spread evenly over the survivors, and a recovering member takes back
//     exactly the buckets it owns under the new set — its own share — and
//     nothing else. The owner is a pure function of the up set, so this holds
//     for every sequence of up/down changes of any subset of members.
//
// Ranking members by id instead of by position makes the flow→member mapping
// independent of the order in which the configuration lists the next hops.
// For N ≤ 4 the owner of every (up set, bucket) pair is precomputed (16 × 24
// bytes at most) so Select is a mask of atomic loads plus one table load. For
// 5 ≤ N ≤ MaxECMPLimit (8) such a table would grow to 2^N × N! entries (10 MB
// for N = 8), so Select instead decodes the bucket's permutation on the fly
// (factorial number system, one 64×64-bit multiplication per digit, stopping
// at the first up member); the guarantees above are identical. The hash is
// passed through a 64-bit finaliser before it is reduced to a bucket, so a
// caller's hash with weak high or low bits still spreads evenly; the
// finaliser is fixed (no per-process seed) so flows keep their member across
// reloads and restarts. Which member a flow uses depends only on the hash,
// the member ids and the up set; hysteresis (F9's failures/successes) lives
// in the prober, not here.
//
// Group.Key includes the identity of each member's Health flag, so groups
// interned by Key share flags; the compiler reuses a Health per probe target
// across compiles to keep both the flag state and the interning.
package fib
