package packet

import (
	"encoding/binary"
	"net/netip"
)

// Slow-path builders. They write a complete IPv4 packet into a caller-provided
// buffer and return its length, or 0 when no packet may or can be built. None
// of them allocates.

// tosInternetControl is the TOS of ICMP errors: precedence 6, internetwork
// control (RFC 1812 4.3.2.5).
const tosInternetControl = 0xc0

// isICMPv4Error reports whether an ICMPv4 type must be treated as an error
// message for RFC 1812 4.3.2.7. Unknown types (above timestamp/info/address
// mask replies) are treated as errors too, as Linux does: being conservative
// here never causes an error storm.
func isICMPv4Error(t uint8) bool {
	switch t {
	case ICMPDestUnreach, ICMPSourceQuench, ICMPRedirect, ICMPTimeExceeded, ICMPParamProblem:
		return true
	}
	return t > 18
}

// notSingleHost reports whether an IPv4 address does not name a single host
// (RFC 1812 4.3.2.7): unspecified, loopback, multicast, or class E (which
// includes the limited broadcast 255.255.255.255).
func notSingleHost(a [4]byte) bool {
	return a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0 || a[0] == 127 || a[0] >= 224
}

// writeIPv4Header writes a 20-byte IPv4 header without options and its
// checksum.
func writeIPv4Header(h []byte, tos uint8, totalLen int, id uint16, ttl, proto uint8, src, dst [4]byte) {
	h[0] = 0x45
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:4], uint16(totalLen))
	binary.BigEndian.PutUint16(h[4:6], id)
	h[6], h[7] = 0, 0
	h[8] = ttl
	h[9] = proto
	h[10], h[11] = 0, 0
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	binary.BigEndian.PutUint16(h[10:12], Checksum(h[:IPv4MinHeaderLen], 0))
}

// BuildICMPv4Error builds in dst a complete IPv4 packet (no options, TTL 64,
// TOS 0xc0, DF clear, identification id) carrying an ICMP error of type typ and
// code code from src to the source of orig, the offending IPv4 datagram as it
// was received.
//
// The quoted data is as much of orig as fits without the error exceeding 576
// bytes (RFC 1812 4.3.2.3), but never beyond orig's own total length or len(orig)
// (a total-length field larger than the packet is not trusted) nor beyond dst.
// The quote must hold at least orig's IP header and 8 bytes of payload (or all
// of orig if shorter, RFC 792); if dst cannot hold that, 0 is returned.
// For type 3 code 4 (fragmentation needed) mtu goes into bytes 6-7 (RFC 1191);
// for type 12 (parameter problem) the low byte of mtu is the pointer (byte 4,
// RFC 792); otherwise mtu is ignored.
//
// It returns 0 when no error may be sent for orig (RFC 1812 4.3.2.7): orig is
// not a valid IPv4 header (version, IHL, total length; the checksum is not
// checked), is itself an ICMP error (or an ICMP message whose type cannot be
// read), is a non-first fragment, comes from a source that is not a single
// host (unspecified, loopback, multicast, class E incl. 255.255.255.255) or is
// sent to a multicast or limited-broadcast destination; or when src is not an
// IPv4 address. dst must not overlap orig.
func BuildICMPv4Error(dst []byte, src netip.Addr, id uint16, orig []byte, typ, code uint8, mtu uint16) int {
	if !src.Is4() || len(orig) < IPv4MinHeaderLen || orig[0]>>4 != 4 {
		return 0
	}
	hl := int(orig[0]&0x0f) * 4
	if hl < IPv4MinHeaderLen || hl > len(orig) {
		return 0
	}
	origLen := int(binary.BigEndian.Uint16(orig[2:4]))
	if origLen < hl {
		return 0
	}
	origLen = min(origLen, len(orig))
	if binary.BigEndian.Uint16(orig[6:8])&0x1fff != 0 {
		return 0 // not the first fragment
	}
	osrc, odst := [4]byte(orig[12:16]), [4]byte(orig[16:20])
	if notSingleHost(osrc) || (odst[0] >= 224 && odst[0] < 240) || odst == [4]byte{255, 255, 255, 255} {
		return 0
	}
	if orig[9] == ProtoICMP && (origLen <= hl || isICMPv4Error(orig[hl])) {
		return 0
	}

	const hdr = IPv4MinHeaderLen + ICMPv4HeaderLen
	quote := min(origLen, MaxICMPErrorLen-hdr, len(dst)-hdr)
	if quote < min(origLen, hl+8) {
		return 0
	}
	n := hdr + quote
	writeIPv4Header(dst[:IPv4MinHeaderLen], tosInternetControl, n, id, DefaultTTL, ProtoICMP, src.As4(), osrc)
	icmp := ICMPv4(dst[IPv4MinHeaderLen:n])
	icmp[0], icmp[1], icmp[2], icmp[3] = typ, code, 0, 0
	icmp[4], icmp[5], icmp[6], icmp[7] = 0, 0, 0, 0
	switch {
	case typ == ICMPDestUnreach && code == ICMPFragNeeded:
		icmp.SetMTU(mtu)
	case typ == ICMPParamProblem:
		icmp[4] = uint8(mtu)
	}
	copy(icmp[ICMPv4HeaderLen:], orig[:quote])
	icmp.SetChecksum(Checksum(icmp, 0))
	return n
}

// BuildEchoReply turns the ICMPv4 echo request req into its echo reply in dst
// (SPEC F3): addresses swapped, type 0, TTL 64, TOS and identification kept,
// DF clear, no IP options (RFC 1122 3.2.2.6 lets a reply drop them), identifier,
// sequence and data echoed, both checksums recomputed. dst may be req itself
// (in-place reply) or any non-overlapping buffer.
//
// It returns 0 when req is not a valid echo request: Decode fails, the protocol
// is not ICMP, the type is not 8, the packet is a fragment (reassembly is not
// done), the ICMP checksum is wrong, or dst is too short.
func BuildEchoReply(dst []byte, req []byte) int {
	var p Parsed
	if p.Decode(req) != OK || p.Version != 4 || p.Proto != ProtoICMP || p.ICMPType != ICMPEcho || p.IsFragment() {
		return 0
	}
	msg := req[p.HdrLen:p.TotalLen]
	if Checksum(msg, 0) != 0 {
		return 0
	}
	n := IPv4MinHeaderLen + len(msg)
	if len(dst) < n {
		return 0
	}
	tos := req[1]
	id := binary.BigEndian.Uint16(req[4:6])
	src, to := p.Dst.As4(), p.Src.As4()
	copy(dst[IPv4MinHeaderLen:n], msg) // memmove: safe when dst aliases req
	writeIPv4Header(dst[:IPv4MinHeaderLen], tos, n, id, DefaultTTL, ProtoICMP, src, to)
	icmp := ICMPv4(dst[IPv4MinHeaderLen:n])
	icmp.SetType(ICMPEchoReply)
	icmp.SetCode(0)
	icmp.UpdateChecksum()
	return n
}

// BuildEchoRequest builds in dst an ICMPv4 echo request from src to to with
// identifier id, sequence seq and the given payload (used by the health probes
// of SPEC F9). The IP header has no options, TTL 64, DF clear and seq as its
// identification. It returns 0 when src or to is not IPv4, dst is too short or
// the packet would exceed 65535 bytes.
func BuildEchoRequest(dst []byte, src, to netip.Addr, id, seq uint16, payload []byte) int {
	const hdr = IPv4MinHeaderLen + ICMPv4HeaderLen
	n := hdr + len(payload)
	if !src.Is4() || !to.Is4() || n > 0xffff || len(dst) < n {
		return 0
	}
	writeIPv4Header(dst[:IPv4MinHeaderLen], 0, n, seq, DefaultTTL, ProtoICMP, src.As4(), to.As4())
	icmp := ICMPv4(dst[IPv4MinHeaderLen:n])
	icmp[0], icmp[1] = ICMPEcho, 0
	icmp.SetIdent(id)
	icmp.SetSeq(seq)
	copy(icmp[ICMPv4HeaderLen:], payload)
	icmp.UpdateChecksum()
	return n
}
