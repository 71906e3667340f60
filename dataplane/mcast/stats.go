package mcast

import "sync/atomic"

// GroupStats are the shared counters of one group (M6). Workers add to them
// once per replicated packet (Record); readers Load them at any time.
type GroupStats struct {
	PacketsIn, BytesIn  atomic.Uint64 // packets the server sent to the group
	CopiesOut, BytesOut atomic.Uint64 // copies written to member ports
	DropsSG             atomic.Uint64 // copies refused by a member's ingress security groups
	DropsPort           atomic.Uint64 // copies a member port did not take (full queue, failed write, port not attached)
	DropsTooBig         atomic.Uint64 // copies larger than the member port's MTU (multicast gets no ICMP)
}

// Tally is what one replicated packet did, accumulated by the worker in a
// plain struct and added to GroupStats with one Record call.
type Tally struct {
	Bytes                           uint64 // size of the packet
	Copies, CopyBytes               uint64
	DropsSG, DropsPort, DropsTooBig uint64
}

// Record adds one incoming packet and the fate of its copies.
func (s *GroupStats) Record(t *Tally) {
	s.PacketsIn.Add(1)
	s.BytesIn.Add(t.Bytes)
	if t.Copies != 0 {
		s.CopiesOut.Add(t.Copies)
		s.BytesOut.Add(t.CopyBytes)
	}
	if t.DropsSG != 0 {
		s.DropsSG.Add(t.DropsSG)
	}
	if t.DropsPort != 0 {
		s.DropsPort.Add(t.DropsPort)
	}
	if t.DropsTooBig != 0 {
		s.DropsTooBig.Add(t.DropsTooBig)
	}
}

// GroupCounters is a plain copy of GroupStats.
type GroupCounters struct {
	PacketsIn   uint64 `json:"packets_in"`
	BytesIn     uint64 `json:"bytes_in"`
	CopiesOut   uint64 `json:"copies_out"`
	BytesOut    uint64 `json:"bytes_out"`
	DropsSG     uint64 `json:"drops_security_group"`
	DropsPort   uint64 `json:"drops_port"`
	DropsTooBig uint64 `json:"drops_too_big"`
}

// Load returns a copy of the counters.
func (s *GroupStats) Load() GroupCounters {
	return GroupCounters{
		PacketsIn: s.PacketsIn.Load(), BytesIn: s.BytesIn.Load(),
		CopiesOut: s.CopiesOut.Load(), BytesOut: s.BytesOut.Load(),
		DropsSG: s.DropsSG.Load(), DropsPort: s.DropsPort.Load(), DropsTooBig: s.DropsTooBig.Load(),
	}
}

// Outcome is the fate of one copy.
type Outcome uint8

// Copy outcomes.
const (
	Delivered     Outcome = iota // written to the member's port
	DroppedSG                    // refused by the member's ingress security groups
	DroppedPort                  // the port did not take it (or is not attached)
	DroppedTooBig                // larger than the member port's MTU
)

// MemberStats are the shared counters of one member of one group (M6).
// Bytes are counted per group and per client entry, not per member: a
// delivered copy costs the hot path one atomic add here.
type MemberStats struct {
	Copies      atomic.Uint64 // delivered copies
	DropsSG     atomic.Uint64
	DropsPort   atomic.Uint64
	DropsTooBig atomic.Uint64
}

// Add counts one copy of n bytes with outcome o, and adds it to t.
func (s *MemberStats) Add(o Outcome, n uint64, t *Tally) {
	switch o {
	case Delivered:
		s.Copies.Add(1)
		t.Copies++
		t.CopyBytes += n
	case DroppedSG:
		s.DropsSG.Add(1)
		t.DropsSG++
	case DroppedPort:
		s.DropsPort.Add(1)
		t.DropsPort++
	case DroppedTooBig:
		s.DropsTooBig.Add(1)
		t.DropsTooBig++
	}
}

// MemberCounters is a plain copy of MemberStats.
type MemberCounters struct {
	Copies      uint64 `json:"copies"`
	DropsSG     uint64 `json:"drops_security_group"`
	DropsPort   uint64 `json:"drops_port"`
	DropsTooBig uint64 `json:"drops_too_big"`
}

// Load returns a copy of the counters.
func (s *MemberStats) Load() MemberCounters {
	return MemberCounters{Copies: s.Copies.Load(),
		DropsSG: s.DropsSG.Load(), DropsPort: s.DropsPort.Load(), DropsTooBig: s.DropsTooBig.Load()}
}

// ClientStats count the copies a member received through one client entry
// (M3 `mcast client -P`, M6).
type ClientStats struct {
	Packets, Bytes atomic.Uint64
}

// IGMPCounters count the IGMP messages the VRouter handled (M5).
type IGMPCounters struct {
	Messages uint64 `json:"messages"` // IGMP messages from ENIs
	Invalid  uint64 `json:"invalid"`  // bad checksum, truncated, or not a report/leave
	Ignored  uint64 `json:"ignored"`  // records for groups that are not igmp-enabled in the VPC
	Joins    uint64 `json:"joins"`    // new dynamic memberships
	Refresh  uint64 `json:"refreshes"`
	Leaves   uint64 `json:"leaves"`
	Refused  uint64 `json:"refused"` // joins beyond the limits of M2
	Expired  uint64 `json:"expired"` // memberships released after 260 s without a report
}
