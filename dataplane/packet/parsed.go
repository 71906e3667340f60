package packet

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
)

// Status is the result of Parsed.Decode. Every value other than OK is a
// malformed-input drop of SPEC F12, to be counted per reason and never answered
// with ICMP.
type Status uint8

// Decode results.
const (
	OK             Status = iota
	ErrTruncated          // shorter than the header needs (incl. IPv6 extension headers running past the payload)
	ErrBadVersion         // neither 4 nor 6
	ErrBadIHL             // IHL < 5 or beyond the packet
	ErrBadTotalLen        // total length < header length or larger than the buffer
	ErrBadChecksum        // IPv4 header checksum wrong
	ErrBadOptions         // malformed IPv4 options (RFC 791); IPv6 hop-by-hop header not first (RFC 8200 4.1)
	ErrBadL4              // transport header truncated or inconsistent in a first fragment
	numStatus
)

var statusNames = [numStatus]string{
	OK:             "ok",
	ErrTruncated:   "truncated",
	ErrBadVersion:  "bad-version",
	ErrBadIHL:      "bad-ihl",
	ErrBadTotalLen: "bad-total-length",
	ErrBadChecksum: "bad-checksum",
	ErrBadOptions:  "bad-options",
	ErrBadL4:       "bad-l4",
}

// NumStatus is the number of Status values, for per-status counter arrays.
const NumStatus = int(numStatus)

// String returns a short, stable, metric-label friendly name.
func (s Status) String() string {
	if s < numStatus {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Parsed is the decoded summary of one packet. The fast path keeps one Parsed
// per worker and reuses it for every packet (Decode resets it first). Address
// fields hold netip.Addr values built without allocation.
type Parsed struct {
	Version  uint8      // 4 or 6; also set when the version nibble was read but decoding failed
	Src, Dst netip.Addr // IP source and destination
	// Proto is the IPv4 protocol, or for IPv6 the next header after skipping
	// hop-by-hop, routing, destination options and fragment headers (for a
	// non-first fragment: the fragment header's next header).
	Proto      uint8
	TTL        uint8  // IPv4 TTL / IPv6 hop limit
	HdrLen     int    // IP header length in bytes, incl. IPv4 options or IPv6 extension headers
	TotalLen   int    // IPv4 total length / 40 + IPv6 payload length; <= len(b)
	ID         uint16 // IPv4 identification (0 for IPv6)
	DF, MF     bool   // don't fragment (IPv4) / more fragments (IPv4 flag, IPv6 fragment header M bit)
	FragOff    uint16 // fragment offset in bytes
	HasOptions bool   // IPv4 header has options; IPv6 has hop-by-hop, routing or destination options headers
	L4Off      int    // offset of the transport header (== HdrLen)
	// SrcPort and DstPort are the TCP/UDP ports; for ICMP(v6) echo request and
	// reply both hold the echo identifier. Zero otherwise and in non-first
	// fragments.
	SrcPort, DstPort   uint16
	TCPFlags           uint8 // TCP flag byte (TCPFin … TCPCwr)
	ICMPType, ICMPCode uint8 // ICMPv4 for IPv4, ICMPv6 for IPv6
	// For ICMP errors (ICMPv4 types 3, 4, 5, 11, 12; ICMPv6 types 1-4) the quoted
	// original header, decoded best-effort: HasInner is set when at least the
	// whole quoted IP header is present; ports are set when the quoted
	// transport header is a first fragment and holds them.
	HasInner                   bool
	InnerProto                 uint8
	InnerSrc, InnerDst         netip.Addr
	InnerSrcPort, InnerDstPort uint16 // ports, or the echo identifier for a quoted echo
	// IGMP (IPv4 protocol 2): the message type when at least one byte is
	// present, and the group address: of a query, v1/v2 report or leave when
	// the 8-byte message is present, of the first group record of an IGMPv3
	// report when it is present.
	IGMPType  uint8
	IGMPGroup netip.Addr
}

// Decode parses b, which starts with an IP header, into p. It resets every
// field of p first, reads only b (never writes it), allocates nothing and never
// panics. On OK all fields are valid and 0 < HdrLen == L4Off <= TotalLen <=
// len(b). On any other status only Version is meaningful (the rest may be
// partially filled).
//
// Checks (SPEC F12): the fixed header is present; IPv4 IHL >= 5 and within b;
// the IPv4 total length (IPv6: 40 + payload length) is at least the header
// length and at most len(b) (bytes beyond it are ignored, e.g. link padding);
// the IPv4 header checksum; IPv4 options are well formed (RFC 791: every option
// other than EOL and NOP has a length >= 2 that stays within IHL; record route,
// source routes and timestamp carry a valid pointer; stream id and router
// alert have length 4); IPv6 extension headers stay within the payload. In a
// first fragment (FragOff == 0) the transport header must be usable: TCP at
// least 20 bytes with data offset >= 5 (and within the packet when it is not
// fragmented), UDP at least 8 bytes with length >= 8 (and within the packet
// when it is not fragmented), ICMP and ICMPv6 at least 8 bytes. IGMP is decoded
// best-effort and never fails.
func (p *Parsed) Decode(b []byte) Status {
	*p = Parsed{}
	if len(b) == 0 {
		return ErrTruncated
	}
	switch b[0] >> 4 {
	case 4:
		p.Version = 4
		return p.decode4(b)
	case 6:
		p.Version = 6
		return p.decode6(b)
	}
	return ErrBadVersion
}

func (p *Parsed) decode4(b []byte) Status {
	if s := p.decodeIPv4Header(b); s != OK {
		return s
	}
	if p.FragOff != 0 {
		return OK
	}
	return p.decodeL4(b[p.HdrLen:p.TotalLen])
}

// decodeIPv4Header checks the IPv4 header of b (which starts with version 4)
// and fills the header fields of p; the transport header is not looked at.
func (p *Parsed) decodeIPv4Header(b []byte) Status {
	if len(b) < IPv4MinHeaderLen {
		return ErrTruncated
	}
	hl := int(b[0]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return ErrBadIHL
	}
	tl := int(binary.BigEndian.Uint16(b[2:4]))
	if tl < hl || tl > len(b) {
		return ErrBadTotalLen
	}
	if !ipv4HeaderChecksumOK(b[:hl]) {
		return ErrBadChecksum
	}
	if hl > IPv4MinHeaderLen {
		if !validIPv4Options(b[IPv4MinHeaderLen:hl]) {
			return ErrBadOptions
		}
		p.HasOptions = true
	}
	ff := binary.BigEndian.Uint16(b[6:8])
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.Proto = b[9]
	p.TTL = b[8]
	p.HdrLen = hl
	p.L4Off = hl
	p.TotalLen = tl
	p.ID = binary.BigEndian.Uint16(b[4:6])
	p.DF = ff&(ipv4FlagDF<<8) != 0
	p.MF = ff&(ipv4FlagMF<<8) != 0
	p.FragOff = (ff & 0x1fff) << 3
	return OK
}

func (p *Parsed) decode6(b []byte) Status {
	if len(b) < IPv6HeaderLen {
		return ErrTruncated
	}
	tl := IPv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
	if tl > len(b) {
		return ErrBadTotalLen
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.TTL = b[7]
	p.TotalLen = tl
	nh, off := b[6], IPv6HeaderLen
walk:
	for {
		switch nh {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts:
			if nh == ProtoHopByHop && off != IPv6HeaderLen {
				return ErrBadOptions // RFC 8200 4.1: only right after the IPv6 header
			}
			if off+8 > tl {
				return ErrTruncated
			}
			l := (int(b[off+1]) + 1) * 8
			if off+l > tl {
				return ErrTruncated
			}
			nh = b[off]
			off += l
			p.HasOptions = true
		case ProtoFragment:
			if off+8 > tl {
				return ErrTruncated
			}
			fo := binary.BigEndian.Uint16(b[off+2 : off+4])
			nh = b[off]
			off += 8
			p.FragOff = fo &^ 7
			p.MF = fo&1 != 0
			if p.FragOff != 0 {
				break walk // what follows is fragment data, not headers
			}
		default:
			break walk
		}
	}
	p.Proto = nh
	p.HdrLen = off
	p.L4Off = off
	if p.FragOff != 0 {
		return OK
	}
	return p.decodeL4(b[off:tl])
}

// ipv4HeaderChecksumOK verifies an IPv4 header checksum, with a fast path for
// the common option-less 20-byte header.
func ipv4HeaderChecksumOK(h []byte) bool {
	if len(h) != IPv4MinHeaderLen {
		return Checksum(h, 0) == 0
	}
	s := uint64(binary.BigEndian.Uint32(h[0:4])) + uint64(binary.BigEndian.Uint32(h[4:8])) +
		uint64(binary.BigEndian.Uint32(h[8:12])) + uint64(binary.BigEndian.Uint32(h[12:16])) +
		uint64(binary.BigEndian.Uint32(h[16:20]))
	return fold(s) == 0xffff
}

// decodeL4 decodes the transport header of a first fragment; l4 runs from the
// transport header to the end of the IP datagram (or fragment).
func (p *Parsed) decodeL4(l4 []byte) Status {
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < TCPMinHeaderLen {
			return ErrBadL4
		}
		if off := int(l4[12]>>4) * 4; off < TCPMinHeaderLen || (!p.MF && off > len(l4)) {
			return ErrBadL4
		}
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
		p.TCPFlags = l4[13]
	case ProtoUDP:
		if len(l4) < UDPHeaderLen {
			return ErrBadL4
		}
		if ul := int(binary.BigEndian.Uint16(l4[4:6])); ul < UDPHeaderLen || (!p.MF && ul > len(l4)) {
			return ErrBadL4
		}
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case ProtoICMP:
		if p.Version != 4 {
			return OK
		}
		if len(l4) < ICMPv4HeaderLen {
			return ErrBadL4
		}
		p.ICMPType, p.ICMPCode = l4[0], l4[1]
		switch p.ICMPType {
		case ICMPEcho, ICMPEchoReply:
			p.SrcPort = binary.BigEndian.Uint16(l4[4:6])
			p.DstPort = p.SrcPort
		case ICMPDestUnreach, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
			p.decodeInner4(l4[ICMPv4HeaderLen:])
		}
	case ProtoICMPv6:
		if p.Version != 6 {
			return OK
		}
		if len(l4) < 8 {
			return ErrBadL4
		}
		p.ICMPType, p.ICMPCode = l4[0], l4[1]
		switch p.ICMPType {
		case ICMPv6EchoRequest, ICMPv6EchoReply:
			p.SrcPort = binary.BigEndian.Uint16(l4[4:6])
			p.DstPort = p.SrcPort
		case ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem:
			p.decodeInner6(l4[8:])
		}
	case ProtoIGMP:
		if p.Version == 4 {
			p.decodeIGMP(l4)
		}
	}
	return OK
}

// decodeInner4 decodes the IPv4 header quoted in an ICMPv4 error, best-effort:
// the quote is usually truncated and its length fields are not trusted.
func (p *Parsed) decodeInner4(q []byte) {
	if len(q) < IPv4MinHeaderLen || q[0]>>4 != 4 {
		return
	}
	hl := int(q[0]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(q) {
		return
	}
	p.HasInner = true
	p.InnerProto = q[9]
	p.InnerSrc = netip.AddrFrom4([4]byte(q[12:16]))
	p.InnerDst = netip.AddrFrom4([4]byte(q[16:20]))
	if binary.BigEndian.Uint16(q[6:8])&0x1fff != 0 {
		return
	}
	p.InnerSrcPort, p.InnerDstPort = innerPorts(p.InnerProto, q[hl:], ProtoICMP, ICMPEcho, ICMPEchoReply)
}

// decodeInner6 decodes the IPv6 header quoted in an ICMPv6 error, best-effort,
// skipping extension headers as far as the quote reaches.
func (p *Parsed) decodeInner6(q []byte) {
	if len(q) < IPv6HeaderLen || q[0]>>4 != 6 {
		return
	}
	p.HasInner = true
	p.InnerSrc = netip.AddrFrom16([16]byte(q[8:24]))
	p.InnerDst = netip.AddrFrom16([16]byte(q[24:40]))
	nh, off := q[6], IPv6HeaderLen
	for {
		switch nh {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts:
			if off+2 > len(q) {
				p.InnerProto = nh
				return
			}
			nh = q[off]
			off += (int(q[off+1]) + 1) * 8
			continue
		case ProtoFragment:
			if off+8 > len(q) {
				p.InnerProto = nh
				return
			}
			nh = q[off]
			first := binary.BigEndian.Uint16(q[off+2:off+4])&^7 == 0
			off += 8
			if !first {
				p.InnerProto = nh
				return
			}
			continue
		}
		break
	}
	p.InnerProto = nh
	if off <= len(q) {
		p.InnerSrcPort, p.InnerDstPort = innerPorts(nh, q[off:], ProtoICMPv6, ICMPv6EchoRequest, ICMPv6EchoReply)
	}
}

// innerPorts returns the ports (or echo identifier) of a quoted transport
// header, or zeros when the quote is too short.
func innerPorts(proto uint8, l4 []byte, icmp, echo, echoReply uint8) (uint16, uint16) {
	switch proto {
	case ProtoTCP, ProtoUDP:
		if len(l4) >= 4 {
			return binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
		}
	case icmp:
		if len(l4) >= 6 && (l4[0] == echo || l4[0] == echoReply) {
			id := binary.BigEndian.Uint16(l4[4:6])
			return id, id
		}
	}
	return 0, 0
}

// decodeIGMP fills IGMPType and IGMPGroup (RFC 2236 2, RFC 3376 4.2).
func (p *Parsed) decodeIGMP(m []byte) {
	if len(m) < 1 {
		return
	}
	p.IGMPType = m[0]
	switch p.IGMPType {
	case IGMPMembershipQuery, IGMPv1MembershipReport, IGMPv2MembershipReport, IGMPv2LeaveGroup:
		if len(m) >= IGMPHeaderLen {
			p.IGMPGroup = netip.AddrFrom4([4]byte(m[4:8]))
		}
	case IGMPv3MembershipReport:
		// type, reserved, checksum, reserved(2), number of group records(2),
		// then records: type, aux len, number of sources(2), group(4), ...
		if len(m) >= 16 && binary.BigEndian.Uint16(m[6:8]) > 0 {
			p.IGMPGroup = netip.AddrFrom4([4]byte(m[12:16]))
		}
	}
}

// IsFirstFragment reports whether the packet carries the start of its
// datagram (fragment offset 0), which is also true of an unfragmented packet.
// Only such packets have transport ports.
func (p *Parsed) IsFirstFragment() bool { return p.FragOff == 0 }

// IsFragment reports whether the packet is a fragment of a larger datagram
// (MF set or a non-zero offset).
func (p *Parsed) IsFragment() bool { return p.MF || p.FragOff != 0 }

// Mixing constants (odd, high-entropy 64-bit values).
const (
	hk0 = 0xa0761d6478bd642f
	hk1 = 0xe7037ed1a0b428db
	hk2 = 0x8ebc6af09c88c6e3
	hk3 = 0x589965cc75374cc3
	hk4 = 0x1d8e4e27c47d124f
)

// mum multiplies two 64-bit values to 128 bits and folds the halves.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// FlowHash returns a 64-bit hash of the flow: addresses, ports and protocol.
// It is symmetric: swapping (Src, SrcPort) with (Dst, DstPort) gives the same
// value, so both directions of a flow choose the same ECMP member (SPEC F8).
// The endpoints are put in a canonical order before hashing, so unlike an XOR
// of the endpoints it does not collapse flows with equal endpoints. For any
// fragment (IsFragment) the ports are left out so that every fragment of a
// datagram hashes alike (the non-first ones carry no ports). seed makes hashes
// differ between VRouters or restarts. It allocates nothing.
func (p *Parsed) FlowHash(seed uint64) uint64 {
	a0, a1 := addrWords(p.Src)
	b0, b1 := addrWords(p.Dst)
	sp, dp := p.SrcPort, p.DstPort
	if p.IsFragment() {
		sp, dp = 0, 0
	}
	if a0 > b0 || (a0 == b0 && (a1 > b1 || (a1 == b1 && sp > dp))) {
		a0, a1, b0, b1 = b0, b1, a0, a1
		sp, dp = dp, sp
	}
	k := uint64(sp)<<48 | uint64(dp)<<32 | uint64(p.Proto)<<8 | uint64(p.Version)
	h := mum(a0^seed^hk0, a1^hk1)
	h = mum(h^b0^hk2, b1^hk3)
	h = mum(h^k^hk4, seed^hk0)
	// murmur3 fmix64 finaliser for full avalanche.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// addrWords returns a as two 64-bit words (IPv4 in the low half of the second).
func addrWords(a netip.Addr) (uint64, uint64) {
	if a.Is4() {
		a4 := a.As4()
		return 0, uint64(binary.BigEndian.Uint32(a4[:]))
	}
	a16 := a.As16()
	return binary.BigEndian.Uint64(a16[:8]), binary.BigEndian.Uint64(a16[8:])
}

// String formats the decoded packet for logs, traces and test failures (it
// allocates; not for the fast path).
func (p *Parsed) String() string {
	s := fmt.Sprintf("v%d proto=%d %v:%d > %v:%d ttl=%d hdr=%d len=%d", p.Version, p.Proto,
		p.Src, p.SrcPort, p.Dst, p.DstPort, p.TTL, p.HdrLen, p.TotalLen)
	if p.IsFragment() {
		s += fmt.Sprintf(" frag(id=%d off=%d mf=%t)", p.ID, p.FragOff, p.MF)
	}
	if p.Proto == ProtoTCP {
		s += fmt.Sprintf(" flags=%#02x", p.TCPFlags)
	}
	if p.Proto == ProtoICMP || p.Proto == ProtoICMPv6 {
		s += fmt.Sprintf(" icmp=%d/%d", p.ICMPType, p.ICMPCode)
	}
	if p.HasInner {
		s += fmt.Sprintf(" inner(proto=%d %v:%d > %v:%d)", p.InnerProto, p.InnerSrc, p.InnerSrcPort, p.InnerDst, p.InnerDstPort)
	}
	if p.Proto == ProtoIGMP {
		s += fmt.Sprintf(" igmp=%#02x group=%v", p.IGMPType, p.IGMPGroup)
	}
	return s
}

// validIPv4Options reports whether the IPv4 option bytes are well formed
// (RFC 791 3.1): EOL ends the list, NOP is one byte, every other option has a
// length byte >= 2 and ends within the header. Known options are checked
// further: record route, loose and strict source route have length >= 3 and a
// pointer >= 4; timestamp has length >= 4 and a pointer >= 5; stream id and
// router alert (RFC 2113) have length 4.
func validIPv4Options(opts []byte) bool {
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == IPv4OptEOL {
			return true
		}
		if t == IPv4OptNOP {
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return false
		}
		switch t {
		case IPv4OptRecordRoute, IPv4OptLSRR, IPv4OptSSRR:
			if l < 3 || opts[i+2] < 4 {
				return false
			}
		case IPv4OptTimestamp:
			if l < 4 || opts[i+2] < 5 {
				return false
			}
		case IPv4OptStreamID, IPv4OptRouterAlert:
			if l != 4 {
				return false
			}
		}
		i += l
	}
	return true
}
