// Package tuntest provides Device, an in-memory tun.Device for pipeline tests
// that need neither root nor a kernel (DESIGN "Testing conventions", level 2).
//
// A test injects packets (with their virtio-net header) that the code under test
// reads, and observes what it writes either synchronously through a write hook
// (no copy, no allocation: suitable for testing.AllocsPerRun) or as copies
// collected by the device (Written, WaitWritten). FailWrites makes the next
// writes fail, as a full kernel queue would, to test drop accounting.
//
// Steady-state Read and hooked Write allocate nothing: injected packets live in
// a ring of slots whose buffers are reused, and Read copies into the caller's
// buffers. Only growing the ring (more packets pending than ever before), a
// packet larger than any before in its slot, and collected copies allocate.
//
// The device emulates a TUN with IFF_VNET_HDR by default: headers pass through
// Inject→Read and Write→hook unchanged, GSO super-packets included (SPEC F7).
// SetVnetHdr(false) emulates a plain TUN exactly like tun.Linux does: Read
// returns zero headers, Write finishes partial checksums and refuses GSO packets
// with tun.ErrGSONotSupported.
//
// All methods are safe for concurrent use; every field is guarded by mu, and the
// write hook is called without holding it (a hook may Inject into any device,
// this one included).
package tuntest

import (
	"context"
	"slices"
	"sync"

	"github.com/vrouter/vrouter/dataplane/tun"
)

// Packet is a copy of a written packet and its virtio-net header.
type Packet struct {
	Data []byte
	Hdr  tun.VirtioNetHdr
}

// Stats counts the device's traffic.
type Stats struct {
	Injected  uint64 // packets queued by Inject
	Read      uint64 // packets returned by Read
	Truncated uint64 // injected packets dropped because the Read buffer was too small
	Written   uint64 // packets Write accepted
	WriteErrs uint64 // packets Write rejected (injected failures and invalid packets)
}

type slot struct {
	buf []byte
	hdr tun.VirtioNetHdr
}

// Device is an in-memory tun.Device. Create it with New.
type Device struct {
	name  string
	batch int

	ready   chan struct{} // capacity 1: a packet was injected
	wrote   chan struct{} // capacity 1: a packet was collected
	done    chan struct{} // closed by Close
	mu      sync.Mutex
	ring    []slot // circular queue of pending packets
	head    int
	count   int
	vnetHdr bool
	closed  bool
	hook    func(pkt []byte, hdr tun.VirtioNetHdr)
	written []Packet
	failN   int // writes still to fail; < 0 fails every write
	failErr error
	stats   Stats
}

var _ tun.Device = (*Device)(nil)

// initialRing is the number of pending packets the device holds before it has
// to grow its ring.
const initialRing = 1024

// New returns an open device with a virtio-net header whose BatchSize is batch
// (tun.DefaultBatchSize when batch <= 0).
func New(name string, batch int) *Device {
	if batch <= 0 {
		batch = tun.DefaultBatchSize
	}
	return &Device{
		name:    name,
		batch:   batch,
		ready:   make(chan struct{}, 1),
		wrote:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		ring:    make([]slot, max(initialRing, 4*batch)),
		vnetHdr: true,
	}
}

// Name implements tun.Device.
func (d *Device) Name() string { return d.name }

// BatchSize implements tun.Device.
func (d *Device) BatchSize() int { return d.batch }

// SetVnetHdr switches between a TUN with IFF_VNET_HDR (the default) and a plain
// one (see the package documentation).
func (d *Device) SetVnetHdr(on bool) {
	d.mu.Lock()
	d.vnetHdr = on
	d.mu.Unlock()
}

// Offloads mirrors tun.Linux.Offloads: a device with a vnet header accepts
// TCP and UDP super-packets whole.
func (d *Device) Offloads() (vnetHdr, tso, uso bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vnetHdr, d.vnetHdr, d.vnetHdr
}

// SetWriteHook makes Write call fn synchronously for every accepted packet,
// with the packet bytes in the caller's buffer (valid only during the call) and
// its header, instead of collecting copies. fn == nil restores collecting.
func (d *Device) SetWriteHook(fn func(pkt []byte, hdr tun.VirtioNetHdr)) {
	d.mu.Lock()
	d.hook = fn
	d.mu.Unlock()
}

// FailWrites makes the next n written packets fail with err (tun.ErrQueueFull
// when err is nil), as a full kernel queue would; n < 0 fails every packet until
// FailWrites(0, nil).
func (d *Device) FailWrites(n int, err error) {
	if err == nil {
		err = tun.ErrQueueFull
	}
	d.mu.Lock()
	d.failN, d.failErr = n, err
	d.mu.Unlock()
}

// Inject queues a copy of pkt with header hdr for Read. Packets injected after
// Close are discarded.
func (d *Device) Inject(pkt []byte, hdr tun.VirtioNetHdr) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	if d.count == len(d.ring) {
		d.growLocked()
	}
	s := &d.ring[(d.head+d.count)%len(d.ring)]
	s.buf = append(s.buf[:0], pkt...)
	s.hdr = hdr
	d.count++
	d.stats.Injected++
	d.mu.Unlock()
	signal(d.ready)
}

// growLocked doubles the ring, keeping the pending packets in order.
func (d *Device) growLocked() {
	ring := make([]slot, 2*len(d.ring))
	for i := range len(d.ring) {
		ring[i] = d.ring[(d.head+i)%len(d.ring)]
	}
	d.ring, d.head = ring, 0
}

// Pending returns the number of injected packets not yet read.
func (d *Device) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}

// Read implements tun.Device: it blocks until a packet is injected or the device
// is closed, then returns up to len(bufs) pending packets.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if offset < tun.VirtioNetHdrLen {
		return 0, tun.ErrOffset
	}
	if len(sizes) < len(bufs) {
		bufs = bufs[:len(sizes)]
	}
	for _, b := range bufs {
		if len(b) <= offset {
			return 0, tun.ErrOffset
		}
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return 0, tun.ErrClosed
		}
		n := d.drainLocked(bufs, sizes, offset)
		more := d.count > 0
		d.mu.Unlock()
		if more {
			signal(d.ready) // let another reader take the rest
		}
		if n > 0 {
			return n, nil
		}
		select {
		case <-d.ready:
		case <-d.done:
		}
	}
}

func (d *Device) drainLocked(bufs [][]byte, sizes []int, offset int) int {
	n := 0
	for n < len(bufs) && d.count > 0 {
		s := &d.ring[d.head]
		d.head = (d.head + 1) % len(d.ring)
		d.count--
		b := bufs[n]
		if len(s.buf) > len(b)-offset {
			d.stats.Truncated++ // a real TUN would cut it short; drop it
			continue
		}
		hdr := b[offset-tun.VirtioNetHdrLen : offset]
		if d.vnetHdr {
			s.hdr.Encode(hdr)
		} else {
			clear(hdr)
		}
		sizes[n] = copy(b[offset:], s.buf)
		n++
	}
	d.stats.Read += uint64(n)
	return n
}

// Write implements tun.Device. Every packet is tried; n counts the accepted ones
// and err is the first failure. Accepted packets go to the write hook or are
// collected for Written.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	if offset < tun.VirtioNetHdrLen {
		return 0, tun.ErrOffset
	}
	n := 0
	var first error
	for _, b := range bufs {
		err := d.writeOne(b, offset)
		if err == tun.ErrClosed {
			return n, err
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		n++
	}
	return n, first
}

func (d *Device) writeOne(b []byte, offset int) error {
	var err error
	var hdr tun.VirtioNetHdr
	switch {
	case len(b) < offset:
		err = tun.ErrOffset
	case len(b) == offset:
		err = tun.ErrBadPacket
	default:
		hdr.Decode(b[offset-tun.VirtioNetHdrLen:])
	}
	pkt := b[min(offset, len(b)):]
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return tun.ErrClosed
	}
	if err == nil && !d.vnetHdr {
		if hdr.IsGSO() {
			err = tun.ErrGSONotSupported
		} else if err = tun.FinishChecksum(pkt, &hdr); err == nil {
			hdr = tun.VirtioNetHdr{} // a plain TUN receives no header
		}
	}
	if err == nil && d.failN != 0 {
		if d.failN > 0 {
			d.failN--
		}
		err = d.failErr
	}
	if err != nil {
		d.stats.WriteErrs++
		d.mu.Unlock()
		return err
	}
	d.stats.Written++
	hook := d.hook
	if hook == nil {
		d.written = append(d.written, Packet{Data: slices.Clone(pkt), Hdr: hdr})
	}
	d.mu.Unlock()
	if hook != nil {
		hook(pkt, hdr)
	} else {
		signal(d.wrote)
	}
	return nil
}

// Written returns the packets collected since the last call (those written while
// no hook was set) and forgets them.
func (d *Device) Written() []Packet {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.written
	d.written = nil
	return w
}

// WaitWritten waits until at least n packets have been collected, then returns
// all collected packets like Written. It returns ctx.Err() (and keeps the
// packets) when ctx ends first, or tun.ErrClosed when the device is closed.
func (d *Device) WaitWritten(ctx context.Context, n int) ([]Packet, error) {
	for {
		d.mu.Lock()
		if len(d.written) >= n {
			w := d.written
			d.written = nil
			d.mu.Unlock()
			return w, nil
		}
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return nil, tun.ErrClosed
		}
		select {
		case <-d.wrote:
		case <-d.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stats returns the device's counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Close implements tun.Device: it wakes pending Reads (they return
// tun.ErrClosed) and discards pending packets. It is idempotent.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		d.count = 0
		close(d.done)
	}
	return nil
}

// signal wakes one waiter on a capacity-1 channel without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
