// Package secgroup owns the compiled, immutable security-group policy of one
// ENI and its first-match evaluation (SPEC §5, S2–S6).
//
// The control plane describes every group of a VPC ([Group], [Rule]) and the
// addresses of every group's members ([Input.Members]: primary and secondary
// addresses of every ENI in the group, S5/S6), then calls [Compile] once per
// ENI with the ids of the ENI's groups. The resulting [ENIPolicy] is immutable:
// it is safe for any number of goroutines to call [ENIPolicy.Check] at once
// without synchronisation, and snapshots may share one policy value between
// generations (pointer identity then doubles as a change check). Compile copies
// everything it needs; the Input may be reused or mutated afterwards.
//
// Evaluation of a NEW flow (established flows never reach this package: the
// conntrack table admits them, S1):
//
//  1. Inner access (S5): if the packet's ENI-side address and its peer are both
//     addresses of members of one of the ENI's groups that has inner_access
//     accept, the packet is admitted (in the egress and the ingress check alike)
//     whatever the rules say. With inner_access drop, members are isolated
//     unless a rule admits them.
//  2. Rules (S3): the rules of all the ENI's groups for the packet's direction
//     are evaluated together as one flat list sorted by priority (1 is the
//     highest), at equal priority drop before accept, then by the order of the
//     groups as given to Compile and the order of the rules within their group.
//     The first rule whose protocol, destination port range and peer (CIDR, or
//     any address of a member of the peer group, S6) match decides.
//  3. Defaults (S4): no match means ingress drop, egress accept.
//
// The hot path (Check) allocates nothing: rules are kept in one flat slice per
// direction and protocol class, CIDR peers are pre-masked integers, and group
// peers are sorted address sets searched by bisection.
//
// Traffic to or from a non-ENI peer (router interface, VPN, internet) is checked
// on the ENI side only (S2); the VRouter's own traffic is never checked (F3).
// Both are the caller's business: this package only answers Check.
package secgroup
