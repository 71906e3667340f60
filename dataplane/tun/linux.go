//go:build linux

package tun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Options configures Open.
type Options struct {
	// Name is the requested interface name (at most 15 bytes). Empty lets the
	// kernel choose (tunN). An existing TUN of this name in the calling thread's
	// namespace is attached to instead of created (SPEC Q7 re-attach).
	Name string
	// Persist sets TUNSETPERSIST so the link outlives the descriptor and the
	// process (SPEC Q7). Close never clears it; Remove does.
	Persist bool
	// VnetHdr enables IFF_VNET_HDR and negotiates offloads with TUNSETOFFLOAD:
	// checksum, TSO4/TSO6 (with ECN) and USO4/USO6, each dropped in turn when the
	// kernel refuses it. Without it the offloads of a re-attached persistent TUN
	// are cleared, so the kernel never hands over a super-packet.
	// Attaching changes the setting for every queue of the link.
	VnetHdr bool
	// MultiQueue sets IFF_MULTI_QUEUE; more queues come from OpenQueue.
	MultiQueue bool
	// BatchSize is what BatchSize reports; 0 means DefaultBatchSize.
	BatchSize int
}

// Drops counts packets a Linux device consumed from the kernel but could not
// return from Read. They are rare and indicate a caller or kernel mismatch.
type Drops struct {
	// Truncated packets were longer than the caller's buffer (see MaxPacketLen).
	Truncated uint64
	// Invalid packets could not be described by a virtio-net header (the kernel
	// returns EINVAL for them and discards them) or were empty.
	Invalid uint64
}

// Linux is a TUN queue: one descriptor of /dev/net/tun attached to a link. It
// implements Device. See the package documentation for its concurrency rules.
type Linux struct {
	file  *os.File
	rc    syscall.RawConn
	fd    int    // kept apart: os.File.Fd would switch the descriptor to blocking
	name  string // name at creation/attach time; never resolved again
	flags uint16 // TUNSETIFF flags, reused by OpenQueue
	batch int

	vnetHdr  bool
	offloads int // TUN_F_* the kernel accepted

	closed    atomic.Bool
	truncated atomic.Uint64
	invalid   atomic.Uint64

	// Read state, guarded by readMu. readFn is the method value readBatch,
	// created once so that Read allocates no closure.
	readMu sync.Mutex
	readFn func(uintptr) bool
	rBufs  [][]byte
	rSizes []int
	rOff   int
	rN     int
	rErr   error

	// Write state, guarded by writeMu; writeFn is the method value writeBatch.
	writeMu sync.Mutex
	writeFn func(uintptr) bool
	wBufs   [][]byte
	wOff    int
	wN      int
	wErr    error
}

var _ Device = (*Linux)(nil)

// offloadCandidates are tried in order until TUNSETOFFLOAD succeeds; the kernel
// rejects flags it does not know (USO needs Linux 6.2) with EINVAL.
var offloadCandidates = []int{
	unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN | unix.TUN_F_USO4 | unix.TUN_F_USO6,
	unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN,
	unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6,
	unix.TUN_F_CSUM,
	0,
}

// Open creates the TUN (IFF_TUN|IFF_NO_PI) or attaches to an existing TUN of that
// name, in the network namespace of the calling OS thread: the kernel binds the
// descriptor to the namespace of the thread that opens /dev/net/tun. A caller that
// needs another namespace locks its goroutine to the thread
// (runtime.LockOSThread) and enters the namespace (setns) before calling Open;
// the descriptor keeps working after the thread leaves the namespace, and after
// the link is moved to another namespace or renamed.
func Open(opts Options) (*Linux, error) {
	if len(opts.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tun: interface name %q longer than %d bytes", opts.Name, unix.IFNAMSIZ-1)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if opts.VnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	if opts.MultiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	cands := offloadCandidates[len(offloadCandidates)-1:] // {0}
	if opts.VnetHdr {
		cands = offloadCandidates
	}
	d, err := openQueue(opts.Name, flags, opts.BatchSize, cands)
	if err != nil {
		return nil, err
	}
	if opts.Persist {
		if err := d.SetPersist(true); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// openQueue opens /dev/net/tun, attaches it with TUNSETIFF and negotiates the
// first offload set of cands that the kernel accepts.
func openQueue(name string, flags uint16, batch int, cands []int) (*Linux, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open /dev/net/tun: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("tun: interface name %q: %w", name, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("tun: TUNSETIFF %q: %w", name, err)
	}
	d := &Linux{fd: fd, name: ifr.Name(), flags: flags, batch: batch}
	if d.batch <= 0 {
		d.batch = DefaultBatchSize
	}
	d.vnetHdr = flags&unix.IFF_VNET_HDR != 0
	if d.vnetHdr {
		// The header size is a property of the link and survives a previous
		// owner that used the 12-byte mergeable-buffers header.
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, VirtioNetHdrLen); err != nil {
			return nil, fmt.Errorf("tun: TUNSETVNETHDRSZ %s: %w", d.name, err)
		}
	}
	if err := d.negotiate(fd, cands); err != nil {
		return nil, err
	}
	d.file = os.NewFile(uintptr(fd), "/dev/net/tun:"+d.name)
	if d.file == nil {
		return nil, fmt.Errorf("tun: %s: invalid descriptor", d.name)
	}
	ok = true // the file owns fd from here on
	rc, err := d.file.SyscallConn()
	if err != nil {
		d.file.Close()
		return nil, fmt.Errorf("tun: %s: %w", d.name, err)
	}
	d.rc = rc
	d.readFn = d.readBatch
	d.writeFn = d.writeBatch
	return d, nil
}

// negotiate issues TUNSETOFFLOAD with each candidate until one is accepted.
func (d *Linux) negotiate(fd int, cands []int) error {
	var last error
	for _, c := range cands {
		err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, c)
		if err == nil {
			d.offloads = c
			return nil
		}
		last = err
	}
	return fmt.Errorf("tun: TUNSETOFFLOAD %s: %w", d.name, last)
}

// setOffload replaces the negotiated offloads (tests use it to force a subset).
func (d *Linux) setOffload(flags int) error {
	return d.control(func(fd int) error { return d.negotiate(fd, []int{flags}) })
}

// control runs fn with the descriptor, guarding it against a concurrent Close.
func (d *Linux) control(fn func(fd int) error) error {
	if d.closed.Load() {
		return ErrClosed
	}
	var ferr error
	if err := d.rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		if d.closed.Load() {
			return ErrClosed
		}
		return err
	}
	return ferr
}

// Name returns the interface name at creation (or attach) time. The control plane
// may since have renamed the link or moved it to another namespace; CurrentName
// asks the kernel.
func (d *Linux) Name() string { return d.name }

// CurrentName returns the link's present name as the kernel knows it (TUNGETIFF).
func (d *Linux) CurrentName() (string, error) {
	var name string
	err := d.control(func(fd int) error {
		ifr, err := unix.NewIfreq("")
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
			return fmt.Errorf("tun: TUNGETIFF %s: %w", d.name, goneOr(err))
		}
		name = ifr.Name()
		return nil
	})
	return name, err
}

// BatchSize returns the preferred batch length (Options.BatchSize).
func (d *Linux) BatchSize() int { return d.batch }

// Fd returns the descriptor for ioctls the package does not wrap. It stays owned
// by d: do not close it, change its flags or use it after Close.
func (d *Linux) Fd() uintptr { return uintptr(d.fd) }

// Offloads reports whether packets carry a virtio-net header and which
// segmentation offloads the kernel accepted: with tso the kernel hands over and
// accepts TCP super-packets, with uso UDP (GSOUDPL4) ones.
func (d *Linux) Offloads() (vnetHdr bool, tso bool, uso bool) {
	return d.vnetHdr, d.offloads&unix.TUN_F_TSO4 != 0, d.offloads&unix.TUN_F_USO4 != 0
}

// Drops returns the packets Read discarded (see Drops).
func (d *Linux) Drops() Drops {
	return Drops{Truncated: d.truncated.Load(), Invalid: d.invalid.Load()}
}

// SetPersist sets or clears the link's persist flag (TUNSETPERSIST). A persistent
// link survives the close of its last descriptor (SPEC Q7).
func (d *Linux) SetPersist(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return d.control(func(fd int) error {
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, v); err != nil {
			return fmt.Errorf("tun: TUNSETPERSIST %s=%d: %w", d.name, v, goneOr(err))
		}
		return nil
	})
}

// Remove deletes the link through its descriptor: it clears the persist flag and
// closes d. The kernel removes the link when its last queue is closed, so other
// queues of a multi-queue link must be closed too.
func (d *Linux) Remove() error {
	perr := d.SetPersist(false)
	cerr := d.Close()
	if perr != nil {
		return perr
	}
	return cerr
}

// Close closes the descriptor and wakes a pending Read, which returns ErrClosed.
// It never touches the persist flag (SPEC Q7). It is idempotent.
func (d *Linux) Close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	return d.file.Close()
}

// OpenQueue attaches another queue to this multi-queue link. It finds the link
// by its current name (TUNGETIFF) inside its current namespace (TUNGETDEVNETNS,
// entered on a locked helper thread), so it works after the control plane has
// moved or renamed the link and whatever namespace the caller's thread is in.
// The new queue has the same flags and offloads.
func (d *Linux) OpenQueue() (*Linux, error) {
	if d.flags&unix.IFF_MULTI_QUEUE == 0 {
		return nil, fmt.Errorf("tun: %s: OpenQueue on a single-queue device", d.name)
	}
	name, err := d.CurrentName()
	if err != nil {
		return nil, err
	}
	nsfd := -1
	err = d.control(func(fd int) error {
		n, err := unix.IoctlRetInt(fd, unix.TUNGETDEVNETNS)
		switch {
		case err == nil:
			nsfd = n
		case errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EINVAL):
			// Before Linux 5.2: the caller's namespace is the only guess.
		default:
			return fmt.Errorf("tun: TUNGETDEVNETNS %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	cands := []int{d.offloads}
	if nsfd < 0 {
		return openQueue(name, d.flags, d.batch, cands)
	}
	defer unix.Close(nsfd)
	type result struct {
		q   *Linux
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A thread whose namespace cannot be restored stays locked, so the
		// runtime discards it when this goroutine exits.
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("tun: own namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("tun: enter namespace of %s: %w", name, err)}
			return
		}
		q, err := openQueue(name, d.flags, d.batch, cands)
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{q, err}
	}()
	r := <-ch
	return r.q, r.err
}

// Read implements Device. It blocks in the runtime poller until the queue is
// readable, then reads packets with read(2) until EAGAIN or the batch is full.
// With a vnet header the kernel writes header and packet in one read at
// bufs[i][offset-VirtioNetHdrLen:]; without one the header bytes are zeroed.
func (d *Linux) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if offset < VirtioNetHdrLen {
		return 0, ErrOffset
	}
	if len(sizes) < len(bufs) {
		bufs = bufs[:len(sizes)]
	}
	for _, b := range bufs {
		if len(b) <= offset {
			return 0, ErrOffset
		}
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	if d.closed.Load() {
		return 0, ErrClosed
	}
	d.rBufs, d.rSizes, d.rOff, d.rN, d.rErr = bufs, sizes, offset, 0, nil
	err := d.rc.Read(d.readFn)
	n, rerr := d.rN, d.rErr
	d.rBufs, d.rSizes, d.rErr = nil, nil, nil // do not pin the caller's buffers
	if err != nil {
		if d.closed.Load() {
			return 0, ErrClosed
		}
		return 0, err
	}
	if n > 0 {
		return n, nil
	}
	return 0, rerr
}

// readBatch is the RawConn.Read callback; it returns false only to wait for
// readability (nothing read yet and EAGAIN).
func (d *Linux) readBatch(fdp uintptr) bool {
	fd := int(fdp)
	off := d.rOff
	for d.rN < len(d.rBufs) {
		buf := d.rBufs[d.rN]
		dst := buf[off:]
		if d.vnetHdr {
			dst = buf[off-VirtioNetHdrLen:]
		}
		n, err := unix.Read(fd, dst)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return d.rN > 0
		case err == unix.EINVAL:
			// The kernel could not describe this packet with a vnet header
			// and has dropped it; the next one may be fine.
			d.invalid.Add(1)
			continue
		case err != nil:
			if d.rN == 0 {
				d.rErr = mapErrno(err)
			}
			return true
		case n > len(dst):
			// read(2) on a TUN returns the full length even when it had to
			// cut the packet to fit: a truncated packet is useless.
			d.truncated.Add(1)
			continue
		}
		size := n
		if d.vnetHdr {
			size -= VirtioNetHdrLen
		} else {
			zeroHdr(buf[off-VirtioNetHdrLen:])
		}
		if size <= 0 {
			if n == 0 && d.rN == 0 {
				// read(2) returning 0 would make waiting spin; report it.
				d.rErr = io.ErrUnexpectedEOF
				return true
			}
			d.invalid.Add(1)
			continue
		}
		d.rSizes[d.rN] = size
		d.rN++
	}
	return true
}

// Write implements Device: one write(2) per packet, all inside one poller
// callback. With a vnet header, header and packet go out as one buffer
// (bufs[i][offset-VirtioNetHdrLen:]), so a GSO super-packet reaches the kernel
// whole. Without one, a partial checksum is finished in place and a GSO packet
// fails with ErrGSONotSupported. Write never waits for the queue to drain.
func (d *Linux) Write(bufs [][]byte, offset int) (int, error) {
	if offset < VirtioNetHdrLen {
		return 0, ErrOffset
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	if d.closed.Load() {
		return 0, ErrClosed
	}
	d.wBufs, d.wOff, d.wN, d.wErr = bufs, offset, 0, nil
	err := d.rc.Write(d.writeFn)
	n, werr := d.wN, d.wErr
	d.wBufs, d.wErr = nil, nil
	if err != nil {
		if d.closed.Load() {
			return n, ErrClosed
		}
		return n, err
	}
	return n, werr
}

// writeBatch is the RawConn.Write callback. It always returns true: a TUN that
// cannot take a packet fails it rather than making the caller wait.
func (d *Linux) writeBatch(fdp uintptr) bool {
	fd := int(fdp)
	for _, buf := range d.wBufs {
		if err := d.writeOne(fd, buf); err != nil {
			if d.wErr == nil {
				d.wErr = err
			}
			continue
		}
		d.wN++
	}
	return true
}

func (d *Linux) writeOne(fd int, buf []byte) error {
	off := d.wOff
	if len(buf) <= off {
		if len(buf) < off {
			return ErrOffset
		}
		return ErrBadPacket
	}
	out := buf[off-VirtioNetHdrLen:]
	if !d.vnetHdr {
		hdr := buf[off-VirtioNetHdrLen : off]
		if hdr[1]&^GSOECN != GSONone {
			return ErrGSONotSupported
		}
		if hdr[0]&VirtioNetHdrFNeedsCsum != 0 {
			var h VirtioNetHdr
			h.Decode(hdr)
			if err := FinishChecksum(buf[off:], &h); err != nil {
				return err
			}
		}
		out = buf[off:]
	}
	for {
		n, err := unix.Write(fd, out)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return mapErrno(err)
		}
		if n != len(out) {
			return io.ErrShortWrite
		}
		return nil
	}
}

// mapErrno turns the errnos with a meaning for callers into the package's
// sentinel errors; other errnos are returned as they are (no allocation).
func mapErrno(err error) error {
	switch err {
	case unix.EAGAIN, unix.ENOBUFS:
		return ErrQueueFull
	case unix.EINVAL:
		return ErrBadPacket
	case unix.EBADFD:
		return ErrGone
	case unix.EIO:
		return ErrLinkDown
	}
	return err
}

// goneOr maps EBADFD (descriptor detached from a deleted link) to ErrGone for
// control operations and keeps every other error.
func goneOr(err error) error {
	if err == unix.EBADFD {
		return ErrGone
	}
	return err
}
