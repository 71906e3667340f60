package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// Subcommands for the runtime endpoints: reload (R3), flows, stats (R8),
// health (F8, F9), trace (R7) and state (R5).

func init() {
	rootCmd.AddCommand(reloadCmd(), flowsCmd(), statsCmd(), healthCmd(), traceCmd(), stateCmd())
}

func reloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Re-read the configuration file",
		Long: `reload asks vrouterd to re-read its configuration file, like SIGHUP (R3). The file is
validated first: if it is invalid nothing changes, every error is printed on stderr
as FILE:LINE:COL: <id>: <rule>: <message> and the exit status is 1. If it is valid,
only what changed is applied and the overlay of API changes is replayed on top
(R5); operations that no longer apply are dropped and listed.`,
		Example: "  vrouterctl reload\n  vrouterctl --socket /tmp/vr.sock reload",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.ReloadResponse
			printed, err := apiCall(cmd, "Reload", nil, &r)
			if err != nil || printed {
				return err
			}
			w := cmd.OutOrStdout()
			for _, d := range r.Dropped {
				fmt.Fprintf(w, "dropped overlay operation #%d %s %s: %s\n", d.Index+1, d.Op.Action, d.Op.Params, d.Reason)
			}
			fmt.Fprintf(w, "reloaded (overlay: %d operations, %d dropped)\n", r.OverlayOps, len(r.Dropped))
			return nil
		},
	}
}

func flowsCmd() *cobra.Command {
	var p api.FlowsParams
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Dump tracked flows (connection tracking)",
		Long: `flows prints the connection-tracking table (S1, S7): one line per flow in its
original direction with its state, VPC (zone), age, time left and ports. Filters:
--vpc (VPC id, VRouter id or zone number), --src and --dst (address or CIDR of the
original direction), --proto (tcp, udp, icmp, gre or a number), --port (either port).
At most --limit flows are printed (default 1000); the total counts every match.`,
		Example: "  vrouterctl flows\n  vrouterctl flows --vpc vpc-demo --proto tcp --port 80\n  vrouterctl flows --src 192.168.1.0/24 --limit 20 -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.FlowsResponse
			printed, err := apiCall(cmd, "Flows", p, &r)
			if err != nil || printed {
				return err
			}
			w := cmd.OutOrStdout()
			t := newTable(w, "PROTO", "SOURCE", "DESTINATION", "STATE", "VPC", "AGE", "EXPIRES", "IN", "OUT")
			for _, f := range r.Flows {
				state := f.State
				if f.Established {
					state += " [confirmed]"
				}
				t.row(f.Proto, endpoint(f.Src, f.SrcPort, f.Proto), endpoint(f.Dst, f.DstPort, f.Proto), state, f.Vpc,
					seconds(f.AgeSeconds), seconds(f.ExpiresInSeconds), f.InPort, f.OutPort)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if r.Truncated {
				fmt.Fprintf(w, "%d flows (%d shown; raise --limit for more)\n", r.Total, len(r.Flows))
			} else {
				fmt.Fprintf(w, "%d flows\n", r.Total)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Vpc, "vpc", "", "VPC id, VRouter id or conntrack zone")
	f.StringVar(&p.Src, "src", "", "source address or CIDR")
	f.StringVar(&p.Dst, "dst", "", "destination address or CIDR")
	f.StringVar(&p.Proto, "proto", "", "tcp, udp, icmp, gre or a protocol number")
	f.IntVar(&p.Port, "port", 0, "source or destination port")
	f.IntVar(&p.Limit, "limit", 0, fmt.Sprintf("flows to print (default %d, at most %d)", api.DefaultFlowLimit, api.MaxFlowLimit))
	return cmd
}

func endpoint(addr string, port uint16, proto string) string {
	if proto == "tcp" || proto == "udp" {
		return fmt.Sprintf("%s:%d", addr, port)
	}
	return addr
}

func seconds(s float64) string {
	if s <= 0 {
		return "expired"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func statsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show packet, drop, conntrack and route counters",
		Long: `stats prints the counters that /metrics exports (R8): packets and bytes per port
and direction, drops per port and reason, connection-tracking counters and route
entry hits. Counters never reset while vrouterd runs, reloads included.`,
		Example: "  vrouterctl stats\n  vrouterctl stats -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.StatsResponse
			printed, err := apiCall(cmd, "Stats", nil, &r)
			if err != nil || printed {
				return err
			}
			w := cmd.OutOrStdout()
			t := newTable(w, "PORT", "RX PACKETS", "RX BYTES", "TX PACKETS", "TX BYTES", "DROPS")
			for _, p := range r.Ports {
				var total uint64
				for _, n := range p.Drops {
					total += n
				}
				t.row(p.Name, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, total)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if len(r.Drops) > 0 {
				fmt.Fprintln(w)
				reasons := make([]string, 0, len(r.Drops))
				for k := range r.Drops {
					reasons = append(reasons, k)
				}
				sort.Strings(reasons)
				t = newTable(w, "DROP REASON", "PACKETS")
				for _, k := range reasons {
					t.row(k, r.Drops[k])
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if c := r.Conntrack; c != nil {
				fmt.Fprintf(w, "\nconntrack: %d/%d entries, %d inserts, %d evictions, %d refusals, %d expired\n",
					c.Entries, c.MaxEntries, c.Inserts, c.Evictions, c.Refusals, c.Expired)
			}
			var hits []api.RouteHit
			for _, h := range r.RouteHits {
				if h.Hits > 0 {
					hits = append(hits, h)
				}
			}
			if len(hits) > 0 {
				fmt.Fprintln(w)
				t = newTable(w, "TABLE", "DESTINATION", "HITS")
				for _, h := range hits {
					t.row(h.Table, h.Dst, h.Hits)
				}
				return t.flush()
			}
			return nil
		},
	}
}

func healthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Show next-hop health",
		Long: `health lists every probed next hop (members of active/standby and load-balancing
entries, F8, F9): its route, address, state, last round-trip time, consecutive
results and probe counters.`,
		Example: "  vrouterctl health\n  vrouterctl health -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.HealthResponse
			printed, err := apiCall(cmd, "Health", nil, &r)
			if err != nil || printed {
				return err
			}
			t := newTable(cmd.OutOrStdout(), "TABLE", "DESTINATION", "NEXT HOP", "ADDRESS", "STATE", "RTT", "FAILS", "OKS", "SENT", "LOST", "TRANSITIONS")
			for _, h := range r.NextHops {
				state := "down"
				if h.Up {
					state = "up"
				}
				t.row(h.Table, h.Dst, h.NextHop, h.Addr, state, h.LastRTT, h.ConsecutiveFailures, h.ConsecutiveSuccesses, h.Sent, h.Lost, h.Transitions)
			}
			return t.flush()
		},
	}
}

func traceCmd() *cobra.Command {
	var p api.TraceParams
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Run a synthetic packet through the live tables",
		Long: `trace builds a packet and runs it through the running forwarding tables without
sending it (R7), printing every decision: ingress ENI, anti-spoofing, the
security-group rule that decided (or the default that applied), route table and
entry, next-hop choice and health, destination ENI and the verdict. It creates no
flow. --from is an ENI id (an instance id for its primary ENI) or an ENI address;
--proto is icmp (default, an echo request), tcp (a SYN) or udp; --dport is needed
for tcp and udp. --src overrides the source address (to see anti-spoofing), --length
sets the IP total length (to see MTU handling) and --ttl the TTL (default 64).`,
		Example: "  vrouterctl trace --from i-web1 --dst 192.168.1.20\n  vrouterctl trace --from 192.168.2.10 --dst 10.0.0.5 --proto tcp --dport 443\n  vrouterctl trace --from i-web1 --dst 8.8.8.8 --proto udp --sport 5353 --dport 53",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.TraceResponse
			printed, err := apiCall(cmd, "Trace", p, &r)
			if err != nil || printed {
				return err
			}
			w := cmd.OutOrStdout()
			pkt := fmt.Sprintf("%s %s -> %s", r.Proto, r.Src, r.Dst)
			if r.Proto == "tcp" || r.Proto == "udp" {
				pkt = fmt.Sprintf("%s %s:%d -> %s:%d", r.Proto, r.Src, r.Sport, r.Dst, r.Dport)
			}
			fmt.Fprintf(w, "packet: %s from %s\n", pkt, r.Ingress)
			t := newTable(w, "STAGE", "RESULT", "DETAIL")
			for _, s := range r.Steps {
				t.row(s.Stage, s.Result, s.Detail)
			}
			if err := t.flush(); err != nil {
				return err
			}
			switch {
			case r.OutPort != "":
				fmt.Fprintf(w, "verdict: %s to %s\n", r.Verdict, r.OutPort)
			case r.Reason != "":
				fmt.Fprintf(w, "verdict: %s (%s)\n", r.Verdict, r.Reason)
			default:
				fmt.Fprintf(w, "verdict: %s\n", r.Verdict)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.From, "from", "", "ingress ENI id or address")
	f.StringVar(&p.Dst, "dst", "", "destination address")
	f.StringVar(&p.Proto, "proto", "", "icmp (default), tcp or udp")
	f.IntVar(&p.Sport, "sport", 0, fmt.Sprintf("source port (default %d)", api.DefaultTraceSport))
	f.IntVar(&p.Dport, "dport", 0, "destination port (tcp, udp)")
	f.StringVar(&p.Src, "src", "", "source address (default: the ENI's)")
	f.IntVar(&p.Length, "length", 0, "IP total length in bytes (default: headers only)")
	f.IntVar(&p.TTL, "ttl", 0, "TTL (default 64)")
	mustFlag(cmd, "from", "dst")
	return cmd
}

func stateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Show or reset the overlay of API changes",
		Long: `The changes made through the API are kept in the state directory as an ordered
overlay on the configuration file (R5): the running configuration is the file with
the overlay replayed on top. "state show" lists the overlay; "state reset" drops it
and applies the file alone.`,
		Example: "  vrouterctl state show\n  vrouterctl state reset",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown state subcommand %q (show or reset)", args[0])}
			}
			return usageError{fmt.Errorf("state needs a subcommand: show or reset")}
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	show := &cobra.Command{
		Use:     "show",
		Short:   "List the overlay's operations",
		Long:    "state show lists the operations made through the API, in the order they are\nreplayed on top of the configuration file (R5).",
		Example: "  vrouterctl state show\n  vrouterctl state show -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.StateShowResponse
			printed, err := apiCall(cmd, "StateShow", nil, &r)
			if err != nil || printed {
				return err
			}
			w := cmd.OutOrStdout()
			t := newTable(w, "#", "TIME", "ACTION", "PARAMETERS")
			for i, op := range r.Ops {
				t.row(i+1, op.Time.UTC().Format(time.RFC3339), op.Action, string(op.Params))
			}
			if err := t.flush(); err != nil {
				return err
			}
			where := ""
			if r.Path != "" {
				where = " in " + r.Path
			}
			fmt.Fprintf(w, "%d operations%s\n", r.Count, where)
			return nil
		},
	}
	reset := &cobra.Command{
		Use:     "reset",
		Short:   "Drop the overlay and apply the file alone",
		Long:    "state reset drops every operation made through the API and applies the\nconfiguration file alone. The dropped operations cannot be restored.",
		Example: "  vrouterctl state reset",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r api.StateResetResponse
			printed, err := apiCall(cmd, "StateReset", nil, &r)
			if err != nil || printed {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "overlay reset: %d operations dropped\n", r.DroppedOps)
			return nil
		},
	}
	cmd.AddCommand(show, reset)
	return cmd
}
