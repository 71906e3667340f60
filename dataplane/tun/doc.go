// Package tun owns the packet endpoints of vrouter: the batch Device interface
// the dataplane workers read from and write to, the virtio-net header that
// travels with every packet, and the Linux TUN implementation (SPEC F1) with
// IFF_VNET_HDR offloads. Package tuntest provides an in-memory Device for
// pipeline tests that need neither root nor a kernel.
//
// # Buffers and the virtio-net header
//
// Every packet is handed over with its virtio-net header (include/uapi/linux/
// virtio_net.h, the legacy 10-byte form): packet i lives at
// bufs[i][offset:offset+size] and its header at bufs[i][offset-VirtioNetHdrLen:offset].
// vrouter is a router, not an endpoint: unlike wireguard-go it never splits or
// coalesces GSO super-packets. A TCP super-packet read from one TUN is written
// whole, with the same header, to the egress TUN (SPEC F7 "GSO super-packets pass
// whole"; SPEC P1 depends on it). A device without a vnet header reports a zero
// header on Read; on Write it finishes a pending partial checksum in software
// (FinishChecksum) and refuses a GSO packet with ErrGSONotSupported, since it
// cannot send it whole.
//
// # Linux devices
//
// Open creates a TUN (IFF_TUN|IFF_NO_PI, optionally IFF_VNET_HDR and
// IFF_MULTI_QUEUE) or attaches to an existing persistent one in the network
// namespace of the calling OS thread. The descriptor is non-blocking and driven by
// the Go runtime poller, so a blocked Read parks a goroutine, not a thread, and
// Close wakes it. One Read wake-up drains as many packets as the kernel has queued
// (up to the batch length); Write issues one write(2) per packet inside a single
// poller callback. Neither allocates per packet (see the AllocsPerRun tests).
//
// Persistence (SPEC Q7): with Options.Persist the link outlives the descriptor and
// the process; Close only closes the descriptor and never clears the persist flag.
// Remove (SetPersist(false) followed by Close) deletes the link once the last queue
// is closed.
//
// After creation the control plane (controlplane/hostnet) may move the link into
// another namespace and rename it. The descriptor stays valid and keeps carrying
// packets; Name reports the name at creation time and the device never resolves
// that name again. OpenQueue, the only operation that must find the link by name,
// asks the kernel for the current name (TUNGETIFF) and namespace (TUNGETDEVNETNS).
//
// # Concurrency
//
// A Linux device may be used by several goroutines: Read calls are serialised by
// an internal read mutex, Write calls by a write mutex (the per-call state the
// poller callbacks use lives in the device so that no closure is allocated per
// call), and Close may be called at any time from any goroutine. Counters are
// atomics. Workers that want parallel reads of one port open one queue per worker
// (Options.MultiQueue, OpenQueue) rather than sharing a queue.
package tun
