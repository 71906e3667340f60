package main

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// dropEven is a PacketConn that discards requests with an even sequence
// number before the echo server sees them: a lossy path.
type dropEven struct{ net.PacketConn }

func (d dropEven) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, a, err := d.PacketConn.ReadFrom(b)
		if err != nil || n < 8 || binary.BigEndian.Uint64(b[:8])%2 == 1 {
			return n, a, err
		}
	}
}

func TestRequestResponse(t *testing.T) {
	tests := []struct {
		name     string
		wrap     func(net.PacketConn) net.PacketConn
		lossy    bool
		duration time.Duration
		timeout  time.Duration
	}{
		// A generous timeout: a loaded 2-CPU machine under -race may
		// delay a loopback echo by tens of milliseconds.
		{"clean path", func(c net.PacketConn) net.PacketConn { return c }, false, 400 * time.Millisecond, 300 * time.Millisecond},
		{"every other request lost", func(c net.PacketConn) net.PacketConn { return dropEven{c} }, true, 600 * time.Millisecond, 30 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- echoServe(tc.wrap(srv)) }()
			defer func() {
				srv.Close()
				if err := <-done; !errors.Is(err, net.ErrClosed) {
					t.Errorf("echoServe ended with %v", err)
				}
			}()

			ctx, cancel := context.WithTimeout(context.Background(), tc.duration)
			defer cancel()
			res, err := rrRun(ctx, rrConfig{
				Interval: 5 * time.Millisecond,
				Rotate:   100 * time.Millisecond,
				Timeout:  tc.timeout,
				Dial:     func() (net.Conn, error) { return net.Dial("udp4", srv.LocalAddr().String()) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent < 10 || res.Flows < 3 {
				t.Fatalf("sent %d over %d flows; want ≥ 10 over ≥ 3 (a new source port every 100 ms)", res.Sent, res.Flows)
			}
			if len(res.RTTs) != res.Received {
				t.Fatalf("%d RTTs for %d answers", len(res.RTTs), res.Received)
			}
			if !tc.lossy && res.Lost() != 0 {
				t.Fatalf("clean loopback lost %d of %d", res.Lost(), res.Sent)
			}
			// Even sequence numbers never come back: at least half the
			// requests (less the one cut short at the end) are lost.
			if tc.lossy && (res.Lost() < res.Sent/2-1 || res.Received < 1) {
				t.Fatalf("lost %d, answered %d of %d; want every even one lost and some answered", res.Lost(), res.Received, res.Sent)
			}
		})
	}
}

func TestRequestResponseDialError(t *testing.T) {
	want := errors.New("no namespace")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := rrRun(ctx, rrConfig{Interval: time.Millisecond, Rotate: time.Second, Timeout: time.Millisecond,
		Dial: func() (net.Conn, error) { return nil, want }})
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
