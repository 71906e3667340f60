package fib

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/gaissmai/bart"
)

// RouteType is where a route entry comes from.
type RouteType uint8

const (
	// System entries are made by vrouter: 100.64.0.0/10 and one per VSwitch
	// CIDR, in every table of the VPC (SPEC V13).
	System RouteType = iota
	// Custom entries are configured by the user (SPEC V14).
	Custom
	// CEN entries are learnt from a cloud enterprise network (SPEC §7).
	CEN
)

// String returns "System", "Custom" or "CEN".
func (t RouteType) String() string {
	switch t {
	case System:
		return "System"
	case Custom:
		return "Custom"
	case CEN:
		return "CEN"
	}
	return "RouteType(" + strconv.Itoa(int(t)) + ")"
}

// Action is what a matching route entry does with a packet (SPEC F5).
type Action uint8

const (
	// ActionLocal is a system VSwitch entry: deliver to the ENI owning the
	// destination address (the caller resolves it; no owner means ICMP host
	// unreachable).
	ActionLocal Action = iota
	// ActionReserved is 100.64.0.0/10, reserved for cloud services: dropped
	// and counted unless a service port is attached.
	ActionReserved
	// ActionForward forwards through the route's Group.
	ActionForward
)

// String returns "Local", "Reserved" or "Forward".
func (a Action) String() string {
	switch a {
	case ActionLocal:
		return "Local"
	case ActionReserved:
		return "Reserved"
	case ActionForward:
		return "Forward"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Route is one route entry. It is immutable once inserted into a Table.
type Route struct {
	Dst     netip.Prefix
	Type    RouteType
	Action  Action
	Group   *Group // for ActionForward
	ID      string // route entry display id, e.g. "vtb-b:10.0.0.0/8"
	Index   int    // dense route index for hit counters (vrouter_route_hits_total)
	VSwitch int    // for ActionLocal: index of the VSwitch (compiler-defined), else -1
}

// Table is a route table (a VPC's system or custom table, or a VBR's
// table). The compiler fills it with Insert; once published it is
// read-only and safe for concurrent use without locks.
type Table struct {
	ID string
	t  bart.Table[*Route]
}

// NewTable returns an empty table.
func NewTable(id string) *Table {
	return &Table{ID: id}
}

// Insert adds r. It fails on a nil route, an invalid or non-canonical
// prefix (host bits set, SPEC V14), an IPv4-mapped IPv6 prefix, a prefix
// already in the table (SPEC V13, V14), ActionForward without a Group or
// ActionLocal without a VSwitch. Insert must not run concurrently with any
// other method and never after the table has been published.
func (t *Table) Insert(r *Route) error {
	if r == nil {
		return errors.New("nil route")
	}
	p := r.Dst
	switch {
	case !p.IsValid():
		return fmt.Errorf("route %q: invalid destination %v", r.ID, p)
	case p.Addr().Is4In6():
		return fmt.Errorf("route %q: IPv4-mapped destination %v; use the IPv4 form", r.ID, p)
	case p.Masked() != p:
		return fmt.Errorf("route %q: destination %v has host bits set (canonical form is %v)", r.ID, p, p.Masked())
	}
	switch r.Action {
	case ActionForward:
		if r.Group == nil {
			return fmt.Errorf("route %q: forward entry without next hop", r.ID)
		}
	case ActionLocal:
		if r.VSwitch < 0 {
			return fmt.Errorf("route %q: local entry without VSwitch", r.ID)
		}
	case ActionReserved:
	default:
		return fmt.Errorf("route %q: unknown action %d", r.ID, r.Action)
	}
	if old, ok := t.t.Get(p); ok {
		return fmt.Errorf("route %q: destination %v already in table %q (%s entry %q)", r.ID, p, t.ID, old.Type, old.ID)
	}
	t.t.Insert(p, r)
	return nil
}

// Lookup returns the longest-prefix match for a (SPEC F5). It allocates
// nothing. An IPv4-mapped IPv6 address is looked up as IPv4.
func (t *Table) Lookup(a netip.Addr) (*Route, bool) {
	return t.t.Lookup(a.Unmap())
}

// Get returns the entry whose destination is exactly p (p is canonicalised
// first).
func (t *Table) Get(p netip.Prefix) (*Route, bool) {
	return t.t.Get(p)
}

// Routes returns every entry sorted by prefix (address, then length; IPv4
// before IPv6), for describe-route-entry-list. The slice is new; the
// routes are shared and must not be modified.
func (t *Table) Routes() []*Route {
	out := make([]*Route, 0, t.t.Size())
	for _, r := range t.t.AllSorted() {
		out = append(out, r)
	}
	return out
}

// Len returns the number of entries.
func (t *Table) Len() int {
	return t.t.Size()
}
