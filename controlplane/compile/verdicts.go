package compile

import (
	"sync/atomic"

	"github.com/vrouter/vrouter/dataplane"
	"github.com/vrouter/vrouter/dataplane/secgroup"
)

// buildVerdictCounters gives the snapshot a verdict counter for every
// security group of every VPC (R8 vrouter_secgroup_verdicts_total), taken
// from the registry so that counts survive reloads.
func (b *builder) buildVerdictCounters() {
	if b.in.Stats == nil {
		return
	}
	var groups []string
	for _, v := range b.cfg.VPCs {
		for _, g := range v.SecurityGroups {
			groups = append(groups, g.ID)
		}
	}
	b.snap.SGVerdicts = dataplane.NewVerdictCounters(groups, func(k dataplane.VerdictKey) *atomic.Uint64 {
		dir := "ingress"
		if k.Direction == secgroup.Egress {
			dir = "egress"
		}
		pol := "drop"
		if k.Accept {
			pol = "accept"
		}
		return b.in.Stats.VerdictCounter(k.Group, dir, pol)
	})
}
