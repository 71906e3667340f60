package conntrack

import "strconv"

// TCP header flag bits as passed to Lookup and Insert (RFC 9293 §3.1).
const (
	FlagFIN uint8 = 0x01
	FlagSYN uint8 = 0x02
	FlagRST uint8 = 0x04
	FlagPSH uint8 = 0x08
	FlagACK uint8 = 0x10
	FlagURG uint8 = 0x20
)

// Dir is the direction of a packet relative to its flow.
type Dir uint8

const (
	Original Dir = iota // the direction of the packet that created the flow
	Reply               // the opposite direction
)

// String returns "original" or "reply".
func (d Dir) String() string {
	if d == Reply {
		return "reply"
	}
	return "original"
}

// State is the protocol state of a flow.
type State uint8

const (
	StateNone      State = iota
	TCPSynSent           // SYN seen from the original side
	TCPSynRecv           // SYN-ACK (or a simultaneous-open SYN) seen from the reply side
	TCPEstablished       // handshake completed, or picked up mid-stream (see package doc)
	TCPFinWait           // FIN seen from the original side
	TCPCloseWait         // FIN seen from the reply side
	TCPTimeWait          // FIN seen from both sides
	TCPClose             // RST seen
	UDPUnreplied
	UDPReplied // a reply was seen: udp_stream_timeout
	ICMPUnreplied
	ICMPReplied
	OtherUnreplied // any other protocol (GRE, …): UDP timeouts
	OtherReplied
	numStates
)

var stateNames = [numStates]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "TIME_WAIT", "CLOSE",
	"UDP_UNREPLIED", "UDP_REPLIED", "ICMP_UNREPLIED", "ICMP_REPLIED", "UNREPLIED", "REPLIED",
}

// String returns the state's name as `vrouterctl flows` prints it.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// flag classes: a packet's TCP flags reduced to what drives the machine.
// RST takes precedence, then SYN (with or without ACK), then FIN.
const (
	cNone = iota
	cSYN
	cSYNACK
	cFIN
	cACK
	cRST
)

func classify(flags uint8) int {
	switch {
	case flags&FlagRST != 0:
		return cRST
	case flags&FlagSYN != 0 && flags&FlagACK != 0:
		return cSYNACK
	case flags&FlagSYN != 0:
		return cSYN
	case flags&FlagFIN != 0:
		return cFIN
	case flags&FlagACK != 0:
		return cACK
	}
	return cNone
}

// initialState returns the state and confirmation of a new flow whose first
// packet has these flags.
func initialState(proto, flags uint8) (State, bool) {
	switch proto {
	case 6:
		switch classify(flags) {
		case cSYN:
			return TCPSynSent, false
		case cRST:
			return TCPClose, false
		}
		// Loose pick-up (like Linux nf_conntrack_tcp_loose=1): a flow first
		// seen mid-stream is tracked as ESTABLISHED but stays unconfirmed
		// (handshake timeout, evictable) until the reply side is seen.
		return TCPEstablished, false
	case 17, 136: // UDP, UDP-Lite
		return UDPUnreplied, false
	case 1, 58: // ICMP, ICMPv6
		return ICMPUnreplied, false
	}
	return OtherUnreplied, false
}

// step advances a flow's state for one packet. confirmed is "established" in
// the sense of S7: it protects the flow from eviction.
func step(s State, confirmed bool, dir Dir, flags uint8) (State, bool) {
	switch s {
	case UDPUnreplied, UDPReplied:
		if dir == Reply {
			return UDPReplied, true
		}
		return s, confirmed
	case ICMPUnreplied, ICMPReplied:
		if dir == Reply {
			return ICMPReplied, true
		}
		return s, confirmed
	case OtherUnreplied, OtherReplied:
		if dir == Reply {
			return OtherReplied, true
		}
		return s, confirmed
	}
	c := classify(flags)
	if c == cRST {
		return TCPClose, confirmed
	}
	switch s {
	case TCPSynSent:
		if dir == Reply && (c == cSYNACK || c == cSYN) {
			return TCPSynRecv, false
		}
	case TCPSynRecv:
		if dir == Original {
			switch c {
			case cACK:
				return TCPEstablished, true // the ACK of the SYN-ACK
			case cFIN:
				return TCPFinWait, true
			}
		}
	case TCPEstablished, TCPFinWait, TCPCloseWait, TCPTimeWait:
		if dir == Reply {
			confirmed = true // a loose pick-up is confirmed by its reply side
		}
	}
	switch s {
	case TCPEstablished:
		if c == cFIN {
			if dir == Original {
				return TCPFinWait, confirmed
			}
			return TCPCloseWait, confirmed
		}
	case TCPFinWait:
		if dir == Reply && c == cFIN {
			return TCPTimeWait, confirmed
		}
	case TCPCloseWait:
		if dir == Original && c == cFIN {
			return TCPTimeWait, confirmed
		}
	case TCPTimeWait, TCPClose:
		if dir == Original && c == cSYN {
			return TCPSynSent, false // the tuple is reused by a new connection
		}
	}
	return s, confirmed
}
