package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// One subcommand per multicast API action, in kebab case (R6). The classic
// flag-compatible front ends are `mcast server` and `mcast client`
// (mcast.go); both call the same actions.

func init() {
	rootCmd.AddCommand(
		mcastGroupCmd("create-multicast-group", "CreateMulticastGroup", "Add a multicast group to a server"),
		mcastGroupCmd("join-multicast-group", "JoinMulticastGroup", "Join members to a multicast group (adding the group if absent)"),
		mcastGroupCmd("quit-multicast-group", "QuitMulticastGroup", "Remove members from a multicast group"),
		deleteMulticastGroupCmd(), clearMulticastGroupsCmd(),
		addMulticastClientCmd(), removeMulticastClientCmd(), clearMulticastClientsCmd(),
		describeMulticastGroupsCmd(), describeMulticastClientsCmd(),
	)
}

// splitList splits comma-separated values (and further arguments), dropping
// empty ones: "-j 192.168.1.20,192.168.1.21" or "-j A B".
func splitList(vals ...string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

const serverFlagHelp = "server instance id (or an ENI address of it); default: the only instance that serves a group"

func mcastGroupCmd(use, action, short string) *cobra.Command {
	long := map[string]string{
		"CreateMulticastGroup": `create-multicast-group adds a group to a server instance (M1), with --members if
given and --igmp to let ENIs of the VPC join and leave by IGMP (M5). It fails when
the server already has the group. Limits (V17): 10 groups per server, 128 members
per group, 10 groups per member, unless quotas raise them.`,
		"JoinMulticastGroup": `join-multicast-group joins --members to a group of a server, adding the group first
when the server does not have it (the classic "mcast server -A -m GROUP -j IPS").
Members are ENI addresses of the server's VPC, or ENI/instance ids standing for
their primary address. A member already in the group is an error. Limits (V17):
10 groups per server, 128 members per group, 10 groups per member.`,
		"QuitMulticastGroup": `quit-multicast-group removes --members from a group of a server (the classic
"mcast server -A -m GROUP -q IPS"); the group stays, possibly empty.`,
	}[action]
	example := map[string]string{
		"CreateMulticastGroup": "  vrouterctl create-multicast-group --server i-web1 --group 239.1.1.1\n  vrouterctl create-multicast-group --group 239.2.2.2 --igmp --members 192.168.1.20",
		"JoinMulticastGroup":   "  vrouterctl join-multicast-group --group 239.1.1.1 --members 192.168.1.20,192.168.2.30\n  vrouterctl join-multicast-group --server i-web1 --group 239.1.1.1 --members i-nat",
		"QuitMulticastGroup":   "  vrouterctl quit-multicast-group --group 239.1.1.1 --members 192.168.1.20",
	}[action]
	return mutationCmd(use, action, short, long, example, func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
		var server, group, members string
		var igmp bool
		cmd.Flags().StringVar(&server, "server", "", serverFlagHelp)
		cmd.Flags().StringVar(&group, "group", "", "group address (224.0.0.0/4, not 224.0.0.0/24)")
		cmd.Flags().StringVar(&members, "members", "", "member ENI addresses or ids, comma-separated")
		mustFlag(cmd, "group")
		if action != "CreateMulticastGroup" {
			mustFlag(cmd, "members")
		}
		if action != "QuitMulticastGroup" {
			cmd.Flags().BoolVar(&igmp, "igmp", false, "members may also join and leave by IGMP (M5)")
		}
		return func(cmd *cobra.Command) (any, error) {
			p := api.MulticastGroupParams{Server: server, Group: group, Members: splitList(members)}
			if cmd.Flags().Changed("igmp") {
				p.IGMP = &igmp
			}
			return p, nil
		}
	})
}

func deleteMulticastGroupCmd() *cobra.Command {
	return mutationCmd("delete-multicast-group", "DeleteMulticastGroup", "Delete a multicast group of a server",
		"delete-multicast-group deletes one group of a server, whether it came from the file\nor from the API (the classic \"mcast server -D -m GROUP\"); the deletion persists (M4).",
		"  vrouterctl delete-multicast-group --group 239.1.1.1\n  vrouterctl delete-multicast-group --server i-web1 --group 239.1.1.1",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.DeleteMulticastGroupParams
			cmd.Flags().StringVar(&p.Server, "server", "", serverFlagHelp)
			cmd.Flags().StringVar(&p.Group, "group", "", "group address")
			mustFlag(cmd, "group")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func clearMulticastGroupsCmd() *cobra.Command {
	return mutationCmd("clear-multicast-groups", "ClearMulticastGroups", "Delete every multicast group of a server",
		`clear-multicast-groups deletes every group of a server, the file's included (the
classic "mcast server -C"). The clearing persists across restarts and reloads (M4):
the groups it removed stay removed; groups added to the file later are kept.`,
		"  vrouterctl clear-multicast-groups\n  vrouterctl clear-multicast-groups --server i-web1",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.ClearMulticastGroupsParams
			cmd.Flags().StringVar(&p.Server, "server", "", serverFlagHelp)
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

const memberFlagHelp = "member ENI id, instance id (its primary ENI) or ENI address"

func addMulticastClientCmd() *cobra.Command {
	return mutationCmd("add-multicast-client", "AddMulticastClient", "Add a client entry to a multicast member",
		`add-multicast-client makes --member accept --group from --server-ip to UDP --port
(the classic "mcast client -A -i SERVER_IP -p PORT -m GROUP"). A member with client
entries receives only the traffic they match, in all its groups; one without any
receives every group it is a member of (M3). The group must exist in the member's
VPC with a server owning --server-ip.`,
		"  vrouterctl add-multicast-client --member i-nat --server-ip 192.168.1.10 --port 5000 --group 239.1.1.1",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.MulticastClientParams
			cmd.Flags().StringVar(&p.Member, "member", "", memberFlagHelp)
			cmd.Flags().StringVar(&p.ServerIP, "server-ip", "", "the server's address (the packets' source)")
			cmd.Flags().IntVar(&p.Port, "port", 0, "UDP destination port")
			cmd.Flags().StringVar(&p.Group, "group", "", "group address")
			mustFlag(cmd, "member", "server-ip", "port", "group")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func removeMulticastClientCmd() *cobra.Command {
	return mutationCmd("remove-multicast-client", "RemoveMulticastClient", "Remove a client entry of a multicast member",
		"remove-multicast-client removes the entry (--server-ip, --port) of --member (the\nclassic \"mcast client -D -i IP -p PORT\").",
		"  vrouterctl remove-multicast-client --member i-nat --server-ip 192.168.1.10 --port 5000",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.RemoveMulticastClientParams
			cmd.Flags().StringVar(&p.Member, "member", "", memberFlagHelp)
			cmd.Flags().StringVar(&p.ServerIP, "server-ip", "", "the server's address")
			cmd.Flags().IntVar(&p.Port, "port", 0, "UDP destination port")
			mustFlag(cmd, "member", "server-ip", "port")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func clearMulticastClientsCmd() *cobra.Command {
	return mutationCmd("clear-multicast-clients", "ClearMulticastClients", "Remove every client entry of a multicast member",
		"clear-multicast-clients removes every client entry of --member (the classic \"mcast\nclient -C\"): it then receives every group it is a member of again.",
		"  vrouterctl clear-multicast-clients --member i-nat",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.ClearMulticastClientsParams
			cmd.Flags().StringVar(&p.Member, "member", "", memberFlagHelp)
			mustFlag(cmd, "member")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func describeMulticastGroupsCmd() *cobra.Command {
	return describeCmd("describe-multicast-groups", "DescribeMulticastGroups", "List multicast groups with their counters",
		`describe-multicast-groups lists the multicast groups (M1) with their server, member
count and counters since vrouterd started (M6): packets the server sent, copies
written to members, copies dropped (security groups, full ports, too big). -o json
adds every member with its own counters and client entries.`,
		"  vrouterctl describe-multicast-groups\n  vrouterctl describe-multicast-groups --server i-web1 --group 239.1.1.1 -o json",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeMulticastGroupsParams
			cmd.Flags().StringVar(&p.Server, "server", "", "only groups of this server instance")
			cmd.Flags().StringVar(&p.Group, "group", "", "only groups with this address")
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only groups of this VPC")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeMulticastGroupsResponse) error {
			t := newTable(cmd.OutOrStdout(), "GROUP", "VPC", "SERVER", "IGMP", "MEMBERS", "PACKETS IN", "COPIES OUT", "DROPPED")
			for _, g := range r.Groups {
				s := g.Statistics
				t.row(g.Group, g.VpcID, g.Server, yesNo(g.IGMP), g.MemberCount, s.PacketsIn, s.CopiesOut, s.Dropped)
			}
			return t.flush()
		})
}

func describeMulticastClientsCmd() *cobra.Command {
	return describeCmd("describe-multicast-clients", "DescribeMulticastClients", "List client entries of multicast members",
		`describe-multicast-clients lists the client entries (M3) with what each received
(M6). ACTIVE is "no" while the member is in no group with that address whose server
sends from that address: the entry then matches nothing.`,
		"  vrouterctl describe-multicast-clients\n  vrouterctl describe-multicast-clients --member i-nat --server-ip 192.168.1.10 --port 5000",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeMulticastClientsParams
			cmd.Flags().StringVar(&p.Member, "member", "", "only entries of this member (ENI id, instance id or address)")
			cmd.Flags().StringVar(&p.ServerIP, "server-ip", "", "only entries for this server address")
			cmd.Flags().IntVar(&p.Port, "port", 0, "only entries for this UDP port")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeMulticastClientsResponse) error {
			t := newTable(cmd.OutOrStdout(), "MEMBER", "ADDRESS", "GROUP", "SERVER", "PORT", "ACTIVE", "PACKETS", "BYTES")
			for _, c := range r.Clients {
				t.row(c.Member, c.MemberAddress, c.Group, c.ServerIP, c.Port, yesNo(c.Active), c.Packets, c.Bytes)
			}
			if err := t.flush(); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%d client entries\n", r.TotalCount)
			return err
		})
}
