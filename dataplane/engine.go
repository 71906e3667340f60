// Package dataplane forwards IP packets between ports (TUN devices) the way
// a cloud VRouter does (SPEC §4, §5): it owns the Engine, the immutable
// Snapshot the control plane publishes, one worker per ingress port, the
// pure per-packet decision (Snapshot.Forward) and the slow path for ICMP
// and fragmentation.
//
// Who may call what: the control plane (controlplane/agent) builds
// Snapshots with controlplane/compile and publishes them with Engine.Apply;
// everything else in a snapshot is read-only once published. Workers load
// the snapshot once per batch (DESIGN packet path step 2) and never lock on
// the forwarding path. The only shared mutable state is deliberate: the
// conntrack table, next-hop health flags and counters, each synchronised by
// its own package, and the SNAT port pools (NATPorts, nat.go), locked only
// when a translated flow is created.
//
// This package never imports controlplane, YAML, cobra or netlink (a test
// enforces it).
package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
	"github.com/vrouter/vrouter/dataplane/stats"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// Headroom is the offset at which packets sit in worker buffers; the
// virtio-net header occupies the bytes just before it.
const Headroom = 16

// maxPacket is the largest packet a port may deliver: a GSO super-packet of
// up to 64 KiB plus headers.
const maxPacket = 65535 + 256

// Engine runs the workers and holds the published snapshot.
type Engine struct {
	snap atomic.Pointer[Snapshot]

	mu      sync.Mutex // guards workers; held by Apply and Stop only
	workers map[tun.Device]*worker
	stopped bool

	// OnPortError, when set before the first Apply, is called (from a
	// worker goroutine) when a port's Read fails with something other
	// than a close; the agent logs it once and reconciles (Q4).
	OnPortError func(port string, err error)
	// OnEchoReply, when set before the first Apply, receives every ICMP
	// echo reply addressed to a router address (the health prober's
	// answers, F9). It runs on a worker goroutine: it must be quick and
	// must not block.
	OnEchoReply func(src, dst netip.Addr, id, seq uint16)
}

// Send writes one packet the router originates (a health probe, F9) to the
// port with the given id in the published snapshot. It is a slow path: it
// allocates a buffer per call.
func (e *Engine) Send(id fib.PortID, pkt []byte) error {
	s := e.snap.Load()
	p := s.Port(id)
	if p == nil || p.Dev == nil {
		return fmt.Errorf("port %d is not attached", id)
	}
	buf := make([]byte, Headroom+len(pkt))
	copy(buf[Headroom:], pkt)
	if _, err := p.Dev.Write([][]byte{buf}, Headroom); err != nil {
		return err
	}
	p.Counters.TxPackets.Add(1)
	p.Counters.TxBytes.Add(uint64(len(pkt)))
	return nil
}

// New returns an engine with an empty snapshot.
func New() *Engine {
	e := &Engine{workers: map[tun.Device]*worker{}}
	e.snap.Store(&Snapshot{})
	return e
}

// Snapshot returns the published snapshot.
func (e *Engine) Snapshot() *Snapshot { return e.snap.Load() }

// Apply publishes s with one atomic store, starts a worker for every port
// device that has none, and stops the workers of devices s no longer
// holds (closing those devices) before returning. Packets in flight in a
// worker still finish under the snapshot they started with.
func (e *Engine) Apply(s *Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	keep := make(map[tun.Device]fib.PortID, len(s.Ports))
	for _, p := range s.Ports {
		if p != nil && p.Dev != nil {
			keep[p.Dev] = p.ID
		}
	}
	e.snap.Store(s)
	for dev, id := range keep {
		if w, ok := e.workers[dev]; ok {
			w.id.Store(uint32(id))
			continue
		}
		w := newWorker(e, dev, id)
		e.workers[dev] = w
		go w.run()
	}
	var gone []*worker
	for dev, w := range e.workers {
		if _, ok := keep[dev]; !ok {
			gone = append(gone, w)
			delete(e.workers, dev)
		}
	}
	for _, w := range gone {
		w.stop()
	}
}

// Stop stops every worker and closes every device (the links themselves
// are the control plane's business: removed, or kept for Q7).
func (e *Engine) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	for dev, w := range e.workers {
		w.stop()
		delete(e.workers, dev)
	}
}

// worker reads one port and runs every packet to completion (DESIGN packet
// path). All its fields are owned by its goroutine except id, which Apply
// updates atomically.
type worker struct {
	eng  *Engine
	dev  tun.Device
	id   atomic.Uint32
	done chan struct{}

	bufs   [][]byte
	sizes  []int
	parsed packet.Parsed
	hdr    tun.VirtioNetHdr
	local  stats.Local

	// egress batches, indexed by destination PortID
	out     [][][]byte
	touched []fib.PortID

	// scratch buffers for packets the worker makes (ICMP, fragments)
	scratch     [][]byte
	scratchUsed int
	fragSizes   []int
	fragViews   [][]byte

	// route hits accumulated in this batch, by fib.Route.Index
	hits        []uint64
	hitsTouched []int

	// F14 token bucket for ICMP errors sent back to this port.
	tokens   float64
	lastFill int64
	icmpID   uint16

	// mcastOne carries one multicast copy to Write (mcast.go).
	mcastOne [1][]byte
}

const scratchCount = 128

// maxBatch caps the read batch: every buffer holds a 64 KiB super-packet, so
// 16 of them (1 MiB a port) already drain a TSO stream per wake-up.
const maxBatch = 16

func newWorker(e *Engine, dev tun.Device, id fib.PortID) *worker {
	n := dev.BatchSize()
	if n < 1 {
		n = 1
	}
	if n > maxBatch {
		n = maxBatch
	}
	w := &worker{eng: e, dev: dev, done: make(chan struct{}), bufs: make([][]byte, n), sizes: make([]int, n)}
	w.id.Store(uint32(id))
	for i := range w.bufs {
		w.bufs[i] = make([]byte, Headroom+maxPacket)
	}
	w.scratch = make([][]byte, scratchCount)
	for i := range w.scratch {
		w.scratch[i] = make([]byte, Headroom+2048)
	}
	w.fragSizes = make([]int, scratchCount)
	w.fragViews = make([][]byte, scratchCount)
	w.tokens = -1 // filled on first use
	return w
}

func (w *worker) stop() {
	w.dev.Close()
	<-w.done
}

func (w *worker) run() {
	defer close(w.done)
	var errs int
	for {
		n, err := w.dev.Read(w.bufs, w.sizes, Headroom)
		if err != nil {
			if errors.Is(err, tun.ErrClosed) {
				return
			}
			errs++
			if errs == 1 && w.eng.OnPortError != nil {
				// Report the port's id (R9), not the device's kernel name.
				name := w.dev.Name()
				if p := w.eng.snap.Load().Port(fib.PortID(w.id.Load())); p != nil && p.Dev == w.dev {
					name = p.Name
				}
				w.eng.OnPortError(name, err)
			}
			// A port whose namespace vanished keeps failing (Q4); back
			// off instead of spinning until the control plane removes it.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		errs = 0
		s := w.eng.snap.Load()
		w.batch(s, n, time.Now().UnixNano())
	}
}

// batch forwards n packets read into w.bufs under snapshot s.
func (w *worker) batch(s *Snapshot, n int, now int64) {
	id := fib.PortID(w.id.Load())
	in := s.Port(id)
	if in == nil || in.Dev != w.dev {
		return // the port is being removed
	}
	for i := 0; i < n; i++ {
		w.packet(s, in, w.bufs[i][:Headroom+w.sizes[i]], now)
	}
	w.flush(s, in)
	w.local.FlushTo(in.Counters)
}

// packet handles one packet; buf holds the virtio header before Headroom.
func (w *worker) packet(s *Snapshot, in *Port, buf []byte, now int64) {
	pkt := buf[Headroom:]
	w.local.Rx(len(pkt))
	p := &w.parsed
	switch st := p.Decode(pkt); st {
	case packet.OK:
	case packet.ErrBadVersion:
		w.local.Drop(stats.DropBadVersion)
		return
	default:
		w.local.Drop(stats.DropMalformed)
		return
	}
	if p.Version == 6 {
		w.local.Drop(stats.DropIPv6)
		return
	}
	w.hdr.Decode(buf[Headroom-tun.VirtioNetHdrLen : Headroom])
	d := s.Forward(in, p, len(pkt), &w.hdr, now, nil)
	switch d.Verdict {
	case VerdictForward:
		if d.NAT.Flags != 0 {
			d.NAT.Apply(pkt, &w.hdr) // C6: nat.go
		}
		for i := uint8(0); i < d.Hops; i++ {
			packet.DecTTL(pkt)
		}
		w.hit(s, d.Route)
		w.local.Forward()
		w.enqueue(d.Out, buf)
	case VerdictFragment:
		if d.NAT.Flags != 0 {
			d.NAT.Apply(pkt, &w.hdr)
		}
		for i := uint8(0); i < d.Hops; i++ {
			packet.DecTTL(pkt)
		}
		w.hit(s, d.Route)
		w.fragment(s, in, d.Out, pkt)
	case VerdictICMPError:
		w.local.Drop(d.Reason)
		w.icmpError(s, in, pkt, d, now)
	case VerdictToRouter:
		w.toRouter(in, p, pkt)
	case VerdictMulticast:
		w.multicast(s, in, p, buf, d, now)
	default:
		w.local.Drop(d.Reason)
	}
}

// hit counts a forwarded packet against its route entry (R8).
func (w *worker) hit(s *Snapshot, r *fib.Route) {
	if r == nil || r.Index < 0 || r.Index >= len(s.RouteHits) {
		return
	}
	if r.Index >= len(w.hits) {
		grown := make([]uint64, len(s.RouteHits))
		copy(grown, w.hits)
		w.hits = grown
	}
	if w.hits[r.Index] == 0 {
		w.hitsTouched = append(w.hitsTouched, r.Index)
	}
	w.hits[r.Index]++
}

func (w *worker) enqueue(out fib.PortID, buf []byte) {
	if int(out) >= len(w.out) {
		grown := make([][][]byte, int(out)+1)
		copy(grown, w.out)
		w.out = grown
	}
	if len(w.out[out]) == 0 {
		w.touched = append(w.touched, out)
	}
	w.out[out] = append(w.out[out], buf)
}

// takeScratch returns a zeroed-header scratch buffer or nil when all are in
// use in this batch.
func (w *worker) takeScratch() []byte {
	if w.scratchUsed == len(w.scratch) {
		return nil
	}
	b := w.scratch[w.scratchUsed]
	w.scratchUsed++
	clear(b[:Headroom])
	return b
}

func (w *worker) toRouter(in *Port, p *packet.Parsed, pkt []byte) {
	// F3: the gateway answers ICMP echo; security groups do not apply.
	if p.Proto == packet.ProtoICMP && p.ICMPType == packet.ICMPEchoReply && p.FragOff == 0 && !p.MF &&
		w.eng.OnEchoReply != nil && len(pkt) >= p.L4Off+8 {
		seq := uint16(pkt[p.L4Off+6])<<8 | uint16(pkt[p.L4Off+7])
		w.eng.OnEchoReply(p.Src, p.Dst, p.SrcPort, seq)
		w.local.Consume()
		return
	}
	if p.Proto != packet.ProtoICMP || p.ICMPType != packet.ICMPEcho || p.FragOff != 0 || p.MF {
		w.local.Drop(stats.DropToRouter)
		return
	}
	b := w.takeScratch()
	if b == nil || len(pkt) > len(b)-Headroom {
		w.local.Drop(stats.DropToRouter)
		return
	}
	n := packet.BuildEchoReply(b[Headroom:], pkt)
	if n == 0 {
		w.local.Drop(stats.DropToRouter)
		return
	}
	w.local.Consume()
	w.enqueue(in.ID, b[:Headroom+n])
}

// icmpError answers the source of pkt with the error of d, subject to the
// per-port token bucket of F14. Errors go back out the ingress port.
func (w *worker) icmpError(s *Snapshot, in *Port, pkt []byte, d Decision, now int64) {
	b := w.takeScratch()
	if b == nil {
		return
	}
	// Build first: a packet that must get no error (RFC 1812 4.3.2.7: an
	// ICMP error, a non-first fragment, a broadcast source) spends no token.
	n := packet.BuildICMPv4Error(b[Headroom:], in.Gateway, w.icmpID+1, pkt, d.ICMPType, d.ICMPCode, d.MTU)
	if n == 0 {
		w.scratchUsed--
		return
	}
	if !w.takeToken(s, now) {
		w.scratchUsed--
		w.local.SuppressICMP()
		return
	}
	w.icmpID++
	w.enqueue(in.ID, b[:Headroom+n])
}

func (w *worker) takeToken(s *Snapshot, now int64) bool {
	rate, burst := s.ICMPRate, s.ICMPBurst
	if rate <= 0 {
		rate, burst = 100, 50
	}
	if w.tokens < 0 {
		w.tokens, w.lastFill = burst, now
	}
	w.tokens += float64(now-w.lastFill) / 1e9 * rate
	w.lastFill = now
	if w.tokens > burst {
		w.tokens = burst
	}
	if w.tokens < 1 {
		return false
	}
	w.tokens--
	return true
}

// fragment splits pkt into fragments that fit the egress MTU (F7, DF clear).
func (w *worker) fragment(s *Snapshot, in *Port, out fib.PortID, pkt []byte) {
	op := s.Port(out)
	if op == nil {
		w.local.Drop(stats.DropNoPort)
		return
	}
	if w.scratchUsed == len(w.scratch) {
		w.flush(s, in)
	}
	free := len(w.scratch) - w.scratchUsed
	views := w.fragViews[:free]
	for i := range views {
		views[i] = w.scratch[w.scratchUsed+i][Headroom:]
	}
	n, err := packet.FragmentIPv4(pkt, op.MTU, views, w.fragSizes[:free])
	if err != nil {
		w.local.Drop(stats.DropFragNeeded)
		return
	}
	for i := 0; i < n; i++ {
		b := w.scratch[w.scratchUsed+i]
		clear(b[:Headroom])
		w.enqueue(out, b[:Headroom+w.fragSizes[i]])
	}
	w.scratchUsed += n
	w.local.Forward()
}

// flush writes every egress batch with one Write call per destination.
func (w *worker) flush(s *Snapshot, in *Port) {
	for _, id := range w.touched {
		batch := w.out[id]
		op := s.Port(id)
		if op == nil || op.Dev == nil {
			w.local.EgressDropN(stats.DropNoPort, len(batch))
			w.out[id] = batch[:0]
			continue
		}
		var bytes uint64
		for _, b := range batch {
			bytes += uint64(len(b) - Headroom)
		}
		n, _ := op.Dev.Write(batch, Headroom)
		if n < len(batch) {
			op.Counters.EgressDrops[stats.DropPortError].Add(uint64(len(batch) - n))
			bytes = 0
			for _, b := range batch[:n] {
				bytes += uint64(len(b) - Headroom)
			}
		}
		if n > 0 {
			op.Counters.TxPackets.Add(uint64(n))
			op.Counters.TxBytes.Add(bytes)
		}
		clear(batch)
		w.out[id] = batch[:0]
	}
	w.touched = w.touched[:0]
	w.scratchUsed = 0
	for _, i := range w.hitsTouched {
		if i < len(s.RouteHits) {
			s.RouteHits[i].Add(w.hits[i])
		}
		w.hits[i] = 0
	}
	w.hitsTouched = w.hitsTouched[:0]
}
