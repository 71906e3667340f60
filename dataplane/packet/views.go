package packet

import (
	"encoding/binary"
	"net/netip"
)

// Header views in the style of gVisor's pkg/tcpip/header: a named []byte whose
// first byte is the first byte of the header. Call IsValid before any accessor;
// accessors index the slice directly and panic like any slice index when the
// view is shorter than the field they read. Setters write through to the
// underlying packet and never touch checksums unless their name says so.

// IPv4 is a view of an IPv4 header and its payload (RFC 791).
type IPv4 []byte

// IsValid reports whether b starts with a well-formed IPv4 header whose IHL and
// total length fit in pktSize bytes (pktSize is normally len(b)). It checks
// neither the checksum nor the options (Decode does).
func (b IPv4) IsValid(pktSize int) bool {
	if pktSize > len(b) {
		pktSize = len(b)
	}
	if pktSize < IPv4MinHeaderLen || b[0]>>4 != 4 {
		return false
	}
	hl := int(b[0]&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(b[2:4]))
	return hl >= IPv4MinHeaderLen && hl <= tl && tl <= pktSize
}

// Version returns the IP version nibble.
func (b IPv4) Version() uint8 { return b[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL × 4).
func (b IPv4) HeaderLen() int { return int(b[0]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP/ECN) byte.
func (b IPv4) TOS() uint8 { return b[1] }

// TotalLen returns the total length field.
func (b IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// DF reports the don't-fragment flag.
func (b IPv4) DF() bool { return b[6]&ipv4FlagDF != 0 }

// MF reports the more-fragments flag.
func (b IPv4) MF() bool { return b[6]&ipv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() uint16 { return (binary.BigEndian.Uint16(b[6:8]) & 0x1fff) << 3 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the transport protocol number.
func (b IPv4) Protocol() uint8 { return b[9] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[10:12]) }

// Src returns the source address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[12:16])) }

// Dst returns the destination address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[16:20])) }

// Options returns the option bytes (between the fixed header and IHL).
func (b IPv4) Options() []byte { return b[IPv4MinHeaderLen:b.HeaderLen()] }

// Payload returns the bytes between the header and the total length.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLen()] }

// IsChecksumValid reports whether the header checksum is correct.
func (b IPv4) IsChecksumValid() bool { return Checksum(b[:b.HeaderLen()], 0) == 0 }

// SetHeaderLen writes version 4 and the IHL for a header of hl bytes.
func (b IPv4) SetHeaderLen(hl int) { b[0] = 0x40 | uint8(hl/4)&0x0f }

// SetTOS sets the type-of-service byte.
func (b IPv4) SetTOS(v uint8) { b[1] = v }

// SetTotalLen sets the total length field.
func (b IPv4) SetTotalLen(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetID sets the identification field.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetFragment sets the DF and MF flags and the fragment offset (in bytes; it
// must be a multiple of 8 below 65536). The reserved flag bit is cleared.
func (b IPv4) SetFragment(df, mf bool, offBytes uint16) {
	v := offBytes >> 3
	if df {
		v |= uint16(ipv4FlagDF) << 8
	}
	if mf {
		v |= uint16(ipv4FlagMF) << 8
	}
	binary.BigEndian.PutUint16(b[6:8], v)
}

// SetTTL sets the TTL without touching the checksum (see DecTTL).
func (b IPv4) SetTTL(v uint8) { b[8] = v }

// SetProtocol sets the protocol number.
func (b IPv4) SetProtocol(v uint8) { b[9] = v }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[10:12], v) }

// SetSrc sets the source address; a must be an IPv4 address.
func (b IPv4) SetSrc(a netip.Addr) { a4 := a.As4(); copy(b[12:16], a4[:]) }

// SetDst sets the destination address; a must be an IPv4 address.
func (b IPv4) SetDst(a netip.Addr) { a4 := a.As4(); copy(b[16:20], a4[:]) }

// UpdateChecksum recomputes the header checksum from scratch.
func (b IPv4) UpdateChecksum() {
	b[10], b[11] = 0, 0
	b.SetChecksum(Checksum(b[:b.HeaderLen()], 0))
}

// IPv6 is a view of an IPv6 fixed header and what follows it (RFC 8200).
type IPv6 []byte

// IsValid reports whether b starts with an IPv6 header whose payload length
// fits in pktSize bytes (pktSize is normally len(b)).
func (b IPv6) IsValid(pktSize int) bool {
	if pktSize > len(b) {
		pktSize = len(b)
	}
	return pktSize >= IPv6HeaderLen && b[0]>>4 == 6 &&
		IPv6HeaderLen+int(binary.BigEndian.Uint16(b[4:6])) <= pktSize
}

// Version returns the IP version nibble.
func (b IPv6) Version() uint8 { return b[0] >> 4 }

// TrafficClass returns the traffic class.
func (b IPv6) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(b[0:2]) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[0:4]) & 0xfffff }

// PayloadLen returns the payload length field (bytes after the fixed header).
func (b IPv6) PayloadLen() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// NextHeader returns the next header field of the fixed header.
func (b IPv6) NextHeader() uint8 { return b[6] }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return b[7] }

// Src returns the source address.
func (b IPv6) Src() netip.Addr { return netip.AddrFrom16([16]byte(b[8:24])) }

// Dst returns the destination address.
func (b IPv6) Dst() netip.Addr { return netip.AddrFrom16([16]byte(b[24:40])) }

// SetPayloadLen sets the payload length field.
func (b IPv6) SetPayloadLen(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetNextHeader sets the next header field.
func (b IPv6) SetNextHeader(v uint8) { b[6] = v }

// SetHopLimit sets the hop limit (IPv6 has no header checksum).
func (b IPv6) SetHopLimit(v uint8) { b[7] = v }

// SetSrc sets the source address (an IPv4 address is written 4in6-mapped).
func (b IPv6) SetSrc(a netip.Addr) { a16 := a.As16(); copy(b[8:24], a16[:]) }

// SetDst sets the destination address (an IPv4 address is written 4in6-mapped).
func (b IPv6) SetDst(a netip.Addr) { a16 := a.As16(); copy(b[24:40], a16[:]) }

// TCP is a view of a TCP header and its payload (RFC 9293).
type TCP []byte

// IsValid reports whether b holds a complete TCP header: at least 20 bytes and
// a data offset between 5 and len(b)/4.
func (b TCP) IsValid() bool {
	if len(b) < TCPMinHeaderLen {
		return false
	}
	off := b.DataOffset()
	return off >= TCPMinHeaderLen && off <= len(b)
}

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return binary.BigEndian.Uint32(b[4:8]) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return binary.BigEndian.Uint32(b[8:12]) }

// DataOffset returns the header length in bytes (data offset × 4).
func (b TCP) DataOffset() int { return int(b[12]>>4) * 4 }

// Flags returns the flag byte (TCPFin … TCPCwr).
func (b TCP) Flags() uint8 { return b[13] }

// Window returns the window field.
func (b TCP) Window() uint16 { return binary.BigEndian.Uint16(b[14:16]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[16:18]) }

// UrgentPtr returns the urgent pointer.
func (b TCP) UrgentPtr() uint16 { return binary.BigEndian.Uint16(b[18:20]) }

// Options returns the option bytes.
func (b TCP) Options() []byte { return b[TCPMinHeaderLen:b.DataOffset()] }

// Payload returns the bytes after the header.
func (b TCP) Payload() []byte { return b[b.DataOffset():] }

// SetSrcPort sets the source port.
func (b TCP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDstPort sets the destination port.
func (b TCP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetFlags sets the flag byte.
func (b TCP) SetFlags(v uint8) { b[13] = v }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[16:18], v) }

// UDP is a view of a UDP header and its payload (RFC 768).
type UDP []byte

// IsValid reports whether b holds a UDP header whose length field lies between
// 8 and len(b).
func (b UDP) IsValid() bool {
	if len(b) < UDPHeaderLen {
		return false
	}
	l := int(b.Length())
	return l >= UDPHeaderLen && l <= len(b)
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[0:2]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Length returns the length field (header and data).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Checksum returns the checksum field (0: none, IPv4 only).
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Payload returns the data bytes up to the length field.
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// SetSrcPort sets the source port.
func (b UDP) SetSrcPort(v uint16) { binary.BigEndian.PutUint16(b[0:2], v) }

// SetDstPort sets the destination port.
func (b UDP) SetDstPort(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetLength sets the length field.
func (b UDP) SetLength(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// ICMPv4 is a view of an ICMPv4 message (RFC 792).
type ICMPv4 []byte

// IsValid reports whether b holds the 8-byte ICMP header.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPv4HeaderLen }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[0] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[1] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:4]) }

// Ident returns the identifier of an echo, echo reply or timestamp message.
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[4:6]) }

// Seq returns the sequence number of an echo, echo reply or timestamp message.
func (b ICMPv4) Seq() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// MTU returns the next-hop MTU of a fragmentation-needed message (RFC 1191).
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[6:8]) }

// Pointer returns the pointer of a parameter problem message.
func (b ICMPv4) Pointer() uint8 { return b[4] }

// Payload returns the bytes after the 8-byte header (echo data, or the quoted
// datagram of an error).
func (b ICMPv4) Payload() []byte { return b[ICMPv4HeaderLen:] }

// IsChecksumValid reports whether the checksum over the whole message is right.
func (b ICMPv4) IsChecksumValid() bool { return Checksum(b, 0) == 0 }

// SetType sets the message type.
func (b ICMPv4) SetType(v uint8) { b[0] = v }

// SetCode sets the message code.
func (b ICMPv4) SetCode(v uint8) { b[1] = v }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[2:4], v) }

// SetIdent sets the identifier.
func (b ICMPv4) SetIdent(v uint16) { binary.BigEndian.PutUint16(b[4:6], v) }

// SetSeq sets the sequence number.
func (b ICMPv4) SetSeq(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// SetMTU sets the next-hop MTU (type 3 code 4).
func (b ICMPv4) SetMTU(v uint16) { binary.BigEndian.PutUint16(b[6:8], v) }

// UpdateChecksum recomputes the checksum over the whole message.
func (b ICMPv4) UpdateChecksum() {
	b[2], b[3] = 0, 0
	b.SetChecksum(Checksum(b, 0))
}
