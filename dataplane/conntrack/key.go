package conntrack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Key identifies one direction of a flow. It is packed (40 bytes), comparable
// and pointer-free, so it is a cheap map key that the garbage collector never
// scans. Addresses of both families are stored in their 16-byte form
// (netip.Addr.As16; IPv4 as ::ffff:a.b.c.d).
type Key struct {
	Src, Dst [16]byte
	// SrcPort and DstPort are the TCP/UDP ports. For ICMP echo both hold the
	// echo identifier, so that the request's and the reply's keys mirror
	// each other (Reverse).
	SrcPort, DstPort uint16
	Zone             uint16 // per-VPC zone (S7): the same tuple in two VPCs is two flows
	Proto            uint8  // IP protocol number
}

// MakeKey builds a key from a packet's fields.
func MakeKey(zone uint16, proto uint8, src, dst netip.Addr, sport, dport uint16) Key {
	return Key{Src: src.As16(), Dst: dst.As16(), SrcPort: sport, DstPort: dport, Zone: zone, Proto: proto}
}

// Reverse returns the key of the opposite direction of the same flow.
func (k Key) Reverse() Key {
	return Key{Src: k.Dst, Dst: k.Src, SrcPort: k.DstPort, DstPort: k.SrcPort, Zone: k.Zone, Proto: k.Proto}
}

// SrcAddr returns the source address (IPv4-mapped addresses are unmapped).
func (k Key) SrcAddr() netip.Addr { return netip.AddrFrom16(k.Src).Unmap() }

// DstAddr returns the destination address (IPv4-mapped addresses are unmapped).
func (k Key) DstAddr() netip.Addr { return netip.AddrFrom16(k.Dst).Unmap() }

// String formats the key for people ("zone 3 tcp 10.0.0.1:5000 -> 10.0.0.2:80").
func (k Key) String() string {
	return fmt.Sprintf("zone %d %s %s -> %s", k.Zone, protoName(k.Proto),
		netip.AddrPortFrom(k.SrcAddr(), k.SrcPort), netip.AddrPortFrom(k.DstAddr(), k.DstPort))
}

func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 47:
		return "gre"
	case 58:
		return "ipv6-icmp"
	}
	return fmt.Sprintf("proto-%d", p)
}

// canonical returns the form of k shared by both directions of a flow: k or
// k.Reverse(), whichever has the lower (source, source port). The table's
// maps are keyed by it, so a flow needs one map key, not two.
func canonical(k *Key) Key {
	a0, b0 := binary.BigEndian.Uint64(k.Src[0:8]), binary.BigEndian.Uint64(k.Dst[0:8])
	a1, b1 := binary.BigEndian.Uint64(k.Src[8:16]), binary.BigEndian.Uint64(k.Dst[8:16])
	if a0 < b0 || (a0 == b0 && (a1 < b1 || (a1 == b1 && k.SrcPort <= k.DstPort))) {
		return *k
	}
	return k.Reverse()
}

// symHash is a seeded hash with symHash(k) == symHash(k.Reverse()) (the
// table hashes canonical keys, for which symmetry is a harmless extra).
func symHash(k *Key, seed uint64) uint64 {
	a := endpointHash(k.Src[:], k.SrcPort, seed)
	b := endpointHash(k.Dst[:], k.DstPort, seed)
	return mix64(a + b + (uint64(k.Zone)<<8|uint64(k.Proto))*0x9e3779b97f4a7c15)
}

func endpointHash(addr []byte, port uint16, seed uint64) uint64 {
	hi := binary.LittleEndian.Uint64(addr[0:8])
	lo := binary.LittleEndian.Uint64(addr[8:16])
	return mix64(hi^seed) ^ mix64(lo+uint64(port)*0xff51afd7ed558ccd+seed)
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
