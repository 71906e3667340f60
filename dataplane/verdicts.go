package dataplane

import (
	"sync/atomic"

	"github.com/vrouter/vrouter/dataplane/secgroup"
)

// DefaultVerdictGroup labels verdicts that no group's rule decided: S4's
// defaults (ingress drop, egress accept).
const DefaultVerdictGroup = "default"

// VerdictKey identifies a security-group verdict counter (R8
// vrouter_secgroup_verdicts_total{group, direction, policy}).
type VerdictKey struct {
	Group     string // the deciding group (rule or inner access), or DefaultVerdictGroup
	Direction secgroup.Direction
	Accept    bool
}

// countVerdict counts one evaluation of a new flow's security groups. It
// runs only on the new-flow path (S1: tracked flows are not evaluated) and
// never for traces.
func (s *Snapshot) countVerdict(dir secgroup.Direction, dec secgroup.Decision, tr *Trace) {
	if tr != nil || s.SGVerdicts == nil {
		return
	}
	g := dec.Group
	if g == "" {
		g = DefaultVerdictGroup
	}
	if c := s.SGVerdicts[VerdictKey{g, dir, dec.Accept}]; c != nil {
		c.Add(1)
	}
}

// NewVerdictCounters returns a counter map holding every group of groups in
// both directions and policies, plus the defaults, each counter obtained
// from get so that counts survive snapshots (R8: counters never reset).
func NewVerdictCounters(groups []string, get func(VerdictKey) *atomic.Uint64) map[VerdictKey]*atomic.Uint64 {
	m := make(map[VerdictKey]*atomic.Uint64, 4*(len(groups)+1))
	for _, g := range append([]string{DefaultVerdictGroup}, groups...) {
		for _, d := range []secgroup.Direction{secgroup.Ingress, secgroup.Egress} {
			for _, acc := range []bool{true, false} {
				k := VerdictKey{g, d, acc}
				m[k] = get(k)
			}
		}
	}
	return m
}
