package packet

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"). For IPv6 the
// same numbers are used as next-header values; the extension headers that
// Decode skips are listed too.
const (
	ProtoHopByHop uint8 = 0   // IPv6 hop-by-hop options (RFC 8200)
	ProtoICMP     uint8 = 1   // ICMPv4 (RFC 792)
	ProtoIGMP     uint8 = 2   // IGMP (RFC 2236, RFC 3376)
	ProtoTCP      uint8 = 6   // TCP (RFC 9293)
	ProtoUDP      uint8 = 17  // UDP (RFC 768)
	ProtoRouting  uint8 = 43  // IPv6 routing header
	ProtoFragment uint8 = 44  // IPv6 fragment header
	ProtoGRE      uint8 = 47  // GRE (RFC 2784)
	ProtoESP      uint8 = 50  // IPsec ESP
	ProtoAH       uint8 = 51  // IPsec AH
	ProtoICMPv6   uint8 = 58  // ICMPv6 (RFC 4443)
	ProtoNoNext   uint8 = 59  // IPv6 no next header
	ProtoDestOpts uint8 = 60  // IPv6 destination options
	ProtoSCTP     uint8 = 132 // SCTP
)

// ICMPv4 types (RFC 792).
const (
	ICMPEchoReply      uint8 = 0
	ICMPDestUnreach    uint8 = 3
	ICMPSourceQuench   uint8 = 4
	ICMPRedirect       uint8 = 5
	ICMPEcho           uint8 = 8
	ICMPTimeExceeded   uint8 = 11
	ICMPParamProblem   uint8 = 12
	ICMPTimestamp      uint8 = 13
	ICMPTimestampReply uint8 = 14
)

// ICMPv4 destination unreachable codes (type 3; RFC 792, RFC 1812 5.2.7.1).
const (
	ICMPNetUnreach      uint8 = 0
	ICMPHostUnreach     uint8 = 1
	ICMPProtoUnreach    uint8 = 2
	ICMPPortUnreach     uint8 = 3
	ICMPFragNeeded      uint8 = 4 // next-hop MTU in bytes 6-7 (RFC 1191)
	ICMPAdminProhibited uint8 = 13
)

// ICMPv4 time exceeded codes (type 11).
const (
	ICMPTTLExceeded        uint8 = 0 // time to live exceeded in transit
	ICMPReassemblyExceeded uint8 = 1 // fragment reassembly time exceeded
)

// ICMPv6 types (RFC 4443).
const (
	ICMPv6DestUnreach  uint8 = 1
	ICMPv6PacketTooBig uint8 = 2
	ICMPv6TimeExceeded uint8 = 3
	ICMPv6ParamProblem uint8 = 4
	ICMPv6EchoRequest  uint8 = 128
	ICMPv6EchoReply    uint8 = 129
)

// IGMP message types (RFC 2236, RFC 3376).
const (
	IGMPMembershipQuery    uint8 = 0x11
	IGMPv1MembershipReport uint8 = 0x12
	IGMPv2MembershipReport uint8 = 0x16
	IGMPv2LeaveGroup       uint8 = 0x17
	IGMPv3MembershipReport uint8 = 0x22
)

// TCP flag bits as found in byte 13 of the TCP header (RFC 9293, RFC 3168).
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
	TCPEce uint8 = 0x40
	TCPCwr uint8 = 0x80
)

// IPv4 option types (RFC 791, RFC 2113). The high bit of the type is the copy
// flag: such options are copied into every fragment.
const (
	IPv4OptEOL         uint8 = 0
	IPv4OptNOP         uint8 = 1
	IPv4OptRecordRoute uint8 = 7
	IPv4OptTimestamp   uint8 = 68
	IPv4OptSecurity    uint8 = 130
	IPv4OptLSRR        uint8 = 131
	IPv4OptStreamID    uint8 = 136
	IPv4OptSSRR        uint8 = 137
	IPv4OptRouterAlert uint8 = 148
	IPv4OptCopied      uint8 = 0x80 // copy flag bit of the option type
)

// Sizes and limits.
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
	IPv6HeaderLen    = 40
	TCPMinHeaderLen  = 20
	UDPHeaderLen     = 8
	ICMPv4HeaderLen  = 8
	IGMPHeaderLen    = 8
	// MinIPv4MTU is the smallest MTU every IPv4 link must carry (RFC 791).
	MinIPv4MTU = 68
	// MaxICMPErrorLen caps an ICMP error datagram (RFC 1812 4.3.2.3).
	MaxICMPErrorLen = 576
	// DefaultTTL is the TTL of packets the VRouter originates.
	DefaultTTL = 64
)

// IPv4 flag bits in byte 6 of the header.
const (
	ipv4FlagDF = 0x40
	ipv4FlagMF = 0x20
)
