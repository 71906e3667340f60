package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// Subcommands for the mutating actions of SPEC R5 (one per action, in
// kebab case, R6).

func init() {
	rootCmd.AddCommand(
		createRouteEntryCmd(), deleteRouteEntryCmd(), createRouteTableCmd(), deleteRouteTableCmd(),
		associateRouteTableCmd(), unassociateRouteTableCmd(),
		sgRuleCmd("authorize-security-group", "AuthorizeSecurityGroup", "Add a rule to a security group"),
		sgRuleCmd("authorize-security-group-egress", "AuthorizeSecurityGroupEgress", "Add an egress rule to a security group"),
		sgRuleCmd("revoke-security-group", "RevokeSecurityGroup", "Remove a rule from a security group"),
		sgRuleCmd("revoke-security-group-egress", "RevokeSecurityGroupEgress", "Remove an egress rule from a security group"),
		createSecurityGroupCmd(), deleteSecurityGroupCmd(),
		membershipCmd("join-security-group", "JoinSecurityGroup", "Add an ENI to a security group"),
		membershipCmd("leave-security-group", "LeaveSecurityGroup", "Remove an ENI from a security group"),
		modifyVpcAttributeCmd(), modifyVSwitchAttributeCmd(),
		createVSwitchCmd(), deleteVSwitchCmd(), createVpcCmd(), deleteVpcCmd(),
	)
}

// parseNextHops parses "i-a:100,i-b:0" (V15).
func parseNextHops(s string) ([]api.NextHopParam, error) {
	var out []api.NextHopParam
	for _, part := range strings.Split(s, ",") {
		id, w, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" {
			return nil, usageError{fmt.Errorf("--next-hops %q: give ID:WEIGHT pairs separated by commas (e.g. i-a:100,i-b:0)", s)}
		}
		n, err := strconv.Atoi(w)
		if err != nil {
			return nil, usageError{fmt.Errorf("--next-hops: weight %q of %s is not a number", w, id)}
		}
		out = append(out, api.NextHopParam{NextHopID: id, Weight: &n})
	}
	return out, nil
}

func createRouteEntryCmd() *cobra.Command {
	return mutationCmd("create-route-entry", "CreateRouteEntry", "Add a custom route entry to a route table",
		`create-route-entry adds a Custom entry (V13–V15) to a route table. Give exactly one of
--next-hop (general routing) or --next-hops: two hops weighted 100 and 0 make an
active/standby pair (F9), 2–4 hops of equal weight 1–255 load-balance (F8). The
--health-* flags set the probe schedule of --next-hops (default: every 1s, timeout
500ms, 3 failures, 3 successes).`,
		`  vrouterctl create-route-entry --table vtb-b --dst 10.9.0.0/16 --next-hop i-fw1
  vrouterctl create-route-entry --table vtb-b --dst 172.16.0.0/12 --next-hops i-fw1:100,i-fw2:0 --health-interval 200ms --health-timeout 150ms
  vrouterctl create-route-entry --table vtb-b --dst 10.0.0.0/8 --next-hops i-a:100,i-b:100`,
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var table, dst, hop, hops, name, desc, interval, timeout string
			var failures, successes int
			f := cmd.Flags()
			f.StringVar(&table, "table", "", "route table id (vtb-…)")
			f.StringVar(&dst, "dst", "", "destination CIDR")
			f.StringVar(&hop, "next-hop", "", "next hop id (i-, eni-, vpn-, ri-, ngw-)")
			f.StringVar(&hops, "next-hops", "", "weighted next hops ID:WEIGHT,… (active/standby or load balancing)")
			f.StringVar(&name, "name", "", "route entry name")
			f.StringVar(&desc, "description", "", "route entry description")
			f.StringVar(&interval, "health-interval", "", "probe interval of --next-hops (e.g. 200ms)")
			f.StringVar(&timeout, "health-timeout", "", "probe timeout of --next-hops")
			f.IntVar(&failures, "health-failures", 0, "consecutive lost probes that take a hop down")
			f.IntVar(&successes, "health-successes", 0, "consecutive good probes that bring a hop back")
			mustFlag(cmd, "table", "dst")
			cmd.MarkFlagsMutuallyExclusive("next-hop", "next-hops")
			cmd.MarkFlagsOneRequired("next-hop", "next-hops")
			return func(cmd *cobra.Command) (any, error) {
				p := api.CreateRouteEntryParams{RouteTableID: table, DestinationCidrBlock: dst, NextHopID: hop, RouteEntryName: name, Description: desc}
				if hops != "" {
					var err error
					if p.NextHopList, err = parseNextHops(hops); err != nil {
						return nil, err
					}
				}
				fl := cmd.Flags()
				if fl.Changed("health-interval") || fl.Changed("health-timeout") || fl.Changed("health-failures") || fl.Changed("health-successes") {
					hc := &api.HealthCheckParam{Interval: interval, Timeout: timeout}
					if fl.Changed("health-failures") {
						hc.Failures = &failures
					}
					if fl.Changed("health-successes") {
						hc.Successes = &successes
					}
					p.HealthCheck = hc
				}
				return p, nil
			}
		})
}

func deleteRouteEntryCmd() *cobra.Command {
	return mutationCmd("delete-route-entry", "DeleteRouteEntry", "Delete a custom route entry",
		"delete-route-entry removes the Custom entry with the given destination from a route\ntable. System entries cannot be deleted (V13).",
		"  vrouterctl delete-route-entry --table vtb-b --dst 10.9.0.0/16",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var table, dst string
			cmd.Flags().StringVar(&table, "table", "", "route table id")
			cmd.Flags().StringVar(&dst, "dst", "", "destination CIDR of the entry")
			mustFlag(cmd, "table", "dst")
			return func(*cobra.Command) (any, error) {
				return api.DeleteRouteEntryParams{RouteTableID: table, DestinationCidrBlock: dst}, nil
			}
		})
}

func createRouteTableCmd() *cobra.Command {
	return mutationCmd("create-route-table", "CreateRouteTable", "Create a custom route table in a VPC",
		"create-route-table creates a Custom route table (V12: at most 10 tables per VPC,\nsystem table included). It starts with the VPC's system entries (V13).",
		"  vrouterctl create-route-table --vpc vpc-demo --table vtb-c --name Table2",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var vpc, table, name, desc string
			cmd.Flags().StringVar(&vpc, "vpc", "", "VPC id")
			cmd.Flags().StringVar(&table, "table", "", "id of the new table (vtb-…)")
			cmd.Flags().StringVar(&name, "name", "", "table name")
			cmd.Flags().StringVar(&desc, "description", "", "table description")
			mustFlag(cmd, "vpc", "table")
			return func(*cobra.Command) (any, error) {
				return api.CreateRouteTableParams{VpcID: vpc, RouteTableID: table, RouteTableName: name, Description: desc}, nil
			}
		})
}

func deleteRouteTableCmd() *cobra.Command {
	return mutationCmd("delete-route-table", "DeleteRouteTable", "Delete a custom route table",
		"delete-route-table deletes a Custom route table that no VSwitch is associated with.\nThe system table is never deleted (V12).",
		"  vrouterctl delete-route-table --table vtb-c",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var table string
			cmd.Flags().StringVar(&table, "table", "", "route table id")
			mustFlag(cmd, "table")
			return func(*cobra.Command) (any, error) { return api.DeleteRouteTableParams{RouteTableID: table}, nil }
		})
}

func tableVSwitchFlags(cmd *cobra.Command) (*string, *string) {
	var table, vsw string
	cmd.Flags().StringVar(&table, "table", "", "route table id")
	cmd.Flags().StringVar(&vsw, "vswitch", "", "VSwitch id")
	mustFlag(cmd, "table", "vswitch")
	return &table, &vsw
}

func associateRouteTableCmd() *cobra.Command {
	return mutationCmd("associate-route-table", "AssociateRouteTable", "Associate a VSwitch with a route table",
		"associate-route-table makes a VSwitch use a route table of its own VPC (V12, F2),\nreplacing its current association.",
		"  vrouterctl associate-route-table --table vtb-b --vswitch vsw-c",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			table, vsw := tableVSwitchFlags(cmd)
			return func(*cobra.Command) (any, error) {
				return api.AssociateRouteTableParams{RouteTableID: *table, VSwitchID: *vsw}, nil
			}
		})
}

func unassociateRouteTableCmd() *cobra.Command {
	return mutationCmd("unassociate-route-table", "UnassociateRouteTable", "Return a VSwitch to the system route table",
		"unassociate-route-table detaches a VSwitch from a custom route table; the VSwitch\nuses its VPC's system table again.",
		"  vrouterctl unassociate-route-table --table vtb-b --vswitch vsw-b",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			table, vsw := tableVSwitchFlags(cmd)
			return func(*cobra.Command) (any, error) {
				return api.UnassociateRouteTableParams{RouteTableID: *table, VSwitchID: *vsw}, nil
			}
		})
}

func sgRuleCmd(use, action, short string) *cobra.Command {
	egress := strings.HasSuffix(action, "Egress")
	verb := "adds"
	if strings.HasPrefix(action, "Revoke") {
		verb = "removes"
	}
	long := use + ` ` + verb + ` one security-group rule (V16, S3). --direction is ingress
(default) or egress; an ingress rule takes --source-cidr or --source-group, an egress
rule --dest-cidr or --dest-group. --protocol is tcp, udp, icmp, gre or all;
--port-range is A/B for tcp and udp and -1/-1 (the default) otherwise. --policy is
accept (default) or drop; --priority 1–100 (default 1, evaluated first).`
	example := `  vrouterctl ` + use + ` --group sg-web --direction ingress --protocol tcp --port-range 22/22 --source-cidr 0.0.0.0/0 --policy accept --priority 1
  vrouterctl ` + use + ` --group sg-web --protocol all --source-cidr 10.0.0.1/32 --policy drop`
	if egress {
		long = strings.Replace(long, "--direction is ingress\n(default) or egress; an ingress rule takes --source-cidr or --source-group, an egress\nrule --dest-cidr or --dest-group.", "The rule is an egress rule:\nit takes --dest-cidr or --dest-group.", 1)
		example = `  vrouterctl ` + use + ` --group sg-web --protocol tcp --port-range 25/25 --dest-cidr 0.0.0.0/0 --policy drop`
	}
	if verb == "removes" {
		long += "\nThe rule removed is the one equal to the flags given (after the same defaults);\nthe description does not take part."
	}
	return mutationCmd(use, action, short, long, example,
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.SecurityGroupRuleParams
			var priority int
			f := cmd.Flags()
			f.StringVar(&p.SecurityGroupID, "group", "", "security group id")
			if !egress {
				f.StringVar(&p.Direction, "direction", "", "ingress (default) or egress")
				f.StringVar(&p.SourceCidrIP, "source-cidr", "", "ingress peer: source address or CIDR")
				f.StringVar(&p.SourceGroupID, "source-group", "", "ingress peer: source security group")
			}
			f.StringVar(&p.IPProtocol, "protocol", "", "tcp, udp, icmp, gre or all")
			f.StringVar(&p.PortRange, "port-range", "", "A/B for tcp and udp (e.g. 22/22); -1/-1 otherwise")
			f.StringVar(&p.DestCidrIP, "dest-cidr", "", "egress peer: destination address or CIDR")
			f.StringVar(&p.DestGroupID, "dest-group", "", "egress peer: destination security group")
			f.StringVar(&p.Policy, "policy", "", "accept (default) or drop")
			f.IntVar(&priority, "priority", 1, "1–100, lower is evaluated first")
			f.StringVar(&p.Description, "description", "", "rule description")
			mustFlag(cmd, "group", "protocol")
			return func(cmd *cobra.Command) (any, error) {
				q := p
				if cmd.Flags().Changed("priority") {
					q.Priority = &priority
				}
				return q, nil
			}
		})
}

func createSecurityGroupCmd() *cobra.Command {
	return mutationCmd("create-security-group", "CreateSecurityGroup", "Create a security group in a VPC",
		"create-security-group creates a security group without rules (S4's defaults apply:\ningress drop, egress accept). --inner-access accept (default) lets members talk\nto each other whatever the rules say (S5); drop isolates them.",
		"  vrouterctl create-security-group --vpc vpc-demo --group sg-db --name db --inner-access drop",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.CreateSecurityGroupParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "VPC id")
			cmd.Flags().StringVar(&p.SecurityGroupID, "group", "", "id of the new group (sg-…)")
			cmd.Flags().StringVar(&p.SecurityGroupName, "name", "", "group name")
			cmd.Flags().StringVar(&p.Description, "description", "", "group description")
			cmd.Flags().StringVar(&p.InnerAccessPolicy, "inner-access", "", "accept (default) or drop")
			mustFlag(cmd, "vpc", "group")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func deleteSecurityGroupCmd() *cobra.Command {
	return mutationCmd("delete-security-group", "DeleteSecurityGroup", "Delete a security group",
		"delete-security-group deletes a group that no ENI, rule or ClassicLink rule uses.\nA VPC's default group cannot be deleted (V16).",
		"  vrouterctl delete-security-group --group sg-db",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var id string
			cmd.Flags().StringVar(&id, "group", "", "security group id")
			mustFlag(cmd, "group")
			return func(*cobra.Command) (any, error) { return api.DeleteSecurityGroupParams{SecurityGroupID: id}, nil }
		})
}

func membershipCmd(use, action, short string) *cobra.Command {
	long := use + " changes the security groups of one ENI: --instance names an instance's\nprimary ENI, --eni a secondary ENI. An ENI is in 1–5 groups of its own VPC (V16)."
	return mutationCmd(use, action, short, long,
		"  vrouterctl "+use+" --instance i-web1 --group sg-web\n  vrouterctl "+use+" --eni eni-fw1b --group sg-web",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.MembershipParams
			cmd.Flags().StringVar(&p.InstanceID, "instance", "", "instance id (its primary ENI)")
			cmd.Flags().StringVar(&p.NetworkInterfaceID, "eni", "", "secondary ENI id")
			cmd.Flags().StringVar(&p.SecurityGroupID, "group", "", "security group id")
			mustFlag(cmd, "group")
			cmd.MarkFlagsMutuallyExclusive("instance", "eni")
			cmd.MarkFlagsOneRequired("instance", "eni")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func modifyVpcAttributeCmd() *cobra.Command {
	return mutationCmd("modify-vpc-attribute", "ModifyVpcAttribute", "Change a VPC's name, description or ClassicLink",
		"modify-vpc-attribute changes the flags given and leaves the rest alone. Names and\ndescriptions follow V1 and V2; disabling ClassicLink with linked classic instances\nis rejected (C5).",
		"  vrouterctl modify-vpc-attribute --vpc vpc-demo --name production --description \"main VPC\"\n  vrouterctl modify-vpc-attribute --vpc vpc-demo --classic-link=false",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var vpc, name, desc string
			var cl bool
			cmd.Flags().StringVar(&vpc, "vpc", "", "VPC id")
			cmd.Flags().StringVar(&name, "name", "", "new name")
			cmd.Flags().StringVar(&desc, "description", "", "new description")
			cmd.Flags().BoolVar(&cl, "classic-link", false, "enable or disable ClassicLink")
			mustFlag(cmd, "vpc")
			return func(cmd *cobra.Command) (any, error) {
				p := api.ModifyVpcAttributeParams{VpcID: vpc, VpcName: changedString(cmd, "name", name), Description: changedString(cmd, "description", desc)}
				if cmd.Flags().Changed("classic-link") {
					p.ClassicLink = &cl
				}
				if p.VpcName == nil && p.Description == nil && p.ClassicLink == nil {
					return nil, usageError{fmt.Errorf("nothing to change: give --name, --description or --classic-link")}
				}
				return p, nil
			}
		})
}

func modifyVSwitchAttributeCmd() *cobra.Command {
	return mutationCmd("modify-vswitch-attribute", "ModifyVSwitchAttribute", "Change a VSwitch's name or description",
		"modify-vswitch-attribute changes the flags given and leaves the rest alone (V1, V2).",
		"  vrouterctl modify-vswitch-attribute --vswitch vsw-a --name front --description \"web tier\"",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var vsw, name, desc string
			cmd.Flags().StringVar(&vsw, "vswitch", "", "VSwitch id")
			cmd.Flags().StringVar(&name, "name", "", "new name")
			cmd.Flags().StringVar(&desc, "description", "", "new description")
			mustFlag(cmd, "vswitch")
			return func(cmd *cobra.Command) (any, error) {
				p := api.ModifyVSwitchAttributeParams{VSwitchID: vsw, VSwitchName: changedString(cmd, "name", name), Description: changedString(cmd, "description", desc)}
				if p.VSwitchName == nil && p.Description == nil {
					return nil, usageError{fmt.Errorf("nothing to change: give --name or --description")}
				}
				return p, nil
			}
		})
}

func createVSwitchCmd() *cobra.Command {
	return mutationCmd("create-vswitch", "CreateVSwitch", "Create a VSwitch in a VPC",
		"create-vswitch creates a subnet of a VPC in one zone (V6–V8: inside the VPC CIDR,\n/16–/29, no overlap). Its CIDR becomes a system entry of every route table of the\nVPC (V13). Without --table it uses the system table.",
		"  vrouterctl create-vswitch --vpc vpc-demo --vswitch vsw-d --zone cn-hangzhou-b --cidr 192.168.4.0/24",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.CreateVSwitchParams
			f := cmd.Flags()
			f.StringVar(&p.VpcID, "vpc", "", "VPC id")
			f.StringVar(&p.VSwitchID, "vswitch", "", "id of the new VSwitch (vsw-…)")
			f.StringVar(&p.ZoneID, "zone", "", "zone")
			f.StringVar(&p.CidrBlock, "cidr", "", "CIDR inside the VPC's")
			f.StringVar(&p.VSwitchName, "name", "", "VSwitch name")
			f.StringVar(&p.Description, "description", "", "VSwitch description")
			f.StringVar(&p.RouteTableID, "table", "", "route table to associate (default: the system table)")
			mustFlag(cmd, "vpc", "vswitch", "zone", "cidr")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func deleteVSwitchCmd() *cobra.Command {
	return mutationCmd("delete-vswitch", "DeleteVSwitch", "Delete a VSwitch",
		"delete-vswitch deletes a VSwitch that holds no ENI and no SNAT entry (V5).",
		"  vrouterctl delete-vswitch --vswitch vsw-d",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var id string
			cmd.Flags().StringVar(&id, "vswitch", "", "VSwitch id")
			mustFlag(cmd, "vswitch")
			return func(*cobra.Command) (any, error) { return api.DeleteVSwitchParams{VSwitchID: id}, nil }
		})
}

func createVpcCmd() *cobra.Command {
	return mutationCmd("create-vpc", "CreateVpc", "Create a VPC",
		"create-vpc creates a VPC with its VRouter (vrt-<suffix>), system route table\n(vtb-sys-<suffix>) and default security group (sg-default-<suffix>). The CIDR is\n10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or a subset, /8–/28 (V3).",
		"  vrouterctl create-vpc --vpc vpc-lab --cidr 172.16.0.0/16 --name lab",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var p api.CreateVpcParams
			cmd.Flags().StringVar(&p.VpcID, "vpc", "", "id of the new VPC (vpc-…)")
			cmd.Flags().StringVar(&p.CidrBlock, "cidr", "", "VPC CIDR")
			cmd.Flags().StringVar(&p.VpcName, "name", "", "VPC name")
			cmd.Flags().StringVar(&p.Description, "description", "", "VPC description")
			cmd.Flags().BoolVar(&p.ClassicLink, "classic-link", false, "enable ClassicLink (C5)")
			mustFlag(cmd, "vpc", "cidr")
			return func(*cobra.Command) (any, error) { return p, nil }
		})
}

func deleteVpcCmd() *cobra.Command {
	return mutationCmd("delete-vpc", "DeleteVpc", "Delete a VPC",
		"delete-vpc deletes a VPC without VSwitches (V5), together with its VRouter, route\ntables and default security group. Its other security groups and anything that\nreferences it (router interfaces, gateways, CEN, multicast) must go first.",
		"  vrouterctl delete-vpc --vpc vpc-lab",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var id string
			cmd.Flags().StringVar(&id, "vpc", "", "VPC id")
			mustFlag(cmd, "vpc")
			return func(*cobra.Command) (any, error) { return api.DeleteVpcParams{VpcID: id}, nil }
		})
}
