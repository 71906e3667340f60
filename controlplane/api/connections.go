package api

// Runtime changes of SPEC §7 (C5, C6): binding an EIP to an instance and
// linking a classic instance to a VPC. Like every mutation they only edit
// the candidate configuration; config.Validate then applies every rule of
// C5 and C6 to it (a classic instance links to at most one VPC, only to a
// VPC with classic_link: true, at most classic_links_per_vpc per VPC; an
// instance has at most one EIP, an EIP serves one user), exactly as for the
// file. The checks here only refuse what is not an edit at all (an unknown
// id, an EIP already bound elsewhere) with a precise code.

import (
	"github.com/vrouter/vrouter/controlplane/config"
)

// AssociateEipAddressParams binds an EIP to an instance's primary address
// (C6: 1:1 NAT).
type AssociateEipAddressParams struct {
	AllocationID string `json:"AllocationId"`
	InstanceID   string `json:"InstanceId"`
}

func (p *AssociateEipAddressParams) apply(c *config.Config, x *opCtx) error {
	if p.AllocationID == "" {
		return x.missing("AllocationId")
	}
	if p.InstanceID == "" {
		return x.missing("InstanceId")
	}
	e := c.EIPByID(p.AllocationID)
	if e == nil {
		return x.err(CodeNotFound, p.AllocationID, "C6", "EIP %s does not exist", p.AllocationID)
	}
	if c.InstanceByID(p.InstanceID) == nil {
		return x.err(CodeNotFound, p.InstanceID, "C6", "instance %s does not exist", p.InstanceID)
	}
	switch {
	case e.Instance == p.InstanceID:
		return x.err(CodeConflict, e.ID, "C6", "already bound to %s", p.InstanceID)
	case e.Instance != "":
		return x.err(CodeConflict, e.ID, "C6", "bound to instance %s; unbind it first (UnassociateEipAddress)", e.Instance)
	}
	for _, g := range c.NATGateways {
		for _, s := range g.SNAT {
			if s.EIP == e.ID {
				return x.err(CodeDependencyViolation, e.ID, "C6", "used by an SNAT entry of %s; an EIP bound to an instance serves it alone", g.ID)
			}
		}
		for _, d := range g.DNAT {
			if d.EIP == e.ID {
				return x.err(CodeDependencyViolation, e.ID, "C6", "used by a DNAT entry of %s; an EIP bound to an instance serves it alone", g.ID)
			}
		}
	}
	e.Instance = p.InstanceID
	editKeys(&e.KeyPos, []string{"instance"})
	return nil
}

// UnassociateEipAddressParams unbinds an EIP from its instance (C6).
// InstanceId, when given, must name the instance it is bound to.
type UnassociateEipAddressParams struct {
	AllocationID string `json:"AllocationId"`
	InstanceID   string `json:"InstanceId,omitempty"`
}

func (p *UnassociateEipAddressParams) apply(c *config.Config, x *opCtx) error {
	if p.AllocationID == "" {
		return x.missing("AllocationId")
	}
	e := c.EIPByID(p.AllocationID)
	if e == nil {
		return x.err(CodeNotFound, p.AllocationID, "C6", "EIP %s does not exist", p.AllocationID)
	}
	if e.Instance == "" {
		return x.err(CodeConflict, e.ID, "C6", "not bound to an instance")
	}
	if p.InstanceID != "" && p.InstanceID != e.Instance {
		return x.err(CodeConflict, e.ID, "C6", "bound to %s, not to %s", e.Instance, p.InstanceID)
	}
	e.Instance = ""
	editKeys(&e.KeyPos, nil, "instance")
	return nil
}

// ClassicLinkParams links (AttachClassicLinkVpc) or unlinks
// (DetachClassicLinkVpc) a classic instance and a VPC (C5).
type ClassicLinkParams struct {
	InstanceID string `json:"InstanceId"`
	VpcID      string `json:"VpcId"`
}

// AttachClassicLinkVpcParams links a classic instance to a VPC.
type AttachClassicLinkVpcParams struct{ ClassicLinkParams }

// DetachClassicLinkVpcParams unlinks a classic instance from its VPC.
type DetachClassicLinkVpcParams struct{ ClassicLinkParams }

func (p *ClassicLinkParams) target(c *config.Config, x *opCtx) (*config.ClassicInstance, error) {
	if p.InstanceID == "" {
		return nil, x.missing("InstanceId")
	}
	if p.VpcID == "" {
		return nil, x.missing("VpcId")
	}
	ci := c.ClassicInstanceByID(p.InstanceID)
	if ci == nil {
		return nil, x.err(CodeNotFound, p.InstanceID, "C5", "classic instance %s does not exist", p.InstanceID)
	}
	if c.VPCByID(p.VpcID) == nil {
		return nil, x.err(CodeNotFound, p.VpcID, "C5", "VPC %s does not exist", p.VpcID)
	}
	return ci, nil
}

func (p *AttachClassicLinkVpcParams) apply(c *config.Config, x *opCtx) error {
	ci, err := p.target(c, x)
	if err != nil {
		return err
	}
	switch ci.Link {
	case p.VpcID:
		return x.err(CodeConflict, ci.ID, "C5", "already linked to %s", p.VpcID)
	case "":
	default:
		return x.err(CodeConflict, ci.ID, "C5", "linked to %s; a classic instance links to at most one VPC (detach it first)", ci.Link)
	}
	ci.Link = p.VpcID
	editKeys(&ci.KeyPos, []string{"link"})
	return nil
}

func (p *DetachClassicLinkVpcParams) apply(c *config.Config, x *opCtx) error {
	ci, err := p.target(c, x)
	if err != nil {
		return err
	}
	if ci.Link != p.VpcID {
		if ci.Link == "" {
			return x.err(CodeConflict, ci.ID, "C5", "not linked to a VPC")
		}
		return x.err(CodeConflict, ci.ID, "C5", "linked to %s, not to %s", ci.Link, p.VpcID)
	}
	ci.Link = ""
	editKeys(&ci.KeyPos, nil, "link")
	return nil
}
