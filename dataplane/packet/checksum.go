package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Conventions used throughout the package:
//   - Sum returns a partial ones'-complement sum, folded to 16 bits but NOT
//     complemented. Partial sums can be chained: Sum(b2, Sum(b1, 0)) equals
//     Sum(b1||b2, 0) as long as len(b1) is even.
//   - Checksum returns the final, complemented 16-bit value that goes into a
//     header. Verifying a header means Checksum(header, 0) == 0.
//   - An odd trailing byte is padded with a zero byte (it is the high byte of
//     the last 16-bit word), as RFC 1071 specifies.

// Sum returns the ones'-complement sum of b, as big-endian 16-bit words, added
// to initial (any 32-bit partial sum, for example PseudoHeaderSum). The result
// is folded to 16 bits (0..0xffff) and not complemented.
func Sum(b []byte, initial uint32) uint32 {
	return uint32(fold(sum64(b, uint64(initial))))
}

// Checksum returns the Internet checksum of b with initial as the starting
// partial sum: the complement of Sum(b, initial). Compute it with the checksum
// field zeroed; on a received packet it is 0 when the checksum is correct.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold(sum64(b, uint64(initial)))
}

// sum64 accumulates b into acc 8 bytes at a time with end-around carry. The
// ones'-complement sum of 64-bit words folds to the same 16-bit result as the
// sum of 16-bit words because 2^64-1 is a multiple of 2^16-1 (RFC 1071 2(B)).
func sum64(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[:8]), c)
		b = b[8:]
	}
	var w uint64
	switch len(b) {
	case 7:
		w = uint64(binary.BigEndian.Uint32(b))<<32 | uint64(binary.BigEndian.Uint16(b[4:]))<<16 | uint64(b[6])<<8
	case 6:
		w = uint64(binary.BigEndian.Uint32(b))<<32 | uint64(binary.BigEndian.Uint16(b[4:]))<<16
	case 5:
		w = uint64(binary.BigEndian.Uint32(b))<<32 | uint64(b[4])<<24
	case 4:
		w = uint64(binary.BigEndian.Uint32(b)) << 32
	case 3:
		w = uint64(binary.BigEndian.Uint16(b))<<48 | uint64(b[2])<<40
	case 2:
		w = uint64(binary.BigEndian.Uint16(b)) << 48
	case 1:
		w = uint64(b[0]) << 56
	}
	acc, c = bits.Add64(acc, w, c)
	acc, c = bits.Add64(acc, 0, c)
	return acc + c // c is 1 only when acc wrapped to 0, so this cannot overflow
}

// fold reduces a 64-bit ones'-complement accumulator to 16 bits.
func fold(acc uint64) uint16 {
	s := acc>>32 + acc&0xffffffff // < 2^33
	s = s>>16 + s&0xffff          // < 2^18
	s = s>>16 + s&0xffff          // < 2^16 + 4
	s = s>>16 + s&0xffff          // <= 0xffff
	return uint16(s)
}

// fold32 folds a 32-bit partial sum to 16 bits.
func fold32(s uint32) uint16 {
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// UpdateChecksum16 returns the checksum csum updated for one 16-bit word of
// the covered data changing from old to new, by RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m'). The word must be at an even offset of the covered
// data.
func UpdateChecksum16(csum, old, new uint16) uint16 {
	s := uint32(^csum) + uint32(^old) + uint32(new)
	return ^fold32(s)
}

// UpdateChecksum32 returns csum updated for four bytes at an even offset of
// the covered data (an IPv4 address, for example in a NAT rewrite) changing
// from old to new (RFC 1624 eqn. 3 applied to both 16-bit words). For an L4
// checksum that covers the address through the pseudo header the same update
// applies. A UDP checksum of 0 means "none" (RFC 768): callers must not update
// it and must turn a computed 0 into 0xffff.
func UpdateChecksum32(csum uint16, old, new [4]byte) uint16 {
	s := uint32(^csum) +
		uint32(^binary.BigEndian.Uint16(old[0:2])) + uint32(^binary.BigEndian.Uint16(old[2:4])) +
		uint32(binary.BigEndian.Uint16(new[0:2])) + uint32(binary.BigEndian.Uint16(new[2:4]))
	return ^fold32(s)
}

// DecTTL decrements the TTL of the IPv4 header at the start of ipv4 and fixes
// the header checksum incrementally (SPEC F6, RFC 1624). It does nothing when
// the slice is shorter than a minimal IPv4 header or the TTL is already 0; the
// caller drops packets with TTL <= 1 before forwarding (F6) so that case does
// not arise on the forwarding path.
func DecTTL(ipv4 []byte) {
	if len(ipv4) < IPv4MinHeaderLen || ipv4[8] == 0 {
		return
	}
	ttl := ipv4[8]
	old := uint16(ttl)<<8 | uint16(ipv4[9]) // TTL and protocol share a 16-bit word
	ipv4[8] = ttl - 1
	binary.BigEndian.PutUint16(ipv4[10:12], UpdateChecksum16(binary.BigEndian.Uint16(ipv4[10:12]), old, old-0x100))
}

// PseudoHeaderSum returns the partial sum (folded, not complemented) of the
// TCP/UDP/ICMPv6 pseudo header: for two IPv4 addresses the RFC 793/768 form
// (src, dst, zero, proto, 16-bit length), otherwise the IPv6 form of RFC 8200
// 8.1 (src, dst, 32-bit length, zeros, next header) with each address taken as
// 16 bytes. Pass the result as initial to Checksum over the transport header
// and payload.
func PseudoHeaderSum(proto uint8, src, dst netip.Addr, length int) uint32 {
	var acc uint64
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		acc = uint64(binary.BigEndian.Uint32(s[:])) + uint64(binary.BigEndian.Uint32(d[:])) +
			uint64(proto) + uint64(uint16(length))
	} else {
		s, d := src.As16(), dst.As16()
		for i := 0; i < 16; i += 4 {
			acc += uint64(binary.BigEndian.Uint32(s[i:])) + uint64(binary.BigEndian.Uint32(d[i:]))
		}
		acc += uint64(uint32(length)) + uint64(proto)
	}
	return uint32(fold(acc))
}
