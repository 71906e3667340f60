// Package traffic drives the measurements of SPEC §9 through one topology at
// a time: iperf3 TCP bulk (P1), iperf3 64-byte UDP packets per second (P2)
// and ping round-trip percentiles (P5). The tools run inside the client and
// server namespaces with `ip netns exec`, so every topology sees exactly the
// same traffic from the same tools; this package also parses their output.
//
// A Runner is used by one goroutine at a time (tests run one after the other:
// two concurrent tests on a 2-core machine would measure each other). Child
// processes are started through netenv.Env, which kills them if the run is
// interrupted.
package traffic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vrouter/vrouter/bench/internal/netenv"
)

// Port is the iperf3 port; the security groups and nftables rules of every
// topology admit it.
const Port = 5201

// Endpoints names where a test runs: the client and server namespaces and the
// server's address as the client reaches it.
type Endpoints struct {
	ClientNS, ServerNS string
	ServerAddr         string
}

// Runner runs the measurements.
type Runner struct {
	Env *netenv.Env
	// Duration of each iperf3 test.
	Duration time.Duration
	// PingCount and PingInterval shape the latency test (ping -c, -i).
	PingCount    int
	PingInterval time.Duration
	// Log, if set, receives one line per event for the progress display.
	Log func(format string, args ...any)
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		r.Log(format, args...)
	}
}

// startServer starts a one-off iperf3 server in the server namespace and
// waits until it listens.
func (r *Runner) startServer(ctx context.Context, ep Endpoints) (*netenv.Proc, *netenv.LineWriter, error) {
	ready := make(chan struct{})
	out := &netenv.LineWriter{OnLine: func(line string) {
		if strings.Contains(line, "Server listening") {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	}}
	cmd := netenv.Command(ctx, ep.ServerNS, "iperf3", "-s", "-1", "-B", ep.ServerAddr,
		"-p", strconv.Itoa(Port), "--forceflush")
	cmd.Stdout, cmd.Stderr = out, out
	p, err := r.Env.Start(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("start iperf3 server: %w", err)
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
		return p, out, nil
	case <-p.Done():
		return nil, nil, fmt.Errorf("iperf3 server exited before listening: %s", out.Tail())
	case <-t.C:
		p.Stop(syscall.SIGKILL, 0)
		return nil, nil, fmt.Errorf("iperf3 server not listening after 10s: %s", out.Tail())
	case <-ctx.Done():
		p.Stop(syscall.SIGKILL, 0)
		return nil, nil, ctx.Err()
	}
}

// iperf runs one iperf3 client test against a fresh one-off server and
// returns the client's JSON output.
func (r *Runner) iperf(ctx context.Context, ep Endpoints, args ...string) ([]byte, error) {
	srv, srvOut, err := r.startServer(ctx, ep)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A one-off server (-1) exits after its test; the next test binds
		// the same port, so make sure it is gone either way.
		select {
		case <-srv.Done():
		case <-time.After(3 * time.Second):
			srv.Stop(syscall.SIGKILL, 0)
		}
	}()

	secs := int(r.Duration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	cctx, cancel := context.WithTimeout(ctx, r.Duration+30*time.Second)
	defer cancel()
	base := []string{"-c", ep.ServerAddr, "-p", strconv.Itoa(Port), "-t", strconv.Itoa(secs),
		"-J", "--connect-timeout", "3000"}
	var stdout bytes.Buffer
	stderr := &netenv.LineWriter{}
	cmd := netenv.Command(cctx, ep.ClientNS, "iperf3", append(base, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	p, err := r.Env.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start iperf3 client: %w", err)
	}
	werr := p.Wait(cctx)
	if errors.Is(werr, context.DeadlineExceeded) || errors.Is(werr, context.Canceled) {
		p.Stop(syscall.SIGKILL, 0)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("iperf3 client did not finish within %v", r.Duration+30*time.Second)
	}
	if werr != nil {
		// iperf3 -J reports its own errors in the JSON; prefer that text.
		if _, perr := decodeIperf(stdout.Bytes()); perr != nil {
			return nil, fmt.Errorf("iperf3 client: %v: %v; %s %s", werr, perr, stderr.Tail(), srvOut.Tail())
		}
		return nil, fmt.Errorf("iperf3 client: %v: %s", werr, stderr.Tail())
	}
	return stdout.Bytes(), nil
}

// TCP measures bulk TCP throughput with streams parallel streams (iperf3 -P)
// and returns the receiver-side bit rate (SPEC P1).
func (r *Runner) TCP(ctx context.Context, ep Endpoints, streams int) (float64, error) {
	out, err := r.iperf(ctx, ep, "-P", strconv.Itoa(streams))
	if err != nil {
		return 0, err
	}
	return ParseTCP(out)
}

// UDP64 sends 64-byte UDP payloads as fast as one iperf3 client can
// (-u -b 0 -l 64) and returns what the receiver got (SPEC P2). iperf3 sends
// from one thread, so on a fast path the sender, not the router, may be the
// limit; all three topologies share that limit.
func (r *Runner) UDP64(ctx context.Context, ep Endpoints) (UDPResult, error) {
	out, err := r.iperf(ctx, ep, "-u", "-b", "0", "-l", "64")
	if err != nil {
		return UDPResult{}, err
	}
	return ParseUDP(out)
}

// Ping sends PingCount echo requests PingInterval apart and returns every
// round-trip time (SPEC P5).
func (r *Runner) Ping(ctx context.Context, ep Endpoints) (PingResult, error) {
	count := r.PingCount
	if count <= 0 {
		count = 2000
	}
	iv := r.PingInterval
	if iv <= 0 {
		iv = 2 * time.Millisecond
	}
	limit := time.Duration(count)*iv + 30*time.Second
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var stdout bytes.Buffer
	stderr := &netenv.LineWriter{}
	cmd := netenv.Command(cctx, ep.ClientNS, "ping", "-n", "-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(iv.Seconds(), 'f', -1, 64), "-W", "1", ep.ServerAddr)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	p, err := r.Env.Start(cmd)
	if err != nil {
		return PingResult{}, fmt.Errorf("start ping: %w", err)
	}
	werr := p.Wait(cctx)
	if errors.Is(werr, context.DeadlineExceeded) || errors.Is(werr, context.Canceled) {
		p.Stop(syscall.SIGKILL, 0)
		if ctx.Err() != nil {
			return PingResult{}, ctx.Err()
		}
		return PingResult{}, fmt.Errorf("ping did not finish within %v", limit)
	}
	res, perr := ParsePing(bytes.NewReader(stdout.Bytes()))
	if perr != nil {
		// ping exits 1 when replies are missing; that is only fatal without RTTs.
		return res, fmt.Errorf("%v (exit: %v) %s", perr, werr, stderr.Tail())
	}
	r.logf("ping: %d/%d replies", len(res.RTTs), count)
	return res, nil
}
