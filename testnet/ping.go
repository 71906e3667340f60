package testnet

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// PingOpts configures Ping. Zero values take the defaults noted.
type PingOpts struct {
	Count    int           // echo requests to send (1)
	Interval time.Duration // between requests (20ms)
	Timeout  time.Duration // wait after the last request for outstanding answers (1s)
	TTL      int           // IP TTL of the requests (64)
	Size     int           // ICMP payload bytes after the 8-byte echo header (0: 56; negative: none)
	DF       bool          // set Don't Fragment (and never fragment locally)
	Src      netip.Addr    // source address to bind (invalid: the kernel's choice)
}

// PingResult is what came back for one Ping call. Every request is answered
// at most once: by an echo reply or by an ICMP error quoting it.
type PingResult struct {
	Sent, Received int
	RTTs           []time.Duration // per reply, in arrival order
	ReplyTTLs      []int           // IP TTL of each reply (SPEC F6 checks hop counts)
	Errors         []ICMPError     // ICMP errors quoting our requests, in arrival order
}

// ICMPError is an ICMP error message (RFC 792) quoting one of our requests.
type ICMPError struct {
	Type, Code uint8
	From       netip.Addr // source of the error (the router that sent it)
	MTU        int        // next-hop MTU of "fragmentation needed" (type 3 code 4, RFC 1191)
}

func (e ICMPError) String() string {
	s := fmt.Sprintf("icmp type %d code %d from %s", e.Type, e.Code, e.From)
	if e.MTU != 0 {
		s += fmt.Sprintf(" mtu %d", e.MTU)
	}
	return s
}

// ICMP types used by Ping.
const (
	icmpEchoReply      = 0
	icmpUnreachable    = 3
	icmpSourceQuench   = 4
	icmpRedirect       = 5
	icmpEchoRequest    = 8
	icmpTimeExceeded   = 11
	icmpParamProblem   = 12
	icmpCodeFragNeeded = 4
)

// rawSocket opens a non-blocking raw IPv4 socket of proto inside ns and
// returns it as a pollable *os.File (deadlines work).
func rawSocket(ns string, proto int, setup func(fd int) error) (*os.File, error) {
	var f *os.File
	err := InNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if setup != nil {
			if err := setup(fd); err != nil {
				unix.Close(fd)
				return err
			}
		}
		f = os.NewFile(uintptr(fd), "raw")
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("testnet: raw socket in %q: %w", ns, err)
	}
	return f, nil
}

// Ping sends o.Count ICMP echo requests to dst from a raw socket inside ns and
// reports the replies and the ICMP errors that quote the requests.
func Ping(ns string, dst netip.Addr, o PingOpts) (PingResult, error) {
	if !dst.Is4() {
		return PingResult{}, fmt.Errorf("testnet: ping %s: IPv4 only", dst)
	}
	if o.Count <= 0 {
		o.Count = 1
	}
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.TTL <= 0 {
		o.TTL = 64
	}
	if o.Size < 0 {
		o.Size = 0
	} else if o.Size == 0 {
		o.Size = 56
	}
	f, err := rawSocket(ns, unix.IPPROTO_ICMP, func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, o.TTL); err != nil {
			return fmt.Errorf("IP_TTL: %w", err)
		}
		// PROBE sets DF but ignores the learned path MTU, so that repeated
		// probes keep reaching the router that reports it.
		pmtu := unix.IP_PMTUDISC_DONT
		if o.DF {
			pmtu = unix.IP_PMTUDISC_PROBE
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu); err != nil {
			return fmt.Errorf("IP_MTU_DISCOVER: %w", err)
		}
		if o.Src.IsValid() {
			if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: o.Src.As4()}); err != nil {
				return fmt.Errorf("bind %s: %w", o.Src, err)
			}
		}
		return nil
	})
	if err != nil {
		return PingResult{}, err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return PingResult{}, err
	}

	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	req := make([]byte, 8+o.Size)
	for i := 8; i < len(req); i++ {
		req[i] = byte(i)
	}
	sentAt := make([]time.Time, o.Count+1) // by sequence number, 1-based
	answered := make([]bool, o.Count+1)
	var res PingResult
	buf := make([]byte, 65536)
	to := &unix.SockaddrInet4{Addr: dst.As4()}

	for seq := 1; seq <= o.Count; seq++ {
		req[0], req[1] = icmpEchoRequest, 0
		binary.BigEndian.PutUint16(req[2:], 0)
		binary.BigEndian.PutUint16(req[4:], id)
		binary.BigEndian.PutUint16(req[6:], uint16(seq))
		binary.BigEndian.PutUint16(req[2:], checksum(req))
		var serr error
		if err := rc.Write(func(fd uintptr) bool {
			serr = unix.Sendto(int(fd), req, 0, to)
			return !errors.Is(serr, unix.EAGAIN)
		}); err != nil {
			return res, err
		}
		if serr != nil {
			return res, fmt.Errorf("testnet: ping %s from %q: send: %w", dst, ns, serr)
		}
		sentAt[seq] = time.Now()
		res.Sent++

		wait := o.Interval
		if seq == o.Count {
			wait = o.Timeout
		}
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if seq == o.Count && allAnswered(answered) {
				return res, nil
			}
			if err := f.SetReadDeadline(deadline); err != nil {
				return res, err
			}
			var n int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
				return !errors.Is(rerr, unix.EAGAIN)
			})
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return res, err
			}
			if rerr != nil {
				return res, fmt.Errorf("testnet: ping %s from %q: receive: %w", dst, ns, rerr)
			}
			matchICMP(buf[:n], dst, id, sentAt, answered, &res)
		}
	}
	return res, nil
}

func allAnswered(a []bool) bool {
	for _, v := range a[1:] {
		if !v {
			return false
		}
	}
	return true
}

// matchICMP records pkt (an IPv4 packet with its header) if it is a reply to
// or an ICMP error about one of our requests.
func matchICMP(pkt []byte, dst netip.Addr, id uint16, sentAt []time.Time, answered []bool, res *PingResult) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != unix.IPPROTO_ICMP {
		return
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+8 {
		return
	}
	from := netip.AddrFrom4([4]byte(pkt[12:16]))
	icmp := pkt[ihl:]
	seqOK := func(seq uint16) bool {
		return int(seq) >= 1 && int(seq) < len(sentAt) && !sentAt[seq].IsZero() && !answered[seq]
	}
	switch icmp[0] {
	case icmpEchoReply:
		seq := binary.BigEndian.Uint16(icmp[6:])
		if binary.BigEndian.Uint16(icmp[4:]) != id || from != dst || !seqOK(seq) {
			return
		}
		answered[seq] = true
		res.Received++
		res.RTTs = append(res.RTTs, time.Since(sentAt[seq]))
		res.ReplyTTLs = append(res.ReplyTTLs, int(pkt[8]))
	case icmpUnreachable, icmpSourceQuench, icmpRedirect, icmpTimeExceeded, icmpParamProblem:
		inner := icmp[8:]
		if len(inner) < 20 || inner[0]>>4 != 4 || inner[9] != unix.IPPROTO_ICMP {
			return
		}
		iihl := int(inner[0]&0x0f) * 4
		if iihl < 20 || len(inner) < iihl+8 || netip.AddrFrom4([4]byte(inner[16:20])) != dst {
			return
		}
		echo := inner[iihl:]
		seq := binary.BigEndian.Uint16(echo[6:])
		if echo[0] != icmpEchoRequest || binary.BigEndian.Uint16(echo[4:]) != id || !seqOK(seq) {
			return
		}
		answered[seq] = true
		e := ICMPError{Type: icmp[0], Code: icmp[1], From: from}
		if icmp[0] == icmpUnreachable && icmp[1] == icmpCodeFragNeeded {
			e.MTU = int(binary.BigEndian.Uint16(icmp[6:]))
		}
		res.Errors = append(res.Errors, e)
	}
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// SendRawIPv4 sends pkt, a complete IPv4 packet (header included, source as
// given: spoofing tests), from a raw IP_HDRINCL socket inside ns. The kernel
// fills in the total length and header checksum, and the source address and
// id when they are zero; it routes by the destination address.
func SendRawIPv4(ns string, pkt []byte) error {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return errors.New("testnet: SendRawIPv4: not an IPv4 packet")
	}
	f, err := rawSocket(ns, unix.IPPROTO_RAW, nil) // IPPROTO_RAW implies IP_HDRINCL
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	to := &unix.SockaddrInet4{Addr: [4]byte(pkt[16:20])}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), pkt, 0, to)
		return !errors.Is(serr, unix.EAGAIN)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("testnet: SendRawIPv4 from %q to %s: %w", ns, netip.AddrFrom4(to.Addr), serr)
	}
	return nil
}
