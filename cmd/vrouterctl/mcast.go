package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// `vrouterctl mcast server` and `vrouterctl mcast client` (SPEC M3): the
// flags of the classic multicast agent's multis_admin and multic_admin
// tools, so that scripts written for them carry over. Both are front ends
// of the multicast API actions (mcast_actions.go has one subcommand per
// action); every change is an overlay operation (R5, M4): saved when made,
// replayed at start and after reloads.
//
// Cobra's -h is replaced by -H (the classic help flag); --help works too.

func init() { rootCmd.AddCommand(mcastCmd()) }

func mcastCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcast",
		Short: "Administer multicast groups and members (classic agent flags)",
		Long: `mcast administers multicast replication (SPEC §6) with the flags of the classic
multicast agent's tools: "mcast server" (multis_admin: groups of a server instance
and their members) and "mcast client" (multic_admin: client entries of a member).
Changes are saved in the state directory when made and replayed at every start and
reload (M4); "vrouterctl state show" lists them.`,
		Example: "  vrouterctl mcast server -A -m 239.1.1.1 -j 192.168.1.20,192.168.2.30\n  vrouterctl mcast client -c i-nat -A -i 192.168.1.10 -p 5000 -m 239.1.1.1",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown mcast subcommand %q (server or client)", args[0])}
			}
			return usageError{fmt.Errorf("mcast needs a subcommand: server or client")}
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(mcastServerCmd(), mcastClientCmd())
	return cmd
}

// mcastFlag is one of a classic tool's action flags.
type mcastFlag struct {
	short, long string
	val         *bool
}

// pickAction returns the one action flag given; none or several is a usage
// error.
func pickAction(flags []mcastFlag) (string, error) {
	var given, all []string
	for _, f := range flags {
		all = append(all, "-"+f.short)
		if *f.val {
			given = append(given, "-"+f.short)
		}
	}
	switch len(given) {
	case 1:
		return given[0][1:], nil
	case 0:
		return "", usageError{fmt.Errorf("give one of %s (-H for help)", strings.Join(all, ", "))}
	default:
		return "", usageError{fmt.Errorf("give only one of %s, not %s", strings.Join(all, ", "), strings.Join(given, " and "))}
	}
}

// onlyWith rejects flags that were given but mean nothing for action.
func onlyWith(cmd *cobra.Command, action string, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
			return usageError{fmt.Errorf("-%s (--%s) does not go with -%s", f.Shorthand, n, action)}
		}
	}
	return nil
}

// mcastMutate runs a mutating action; with -o json the reply is printed
// and done is true.
func mcastMutate(cmd *cobra.Command, action string, params any) (done bool, err error) {
	var resp api.MutationResponse
	printed, err := apiCall(cmd, action, params, &resp)
	if err != nil || printed {
		return true, err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(cmd.OutOrStdout(), "warning:", w)
	}
	return false, nil
}

func describeGroups(cmd *cobra.Command, server, group string) (*api.DescribeMulticastGroupsResponse, bool, error) {
	var r api.DescribeMulticastGroupsResponse
	printed, err := apiCall(cmd, "DescribeMulticastGroups", api.DescribeMulticastGroupsParams{Server: server, Group: group}, &r)
	return &r, printed, err
}

// countOf renders "1 member", "3 members".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// groupLine is the one-line summary of -S:
// "group 239.1.1.1: 3 members (server i-web1, vpc-demo, igmp)".
func groupLine(g *api.MulticastGroup) string {
	extra := ""
	if g.IGMP {
		extra = ", igmp"
	}
	return fmt.Sprintf("group %s: %s (server %s, %s%s)", g.Group, countOf(g.MemberCount, "member", "members"), g.Server, g.VpcID, extra)
}

// memberNote describes how a member receives (-L).
func memberNote(m *api.MulticastMember) string {
	var notes []string
	if m.Dynamic {
		notes = append(notes, fmt.Sprintf("igmp, expires in %s", (time.Duration(m.ExpiresInSeconds*float64(time.Second))).Round(time.Second)))
	}
	if m.Filtered {
		if len(m.Clients) == 0 {
			notes = append(notes, "clients: none for this group (receives nothing of it)")
		} else {
			cs := make([]string, len(m.Clients))
			for i, c := range m.Clients {
				cs[i] = fmt.Sprintf("%s:%d", c.ServerIP, c.Port)
			}
			notes = append(notes, "clients: "+strings.Join(cs, ","))
		}
	}
	return strings.Join(notes, "; ")
}

func printMembers(w io.Writer, g *api.MulticastGroup) error {
	fmt.Fprintln(w, groupLine(g))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := range g.Members {
		m := &g.Members[i]
		line := "  " + m.Address + "\t" + m.NetworkInterfaceID
		if n := memberNote(m); n != "" {
			line += "\t" + n
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func printStats(w io.Writer, g *api.MulticastGroup) {
	s := g.Statistics
	fmt.Fprintf(w, "group %s (server %s, %s)\n", g.Group, g.Server, g.VpcID)
	fmt.Fprintf(w, "packets in: %d, copies out: %d, dropped: %d\n", s.PacketsIn, s.CopiesOut, s.Dropped)
	fmt.Fprintf(w, "bytes in: %d, bytes out: %d\n", s.BytesIn, s.BytesOut)
	fmt.Fprintf(w, "dropped by security groups: %d, by ports: %d, too big: %d\n", s.DroppedSecurityGroup, s.DroppedPort, s.DroppedTooBig)
	for _, m := range g.Members {
		fmt.Fprintf(w, "member %s (%s): copies %d, dropped %d", m.Address, m.NetworkInterfaceID, m.Copies, m.Dropped)
		if m.Dropped > 0 {
			fmt.Fprintf(w, " (security groups %d, ports %d, too big %d)", m.DroppedSecurityGroup, m.DroppedPort, m.DroppedTooBig)
		}
		fmt.Fprintln(w)
	}
}

// ---------------------------------------------------------------------------
// mcast server

const mcastServerLong = `mcast server administers the multicast groups of a server instance with the flags
of the classic multis_admin tool (SPEC M3). Exactly one action:

  -A, --add -m GROUP               add the group (fails if the server has it)
  -A, --add -m GROUP -j IP1,IP2…   join members, adding the group if absent
  -A, --add -m GROUP -q IP1,IP2…   members quit the group (the group stays)
  -D, --delete -m GROUP            delete the group
  -C, --clear                      delete every group of the server, the
                                   configuration file's included
  -P, --stats [-m GROUP]           packet statistics (M6)
  -S, --show [-m GROUP]            one line per group
  -L, --list [-m GROUP]            the members of the group
  -H, --help                       this help

-s ID (--server) chooses the server instance (its id, or an address of one of its
ENIs); without it, the only instance that serves a group is used, and vrouterd asks
for -s when there are several. Members (-j, -q; comma-separated, or further
arguments) are ENI addresses of the server's VPC, or ENI/instance ids standing for
their primary address. --igmp with -A lets ENIs also join and leave by IGMP (M5).

Limits (V17, M2): 10 groups per server, 128 members per group and 10 groups per
member (quotas may raise them); a change beyond one is refused naming the limit,
e.g. "V17: server i-web1 already has 10 groups, the limit (mcast_groups_per_server)".

Changes are saved when made and replayed at every start and reload (M4); -C
persists as well: the groups it removed stay removed (vrouterctl state reset drops
every runtime change).

Output:
  -S   group 239.1.1.1: 3 members (server i-web1, vpc-demo)
  -L   the -S line, then one line per member: address, ENI, and "igmp, expires in
       250s" for members joined by IGMP, "clients: IP:PORT,…" for members with
       client entries (see mcast client)
  -P   group 239.1.1.1 (server i-web1, vpc-demo)
       packets in: 20, copies out: 60, dropped: 20
       bytes in: 1080, bytes out: 3240
       dropped by security groups: 20, by ports: 0, too big: 0
       member 192.168.1.20 (i-nat): copies 20, dropped 0
  -A/-D/-C print what changed and, for -A, the group's -S line.
-o json prints the API reply instead. Exit status: 0 done, 1 refused or failed
(the reason on stderr), 2 wrong flags.`

const mcastServerExample = `  vrouterctl mcast server -A -m 239.1.1.1 -j 192.168.1.20,192.168.2.30
  vrouterctl mcast server -s i-web1 --add --multiip 239.1.1.1 --quit 192.168.2.30
  vrouterctl mcast server -L -m 239.1.1.1
  vrouterctl mcast server -P -m 239.1.1.1
  vrouterctl mcast server -S
  vrouterctl mcast server -D -m 239.1.1.1
  vrouterctl mcast server -s i-web1 -C`

func mcastServerCmd() *cobra.Command {
	var add, del, clear, stats, show, list, igmp bool
	var group, join, quit, server string
	cmd := &cobra.Command{
		Use:     "server",
		Short:   "Multicast groups of a server instance (classic multis_admin flags)",
		Long:    mcastServerLong,
		Example: mcastServerExample,
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.BoolVarP(&add, "add", "A", false, "add a group, join (-j) or remove (-q) members")
	fl.BoolVarP(&del, "delete", "D", false, "delete the group -m")
	fl.BoolVarP(&clear, "clear", "C", false, "delete every group of the server")
	fl.BoolVarP(&stats, "stats", "P", false, "packet statistics")
	fl.BoolVarP(&show, "show", "S", false, "show the groups")
	fl.BoolVarP(&list, "list", "L", false, "list the members of the group -m")
	fl.BoolP("help", "H", false, "help for mcast server")
	fl.StringVarP(&group, "multiip", "m", "", "group address")
	fl.StringVarP(&join, "join", "j", "", "members to join (with -A), comma-separated")
	fl.StringVarP(&quit, "quit", "q", "", "members to remove (with -A), comma-separated")
	fl.StringVarP(&server, "server", "s", "", "server instance id (default: the only instance serving a group)")
	fl.BoolVar(&igmp, "igmp", false, "with -A: members may also join and leave by IGMP (M5)")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		act, err := pickAction([]mcastFlag{{"A", "add", &add}, {"D", "delete", &del}, {"C", "clear", &clear},
			{"P", "stats", &stats}, {"S", "show", &show}, {"L", "list", &list}})
		if err != nil {
			return err
		}
		if act != "A" {
			if err := onlyWith(cmd, act, "join", "quit", "igmp"); err != nil {
				return err
			}
		}
		if len(args) > 0 && (act != "A" || (join == "" && quit == "")) {
			return usageError{fmt.Errorf("unexpected arguments %q (members go with -j or -q)", strings.Join(args, " "))}
		}
		if group == "" && (act == "A" || act == "D") {
			return usageError{fmt.Errorf("-%s needs the group: -m GROUP", act)}
		}
		w := cmd.OutOrStdout()
		switch act {
		case "A":
			p := api.MulticastGroupParams{Server: server, Group: group}
			if cmd.Flags().Changed("igmp") {
				p.IGMP = &igmp
			}
			action, verb := "CreateMulticastGroup", "added"
			switch {
			case join != "" && quit != "":
				return usageError{fmt.Errorf("give -j or -q, not both")}
			case join != "":
				action, verb, p.Members = "JoinMulticastGroup", "joined", splitList(append([]string{join}, args...)...)
			case quit != "":
				if p.IGMP != nil {
					return usageError{fmt.Errorf("--igmp does not go with -q")}
				}
				action, verb, p.Members = "QuitMulticastGroup", "quit", splitList(append([]string{quit}, args...)...)
			}
			if done, err := mcastMutate(cmd, action, p); done || err != nil {
				return err
			}
			if len(p.Members) > 0 {
				fmt.Fprintf(w, "group %s: %s %s\n", group, strings.Join(p.Members, ", "), verb)
			} else {
				fmt.Fprintf(w, "group %s %s\n", group, verb)
			}
			r, _, err := describeGroups(cmd, server, group)
			if err != nil {
				return err
			}
			for i := range r.Groups {
				fmt.Fprintln(w, groupLine(&r.Groups[i]))
			}
			return nil
		case "D":
			if done, err := mcastMutate(cmd, "DeleteMulticastGroup", api.DeleteMulticastGroupParams{Server: server, Group: group}); done || err != nil {
				return err
			}
			fmt.Fprintf(w, "group %s deleted\n", group)
			return nil
		case "C":
			if err := onlyWith(cmd, act, "multiip"); err != nil {
				return err
			}
			if done, err := mcastMutate(cmd, "ClearMulticastGroups", api.ClearMulticastGroupsParams{Server: server}); done || err != nil {
				return err
			}
			if server != "" {
				fmt.Fprintf(w, "multicast groups of %s cleared\n", server)
			} else {
				fmt.Fprintln(w, "multicast groups cleared")
			}
			return nil
		}
		r, printed, err := describeGroups(cmd, server, group)
		if err != nil || printed {
			return err
		}
		if len(r.Groups) == 0 {
			fmt.Fprintln(w, "no multicast groups")
			return nil
		}
		for i := range r.Groups {
			g := &r.Groups[i]
			switch act {
			case "S":
				fmt.Fprintln(w, groupLine(g))
			case "L":
				if err := printMembers(w, g); err != nil {
					return err
				}
			case "P":
				if i > 0 {
					fmt.Fprintln(w)
				}
				printStats(w, g)
			}
		}
		return nil
	}
	return cmd
}

// ---------------------------------------------------------------------------
// mcast client

const mcastClientLong = `mcast client administers the client entries of a member with the flags of the
classic multic_admin tool (SPEC M3). A client entry makes the member accept a
group's packets from one server address to one UDP port. A member with client
entries receives only the traffic they match, in all its groups; a member without
any receives every group it is a member of. Exactly one action:

  -A, --add -i SERVER_IP -p PORT -m GROUP   add an entry
  -D, --delete -i SERVER_IP -p PORT         remove an entry
  -C, --clear                               remove every entry of the member
  -P, --stats -i SERVER_IP -p PORT          receive statistics of an entry (M6)
  -L, --list                                list the entries
  -H, --help                                this help

-c ID (--member) chooses the member: an ENI id, an instance id (its primary ENI) or
an ENI address; -A, -D and -C need it, -P and -L without it cover every member. The
group must exist in the member's VPC, sent by a server that owns SERVER_IP.
Changes are saved when made and replayed at every start and reload (M4).

Output:
  -L   member i-nat (192.168.1.20): 1 client entry
         group 239.1.1.1 from 192.168.1.10 port 5000
       ("(inactive: …)" follows an entry that matches no group of the member)
  -P   client 192.168.1.10:5000 of i-nat (group 239.1.1.1): packets: 20, bytes: 1080
-o json prints the API reply instead. Exit status: 0 done, 1 refused or failed
(the reason on stderr), 2 wrong flags.`

const mcastClientExample = `  vrouterctl mcast client -c i-nat -A -i 192.168.1.10 -p 5000 -m 239.1.1.1
  vrouterctl mcast client -c 192.168.1.20 -L
  vrouterctl mcast client -c i-nat -P -i 192.168.1.10 -p 5000
  vrouterctl mcast client -c i-nat --delete --ip 192.168.1.10 --port 5000
  vrouterctl mcast client -c i-nat -C`

func mcastClientCmd() *cobra.Command {
	var add, del, clear, stats, list bool
	var ip, group, member string
	var port int
	cmd := &cobra.Command{
		Use:     "client",
		Short:   "Client entries of a multicast member (classic multic_admin flags)",
		Long:    mcastClientLong,
		Example: mcastClientExample,
		Args:    noArgs,
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.BoolVarP(&add, "add", "A", false, "add an entry (-i, -p, -m)")
	fl.BoolVarP(&del, "delete", "D", false, "remove the entry (-i, -p)")
	fl.BoolVarP(&clear, "clear", "C", false, "remove every entry of the member")
	fl.BoolVarP(&stats, "stats", "P", false, "receive statistics of the entry (-i, -p)")
	fl.BoolVarP(&list, "list", "L", false, "list the entries")
	fl.BoolP("help", "H", false, "help for mcast client")
	fl.StringVarP(&ip, "ip", "i", "", "the server's address")
	fl.IntVarP(&port, "port", "p", 0, "UDP destination port")
	fl.StringVarP(&group, "multiip", "m", "", "group address (with -A)")
	fl.StringVarP(&member, "member", "c", "", "member ENI id, instance id or ENI address")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		act, err := pickAction([]mcastFlag{{"A", "add", &add}, {"D", "delete", &del}, {"C", "clear", &clear},
			{"P", "stats", &stats}, {"L", "list", &list}})
		if err != nil {
			return err
		}
		if act != "A" {
			if err := onlyWith(cmd, act, "multiip"); err != nil {
				return err
			}
		}
		if act == "C" || act == "L" {
			if err := onlyWith(cmd, act, "ip", "port"); err != nil {
				return err
			}
		}
		if member == "" && (act == "A" || act == "D" || act == "C") {
			return usageError{fmt.Errorf("-%s needs the member: -c ID (ENI id, instance id or address)", act)}
		}
		if (act == "A" || act == "D" || act == "P") && (ip == "" || !cmd.Flags().Changed("port")) {
			return usageError{fmt.Errorf("-%s needs the server address and port: -i SERVER_IP -p PORT", act)}
		}
		if act == "A" && group == "" {
			return usageError{fmt.Errorf("-A needs the group: -m GROUP")}
		}
		w := cmd.OutOrStdout()
		entry := fmt.Sprintf("%s port %d", ip, port)
		switch act {
		case "A":
			if done, err := mcastMutate(cmd, "AddMulticastClient", api.MulticastClientParams{Member: member, ServerIP: ip, Port: port, Group: group}); done || err != nil {
				return err
			}
			fmt.Fprintf(w, "client entry added: %s accepts group %s from %s\n", member, group, entry)
			return nil
		case "D":
			if done, err := mcastMutate(cmd, "RemoveMulticastClient", api.RemoveMulticastClientParams{Member: member, ServerIP: ip, Port: port}); done || err != nil {
				return err
			}
			fmt.Fprintf(w, "client entry removed: %s from %s\n", member, entry)
			return nil
		case "C":
			if done, err := mcastMutate(cmd, "ClearMulticastClients", api.ClearMulticastClientsParams{Member: member}); done || err != nil {
				return err
			}
			fmt.Fprintf(w, "client entries of %s cleared\n", member)
			return nil
		}
		p := api.DescribeMulticastClientsParams{Member: member}
		if act == "P" {
			p.ServerIP, p.Port = ip, port
		}
		var r api.DescribeMulticastClientsResponse
		printed, err := apiCall(cmd, "DescribeMulticastClients", p, &r)
		if err != nil || printed {
			return err
		}
		if act == "P" {
			for _, c := range r.Clients {
				fmt.Fprintf(w, "client %s:%d of %s (group %s): packets: %d, bytes: %d\n", c.ServerIP, c.Port, c.Member, c.Group, c.Packets, c.Bytes)
			}
			return nil
		}
		if len(r.Clients) == 0 {
			if member != "" {
				fmt.Fprintf(w, "member %s: no client entries (receives every group it is a member of)\n", member)
			} else {
				fmt.Fprintln(w, "no client entries")
			}
			return nil
		}
		// Entries are grouped by member, in the order they were added.
		var order []string
		by := map[string][]api.MulticastClient{}
		for _, c := range r.Clients {
			if _, ok := by[c.Member]; !ok {
				order = append(order, c.Member)
			}
			by[c.Member] = append(by[c.Member], c)
		}
		for _, m := range order {
			cs := by[m]
			fmt.Fprintf(w, "member %s (%s): %s\n", m, cs[0].MemberAddress, countOf(len(cs), "client entry", "client entries"))
			for _, c := range cs {
				line := fmt.Sprintf("  group %s from %s port %d", c.Group, c.ServerIP, c.Port)
				if !c.Active {
					line += fmt.Sprintf(" (inactive: %s is in no group %s sent from %s)", m, c.Group, c.ServerIP)
				}
				fmt.Fprintln(w, line)
			}
		}
		return nil
	}
	return cmd
}
