package testnet

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vrouter/vrouter/controlplane/compile"
	"github.com/vrouter/vrouter/controlplane/config"
)

// portCounters are one port's counters as vrouterd exports them (R8).
type portCounters struct {
	rx, tx, forwarded, consumed, dropped uint64
}

var metricLine = regexp.MustCompile(`^(vrouter_port_packets_total|vrouter_port_rx_outcomes_total)\{([^}]*)\} (\S+)$`)
var labelPair = regexp.MustCompile(`(\w+)="([^"]*)"`)

// parsePortCounters extracts the per-port counters from a /metrics body.
func parsePortCounters(body string) map[string]*portCounters {
	out := map[string]*portCounters{}
	for _, line := range strings.Split(body, "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[l[1]] = l[2]
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		pc := out[labels["port"]]
		if pc == nil {
			pc = &portCounters{}
			out[labels["port"]] = pc
		}
		n := uint64(v)
		switch labels["direction"] + labels["outcome"] {
		case "rx":
			pc.rx = n
		case "tx":
			pc.tx = n
		case "forwarded":
			pc.forwarded = n
		case "consumed":
			pc.consumed = n
		case "dropped":
			pc.dropped = n
		}
	}
	return out
}

// guestCounters reads a guest interface's own counters inside its namespace.
func guestCounters(ns, ifname string) (rx, tx, txDropped uint64, err error) {
	err = InNS(ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		st := l.Attrs().Statistics
		if st == nil {
			return fmt.Errorf("%s: no statistics", ifname)
		}
		rx, tx, txDropped = st.RxPackets, st.TxPackets, st.TxDropped
		return nil
	})
	return
}

// CheckAccounting verifies the accounting identity of issue 10 on a running
// daemon: for every port, every packet vrouterd read is forwarded, consumed
// or dropped for a named reason (rx = forwarded + consumed + dropped), and,
// unless the daemon was reloaded or restarted (which replaces links and
// resets process counters), what each guest interface sent is what vrouterd
// read from it and what vrouterd wrote is what the guest received. Counters
// move with background traffic (IPv6 solicitations, IGMP), so the comparison
// is retried until it holds on a quiescent snapshot or the deadline passes.
func (d *Daemon) CheckAccounting(t testing.TB) {
	t.Helper()
	var specs []compile.PortSpec
	if cfg, _, err := config.LoadAndValidate(d.ConfigPath); err == nil {
		specs = compile.PortSpecs(cfg)
	}
	guest := d.starts == 1 && !d.sawLog("reloaded")
	var problems []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		problems = problems[:0]
		body, err := d.Metrics()
		if err != nil {
			t.Errorf("testnet: accounting: %v", err)
			return
		}
		ports := parsePortCounters(body)
		for name, pc := range ports {
			if pc.rx != pc.forwarded+pc.consumed+pc.dropped {
				problems = append(problems, fmt.Sprintf("%s: rx %d != forwarded %d + consumed %d + dropped %d",
					name, pc.rx, pc.forwarded, pc.consumed, pc.dropped))
			}
		}
		if guest {
			for _, s := range specs {
				pc := ports[s.Name]
				if s.Netns == "" || pc == nil {
					continue
				}
				grx, gtx, gdrop, err := guestCounters(s.Netns, s.IfName)
				if err != nil {
					continue // the guest's namespace or link is gone (fault tests)
				}
				if gtx != pc.rx {
					problems = append(problems, fmt.Sprintf("%s: guest %s/%s sent %d (and %d dropped by its queue), vrouterd read %d",
						s.Name, s.Netns, s.IfName, gtx, gdrop, pc.rx))
				}
				if grx != pc.tx {
					problems = append(problems, fmt.Sprintf("%s: vrouterd wrote %d, guest %s/%s received %d",
						s.Name, pc.tx, s.Netns, s.IfName, grx))
				}
			}
		}
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("testnet: accounting identity violated (issue 10):\n  %s", strings.Join(problems, "\n  "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
