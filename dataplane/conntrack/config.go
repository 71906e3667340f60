package conntrack

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the table limit and the idle timeouts of S7 (configuration
// key `conntrack:`).
type Config struct {
	MaxEntries     int           // max_entries
	TCPHandshake   time.Duration // tcp_handshake_timeout: SYN_SENT, SYN_RECV, unconfirmed pick-ups
	TCPEstablished time.Duration // tcp_established_timeout: idle ESTABLISHED
	TCPClosing     time.Duration // tcp_closing_timeout: FIN_WAIT, CLOSE_WAIT, TIME_WAIT
	UDP            time.Duration // udp_timeout: no reply seen yet
	UDPStream      time.Duration // udp_stream_timeout: a reply was seen
	ICMP           time.Duration // icmp_timeout: echo request/reply
}

// Defaults of S7.
const (
	DefaultMaxEntries = 1 << 20
	// MaxMaxEntries bounds MaxEntries (slot indexes are 25 bits per shard).
	MaxMaxEntries = 1 << 28
	// rstTimeout bounds the life of a reset connection (capped by TCPClosing).
	rstTimeout = 10 * time.Second
)

// DefaultConfig returns the defaults of S7: 1,048,576 entries; TCP handshake
// 60 s, established 910 s, closing 120 s; UDP 30 s, 180 s once a reply was
// seen; ICMP 30 s.
func DefaultConfig() Config {
	return Config{
		MaxEntries:     DefaultMaxEntries,
		TCPHandshake:   60 * time.Second,
		TCPEstablished: 910 * time.Second,
		TCPClosing:     120 * time.Second,
		UDP:            30 * time.Second,
		UDPStream:      180 * time.Second,
		ICMP:           30 * time.Second,
	}
}

// Validate reports every out-of-range field. New and SetConfig accept any
// Config: they replace zero fields by the defaults and clamp the others.
func (c Config) Validate() error {
	var errs []error
	if c.MaxEntries < 1 || c.MaxEntries > MaxMaxEntries {
		errs = append(errs, fmt.Errorf("max_entries %d outside 1-%d", c.MaxEntries, MaxMaxEntries))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"tcp_handshake_timeout", c.TCPHandshake}, {"tcp_established_timeout", c.TCPEstablished},
		{"tcp_closing_timeout", c.TCPClosing}, {"udp_timeout", c.UDP},
		{"udp_stream_timeout", c.UDPStream}, {"icmp_timeout", c.ICMP},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v must be positive", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// normalized fills zero (or negative) fields with defaults and clamps
// MaxEntries.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.MaxEntries <= 0 {
		c.MaxEntries = d.MaxEntries
	}
	c.MaxEntries = min(c.MaxEntries, MaxMaxEntries)
	for _, p := range []struct{ v, def *time.Duration }{
		{&c.TCPHandshake, &d.TCPHandshake}, {&c.TCPEstablished, &d.TCPEstablished},
		{&c.TCPClosing, &d.TCPClosing}, {&c.UDP, &d.UDP}, {&c.UDPStream, &d.UDPStream}, {&c.ICMP, &d.ICMP},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return c
}

// timeouts is the idle timeout in nanoseconds by state and confirmation
// (index 1 once the flow is established in the sense of S7).
type timeouts [numStates][2]int64

func newTimeouts(c Config) *timeouts {
	var t timeouts
	set := func(s State, unconfirmed, confirmed time.Duration) {
		t[s] = [2]int64{int64(unconfirmed), int64(confirmed)}
	}
	set(TCPSynSent, c.TCPHandshake, c.TCPHandshake)
	set(TCPSynRecv, c.TCPHandshake, c.TCPHandshake)
	set(TCPEstablished, c.TCPHandshake, c.TCPEstablished) // unconfirmed: loose pick-up
	set(TCPFinWait, c.TCPClosing, c.TCPClosing)
	set(TCPCloseWait, c.TCPClosing, c.TCPClosing)
	set(TCPTimeWait, c.TCPClosing, c.TCPClosing)
	rst := min(rstTimeout, c.TCPClosing)
	set(TCPClose, rst, rst)
	set(UDPUnreplied, c.UDP, c.UDPStream)
	set(UDPReplied, c.UDP, c.UDPStream)
	set(ICMPUnreplied, c.ICMP, c.ICMP)
	set(ICMPReplied, c.ICMP, c.ICMP)
	set(OtherUnreplied, c.UDP, c.UDPStream)
	set(OtherReplied, c.UDP, c.UDPStream)
	return &t
}
