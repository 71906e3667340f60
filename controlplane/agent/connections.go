package agent

import (
	"go.uber.org/zap"

	"github.com/vrouter/vrouter/controlplane/compile"
)

// logCENConflicts writes one line per destination that two attachments of
// a CEN announce, which the compiler installed for neither (SPEC C4). It
// runs after every successful compile (start, reload, API change), so the
// lines repeat while the conflict lasts and never per packet (R9).
func (a *Agent) logCENConflicts(res *compile.Result) {
	for _, c := range res.CENConflicts {
		a.log.Warn("cen route conflict", zap.String("cen", c.CEN), zap.String("dst", c.Dst.String()),
			zap.Strings("attachments", c.From), zap.String("detail", "learned from two attachments, installed for neither"))
	}
}
