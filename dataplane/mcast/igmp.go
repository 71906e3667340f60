package mcast

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/vrouter/vrouter/dataplane/packet"
)

// IGMP timers of RFC 3376 8 (also used for v2 hosts, RFC 2236 8), with the
// defaults a VRouter uses as the only querier of a segment.
const (
	Robustness            = 2
	QueryInterval         = 125 * time.Second
	QueryResponseInterval = 10 * time.Second
	// MembershipInterval is how long a dynamic member stays without a
	// report: 2 × 125 s + 10 s = 260 s (M5; RFC 3376 8.4).
	MembershipInterval = Robustness*QueryInterval + QueryResponseInterval
	// StartupQueryInterval separates the first Robustness queries (RFC 3376 8.6).
	StartupQueryInterval = QueryInterval / 4
)

// AllSystems is 224.0.0.1, the destination of general queries.
var AllSystems = netip.AddrFrom4([4]byte{224, 0, 0, 1})

// IGMPv3 group record types (RFC 3376 4.2.12).
const (
	modeIsInclude        = 1
	modeIsExclude        = 2
	changeToIncludeMode  = 3
	changeToExcludeMode  = 4
	allowNewSources      = 5
	blockOldSources      = 6
	igmpv3RecordHeader   = 8
	igmpv3ReportHeader   = 8
	igmpv3QueryLen       = 12
	routerAlertOptionLen = 4
)

// Record is one membership change an IGMP message asks for.
type Record struct {
	Group netip.Addr
	Join  bool // false: leave
}

// ParseIGMP reads an IGMP message (the IP payload) and fills recs with the
// joins and leaves it carries: a v1/v2 report joins its group, a v2 leave
// leaves it (RFC 2236 2), and each IGMPv3 group record (RFC 3376 4.2) joins
// when it asks for the group in exclude mode or for some sources in include
// mode, and leaves when it asks for an empty include list; BLOCK records and
// records that only change sources keep the membership as it is. Queries and
// unknown types yield no record. ok is false for a message too short for its
// type or with a bad checksum. Records beyond len(recs) are dropped.
// ParseIGMP allocates nothing.
func ParseIGMP(msg []byte, recs []Record) (n int, ok bool) {
	if len(msg) < packet.IGMPHeaderLen || packet.Checksum(msg, 0) != 0 {
		return 0, false
	}
	switch msg[0] {
	case packet.IGMPv1MembershipReport, packet.IGMPv2MembershipReport:
		return put(recs, 0, msg[4:8], true), true
	case packet.IGMPv2LeaveGroup:
		return put(recs, 0, msg[4:8], false), true
	case packet.IGMPv3MembershipReport:
		count := int(binary.BigEndian.Uint16(msg[6:8]))
		off := igmpv3ReportHeader
		for i := 0; i < count; i++ {
			if off+igmpv3RecordHeader > len(msg) {
				return n, false
			}
			typ, aux := msg[off], int(msg[off+1])
			nsrc := int(binary.BigEndian.Uint16(msg[off+2 : off+4]))
			grp := msg[off+4 : off+8]
			off += igmpv3RecordHeader + 4*nsrc + 4*aux
			if off > len(msg) {
				return n, false
			}
			switch typ {
			case modeIsExclude, changeToExcludeMode:
				n = put(recs, n, grp, true)
			case modeIsInclude, changeToIncludeMode, allowNewSources:
				switch {
				case nsrc > 0:
					n = put(recs, n, grp, true)
				case typ != allowNewSources:
					n = put(recs, n, grp, false)
				}
			}
		}
		return n, true
	}
	return 0, true
}

func put(recs []Record, n int, grp []byte, join bool) int {
	if n >= len(recs) {
		return n
	}
	recs[n] = Record{Group: netip.AddrFrom4([4]byte(grp)), Join: join}
	return n + 1
}

// QueryLen is the length of the packet BuildQuery writes.
const QueryLen = packet.IPv4MinHeaderLen + routerAlertOptionLen + igmpv3QueryLen

// BuildQuery writes into dst an IGMPv3 general query (RFC 3376 4.1) from src
// to 224.0.0.1: TTL 1, IP Router Alert option (RFC 2113), Max Resp Code 100
// (10 s), QRV 2, QQIC 125. IGMPv2 hosts take it as a v2 general query (RFC
// 3376 7.2.1). It returns the packet length, or 0 when dst is too short or
// src is not IPv4.
func BuildQuery(dst []byte, src netip.Addr, id uint16) int {
	if len(dst) < QueryLen || !src.Is4() {
		return 0
	}
	const hl = packet.IPv4MinHeaderLen + routerAlertOptionLen
	ip := dst[:hl]
	ip[0] = 0x40 | hl/4
	ip[1] = 0xc0 // internetwork control, as hosts send IGMP
	binary.BigEndian.PutUint16(ip[2:], QueryLen)
	binary.BigEndian.PutUint16(ip[4:], id)
	binary.BigEndian.PutUint16(ip[6:], 0)
	ip[8] = 1 // TTL
	ip[9] = packet.ProtoIGMP
	ip[10], ip[11] = 0, 0
	s := src.As4()
	d := AllSystems.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	ip[20], ip[21], ip[22], ip[23] = 0x94, 0x04, 0, 0 // Router Alert
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip, 0))

	q := dst[hl:QueryLen]
	q[0] = packet.IGMPMembershipQuery
	q[1] = uint8(QueryResponseInterval / (100 * time.Millisecond)) // 100: exact below 128
	q[2], q[3] = 0, 0
	q[4], q[5], q[6], q[7] = 0, 0, 0, 0 // general query: group 0.0.0.0
	q[8] = Robustness                   // Resv 0, S 0, QRV 2
	q[9] = uint8(QueryInterval / time.Second)
	q[10], q[11] = 0, 0 // no sources
	binary.BigEndian.PutUint16(q[2:], packet.Checksum(q, 0))
	return QueryLen
}
