package agent

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vrouter/vrouter/dataplane/mcast"
	"github.com/vrouter/vrouter/dataplane/stats"
)

// metrics exports the data plane's counters in Prometheus format (R8). The
// per-packet counters live in stats.Registry and conntrack; a collector reads
// them at scrape time, so the hot path never touches client_golang.
type metrics struct {
	a          *Agent
	reg        *prometheus.Registry
	reloads    *prometheus.CounterVec
	generation prometheus.Gauge

	portPackets, portBytes, drops, routeHits      *prometheus.Desc
	ctEntries, ctInserts, ctEvictions, ctRefusals *prometheus.Desc
	nhUp, nhTransitions                           *prometheus.Desc
	mcPackets, mcBytes                            *prometheus.Desc
	outcomes, icmpSuppressed                      *prometheus.Desc
	sgVerdicts                                    *prometheus.Desc
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{
		a:   a,
		reg: prometheus.NewRegistry(),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vrouter_reloads_total", Help: "Configuration reloads by result (R3).",
		}, []string{"result"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vrouter_config_generation", Help: "Generation of the published snapshot.",
		}),
		portPackets:    prometheus.NewDesc("vrouter_port_packets_total", "Packets per port and direction (rx: from the port into the router; tx: written to the port).", []string{"port", "direction"}, nil),
		portBytes:      prometheus.NewDesc("vrouter_port_bytes_total", "Bytes per port and direction.", []string{"port", "direction"}, nil),
		drops:          prometheus.NewDesc("vrouter_drops_total", "Dropped packets by port and reason.", []string{"port", "reason"}, nil),
		routeHits:      prometheus.NewDesc("vrouter_route_hits_total", "Packets forwarded by route entry.", []string{"table", "dst"}, nil),
		ctEntries:      prometheus.NewDesc("vrouter_conntrack_entries", "Tracked flows.", nil, nil),
		ctInserts:      prometheus.NewDesc("vrouter_conntrack_inserts_total", "Flows inserted.", nil, nil),
		ctEvictions:    prometheus.NewDesc("vrouter_conntrack_evictions_total", "Not-yet-established flows evicted to admit new ones (S7).", nil, nil),
		ctRefusals:     prometheus.NewDesc("vrouter_conntrack_refusals_total", "New flows refused because the table was full (S7).", nil, nil),
		nhUp:           prometheus.NewDesc("vrouter_nexthop_up", "Health of a probed next hop (1 up, 0 down; F8, F9).", []string{"table", "dst", "next_hop"}, nil),
		sgVerdicts:     prometheus.NewDesc("vrouter_secgroup_verdicts_total", "Security-group evaluations of new flows by deciding group (\"default\": S4's defaults), direction and policy.", []string{"group", "direction", "policy"}, nil),
		outcomes:       prometheus.NewDesc("vrouter_port_rx_outcomes_total", "What became of the packets read from a port: forwarded, consumed (by the router) or dropped (by reason in vrouter_drops_total); rx = forwarded + consumed + dropped.", []string{"port", "outcome"}, nil),
		icmpSuppressed: prometheus.NewDesc("vrouter_icmp_errors_suppressed_total", "ICMP errors not sent because the port's rate limit was exhausted (F14).", []string{"port"}, nil),
		mcPackets:      prometheus.NewDesc("vrouter_mcast_packets_total", "Multicast packets per group (M6): direction in = from the server, out = copies delivered, drop_sg / drop_port / drop_too_big = copies dropped.", []string{"vpc", "group", "direction"}, nil),
		mcBytes:        prometheus.NewDesc("vrouter_mcast_bytes_total", "Multicast bytes per group and direction (in, out).", []string{"vpc", "group", "direction"}, nil),
		nhTransitions:  prometheus.NewDesc("vrouter_nexthop_transitions_total", "Up/down transitions of probed next hops.", nil, nil),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("error")
	m.reg.MustRegister(m.reloads, m.generation, m)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.portPackets, m.portBytes, m.drops, m.routeHits, m.ctEntries, m.ctInserts, m.ctEvictions, m.ctRefusals, m.nhUp, m.nhTransitions, m.mcPackets, m.mcBytes, m.outcomes, m.icmpSuppressed, m.sgVerdicts} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, p := range m.a.reg.Ports() {
		ch <- prometheus.MustNewConstMetric(m.portPackets, prometheus.CounterValue, float64(p.RxPackets), p.Name, "rx")
		ch <- prometheus.MustNewConstMetric(m.portPackets, prometheus.CounterValue, float64(p.TxPackets), p.Name, "tx")
		ch <- prometheus.MustNewConstMetric(m.portBytes, prometheus.CounterValue, float64(p.RxBytes), p.Name, "rx")
		ch <- prometheus.MustNewConstMetric(m.portBytes, prometheus.CounterValue, float64(p.TxBytes), p.Name, "tx")
		ch <- prometheus.MustNewConstMetric(m.outcomes, prometheus.CounterValue, float64(p.Forwarded), p.Name, "forwarded")
		ch <- prometheus.MustNewConstMetric(m.outcomes, prometheus.CounterValue, float64(p.Consumed), p.Name, "consumed")
		ch <- prometheus.MustNewConstMetric(m.outcomes, prometheus.CounterValue, float64(p.IngressDrops), p.Name, "dropped")
		ch <- prometheus.MustNewConstMetric(m.icmpSuppressed, prometheus.CounterValue, float64(p.ICMPSuppressed), p.Name)
		for r := stats.DropReason(0); r < stats.NumDropReasons; r++ {
			v := p.Drops[r.String()]
			ch <- prometheus.MustNewConstMetric(m.drops, prometheus.CounterValue, float64(v), p.Name, r.String())
		}
	}
	for k, v := range m.a.reg.Verdicts() {
		ch <- prometheus.MustNewConstMetric(m.sgVerdicts, prometheus.CounterValue, float64(v), k.Group, k.Direction, k.Policy)
	}
	for n, v := range m.a.reg.RouteHits() {
		ch <- prometheus.MustNewConstMetric(m.routeHits, prometheus.CounterValue, float64(v), n.Table, n.Dst)
	}
	for _, st := range m.a.prob.States() {
		up := 0.0
		if st.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(m.nhUp, prometheus.GaugeValue, up, st.Table, st.Dst.String(), st.NextHop)
	}
	ch <- prometheus.MustNewConstMetric(m.nhTransitions, prometheus.CounterValue, float64(m.a.prob.Transitions()))
	// One series per (vpc, group) as R8 names them; groups of several
	// servers on one address are summed.
	type mkey struct{ vpc, group string }
	agg := map[mkey]*mcast.GroupCounters{}
	var order []mkey
	for _, g := range m.a.eng.McastReport() {
		k := mkey{g.VPC, g.Group.String()}
		c := agg[k]
		if c == nil {
			c = &mcast.GroupCounters{}
			agg[k] = c
			order = append(order, k)
		}
		c.PacketsIn += g.Counters.PacketsIn
		c.BytesIn += g.Counters.BytesIn
		c.CopiesOut += g.Counters.CopiesOut
		c.BytesOut += g.Counters.BytesOut
		c.DropsSG += g.Counters.DropsSG
		c.DropsPort += g.Counters.DropsPort
		c.DropsTooBig += g.Counters.DropsTooBig
	}
	for _, k := range order {
		c := agg[k]
		for _, v := range []struct {
			dir string
			n   uint64
		}{{"in", c.PacketsIn}, {"out", c.CopiesOut}, {"drop_sg", c.DropsSG}, {"drop_port", c.DropsPort}, {"drop_too_big", c.DropsTooBig}} {
			ch <- prometheus.MustNewConstMetric(m.mcPackets, prometheus.CounterValue, float64(v.n), k.vpc, k.group, v.dir)
		}
		ch <- prometheus.MustNewConstMetric(m.mcBytes, prometheus.CounterValue, float64(c.BytesIn), k.vpc, k.group, "in")
		ch <- prometheus.MustNewConstMetric(m.mcBytes, prometheus.CounterValue, float64(c.BytesOut), k.vpc, k.group, "out")
	}
	if ct := m.a.ct; ct != nil {
		st := ct.Stats()
		ch <- prometheus.MustNewConstMetric(m.ctEntries, prometheus.GaugeValue, float64(st.Entries))
		ch <- prometheus.MustNewConstMetric(m.ctInserts, prometheus.CounterValue, float64(st.Inserts))
		ch <- prometheus.MustNewConstMetric(m.ctEvictions, prometheus.CounterValue, float64(st.Evictions))
		ch <- prometheus.MustNewConstMetric(m.ctRefusals, prometheus.CounterValue, float64(st.Refusals))
	}
}
