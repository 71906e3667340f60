package dataplane

import (
	"fmt"
	"strings"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/secgroup"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// TraceStep is one decision of a traced packet (SPEC R7).
type TraceStep struct {
	Stage  string `json:"stage"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Trace records the decisions Forward takes for a synthetic packet. A nil
// *Trace records nothing and costs one comparison per step, so the hot path
// passes nil.
type Trace struct {
	Steps []TraceStep
}

func (t *Trace) step(stage, result, detail string) {
	if t == nil {
		return
	}
	t.Steps = append(t.Steps, TraceStep{stage, result, detail})
}

func (t *Trace) drop(d Decision, r stats.DropReason, why string) Decision {
	d.Verdict = VerdictDrop
	d.Reason = r
	if t != nil {
		t.step("verdict", "drop "+r.String(), why)
	}
	return d
}

func (t *Trace) routeStep(tb *fib.Table, r *fib.Route) {
	if t == nil {
		return
	}
	t.step("route", tb.ID, fmt.Sprintf("entry %s type %s", r.Dst, r.Type))
}

func (t *Trace) memberStep(g *fib.Group, idx int) {
	if t == nil {
		return
	}
	if g.Kind == fib.Single {
		state := "up"
		if h := g.Members[idx].Health; h != nil && !h.Up() {
			state = "down"
		}
		t.step("next-hop", g.Kind.String(), fmt.Sprintf("%s (%s)", g.Members[idx].ID, state))
		return
	}
	var parts []string
	for i, m := range g.Members {
		state := "up"
		if m.Health != nil && !m.Health.Up() {
			state = "down"
		}
		mark := ""
		if i == idx {
			mark = "*"
		}
		parts = append(parts, fmt.Sprintf("%s%s(w%d,%s)", mark, m.ID, m.Weight, state))
	}
	t.step("next-hop", g.Kind.String(), fmt.Sprintf("chose %s among %s", g.Members[idx].ID, strings.Join(parts, " ")))
}

func (t *Trace) sgStep(dir, port string, dec secgroup.Decision) {
	if t == nil {
		return
	}
	verdict := "accept"
	if !dec.Accept {
		verdict = "drop"
	}
	var detail string
	if dec.Rule != nil {
		r := dec.Rule
		peer := r.Peer.String()
		if r.PeerGroup != "" {
			peer = r.PeerGroup
		}
		detail = fmt.Sprintf("rule %s#%d %s %s priority %d protocol %s port %d/%d peer %s",
			r.Group, r.Index, r.Direction, r.Policy, r.Priority, r.Proto, r.PortLo, r.PortHi, peer)
	} else {
		detail = dec.Reason.String()
	}
	t.step("security-group "+dir, port+": "+verdict, detail)
}

// String renders the trace for people, one decision a line.
func (t *Trace) String() string {
	var b strings.Builder
	for _, s := range t.Steps {
		fmt.Fprintf(&b, "%-22s %s", s.Stage, s.Result)
		if s.Detail != "" {
			fmt.Fprintf(&b, "  (%s)", s.Detail)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
