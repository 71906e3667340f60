package tun

import "errors"

// MaxPacketLen is the largest packet (without the virtio-net header) a TUN can
// deliver: a GSO super-packet is at most 64 KiB (the kernel's legacy GSO/TSO
// maximum; TUN does not enable BIG TCP). Read buffers of
// offset+MaxPacketLen bytes never truncate.
const MaxPacketLen = 65536

// DefaultBatchSize is the batch length Linux devices prefer unless
// Options.BatchSize says otherwise.
const DefaultBatchSize = 64

// Errors returned by devices. Write reports the first failing packet's error;
// none of these is wrapped, so callers may compare with == or errors.Is.
var (
	// ErrClosed is returned by Read and Write after Close.
	ErrClosed = errors.New("tun: device closed")
	// ErrGone means the kernel detached the descriptor from its interface
	// (the link or its namespace was deleted); the port must be reopened.
	ErrGone = errors.New("tun: interface removed")
	// ErrLinkDown means the interface is administratively down (EIO); the
	// packet was not sent.
	ErrLinkDown = errors.New("tun: interface down")
	// ErrQueueFull means the kernel could not take the packet right now
	// (EAGAIN/ENOBUFS); the packet was not sent and Write did not wait.
	ErrQueueFull = errors.New("tun: queue full")
	// ErrGSONotSupported means a GSO super-packet was written to a device
	// without a virtio-net header, which cannot send it whole (SPEC F7).
	ErrGSONotSupported = errors.New("tun: GSO packet on a device without vnet header")
	// ErrBadPacket means a packet was empty, too short for its header's
	// checksum offsets, or rejected by the kernel as malformed (EINVAL).
	ErrBadPacket = errors.New("tun: malformed packet or header")
	// ErrOffset means offset < VirtioNetHdrLen or a buffer shorter than offset.
	ErrOffset = errors.New("tun: offset leaves no room for the virtio-net header")
)

// Device is a batch packet endpoint (DESIGN "Packet path" steps 1 and 4).
//
// Packet i lives at bufs[i][offset:offset+sizes[i]]; its virtio-net header sits
// in the VirtioNetHdrLen bytes just before offset (offset >= VirtioNetHdrLen
// always). Devices without a vnet header zero that header on Read and ignore it on
// Write, except that they finish a partial checksum (FinishChecksum) and refuse a
// GSO packet they cannot send whole (ErrGSONotSupported).
type Device interface {
	// Read blocks until at least one packet is available, then returns as many
	// as are immediately available (up to len(bufs)) without blocking again.
	// len(sizes) must be >= len(bufs). Returns ErrClosed after Close.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write tries every packet bufs[i][offset:] (header before offset; the
	// packet ends at len(bufs[i])). n is the number of packets accepted, err the
	// first error (nil when all were accepted). It never blocks indefinitely:
	// when the kernel queue is full the packet fails with ErrQueueFull.
	Write(bufs [][]byte, offset int) (n int, err error)
	// BatchSize is the preferred batch length for Read and Write.
	BatchSize() int
	// Name is the interface name at creation time.
	Name() string
	// Close unblocks a pending Read; it is idempotent.
	Close() error
}
