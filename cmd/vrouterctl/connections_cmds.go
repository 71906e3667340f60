package main

import (
	"github.com/spf13/cobra"

	"github.com/vrouter/vrouter/controlplane/api"
)

// Subcommands for the runtime connection changes of SPEC C5 and C6 (R6):
// binding EIPs and linking classic instances.

func init() {
	rootCmd.AddCommand(associateEipCmd(), unassociateEipCmd(), attachClassicLinkCmd(), detachClassicLinkCmd())
}

func associateEipCmd() *cobra.Command {
	return mutationCmd("associate-eip-address", "AssociateEipAddress", "Bind an EIP to an instance",
		`associate-eip-address binds an EIP to an instance's primary address (SPEC C6): the
instance's traffic to the internet leaves with the EIP as its source, and the EIP is
reachable from the internet subject to the instance's security groups. An instance has
at most one EIP; an EIP used by a NAT gateway cannot be bound.`,
		"  vrouterctl associate-eip-address --eip eip-web --instance i-web",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var eip, inst string
			cmd.Flags().StringVar(&eip, "eip", "", "EIP id (eip-…)")
			cmd.Flags().StringVar(&inst, "instance", "", "instance id (i-…)")
			mustFlag(cmd, "eip", "instance")
			return func(*cobra.Command) (any, error) {
				return api.AssociateEipAddressParams{AllocationID: eip, InstanceID: inst}, nil
			}
		})
}

func unassociateEipCmd() *cobra.Command {
	return mutationCmd("unassociate-eip-address", "UnassociateEipAddress", "Unbind an EIP from its instance",
		`unassociate-eip-address unbinds an EIP (SPEC C6). Tracked flows through the EIP end at
their next packet; the instance reaches the internet again only through an SNAT entry
covering it. --instance, when given, must be the instance the EIP is bound to.`,
		"  vrouterctl unassociate-eip-address --eip eip-web",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var eip, inst string
			cmd.Flags().StringVar(&eip, "eip", "", "EIP id (eip-…)")
			cmd.Flags().StringVar(&inst, "instance", "", "the instance it is bound to (optional check)")
			mustFlag(cmd, "eip")
			return func(*cobra.Command) (any, error) {
				return api.UnassociateEipAddressParams{AllocationID: eip, InstanceID: inst}, nil
			}
		})
}

func attachClassicLinkCmd() *cobra.Command {
	return mutationCmd("attach-classic-link-vpc", "AttachClassicLinkVpc", "Link a classic instance to a VPC",
		`attach-classic-link-vpc links a classic instance to a VPC (SPEC C5). The VPC must have
classic_link: true; a classic instance links to at most one VPC, and a VPC takes at most
classic_links_per_vpc instances. Traffic between the instance and the VPC's ENIs then
follows the ClassicLink rules of the instance's classic groups.`,
		"  vrouterctl attach-classic-link-vpc --instance i-legacy --vpc vpc-link",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var inst, vpc string
			cmd.Flags().StringVar(&inst, "instance", "", "classic instance id")
			cmd.Flags().StringVar(&vpc, "vpc", "", "VPC id (vpc-…)")
			mustFlag(cmd, "instance", "vpc")
			return func(*cobra.Command) (any, error) {
				return api.AttachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: inst, VpcID: vpc}}, nil
			}
		})
}

func detachClassicLinkCmd() *cobra.Command {
	return mutationCmd("detach-classic-link-vpc", "DetachClassicLinkVpc", "Unlink a classic instance from its VPC",
		`detach-classic-link-vpc unlinks a classic instance from the VPC it is linked to (SPEC
C5). Tracked flows between them end at their next packet; the VPC's ENIs no longer reach
the instance.`,
		"  vrouterctl detach-classic-link-vpc --instance i-legacy --vpc vpc-link",
		func(cmd *cobra.Command) func(*cobra.Command) (any, error) {
			var inst, vpc string
			cmd.Flags().StringVar(&inst, "instance", "", "classic instance id")
			cmd.Flags().StringVar(&vpc, "vpc", "", "VPC id the instance is linked to")
			mustFlag(cmd, "instance", "vpc")
			return func(*cobra.Command) (any, error) {
				return api.DetachClassicLinkVpcParams{ClassicLinkParams: api.ClassicLinkParams{InstanceID: inst, VpcID: vpc}}, nil
			}
		})
}
