package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// Subcommands for the Describe actions of SPEC R5.

func init() {
	rootCmd.AddCommand(describeVpcsCmd(), describeVSwitchesCmd(), describeRouteTablesCmd(), describeRouteEntryListCmd(),
		describeSecurityGroupsCmd(), describeSecurityGroupAttributeCmd(), describeInstancesCmd(), describeNetworkInterfacesCmd())
}

// describeCmd builds a read-only subcommand: setup registers the flags and
// returns the parameter builder; print renders the reply for people.
func describeCmd[R any](use, action, short, long, example string, setup func(cmd *cobra.Command) func() any, print func(cmd *cobra.Command, r *R) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Example: example, Args: noArgs}
	build := setup(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var r R
		printed, err := apiCall(cmd, action, build(), &r)
		if err != nil || printed {
			return err
		}
		return print(cmd, &r)
	}
	return cmd
}

func describeVpcsCmd() *cobra.Command {
	return describeCmd("describe-vpcs", "DescribeVpcs", "List VPCs",
		"describe-vpcs lists the VPCs of the running configuration with their VRouter,\nVSwitches, route tables and usable address count (2^(32−len) − 4, V3).",
		"  vrouterctl describe-vpcs\n  vrouterctl describe-vpcs --vpc vpc-demo -o json",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeVpcsParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only this VPC")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeVpcsResponse) error {
			t := newTable(cmd.OutOrStdout(), "VPC", "NAME", "CIDR", "VROUTER", "VSWITCHES", "ROUTE TABLES", "USABLE IPS", "DEFAULT")
			for _, v := range r.Vpcs {
				t.row(v.VpcID, v.VpcName, v.CidrBlock, v.VRouterID, list(v.VSwitchIDs), list(v.RouteTableIDs), v.UsableIPCount, yesNo(v.IsDefault))
			}
			return t.flush()
		})
}

func describeVSwitchesCmd() *cobra.Command {
	return describeCmd("describe-vswitches", "DescribeVSwitches", "List VSwitches",
		"describe-vswitches lists VSwitches with their gateway (V9, F3), available addresses\n(2^(32−len) − 4 − addresses in use, V9) and route table.",
		"  vrouterctl describe-vswitches\n  vrouterctl describe-vswitches --vpc vpc-demo --zone cn-hangzhou-b",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeVSwitchesParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only VSwitches of this VPC")
			cmd.Flags().StringVar(&p.VSwitchID, "vswitch", "", "only this VSwitch")
			cmd.Flags().StringVar(&p.ZoneID, "zone", "", "only VSwitches of this zone")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeVSwitchesResponse) error {
			t := newTable(cmd.OutOrStdout(), "VSWITCH", "NAME", "VPC", "ZONE", "CIDR", "GATEWAY", "AVAILABLE IPS", "ROUTE TABLE", "ENIS")
			for _, s := range r.VSwitches {
				t.row(s.VSwitchID, s.VSwitchName, s.VpcID, s.ZoneID, s.CidrBlock, s.GatewayIP, s.AvailableIPAddressCount,
					s.RouteTableID+" ("+strings.ToLower(s.RouteTableType)+")", s.NetworkInterfaceCount)
			}
			return t.flush()
		})
}

func describeRouteTablesCmd() *cobra.Command {
	return describeCmd("describe-route-tables", "DescribeRouteTables", "List route tables",
		"describe-route-tables lists the route tables (System or Custom, V12) with the\nVSwitches associated with them and their entry counts.",
		"  vrouterctl describe-route-tables --vpc vpc-demo",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeRouteTablesParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only tables of this VPC")
			cmd.Flags().StringVar(&p.RouteTableID, "table", "", "only this table")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeRouteTablesResponse) error {
			t := newTable(cmd.OutOrStdout(), "TABLE", "NAME", "TYPE", "VPC", "VSWITCHES", "ENTRIES", "CUSTOM")
			for _, x := range r.RouteTables {
				t.row(x.RouteTableID, x.RouteTableName, x.RouteTableType, x.VpcID, list(x.VSwitchIDs), x.RouteEntryCount, x.CustomEntryCount)
			}
			return t.flush()
		})
}

// hopsCell renders next hops: "i-fw1(w100,up) i-fw2(w0,up)".
func hopsCell(hops []api.NextHop) string {
	parts := make([]string, 0, len(hops))
	for _, h := range hops {
		var attrs []string
		if h.Weight != nil {
			attrs = append(attrs, fmt.Sprintf("w%d", *h.Weight))
		}
		if h.Health != "" {
			attrs = append(attrs, h.Health)
		}
		s := h.NextHopID
		if len(attrs) > 0 {
			s += "(" + strings.Join(attrs, ",") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func describeRouteEntryListCmd() *cobra.Command {
	return describeCmd("describe-route-entry-list", "DescribeRouteEntryList", "List the entries of a route table",
		"describe-route-entry-list lists every entry of a route table: System entries\n(100.64.0.0/10 and one per VSwitch CIDR, V13), Custom entries and routes learned\nthrough a CEN (C4), with their next hops, weights and health when probed (F8, F9).",
		"  vrouterctl describe-route-entry-list --table vtb-b\n  vrouterctl describe-route-entry-list --table vtb-b --type Custom",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeRouteEntryListParams
			cmd.Flags().StringVar(&p.RouteTableID, "table", "", "route table id")
			cmd.Flags().StringVar(&p.DestinationCidrBlock, "dst", "", "only the entry for this destination")
			cmd.Flags().StringVar(&p.RouteEntryType, "type", "", "only System, Custom or CEN entries")
			mustFlag(cmd, "table")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeRouteEntryListResponse) error {
			t := newTable(cmd.OutOrStdout(), "DESTINATION", "TYPE", "SHAPE", "NEXT HOPS", "NAME", "HITS")
			for _, e := range r.RouteEntries {
				t.row(e.DestinationCidrBlock, e.Type, e.Shape, hopsCell(e.NextHops), e.RouteEntryName, e.Hits)
			}
			return t.flush()
		})
}

func describeSecurityGroupsCmd() *cobra.Command {
	return describeCmd("describe-security-groups", "DescribeSecurityGroups", "List security groups",
		"describe-security-groups lists security groups with their inner access policy\n(S5), rule count and member ENIs.",
		"  vrouterctl describe-security-groups --vpc vpc-demo",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeSecurityGroupsParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only groups of this VPC")
			cmd.Flags().StringVar(&p.SecurityGroupID, "group", "", "only this group")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeSecurityGroupsResponse) error {
			t := newTable(cmd.OutOrStdout(), "GROUP", "NAME", "VPC", "INNER ACCESS", "RULES", "ENIS", "DEFAULT")
			for _, g := range r.SecurityGroups {
				t.row(g.SecurityGroupID, g.SecurityGroupName, g.VpcID, g.InnerAccessPolicy, g.RuleCount, g.MemberCount, yesNo(g.IsDefault))
			}
			return t.flush()
		})
}

func describeSecurityGroupAttributeCmd() *cobra.Command {
	return describeCmd("describe-security-group-attribute", "DescribeSecurityGroupAttribute", "Show the rules of a security group",
		"describe-security-group-attribute prints a group's rules in evaluation order (S3:\nlowest priority number first, drop before accept at equal priority).",
		"  vrouterctl describe-security-group-attribute --group sg-web\n  vrouterctl describe-security-group-attribute --group sg-web --direction ingress",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeSecurityGroupAttributeParams
			cmd.Flags().StringVar(&p.SecurityGroupID, "group", "", "security group id")
			cmd.Flags().StringVar(&p.Direction, "direction", "", "all (default), ingress or egress")
			mustFlag(cmd, "group")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeSecurityGroupAttributeResponse) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s (%s) in %s, inner access %s\n", r.SecurityGroupID, orDash(r.SecurityGroupName), r.VpcID, r.InnerAccessPolicy)
			t := newTable(w, "DIRECTION", "PRIORITY", "POLICY", "PROTOCOL", "PORT RANGE", "PEER", "DESCRIPTION")
			for _, p := range r.Permissions {
				peer := p.SourceCidrIP + p.SourceGroupID + p.DestCidrIP + p.DestGroupID
				t.row(p.Direction, p.Priority, p.Policy, p.IPProtocol, p.PortRange, peer, p.Description)
			}
			return t.flush()
		})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func describeInstancesCmd() *cobra.Command {
	return describeCmd("describe-instances", "DescribeInstances", "List instances",
		"describe-instances lists instances with their primary address, security groups,\nnamespace and ENIs.",
		"  vrouterctl describe-instances\n  vrouterctl describe-instances --vswitch vsw-b",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeInstancesParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only instances of this VPC")
			cmd.Flags().StringVar(&p.VSwitchID, "vswitch", "", "only instances with an ENI in this VSwitch")
			cmd.Flags().StringVar(&p.InstanceID, "instance", "", "only this instance")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeInstancesResponse) error {
			t := newTable(cmd.OutOrStdout(), "INSTANCE", "NAME", "VPC", "VSWITCH", "ZONE", "IP", "GROUPS", "NETNS", "ENIS")
			for _, in := range r.Instances {
				var enis []string
				for _, e := range in.NetworkInterfaces {
					enis = append(enis, e.IfName+"="+e.PrimaryIPAddress)
				}
				t.row(in.InstanceID, in.InstanceName, in.VpcID, in.VSwitchID, in.ZoneID, in.PrimaryIPAddress, list(in.SecurityGroupIDs), in.Netns, list(enis))
			}
			return t.flush()
		})
}

func describeNetworkInterfacesCmd() *cobra.Command {
	return describeCmd("describe-network-interfaces", "DescribeNetworkInterfaces", "List ENIs",
		"describe-network-interfaces lists every ENI (an instance's primary ENI has the\ninstance's id) with its addresses, groups, namespace, interface name, effective\nsource/destination check (F4) and whether its port is attached.",
		"  vrouterctl describe-network-interfaces --group sg-web\n  vrouterctl describe-network-interfaces --instance i-fw1",
		func(cmd *cobra.Command) func() any {
			var p api.DescribeNetworkInterfacesParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "only ENIs of this VPC")
			cmd.Flags().StringVar(&p.VSwitchID, "vswitch", "", "only ENIs of this VSwitch")
			cmd.Flags().StringVar(&p.InstanceID, "instance", "", "only ENIs of this instance")
			cmd.Flags().StringVar(&p.NetworkInterfaceID, "eni", "", "only this ENI")
			cmd.Flags().StringVar(&p.SecurityGroupID, "group", "", "only members of this security group")
			return func() any { return p }
		},
		func(cmd *cobra.Command, r *api.DescribeNetworkInterfacesResponse) error {
			t := newTable(cmd.OutOrStdout(), "ENI", "INSTANCE", "TYPE", "VSWITCH", "IP", "SECONDARY", "GROUPS", "NETNS", "IFNAME", "SRC/DST CHECK", "ATTACHED")
			for _, e := range r.NetworkInterfaces {
				t.row(e.NetworkInterfaceID, e.InstanceID, strings.ToLower(e.Type), e.VSwitchID, e.PrimaryIPAddress, list(e.SecondaryIPs),
					list(e.SecurityGroupIDs), e.Netns, e.IfName, yesNo(e.SourceDestCheck), yesNo(e.Attached))
			}
			return t.flush()
		})
}
