package fib

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// PortID is the dense index of a data-plane port, assigned by the compiler.
type PortID uint16

// NoPort marks the absence of a port.
const NoPort PortID = 0xFFFF

// Limits on ECMP groups (SPEC V15, V19).
const (
	// MaxECMP is the default maximum number of load-balancing next hops
	// (the cloud's quota, SPEC V19); NewGroup enforces it.
	MaxECMP = 4
	// MaxECMPLimit is the largest ECMP group this package supports; the
	// quota lb_next_hops_max may raise MaxECMP up to this (NewGroupMax).
	MaxECMPLimit = 8
)

// MemberKind says what a next hop is.
type MemberKind uint8

const (
	// MemberPort is a next hop reached by writing to a port: an instance's
	// primary ENI, a secondary ENI, a VPN gateway, a NAT gateway or a
	// leased line (SPEC F10, C2, C3, C6).
	MemberPort MemberKind = iota
	// MemberRouterInterface continues the lookup in the peer router's
	// table within the same pass (SPEC C1).
	MemberRouterInterface
)

// String returns "Port" or "RouterInterface".
func (k MemberKind) String() string {
	switch k {
	case MemberPort:
		return "Port"
	case MemberRouterInterface:
		return "RouterInterface"
	}
	return "MemberKind(" + strconv.Itoa(int(k)) + ")"
}

// Member is one next hop of a Group.
type Member struct {
	ID     string     // next-hop id as configured (i-…, eni-…, ri-…, vpn-…, ngw-…, leased_line)
	Kind   MemberKind // what the next hop is
	Port   PortID     // for MemberPort: the port to write to
	Peer   int        // for MemberRouterInterface: index of the peer router (VRouter/VBR) in the snapshot
	Addr   netip.Addr // the next hop's address (probe target); may be invalid
	Weight uint8      // as configured (V15)
	Health *Health    // shared up/down flag; nil = always up
}

// GroupKind is the shape of a next-hop group (SPEC V15).
type GroupKind uint8

const (
	// Single is one next hop: general routing.
	Single GroupKind = iota
	// ECMP is load balancing over 2–MaxECMP next hops of equal weight (SPEC F8).
	ECMP
	// ActiveStandby is two next hops weighted 100 (active) then 0 (standby) (SPEC F9).
	ActiveStandby
)

// String returns "Single", "ECMP" or "ActiveStandby".
func (k GroupKind) String() string {
	switch k {
	case Single:
		return "Single"
	case ECMP:
		return "ECMP"
	case ActiveStandby:
		return "ActiveStandby"
	}
	return "GroupKind(" + strconv.Itoa(int(k)) + ")"
}

// Group is a set of next hops and the rule that picks one per flow. A Group
// is immutable after NewGroup and may be shared by routes, tables and
// snapshots; the only thing Select reads that can change is the members'
// Health flags.
type Group struct {
	Kind    GroupKind
	Members []Member

	key string
	// ECMP only.
	buckets uint64                // N!: bucket b is the b-th permutation of the members
	rankPos [MaxECMPLimit]uint8   // rankPos[r] = index in Members of the member with the r-th smallest ID
	health  [MaxECMPLimit]*Health // Members[i].Health, packed for upMask
	owners  []uint8               // N ≤ ownerTableMax: owners[mask*buckets+b] = owner of bucket b under up set mask
}

// ownerTableMax is the largest ECMP group whose owners are precomputed for
// every up set (2^4 × 4! = 384 bytes); larger groups decode on the fly.
const ownerTableMax = 4

// factorial[n] = n! for the supported group sizes.
var factorial = [MaxECMPLimit + 1]uint64{1, 1, 2, 6, 24, 120, 720, 5040, 40320}

// NewGroup validates the shape of members against kind (SPEC V15) with the
// default ECMP limit MaxECMP and returns an immutable Group. The members
// slice is copied.
//
//   - Single: exactly 1 member (its weight is not interpreted).
//   - ActiveStandby: exactly 2 members weighted 100 then 0; Members[0] is
//     the active one.
//   - ECMP: 2–MaxECMP members, all weights equal and in 1–255.
//
// Member ids must be non-empty and unique; a MemberPort needs a port other
// than NoPort, a MemberRouterInterface a peer index ≥ 0.
func NewGroup(kind GroupKind, members []Member) (*Group, error) {
	return NewGroupMax(kind, members, MaxECMP)
}

// NewGroupMax is NewGroup with the ECMP limit set to maxECMP, the value of
// the lb_next_hops_max quota (SPEC V19). maxECMP must lie in
// 2–MaxECMPLimit.
func NewGroupMax(kind GroupKind, members []Member, maxECMP int) (*Group, error) {
	if maxECMP < 2 || maxECMP > MaxECMPLimit {
		return nil, fmt.Errorf("load-balancing next hop limit %d outside 2–%d", maxECMP, MaxECMPLimit)
	}
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	n := len(members)
	switch kind {
	case Single:
		if n != 1 {
			return nil, fmt.Errorf("a single next hop takes exactly 1 next hop, got %d", n)
		}
	case ActiveStandby:
		if n != 2 || members[0].Weight != 100 || members[1].Weight != 0 {
			return nil, fmt.Errorf("active/standby (F9) takes exactly 2 next hops weighted 100 (active, first) then 0 (standby), got weights %v", weightsOf(members))
		}
	case ECMP:
		if n < 2 || n > maxECMP {
			return nil, fmt.Errorf("load balancing (F8) takes 2–%d next hops, got %d", maxECMP, n)
		}
		w := members[0].Weight
		for i := range members {
			if members[i].Weight != w || w == 0 {
				return nil, fmt.Errorf("load balancing (F8) takes equal weights in 1–255, got weights %v", weightsOf(members))
			}
		}
	default:
		return nil, fmt.Errorf("unknown next hop group kind %d", kind)
	}
	g := &Group{Kind: kind, Members: slices.Clone(members)}
	if kind == ECMP {
		g.initECMP()
	}
	g.key = g.makeKey()
	return g, nil
}

// InferKind returns the group shape that a list of configured weights
// denotes (SPEC V15), or an error that says which shape was probably meant.
// One hop is Single; two hops weighted 100 and 0 (in either order — the
// caller passes the weight-100 hop first to NewGroup) are ActiveStandby;
// 2–maxECMP equal weights in 1–255 are ECMP. maxECMP outside
// 2–MaxECMPLimit is treated as MaxECMP.
func InferKind(weights []uint8, maxECMP int) (GroupKind, error) {
	if maxECMP < 2 || maxECMP > MaxECMPLimit {
		maxECMP = MaxECMP
	}
	n := len(weights)
	switch {
	case n == 0:
		return 0, errors.New("no next hop")
	case n == 1:
		return Single, nil
	case n == 2 && ((weights[0] == 100 && weights[1] == 0) || (weights[0] == 0 && weights[1] == 100)):
		return ActiveStandby, nil
	}
	if slices.Contains(weights, 0) {
		if n == 2 {
			return 0, fmt.Errorf("active/standby (F9) takes weights 100 and 0, got %v", weights)
		}
		return 0, fmt.Errorf("a weight of 0 marks the standby of active/standby (F9), which takes exactly 2 next hops weighted 100 and 0; load balancing (F8) takes equal weights in 1–255; got %d next hops weighted %v", n, weights)
	}
	for _, w := range weights[1:] {
		if w != weights[0] {
			return 0, fmt.Errorf("load balancing (F8) takes equal weights in 1–255, got %v", weights)
		}
	}
	if n > maxECMP {
		return 0, fmt.Errorf("load balancing (F8) takes 2–%d next hops, got %d", maxECMP, n)
	}
	return ECMP, nil
}

func weightsOf(members []Member) []uint8 {
	w := make([]uint8, len(members))
	for i := range members {
		w[i] = members[i].Weight
	}
	return w
}

func checkMembers(members []Member) error {
	if len(members) == 0 {
		return errors.New("no next hop")
	}
	if len(members) > MaxECMPLimit {
		return fmt.Errorf("at most %d next hops, got %d", MaxECMPLimit, len(members))
	}
	for i := range members {
		m := &members[i]
		if m.ID == "" {
			return fmt.Errorf("next hop %d has no id", i)
		}
		for j := range i {
			if members[j].ID == m.ID {
				return fmt.Errorf("duplicate next hop %q", m.ID)
			}
		}
		switch m.Kind {
		case MemberPort:
			if m.Port == NoPort {
				return fmt.Errorf("next hop %q has no port", m.ID)
			}
		case MemberRouterInterface:
			if m.Peer < 0 {
				return fmt.Errorf("router interface next hop %q has no peer router", m.ID)
			}
		default:
			return fmt.Errorf("next hop %q has unknown kind %d", m.ID, m.Kind)
		}
	}
	return nil
}

// initECMP ranks the members by ID and, for small groups, precomputes the
// owner of every bucket under every non-empty up set.
func (g *Group) initECMP() {
	n := len(g.Members)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(g.Members[a].ID, g.Members[b].ID) })
	for r, pos := range order {
		g.rankPos[r] = uint8(pos)
	}
	for i := range g.Members {
		g.health[i] = g.Members[i].Health
	}
	g.buckets = factorial[n]
	if n > ownerTableMax {
		return
	}
	g.owners = make([]uint8, (uint64(1)<<n)*g.buckets)
	for mask := uint32(1); mask < 1<<n; mask++ {
		for b := range g.buckets {
			g.owners[uint64(mask)*g.buckets+b] = uint8(g.decodeOwner(b, mask))
		}
	}
}

// decodeOwner returns the index in Members of the first member of bucket
// b's permutation whose bit is set in mask, or -1 if none is. The
// permutation is the b-th (lexicographic, over ID ranks) one: b is read as a
// number in the factorial number system whose i-th digit picks the digit-th
// smallest rank not used yet.
func (g *Group) decodeOwner(b uint64, mask uint32) int {
	n := len(g.Members)
	unused := uint32(1)<<n - 1 // ranks not placed yet
	for i := n - 1; i >= 0; i-- {
		f := factorial[i]
		d := b / f
		b -= d * f
		rest := unused
		for ; d > 0; d-- {
			rest &= rest - 1
		}
		r := bits.TrailingZeros32(rest)
		unused &^= 1 << r
		if pos := g.rankPos[r&(MaxECMPLimit-1)]; mask&(1<<pos) != 0 {
			return int(pos)
		}
	}
	return -1
}

// decodeOwnerHash is decodeOwner(bucketOf(hash), mask) for x = mix64(hash),
// without divisions: read as a binary fraction f = x/2^64, the bucket
// floor(f·N!) has factorial-number-system digits d_N-1 = floor(f·N),
// d_N-2 = floor(frac(f·N)·(N-1)), …, and each step is one exact 64×64→128
// multiplication (high word: digit, low word: the remaining fraction).
func (g *Group) decodeOwnerHash(x uint64, mask uint32) int {
	n := len(g.Members)
	unused := uint32(1)<<n - 1
	for k := uint64(n); k > 0; k-- {
		var d uint64
		d, x = bits.Mul64(x, k)
		rest := unused
		for ; d > 0; d-- {
			rest &= rest - 1
		}
		r := bits.TrailingZeros32(rest)
		unused &^= 1 << r
		if pos := g.rankPos[r&(MaxECMPLimit-1)]; mask&(1<<pos) != 0 {
			return int(pos)
		}
	}
	return -1
}

// mix64 is a fixed 64-bit finaliser (xor-shift-multiply) applied to the
// caller's flow hash before it is reduced to a bucket, so hashes with weak
// high or low bits still spread evenly. It is a bijection: equal hashes
// (both directions of a flow, SPEC F8) stay equal.
func mix64(x uint64) uint64 {
	x ^= x >> 31
	x *= 0x7fb5d329728ea185
	x ^= x >> 27
	x *= 0x81dadef4bc2dd44d
	x ^= x >> 33
	return x
}

// bucketOf maps a flow hash to [0, n) by multiply-high of the mixed hash
// (no division; the bias is below n/2^64).
func bucketOf(hash, n uint64) uint64 {
	hi, _ := bits.Mul64(mix64(hash), n)
	return hi
}

// upMask has bit i set when Members[i] is up.
func (g *Group) upMask() uint32 {
	var mask uint32
	for i, h := range g.health[:len(g.Members)] {
		if h.Up() {
			mask |= 1 << i
		}
	}
	return mask
}

// Select picks the member for a flow hash (SPEC F8, F9). ok is false when
// no member is up; the caller then drops with reason next_hop_down. idx is
// the member's index in g.Members (-1 when !ok). Select allocates nothing,
// takes no lock and only reads the members' Health flags (atomic loads), so
// it may be called from any number of goroutines.
func (g *Group) Select(hash uint64) (m *Member, idx int, ok bool) {
	switch g.Kind {
	case Single:
		if len(g.Members) == 1 && g.Members[0].Health.Up() {
			return &g.Members[0], 0, true
		}
	case ActiveStandby:
		if len(g.Members) == 2 {
			if g.Members[0].Health.Up() {
				return &g.Members[0], 0, true
			}
			if g.Members[1].Health.Up() {
				return &g.Members[1], 1, true
			}
		}
	case ECMP:
		if g.buckets == 0 {
			break
		}
		mask := g.upMask()
		if mask == 0 {
			break
		}
		var i int
		if g.owners != nil {
			i = int(g.owners[uint64(mask)*g.buckets+bucketOf(hash, g.buckets)])
		} else {
			i = g.decodeOwnerHash(mix64(hash), mask)
		}
		if i >= 0 {
			return &g.Members[i], i, true
		}
	}
	return nil, -1, false
}

// Key returns a canonical string identifying the group: its kind and, in
// order, each member's id, kind, port or peer, address, weight and the
// identity of its Health flag. Two groups with equal keys behave
// identically, so the compiler may intern groups across compiles by Key
// (pointer identity then doubles as a change check).
func (g *Group) Key() string { return g.key }

func (g *Group) makeKey() string {
	var sb strings.Builder
	sb.WriteString(g.Kind.String())
	sb.WriteByte('[')
	for i := range g.Members {
		m := &g.Members[i]
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Quote(m.ID))
		switch m.Kind {
		case MemberPort:
			sb.WriteString(",port=")
			sb.WriteString(strconv.Itoa(int(m.Port)))
		case MemberRouterInterface:
			sb.WriteString(",peer=")
			sb.WriteString(strconv.Itoa(m.Peer))
		}
		sb.WriteString(",addr=")
		if m.Addr.IsValid() {
			sb.WriteString(m.Addr.String())
		} else {
			sb.WriteByte('-')
		}
		sb.WriteString(",w=")
		sb.WriteString(strconv.Itoa(int(m.Weight)))
		sb.WriteString(",health=")
		if m.Health == nil {
			sb.WriteString("none")
		} else {
			fmt.Fprintf(&sb, "%p", m.Health)
		}
	}
	sb.WriteByte(']')
	return sb.String()
}
