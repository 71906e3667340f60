package secgroup

import (
	"net/netip"
	"strconv"
)

// Direction is the direction of a rule or of a check, seen from the ENI.
// The zero value is invalid so that a forgotten field is caught by Compile.
type Direction uint8

const (
	// Ingress rules apply to packets delivered to the ENI; their peer is the
	// packet's source.
	Ingress Direction = iota + 1
	// Egress rules apply to packets sent by the ENI; their peer is the
	// packet's destination.
	Egress
)

// String returns "ingress" or "egress" (the configuration spelling and the
// metric label of R8).
func (d Direction) String() string {
	switch d {
	case Ingress:
		return "ingress"
	case Egress:
		return "egress"
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// Policy is what a matching rule does. The zero value is invalid.
type Policy uint8

const (
	// Accept admits the flow.
	Accept Policy = iota + 1
	// Drop refuses the flow.
	Drop
)

// String returns "accept" or "drop".
func (p Policy) String() string {
	switch p {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// Proto is the protocol a rule matches: ProtoAll (0) matches any protocol,
// any other value is an IP protocol number.
type Proto uint8

// Protocols named by the configuration (V16).
const (
	ProtoAll  Proto = 0
	ProtoICMP Proto = 1
	ProtoTCP  Proto = 6
	ProtoUDP  Proto = 17
	ProtoGRE  Proto = 47
)

// String returns the configuration spelling ("all", "tcp", …) or the number.
func (p Proto) String() string {
	switch p {
	case ProtoAll:
		return "all"
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoGRE:
		return "gre"
	}
	return strconv.Itoa(int(p))
}

// hasPorts reports whether rules of this protocol carry a port range.
func (p Proto) hasPorts() bool { return p == ProtoTCP || p == ProtoUDP }

// Rule is one configured security-group rule.
type Rule struct {
	Group     string    // id of the group the rule belongs to (sg-…)
	Index     int       // index of the rule within its group as configured (trace, R7)
	Direction Direction // Ingress or Egress
	Policy    Policy    // Accept or Drop
	Priority  uint8     // 1..100, lower wins (S3)
	Proto     Proto     // ProtoAll or an IP protocol number
	// PortLo and PortHi bound the destination port for tcp and udp rules,
	// inclusive; 0,0 means any port and is the only range allowed for other
	// protocols (V16 "-1/-1").
	PortLo, PortHi uint16
	// Peer is the CIDR peer: the source for ingress rules, the destination
	// for egress rules. It must be invalid (the zero Prefix) when PeerGroup
	// is set.
	Peer netip.Prefix
	// PeerGroup is the group peer (S6): any address of any member of that
	// group. Resolved at compile time from Input.Members.
	PeerGroup   string
	Description string
}

// Group is one security group: its id, its inner-access setting (S5) and its
// rules in configured order.
type Group struct {
	ID          string
	InnerAccept bool // inner_access: accept (the configuration's default)
	Rules       []Rule
}

// Input is everything Compile needs about the groups of one VPC.
type Input struct {
	// Groups by id. Groups referenced as an ENI's group or as a rule's
	// PeerGroup must be present.
	Groups map[string]*Group
	// Members by group id: every address (primary and secondary) of every
	// ENI in the group (S5, S6). A group without members may be absent.
	Members map[string][]netip.Addr
}

// DecisionReason says what decided a Check.
type DecisionReason uint8

const (
	ReasonNone          DecisionReason = iota
	RuleMatch                          // a rule matched (Decision.Rule)
	InnerAccess                        // S5: both ends are members of an inner_access accept group
	DefaultIngressDrop                 // S4: no rule matched an ingress packet
	DefaultEgressAccept                // S4: no rule matched an egress packet
)

// String returns a snake-case name suitable for traces and logs.
func (r DecisionReason) String() string {
	switch r {
	case RuleMatch:
		return "rule"
	case InnerAccess:
		return "inner_access"
	case DefaultIngressDrop:
		return "default_ingress_drop"
	case DefaultEgressAccept:
		return "default_egress_accept"
	}
	return "none"
}

// Decision is the result of a Check.
type Decision struct {
	Accept bool
	// Rule is the rule that decided, nil when inner access or a default
	// decided. It points into the policy's own copy of the rules.
	Rule *Rule
	// Group is the group that decided: Rule.Group for RuleMatch, the
	// inner_access group for InnerAccess, empty for defaults.
	Group  string
	Reason DecisionReason
}
