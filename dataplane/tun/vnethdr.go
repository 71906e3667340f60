package tun

import (
	"encoding/binary"
	"math/bits"
)

// VirtioNetHdrLen is the size of the legacy virtio-net header (struct
// virtio_net_hdr) that precedes every packet on a device with IFF_VNET_HDR.
const VirtioNetHdrLen = 10

// Flag and GSO type values of the virtio-net header
// (include/uapi/linux/virtio_net.h).
const (
	// VirtioNetHdrFNeedsCsum: the L4 checksum is partial; the device must sum
	// from CsumStart to the end and store the result at CsumStart+CsumOffset.
	VirtioNetHdrFNeedsCsum = 1
	// VirtioNetHdrFDataValid: the checksum was verified already.
	VirtioNetHdrFDataValid = 2

	GSONone  = 0    // not a super-packet
	GSOTCPv4 = 1    // TCP over IPv4, segment payload GSOSize
	GSOUDP   = 3    // UFO (IPv4 fragmentation offload), obsolete
	GSOTCPv6 = 4    // TCP over IPv6
	GSOUDPL4 = 5    // UDP segmentation (USO), IPv4 or IPv6
	GSOECN   = 0x80 // bit ORed into GSOType: TCP super-packet with CWR set
)

// VirtioNetHdr is the decoded legacy virtio-net header. The legacy header is in
// the host's byte order (the kernel's virtio_legacy_is_little_endian), which is
// little endian on x86 and arm64; Decode and Encode use the native order so the
// layout always matches what the kernel reads and writes.
type VirtioNetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // length of the headers to copy for each segment
	GSOSize    uint16 // payload bytes per segment (MSS for TCP)
	CsumStart  uint16 // offset of the L4 header (where checksumming starts)
	CsumOffset uint16 // offset of the checksum field from CsumStart
}

// Decode fills h from the first VirtioNetHdrLen bytes of b (len(b) >= 10).
func (h *VirtioNetHdr) Decode(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	h.Flags = b[0]
	h.GSOType = b[1]
	h.HdrLen = binary.NativeEndian.Uint16(b[2:])
	h.GSOSize = binary.NativeEndian.Uint16(b[4:])
	h.CsumStart = binary.NativeEndian.Uint16(b[6:])
	h.CsumOffset = binary.NativeEndian.Uint16(b[8:])
}

// Encode writes h into the first VirtioNetHdrLen bytes of b (len(b) >= 10).
func (h *VirtioNetHdr) Encode(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
}

// IsGSO reports whether the header describes a super-packet that the kernel
// segments (any GSO type other than GSONone, ignoring the ECN bit).
func (h *VirtioNetHdr) IsGSO() bool { return h.GSOType&^GSOECN != GSONone }

// zeroHdr clears a header in place (devices without a vnet header).
func zeroHdr(b []byte) {
	_ = b[VirtioNetHdrLen-1]
	clear(b[:VirtioNetHdrLen])
}

// FinishChecksum completes a partial L4 checksum the way a NIC would for a
// CHECKSUM_PARTIAL packet: when h has VirtioNetHdrFNeedsCsum, the one's
// complement sum of pkt[CsumStart:] (whose checksum field holds the pseudo-header
// sum) is folded, complemented and stored at CsumStart+CsumOffset, and the flag is
// cleared in h (the caller re-encodes h if it keeps the header). A zero result is
// stored as 0xffff, which is equivalent for TCP and mandatory for UDP (RFC 768).
// It returns ErrBadPacket when the checksum field lies outside pkt. It does not
// allocate. Devices without IFF_VNET_HDR call it on Write; the engine may call it
// before handing a packet to a consumer that cannot finish checksums.
func FinishChecksum(pkt []byte, h *VirtioNetHdr) error {
	if h.Flags&VirtioNetHdrFNeedsCsum == 0 {
		return nil
	}
	start := int(h.CsumStart)
	field := start + int(h.CsumOffset)
	if field+2 > len(pkt) || start >= len(pkt) {
		return ErrBadPacket
	}
	s := ^fold(sum(pkt[start:], 0))
	if s == 0 {
		s = 0xffff
	}
	binary.BigEndian.PutUint16(pkt[field:], s)
	h.Flags &^= VirtioNetHdrFNeedsCsum
	return nil
}

// sum adds b as big-endian 16-bit words (odd trailing byte padded with zero) to
// acc in one's complement arithmetic, deferring the end-around carries.
func sum(b []byte, acc uint64) uint64 {
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:]), 0)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		acc += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), 0)
		acc += carry
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), 0)
		acc += carry
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += carry
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += carry
	}
	return acc
}

// fold reduces a deferred-carry 64-bit one's complement sum to 16 bits.
func fold(acc uint64) uint16 {
	acc = (acc & 0xffffffff) + (acc >> 32)
	acc = (acc & 0xffffffff) + (acc >> 32)
	acc = (acc & 0xffff) + (acc >> 16)
	acc = (acc & 0xffff) + (acc >> 16)
	acc = (acc & 0xffff) + (acc >> 16)
	return uint16(acc)
}
