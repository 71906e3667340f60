package main

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"time"
)

// The UDP request/response load: a client sends a small datagram carrying a
// sequence number, the server echoes it, the client waits for the echo of
// that sequence number (stop and wait) before the next request. Every
// rotate interval the client closes its socket and opens a new one, so the
// router sees a steady churn of new UDP flows (conntrack inserts and
// expiries) on top of the long TCP flow and the pings.

// rrPayload is the request size: 8 bytes of sequence number, then padding.
const rrPayload = 64

// rrResult is what the request/response client saw.
type rrResult struct {
	Sent     int             // requests sent
	Received int             // requests whose echo came back in time
	Flows    int             // client sockets (source ports) used
	RTTs     []time.Duration // one per answered request
}

// Lost is the number of requests without an echo in time.
func (r rrResult) Lost() int { return r.Sent - r.Received }

// echoServe echoes every datagram conn receives to its sender until conn is
// closed; it returns the error that ended it (net.ErrClosed after Close).
func echoServe(conn net.PacketConn) error {
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return err
		}
		if _, err := conn.WriteTo(buf[:n], from); err != nil && errors.Is(err, net.ErrClosed) {
			return err
		}
	}
}

// rrConfig shapes the client.
type rrConfig struct {
	Interval time.Duration // between requests
	Rotate   time.Duration // lifetime of one client socket
	Timeout  time.Duration // wait for an echo before counting the request lost
	// Dial opens a new connected client socket.
	Dial func() (net.Conn, error)
}

// rrRun runs the client until ctx ends and returns what it saw. It fails
// only if a socket cannot be opened or used at all; lost echoes are counted.
func rrRun(ctx context.Context, cfg rrConfig) (rrResult, error) {
	var res rrResult
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	req := make([]byte, rrPayload)
	resp := make([]byte, 2048)
	var opened time.Time
	var seq uint64
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		if conn == nil || time.Since(opened) >= cfg.Rotate {
			if conn != nil {
				conn.Close()
			}
			c, err := cfg.Dial()
			if err != nil {
				conn = nil
				return res, err
			}
			conn, opened = c, time.Now()
			res.Flows++
		}
		seq++
		binary.BigEndian.PutUint64(req, seq)
		sent := time.Now()
		if _, err := conn.Write(req); err != nil {
			if ctx.Err() != nil {
				return res, nil
			}
			return res, err
		}
		res.Sent++
		deadline := sent.Add(cfg.Timeout)
		cut := false
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			// The run ends before this request's timeout: if its echo
			// has not come by then, it is not counted at all.
			deadline, cut = d, true
		}
		if err := conn.SetReadDeadline(deadline); err != nil {
			return res, err
		}
		for {
			n, err := conn.Read(resp)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if cut {
						res.Sent--
					}
					break
				}
				// ICMP errors surface as ECONNREFUSED on a connected
				// socket: the echo did not come back, which is a loss.
				if ctx.Err() != nil {
					return res, nil
				}
				break
			}
			if n >= 8 && binary.BigEndian.Uint64(resp[:8]) == seq {
				res.Received++
				res.RTTs = append(res.RTTs, time.Since(sent))
				break
			}
			// A late echo of an earlier request: keep waiting for ours.
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-tick.C:
		}
	}
}
