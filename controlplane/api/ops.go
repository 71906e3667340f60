package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vrouter/vrouter/controlplane/config"
)

// Error codes of the API's error replies (and of OpError.Code).
const (
	CodeInvalidParameter    = "InvalidParameter"    // 400: malformed or missing parameters
	CodeNotFound            = "NotFound"            // 404: the target resource does not exist
	CodeUnknownAction       = "UnknownAction"       // 404: no such action
	CodeMethodNotAllowed    = "MethodNotAllowed"    // 405: not a POST
	CodeConflict            = "Conflict"            // 409: already exists / already a member
	CodeDependencyViolation = "DependencyViolation" // 409: still in use (V5, V12, V16)
	CodeValidationFailed    = "ValidationFailed"    // 422: the candidate breaks a rule of SPEC §3
	CodeInvalidConfig       = "InvalidConfig"       // 422: Reload: the file is invalid (R3)
	CodeNotReady            = "NotReady"            // 503: the daemon has no configuration yet
	CodeInternal            = "InternalError"       // 500: applying or persisting failed
)

// OpError is why an operation cannot be applied to a configuration (its
// target does not exist, a parameter is malformed, a V5 dependency). It
// renders as "api:<Action>: <id>: <rule>: <message>".
type OpError struct {
	Action string
	Code   string // one of the Code constants
	ID     string // the resource id concerned ("params" for a parameter problem)
	Rule   string // the SPEC rule id
	Msg    string
}

func (e *OpError) Error() string {
	return fmt.Sprintf("api:%s: %s: %s: %s", e.Action, e.ID, e.Rule, e.Msg)
}

// mutation is the typed parameter set of one mutating action. apply
// changes c (a private copy) and leaves defaults and validation to the
// caller.
type mutation interface {
	apply(c *config.Config, x *opCtx) error
}

// opCtx builds OpErrors for one action.
type opCtx struct{ action string }

func (x *opCtx) err(code, id, rule, format string, args ...any) error {
	return &OpError{Action: x.action, Code: code, ID: id, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

func (x *opCtx) missing(name string) error {
	return x.err(CodeInvalidParameter, "params", "V0", "%s is required", name)
}

// mutations maps every mutating action to a constructor of its parameters.
var mutations = map[string]func() mutation{
	"CreateRouteEntry":             func() mutation { return new(CreateRouteEntryParams) },
	"DeleteRouteEntry":             func() mutation { return new(DeleteRouteEntryParams) },
	"CreateRouteTable":             func() mutation { return new(CreateRouteTableParams) },
	"DeleteRouteTable":             func() mutation { return new(DeleteRouteTableParams) },
	"AssociateRouteTable":          func() mutation { return new(AssociateRouteTableParams) },
	"UnassociateRouteTable":        func() mutation { return new(UnassociateRouteTableParams) },
	"AuthorizeSecurityGroup":       func() mutation { return &SecurityGroupRuleParams{} },
	"AuthorizeSecurityGroupEgress": func() mutation { return &SecurityGroupRuleParams{} },
	"RevokeSecurityGroup":          func() mutation { return &SecurityGroupRuleParams{} },
	"RevokeSecurityGroupEgress":    func() mutation { return &SecurityGroupRuleParams{} },
	"CreateSecurityGroup":          func() mutation { return new(CreateSecurityGroupParams) },
	"DeleteSecurityGroup":          func() mutation { return new(DeleteSecurityGroupParams) },
	"JoinSecurityGroup":            func() mutation { return &MembershipParams{} },
	"LeaveSecurityGroup":           func() mutation { return &MembershipParams{} },
	"ModifyVpcAttribute":           func() mutation { return new(ModifyVpcAttributeParams) },
	"ModifyVSwitchAttribute":       func() mutation { return new(ModifyVSwitchAttributeParams) },
	"CreateVSwitch":                func() mutation { return new(CreateVSwitchParams) },
	"DeleteVSwitch":                func() mutation { return new(DeleteVSwitchParams) },
	"CreateVpc":                    func() mutation { return new(CreateVpcParams) },
	"DeleteVpc":                    func() mutation { return new(DeleteVpcParams) },
	// multicast (M3, M4): mcast.go
	"CreateMulticastGroup":  func() mutation { return new(MulticastGroupParams) },
	"JoinMulticastGroup":    func() mutation { return new(MulticastGroupParams) },
	"QuitMulticastGroup":    func() mutation { return new(MulticastGroupParams) },
	"DeleteMulticastGroup":  func() mutation { return new(DeleteMulticastGroupParams) },
	"ClearMulticastGroups":  func() mutation { return new(ClearMulticastGroupsParams) },
	"AddMulticastClient":    func() mutation { return new(MulticastClientParams) },
	"RemoveMulticastClient": func() mutation { return new(RemoveMulticastClientParams) },
	"ClearMulticastClients": func() mutation { return new(ClearMulticastClientsParams) },
	// connections (C5, C6): connections.go
	"AssociateEipAddress":   func() mutation { return new(AssociateEipAddressParams) },
	"UnassociateEipAddress": func() mutation { return new(UnassociateEipAddressParams) },
	"AttachClassicLinkVpc":  func() mutation { return new(AttachClassicLinkVpcParams) },
	"DetachClassicLinkVpc":  func() mutation { return new(DetachClassicLinkVpcParams) },
}

// MutatingActions returns the names of the mutating actions, sorted.
func MutatingActions() []string {
	out := make([]string, 0, len(mutations))
	for a := range mutations {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// decodeStrict decodes params into v, rejecting unknown fields and
// trailing data. Empty params decode as {}.
func decodeStrict(params []byte, v any) error {
	params = bytes.TrimSpace(params)
	if len(params) == 0 || bytes.Equal(params, []byte("null")) {
		params = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the parameters")
	}
	return nil
}

// decodeOp returns the typed parameters of op.
func decodeOp(op Op) (mutation, error) {
	mk, ok := mutations[op.Action]
	if !ok {
		return nil, &OpError{Action: op.Action, Code: CodeUnknownAction, ID: "action", Rule: "R5", Msg: fmt.Sprintf("unknown action %q", op.Action)}
	}
	m := mk()
	if err := decodeStrict(op.Params, m); err != nil {
		return nil, &OpError{Action: op.Action, Code: CodeInvalidParameter, ID: "params", Rule: "V0", Msg: err.Error()}
	}
	return m, nil
}

// ApplyOp mutates cfg per one operation. The caller then runs
// config.ApplyDefaults and config.Validate on cfg (SPEC §3: an API change
// is validated exactly like the file). The error, when not nil, is an
// *OpError and cfg may be partly changed.
func ApplyOp(cfg *config.Config, op Op) error {
	m, err := decodeOp(op)
	if err != nil {
		return err
	}
	return m.apply(cfg, &opCtx{action: op.Action})
}

// editKeys replaces *kp with a copy in which each key of set is present
// with the zero position (the value now comes from the API, so findings
// about it read "api:…") and each key of del is absent. KeyPos maps are
// shared between configuration copies and never modified in place.
func editKeys(kp *map[string]config.Pos, set []string, del ...string) {
	n := make(map[string]config.Pos, len(*kp)+len(set))
	for k, v := range *kp {
		n[k] = v
	}
	for _, k := range set {
		n[k] = config.Pos{}
	}
	for _, k := range del {
		delete(n, k)
	}
	*kp = n
}

func parseCIDR(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p, true
}

// ---------------------------------------------------------------------------
// route entries and tables (V12–V15)

// NextHopParam is one element of CreateRouteEntry's NextHopList (V15).
type NextHopParam struct {
	NextHopID string `json:"NextHopId"`
	Weight    *int   `json:"Weight,omitempty"`
}

// HealthCheckParam is a next-hop probe schedule (F9); durations use Go
// syntax ("200ms"). Absent fields take F9's defaults.
type HealthCheckParam struct {
	Interval  string `json:"Interval,omitempty"`
	Timeout   string `json:"Timeout,omitempty"`
	Failures  *int   `json:"Failures,omitempty"`
	Successes *int   `json:"Successes,omitempty"`
}

// CreateRouteEntryParams adds a Custom entry to a route table (V13–V15).
// Exactly one of NextHopID and NextHopList.
type CreateRouteEntryParams struct {
	RouteTableID         string            `json:"RouteTableId"`
	DestinationCidrBlock string            `json:"DestinationCidrBlock"`
	NextHopID            string            `json:"NextHopId,omitempty"`
	NextHopList          []NextHopParam    `json:"NextHopList,omitempty"`
	RouteEntryName       string            `json:"RouteEntryName,omitempty"`
	Description          string            `json:"Description,omitempty"`
	HealthCheck          *HealthCheckParam `json:"HealthCheck,omitempty"`
}

func (p *CreateRouteEntryParams) apply(c *config.Config, x *opCtx) error {
	if p.RouteTableID == "" {
		return x.missing("RouteTableId")
	}
	if p.DestinationCidrBlock == "" {
		return x.missing("DestinationCidrBlock")
	}
	t := c.RouteTableByID(p.RouteTableID)
	if t == nil {
		return x.err(CodeNotFound, p.RouteTableID, "V12", "route table %s does not exist", p.RouteTableID)
	}
	dst, ok := parseCIDR(p.DestinationCidrBlock)
	if !ok {
		return x.err(CodeInvalidParameter, p.RouteTableID, "V14", "DestinationCidrBlock %q is not an IPv4 CIDR", p.DestinationCidrBlock)
	}
	e := &config.RouteEntry{Dst: dst, Type: config.EntryCustom, Name: p.RouteEntryName, Description: p.Description}
	keys := []string{"dst"}
	if p.NextHopID != "" {
		e.NextHop = p.NextHopID
		keys = append(keys, "next_hop")
	}
	if p.NextHopList != nil {
		keys = append(keys, "next_hops")
		for i, h := range p.NextHopList {
			ref := config.NextHopRef{ID: h.NextHopID}
			keys = append(keys, fmt.Sprintf("next_hops[%d]", i))
			if h.NextHopID != "" {
				keys = append(keys, fmt.Sprintf("next_hops[%d].id", i))
			}
			if h.Weight != nil {
				ref.Weight = *h.Weight
				keys = append(keys, fmt.Sprintf("next_hops[%d].weight", i))
			}
			e.NextHops = append(e.NextHops, ref)
		}
	}
	if h := p.HealthCheck; h != nil {
		hc := &config.HealthCheck{}
		keys = append(keys, "health_check")
		for _, d := range []struct {
			key, val string
			dst      *time.Duration
		}{{"interval", h.Interval, &hc.Interval}, {"timeout", h.Timeout, &hc.Timeout}} {
			if d.val == "" {
				continue
			}
			v, err := time.ParseDuration(d.val)
			if err != nil {
				return x.err(CodeInvalidParameter, p.RouteTableID, "V15", "HealthCheck.%s %q is not a duration (e.g. 200ms, 1s)", d.key, d.val)
			}
			*d.dst = v
			keys = append(keys, "health_check."+d.key)
		}
		if h.Failures != nil {
			hc.Failures = *h.Failures
			keys = append(keys, "health_check.failures")
		}
		if h.Successes != nil {
			hc.Successes = *h.Successes
			keys = append(keys, "health_check.successes")
		}
		e.HealthCheck = hc
	}
	editKeys(&e.KeyPos, keys)
	t.Routes = append(t.Routes, e)
	return nil
}

// DeleteRouteEntryParams removes a Custom entry (System entries cannot be
// deleted, V13).
type DeleteRouteEntryParams struct {
	RouteTableID         string `json:"RouteTableId"`
	DestinationCidrBlock string `json:"DestinationCidrBlock"`
}

func (p *DeleteRouteEntryParams) apply(c *config.Config, x *opCtx) error {
	if p.RouteTableID == "" {
		return x.missing("RouteTableId")
	}
	if p.DestinationCidrBlock == "" {
		return x.missing("DestinationCidrBlock")
	}
	t := c.RouteTableByID(p.RouteTableID)
	if t == nil {
		return x.err(CodeNotFound, p.RouteTableID, "V12", "route table %s does not exist", p.RouteTableID)
	}
	dst, ok := parseCIDR(p.DestinationCidrBlock)
	if !ok {
		return x.err(CodeInvalidParameter, p.RouteTableID, "V14", "DestinationCidrBlock %q is not an IPv4 CIDR", p.DestinationCidrBlock)
	}
	for i, r := range t.Routes {
		if r.Dst != dst {
			continue
		}
		if r.Type == config.EntrySystem {
			return x.err(CodeInvalidParameter, p.RouteTableID, "V13", "%s is a system entry; system entries cannot be created, changed or deleted", dst)
		}
		t.Routes = slices.Delete(slices.Clone(t.Routes), i, i+1)
		return nil
	}
	return x.err(CodeNotFound, p.RouteTableID, "V14", "no custom entry with destination %s in %s", dst, p.RouteTableID)
}

// CreateRouteTableParams creates a Custom route table in a VPC (V12).
type CreateRouteTableParams struct {
	VpcID          string `json:"VpcId"`
	RouteTableID   string `json:"RouteTableId"`
	RouteTableName string `json:"RouteTableName,omitempty"`
	Description    string `json:"Description,omitempty"`
}

func (p *CreateRouteTableParams) apply(c *config.Config, x *opCtx) error {
	if p.VpcID == "" {
		return x.missing("VpcId")
	}
	if p.RouteTableID == "" {
		return x.missing("RouteTableId")
	}
	v := c.VPCByID(p.VpcID)
	if v == nil {
		return x.err(CodeNotFound, p.VpcID, "V12", "VPC %s does not exist", p.VpcID)
	}
	t := &config.RouteTable{ID: p.RouteTableID, Name: p.RouteTableName, Description: p.Description, Type: config.TableCustom, VPC: v.ID}
	editKeys(&t.KeyPos, []string{"id"})
	v.RouteTables = append(v.RouteTables, t)
	return nil
}

// DeleteRouteTableParams deletes a Custom route table that no VSwitch is
// associated with (V12: the system table is never deleted).
type DeleteRouteTableParams struct {
	RouteTableID string `json:"RouteTableId"`
}

func (p *DeleteRouteTableParams) apply(c *config.Config, x *opCtx) error {
	if p.RouteTableID == "" {
		return x.missing("RouteTableId")
	}
	t := c.RouteTableByID(p.RouteTableID)
	if t == nil {
		return x.err(CodeNotFound, p.RouteTableID, "V12", "route table %s does not exist", p.RouteTableID)
	}
	if t.Type == config.TableSystem {
		return x.err(CodeInvalidParameter, t.ID, "V12", "%s is the system route table of %s; it is never deleted", t.ID, t.VPC)
	}
	v := c.VPCByID(t.VPC)
	var users []string
	for _, s := range v.VSwitches {
		if s.RouteTable == t.ID {
			users = append(users, s.ID)
		}
	}
	if len(users) > 0 {
		return x.err(CodeDependencyViolation, t.ID, "V12", "associated with %s; unassociate first", strings.Join(users, ", "))
	}
	v.RouteTables = slices.DeleteFunc(slices.Clone(v.RouteTables), func(r *config.RouteTable) bool { return r == t })
	return nil
}

// AssociateRouteTableParams associates a VSwitch with a route table of its
// VPC (V12), replacing its previous association.
type AssociateRouteTableParams struct {
	RouteTableID string `json:"RouteTableId"`
	VSwitchID    string `json:"VSwitchId"`
}

func (p *AssociateRouteTableParams) apply(c *config.Config, x *opCtx) error {
	t, s, err := tableAndVSwitch(c, x, p.RouteTableID, p.VSwitchID)
	if err != nil {
		return err
	}
	if s.RouteTable == t.ID {
		return x.err(CodeConflict, s.ID, "V12", "%s is already associated with %s", s.ID, t.ID)
	}
	s.RouteTable = t.ID
	editKeys(&s.KeyPos, []string{"route_table"})
	return nil
}

// UnassociateRouteTableParams returns a VSwitch to its VPC's system table.
type UnassociateRouteTableParams struct {
	RouteTableID string `json:"RouteTableId"`
	VSwitchID    string `json:"VSwitchId"`
}

func (p *UnassociateRouteTableParams) apply(c *config.Config, x *opCtx) error {
	t, s, err := tableAndVSwitch(c, x, p.RouteTableID, p.VSwitchID)
	if err != nil {
		return err
	}
	if t.Type == config.TableSystem {
		return x.err(CodeInvalidParameter, t.ID, "V12", "%s is the system route table; a VSwitch leaves a custom table to return to it", t.ID)
	}
	if s.RouteTable != t.ID {
		return x.err(CodeConflict, s.ID, "V12", "%s is associated with %s, not with %s", s.ID, s.RouteTable, t.ID)
	}
	s.RouteTable = "" // ApplyDefaults resolves it to the system table
	editKeys(&s.KeyPos, nil, "route_table")
	return nil
}

func tableAndVSwitch(c *config.Config, x *opCtx, tid, sid string) (*config.RouteTable, *config.VSwitch, error) {
	if tid == "" {
		return nil, nil, x.missing("RouteTableId")
	}
	if sid == "" {
		return nil, nil, x.missing("VSwitchId")
	}
	t := c.RouteTableByID(tid)
	if t == nil {
		return nil, nil, x.err(CodeNotFound, tid, "V12", "route table %s does not exist", tid)
	}
	s := c.VSwitchByID(sid)
	if s == nil {
		return nil, nil, x.err(CodeNotFound, sid, "V0", "VSwitch %s does not exist", sid)
	}
	if s.VPC != t.VPC {
		return nil, nil, x.err(CodeInvalidParameter, sid, "V12", "route table %s belongs to %s, not to %s's VPC %s", tid, t.VPC, sid, s.VPC)
	}
	return t, s, nil
}

// ---------------------------------------------------------------------------
// security groups (V16, S3–S6)

// SecurityGroupRuleParams is one rule for AuthorizeSecurityGroup,
// RevokeSecurityGroup and their …Egress forms (V16). Direction defaults to
// ingress (egress for the …Egress actions); Policy to accept; Priority to
// 1; PortRange to -1/-1 for icmp, gre and all. An ingress rule takes
// SourceCidrIp or SourceGroupId, an egress rule DestCidrIp or DestGroupId.
// Revoke removes the rule equal to the one described (after the same
// defaults); Description does not take part in the match.
type SecurityGroupRuleParams struct {
	SecurityGroupID string `json:"SecurityGroupId"`
	Direction       string `json:"Direction,omitempty"`
	IPProtocol      string `json:"IpProtocol"`
	PortRange       string `json:"PortRange,omitempty"`
	SourceCidrIP    string `json:"SourceCidrIp,omitempty"`
	SourceGroupID   string `json:"SourceGroupId,omitempty"`
	DestCidrIP      string `json:"DestCidrIp,omitempty"`
	DestGroupID     string `json:"DestGroupId,omitempty"`
	Policy          string `json:"Policy,omitempty"`
	Priority        *int   `json:"Priority,omitempty"`
	Description     string `json:"Description,omitempty"`
}

// rule builds the configuration rule and its KeyPos keys.
func (p *SecurityGroupRuleParams) rule(x *opCtx) (*config.Rule, error) {
	egressAction := strings.HasSuffix(x.action, "Egress")
	r := &config.Rule{Description: p.Description}
	var keys []string
	switch d := strings.ToLower(p.Direction); {
	case d == "" && egressAction:
		r.Direction = config.DirEgress
	case d == "":
		r.Direction = config.DirIngress
	case d == string(config.DirIngress) || d == string(config.DirEgress):
		r.Direction = config.Direction(d)
		keys = append(keys, "direction")
	default:
		return nil, x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "Direction %q: ingress or egress", p.Direction)
	}
	if egressAction && r.Direction != config.DirEgress {
		return nil, x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "%s takes egress rules, not %s", x.action, r.Direction)
	}
	if p.IPProtocol == "" {
		return nil, x.missing("IpProtocol")
	}
	switch pr := config.Protocol(strings.ToLower(p.IPProtocol)); pr {
	case config.ProtoTCP, config.ProtoUDP, config.ProtoICMP, config.ProtoGRE, config.ProtoAll:
		r.Protocol = pr
		keys = append(keys, "protocol")
	default:
		return nil, x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "IpProtocol %q: tcp, udp, icmp, gre or all", p.IPProtocol)
	}
	if p.PortRange != "" {
		pr, ok := config.ParsePortRange(p.PortRange)
		if !ok {
			return nil, x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "PortRange %q is not A/B (e.g. 22/22, 1/65535, -1/-1)", p.PortRange)
		}
		r.PortRange = pr
		keys = append(keys, "port_range")
	} else if !r.Protocol.HasPorts() {
		r.PortRange = config.AllPorts
	}
	switch pol := config.Policy(strings.ToLower(p.Policy)); pol {
	case "":
		r.Policy = config.PolicyAccept
	case config.PolicyAccept, config.PolicyDrop:
		r.Policy = pol
		keys = append(keys, "policy")
	default:
		return nil, x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "Policy %q: accept or drop", p.Policy)
	}
	r.Priority = 1
	if p.Priority != nil {
		r.Priority = *p.Priority
		keys = append(keys, "priority")
	}
	for _, peer := range []struct {
		val, key string
		group    bool
	}{
		{p.SourceCidrIP, "source_cidr", false}, {p.SourceGroupID, "source_group", true},
		{p.DestCidrIP, "dest_cidr", false}, {p.DestGroupID, "dest_group", true},
	} {
		if peer.val == "" {
			continue
		}
		keys = append(keys, peer.key)
		if peer.group {
			r.PeerGroup = peer.val
			continue
		}
		pfx, ok := parseCIDR(peer.val)
		if !ok {
			a, err := netip.ParseAddr(strings.TrimSpace(peer.val))
			if err != nil || !a.Is4() {
				return nil, x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "%s %q is not an IPv4 address or CIDR", peer.key, peer.val)
			}
			pfx = netip.PrefixFrom(a, 32)
		}
		r.PeerCIDR = pfx
	}
	editKeys(&r.KeyPos, keys)
	return r, nil
}

// sameRule reports whether two rules decide the same packets the same way
// (everything but the description and positions).
func sameRule(a, b *config.Rule) bool {
	return a.Direction == b.Direction && a.Policy == b.Policy && a.Priority == b.Priority &&
		a.Protocol == b.Protocol && a.PortRange == b.PortRange && a.PeerCIDR == b.PeerCIDR && a.PeerGroup == b.PeerGroup
}

func (p *SecurityGroupRuleParams) apply(c *config.Config, x *opCtx) error {
	if p.SecurityGroupID == "" {
		return x.missing("SecurityGroupId")
	}
	g := c.SecurityGroupByID(p.SecurityGroupID)
	if g == nil {
		return x.err(CodeNotFound, p.SecurityGroupID, "V16", "security group %s does not exist", p.SecurityGroupID)
	}
	r, err := p.rule(x)
	if err != nil {
		return err
	}
	idx := slices.IndexFunc(g.Rules, func(o *config.Rule) bool { return sameRule(o, r) })
	if strings.HasPrefix(x.action, "Revoke") {
		if idx < 0 {
			return x.err(CodeNotFound, g.ID, "V16", "no %s rule %s in %s", r.Direction, config.RuleString(r), g.ID)
		}
		g.Rules = slices.Delete(slices.Clone(g.Rules), idx, idx+1)
		return nil
	}
	if idx >= 0 {
		return x.err(CodeConflict, g.ID, "V16", "%s already has the %s rule %s", g.ID, r.Direction, config.RuleString(r))
	}
	g.Rules = append(slices.Clone(g.Rules), r)
	return nil
}

// CreateSecurityGroupParams creates a security group in a VPC (V16).
// InnerAccessPolicy is accept (default) or drop (S5).
type CreateSecurityGroupParams struct {
	VpcID             string `json:"VpcId"`
	SecurityGroupID   string `json:"SecurityGroupId"`
	SecurityGroupName string `json:"SecurityGroupName,omitempty"`
	Description       string `json:"Description,omitempty"`
	InnerAccessPolicy string `json:"InnerAccessPolicy,omitempty"`
}

func (p *CreateSecurityGroupParams) apply(c *config.Config, x *opCtx) error {
	if p.VpcID == "" {
		return x.missing("VpcId")
	}
	if p.SecurityGroupID == "" {
		return x.missing("SecurityGroupId")
	}
	v := c.VPCByID(p.VpcID)
	if v == nil {
		return x.err(CodeNotFound, p.VpcID, "V16", "VPC %s does not exist", p.VpcID)
	}
	g := &config.SecurityGroup{ID: p.SecurityGroupID, Name: p.SecurityGroupName, Description: p.Description, VPC: v.ID, InnerAccess: config.PolicyAccept}
	keys := []string{"id"}
	switch pol := config.Policy(strings.ToLower(p.InnerAccessPolicy)); pol {
	case "":
	case config.PolicyAccept, config.PolicyDrop:
		g.InnerAccess = pol
		keys = append(keys, "inner_access")
	default:
		return x.err(CodeInvalidParameter, p.SecurityGroupID, "V16", "InnerAccessPolicy %q: accept or drop", p.InnerAccessPolicy)
	}
	editKeys(&g.KeyPos, keys)
	v.SecurityGroups = append(v.SecurityGroups, g)
	return nil
}

// DeleteSecurityGroupParams deletes a security group that is not its VPC's
// default group and that no ENI, rule or ClassicLink rule uses (V16).
type DeleteSecurityGroupParams struct {
	SecurityGroupID string `json:"SecurityGroupId"`
}

func (p *DeleteSecurityGroupParams) apply(c *config.Config, x *opCtx) error {
	if p.SecurityGroupID == "" {
		return x.missing("SecurityGroupId")
	}
	g := c.SecurityGroupByID(p.SecurityGroupID)
	if g == nil {
		return x.err(CodeNotFound, p.SecurityGroupID, "V16", "security group %s does not exist", p.SecurityGroupID)
	}
	if g.Default {
		return x.err(CodeInvalidParameter, g.ID, "V16", "%s is the default security group of %s and cannot be deleted", g.ID, g.VPC)
	}
	var users []string
	for _, e := range c.ENIs() {
		if slices.Contains(e.SecurityGroups, g.ID) {
			users = append(users, e.ID)
		}
	}
	for _, v := range c.VPCs {
		for _, o := range v.SecurityGroups {
			if o == g {
				continue
			}
			for _, r := range o.Rules {
				if r.PeerGroup == g.ID {
					users = append(users, o.ID+" (rule)")
					break
				}
			}
		}
	}
	if c.Classic != nil {
		for _, cg := range c.Classic.SecurityGroups {
			for _, r := range cg.ClassicLinkRules {
				if slices.Contains(r.VPCSecurityGroups, g.ID) {
					users = append(users, cg.ID+" (classic_link_rule)")
					break
				}
			}
		}
	}
	if len(users) > 0 {
		return x.err(CodeDependencyViolation, g.ID, "V16", "in use by %s", strings.Join(users, ", "))
	}
	v := c.VPCByID(g.VPC)
	v.SecurityGroups = slices.DeleteFunc(slices.Clone(v.SecurityGroups), func(o *config.SecurityGroup) bool { return o == g })
	return nil
}

// MembershipParams names an ENI (InstanceId for an instance's primary ENI,
// or NetworkInterfaceId) and a group, for JoinSecurityGroup and
// LeaveSecurityGroup (V16: an ENI is in 1–5 groups of its own VPC).
type MembershipParams struct {
	InstanceID         string `json:"InstanceId,omitempty"`
	NetworkInterfaceID string `json:"NetworkInterfaceId,omitempty"`
	SecurityGroupID    string `json:"SecurityGroupId"`
}

func (p *MembershipParams) apply(c *config.Config, x *opCtx) error {
	if p.SecurityGroupID == "" {
		return x.missing("SecurityGroupId")
	}
	if (p.InstanceID == "") == (p.NetworkInterfaceID == "") {
		return x.err(CodeInvalidParameter, "params", "V0", "give exactly one of InstanceId or NetworkInterfaceId")
	}
	groups, kp, id, err := memberGroups(c, x, p.InstanceID, p.NetworkInterfaceID)
	if err != nil {
		return err
	}
	g := c.SecurityGroupByID(p.SecurityGroupID)
	if g == nil {
		return x.err(CodeNotFound, p.SecurityGroupID, "V16", "security group %s does not exist", p.SecurityGroupID)
	}
	idx := slices.Index(*groups, g.ID)
	if x.action == "LeaveSecurityGroup" {
		if idx < 0 {
			return x.err(CodeNotFound, id, "V16", "%s is not a member of %s", id, g.ID)
		}
		if len(*groups) == 1 {
			return x.err(CodeDependencyViolation, id, "V16", "%s is the only security group of %s; an ENI stays in at least one group (join another first)", g.ID, id)
		}
		*groups = slices.Delete(slices.Clone(*groups), idx, idx+1)
	} else {
		if idx >= 0 {
			return x.err(CodeConflict, id, "V16", "%s is already a member of %s", id, g.ID)
		}
		*groups = append(slices.Clone(*groups), g.ID)
	}
	editKeys(kp, []string{"security_groups"})
	return nil
}

// memberGroups finds the security-group list of the named ENI.
func memberGroups(c *config.Config, x *opCtx, instance, eni string) (*[]string, *map[string]config.Pos, string, error) {
	id := instance
	if id == "" {
		id = eni
	}
	for _, in := range c.Instances {
		if in.ID == id {
			return &in.SecurityGroups, &in.KeyPos, id, nil
		}
		if instance != "" {
			continue
		}
		for _, e := range in.ENIs {
			if e.ID == id {
				return &e.SecurityGroups, &e.KeyPos, id, nil
			}
		}
	}
	if instance != "" {
		return nil, nil, "", x.err(CodeNotFound, id, "V16", "instance %s does not exist", id)
	}
	return nil, nil, "", x.err(CodeNotFound, id, "V16", "network interface %s does not exist", id)
}

// ---------------------------------------------------------------------------
// VPCs and VSwitches (V1–V8, V5)

// ModifyVpcAttributeParams changes a VPC's name, description or
// ClassicLink setting; absent fields are left alone.
type ModifyVpcAttributeParams struct {
	VpcID       string  `json:"VpcId"`
	VpcName     *string `json:"VpcName,omitempty"`
	Description *string `json:"Description,omitempty"`
	ClassicLink *bool   `json:"ClassicLink,omitempty"`
}

func (p *ModifyVpcAttributeParams) apply(c *config.Config, x *opCtx) error {
	if p.VpcID == "" {
		return x.missing("VpcId")
	}
	if p.VpcName == nil && p.Description == nil && p.ClassicLink == nil {
		return x.err(CodeInvalidParameter, p.VpcID, "V0", "nothing to change: give VpcName, Description or ClassicLink")
	}
	v := c.VPCByID(p.VpcID)
	if v == nil {
		return x.err(CodeNotFound, p.VpcID, "V0", "VPC %s does not exist", p.VpcID)
	}
	var keys []string
	if p.VpcName != nil {
		v.Name = *p.VpcName
		keys = append(keys, "name")
	}
	if p.Description != nil {
		v.Description = *p.Description
		keys = append(keys, "description")
	}
	if p.ClassicLink != nil {
		if !*p.ClassicLink && c.Classic != nil {
			var linked []string
			for _, ci := range c.Classic.Instances {
				if ci.Link == v.ID {
					linked = append(linked, ci.ID)
				}
			}
			if len(linked) > 0 {
				return x.err(CodeDependencyViolation, v.ID, "C5", "classic instances %s are linked; disabling ClassicLink with linked instances is rejected", strings.Join(linked, ", "))
			}
		}
		v.ClassicLink = *p.ClassicLink
		keys = append(keys, "classic_link")
	}
	editKeys(&v.KeyPos, keys)
	return nil
}

// ModifyVSwitchAttributeParams changes a VSwitch's name or description.
type ModifyVSwitchAttributeParams struct {
	VSwitchID   string  `json:"VSwitchId"`
	VSwitchName *string `json:"VSwitchName,omitempty"`
	Description *string `json:"Description,omitempty"`
}

func (p *ModifyVSwitchAttributeParams) apply(c *config.Config, x *opCtx) error {
	if p.VSwitchID == "" {
		return x.missing("VSwitchId")
	}
	if p.VSwitchName == nil && p.Description == nil {
		return x.err(CodeInvalidParameter, p.VSwitchID, "V0", "nothing to change: give VSwitchName or Description")
	}
	s := c.VSwitchByID(p.VSwitchID)
	if s == nil {
		return x.err(CodeNotFound, p.VSwitchID, "V0", "VSwitch %s does not exist", p.VSwitchID)
	}
	var keys []string
	if p.VSwitchName != nil {
		s.Name = *p.VSwitchName
		keys = append(keys, "name")
	}
	if p.Description != nil {
		s.Description = *p.Description
		keys = append(keys, "description")
	}
	editKeys(&s.KeyPos, keys)
	return nil
}

// CreateVSwitchParams creates a VSwitch (V6–V8); RouteTableId absent means
// the system table.
type CreateVSwitchParams struct {
	VpcID        string `json:"VpcId"`
	VSwitchID    string `json:"VSwitchId"`
	ZoneID       string `json:"ZoneId"`
	CidrBlock    string `json:"CidrBlock"`
	VSwitchName  string `json:"VSwitchName,omitempty"`
	Description  string `json:"Description,omitempty"`
	RouteTableID string `json:"RouteTableId,omitempty"`
}

func (p *CreateVSwitchParams) apply(c *config.Config, x *opCtx) error {
	for _, req := range []struct{ name, val string }{{"VpcId", p.VpcID}, {"VSwitchId", p.VSwitchID}, {"ZoneId", p.ZoneID}, {"CidrBlock", p.CidrBlock}} {
		if req.val == "" {
			return x.missing(req.name)
		}
	}
	v := c.VPCByID(p.VpcID)
	if v == nil {
		return x.err(CodeNotFound, p.VpcID, "V6", "VPC %s does not exist", p.VpcID)
	}
	cidr, ok := parseCIDR(p.CidrBlock)
	if !ok {
		return x.err(CodeInvalidParameter, p.VSwitchID, "V6", "CidrBlock %q is not an IPv4 CIDR", p.CidrBlock)
	}
	s := &config.VSwitch{ID: p.VSwitchID, Name: p.VSwitchName, Description: p.Description, Zone: p.ZoneID, CIDR: cidr, VPC: v.ID, RouteTable: p.RouteTableID}
	keys := []string{"id", "zone", "cidr"}
	if p.RouteTableID != "" {
		keys = append(keys, "route_table")
	}
	editKeys(&s.KeyPos, keys)
	v.VSwitches = append(v.VSwitches, s)
	return nil
}

// DeleteVSwitchParams deletes a VSwitch that holds no ENI and no SNAT
// entry (V5).
type DeleteVSwitchParams struct {
	VSwitchID string `json:"VSwitchId"`
}

func (p *DeleteVSwitchParams) apply(c *config.Config, x *opCtx) error {
	if p.VSwitchID == "" {
		return x.missing("VSwitchId")
	}
	s := c.VSwitchByID(p.VSwitchID)
	if s == nil {
		return x.err(CodeNotFound, p.VSwitchID, "V0", "VSwitch %s does not exist", p.VSwitchID)
	}
	var enis []string
	for _, e := range c.ENIs() {
		if e.VSwitch == s.ID {
			enis = append(enis, e.ID)
		}
	}
	if len(enis) > 0 {
		return x.err(CodeDependencyViolation, s.ID, "V5", "holds ENIs %s; a VSwitch cannot be deleted while it holds ENIs", strings.Join(enis, ", "))
	}
	for _, g := range c.NATGateways {
		for _, e := range g.SNAT {
			if e.SourceVSwitch == s.ID {
				return x.err(CodeDependencyViolation, s.ID, "V5", "is the source of an SNAT entry of %s; a VSwitch cannot be deleted while it holds SNAT entries", g.ID)
			}
		}
	}
	v := c.VPCByID(s.VPC)
	v.VSwitches = slices.DeleteFunc(slices.Clone(v.VSwitches), func(o *config.VSwitch) bool { return o == s })
	return nil
}

// CreateVpcParams creates a VPC with its VRouter, system route table and
// default security group (V3, §1).
type CreateVpcParams struct {
	VpcID       string `json:"VpcId"`
	CidrBlock   string `json:"CidrBlock"`
	VpcName     string `json:"VpcName,omitempty"`
	Description string `json:"Description,omitempty"`
	ClassicLink bool   `json:"ClassicLink,omitempty"`
}

func (p *CreateVpcParams) apply(c *config.Config, x *opCtx) error {
	if p.VpcID == "" {
		return x.missing("VpcId")
	}
	if p.CidrBlock == "" {
		return x.missing("CidrBlock")
	}
	cidr, ok := parseCIDR(p.CidrBlock)
	if !ok {
		return x.err(CodeInvalidParameter, p.VpcID, "V3", "CidrBlock %q is not an IPv4 CIDR", p.CidrBlock)
	}
	v := &config.VPC{ID: p.VpcID, Name: p.VpcName, Description: p.Description, CIDR: cidr, ClassicLink: p.ClassicLink}
	editKeys(&v.KeyPos, []string{"id", "cidr"})
	c.VPCs = append(c.VPCs, v)
	return nil
}

// DeleteVpcParams deletes a VPC without VSwitches (V5) together with its
// VRouter, route tables and default security group. Other security groups
// and resources that reference the VPC must go first.
type DeleteVpcParams struct {
	VpcID string `json:"VpcId"`
}

func (p *DeleteVpcParams) apply(c *config.Config, x *opCtx) error {
	if p.VpcID == "" {
		return x.missing("VpcId")
	}
	v := c.VPCByID(p.VpcID)
	if v == nil {
		return x.err(CodeNotFound, p.VpcID, "V0", "VPC %s does not exist", p.VpcID)
	}
	if len(v.VSwitches) > 0 {
		ids := make([]string, len(v.VSwitches))
		for i, s := range v.VSwitches {
			ids[i] = s.ID
		}
		return x.err(CodeDependencyViolation, v.ID, "V5", "has VSwitches %s; a VPC cannot be deleted while it has VSwitches", strings.Join(ids, ", "))
	}
	var users []string
	for _, g := range v.SecurityGroups {
		if !g.Default {
			users = append(users, "security group "+g.ID)
		}
	}
	for _, r := range c.RouterInterfaces {
		if r.VPC == v.ID {
			users = append(users, "router interface "+r.ID)
		}
	}
	for _, g := range c.VPNGateways {
		if g.VPC == v.ID {
			users = append(users, "VPN gateway "+g.ID)
		}
	}
	for _, g := range c.NATGateways {
		if g.VPC == v.ID {
			users = append(users, "NAT gateway "+g.ID)
		}
	}
	for _, n := range c.CENs {
		if slices.Contains(n.Attachments, v.ID) {
			users = append(users, "CEN "+n.ID)
		}
	}
	for _, m := range c.Multicast {
		if m.VPC == v.ID {
			users = append(users, "multicast group "+m.Group.String())
		}
	}
	if c.Classic != nil {
		for _, ci := range c.Classic.Instances {
			if ci.Link == v.ID {
				users = append(users, "classic instance "+ci.ID)
			}
		}
	}
	if len(users) > 0 {
		return x.err(CodeDependencyViolation, v.ID, "V5", "still used by %s; delete them first", strings.Join(users, ", "))
	}
	c.VPCs = slices.DeleteFunc(slices.Clone(c.VPCs), func(o *config.VPC) bool { return o == v })
	return nil
}
