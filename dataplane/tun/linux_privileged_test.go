//go:build linux

package tun

// Root-only tests of the Linux TUN device (SPEC F1, F7, P1, Q7). Each test makes
// its own named network namespaces (prefix vrtun + pid), creates the TUNs inside
// them and removes everything in t.Cleanup, even on failure. Traffic flows only
// between those namespaces.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func requirePrivileges(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("privileged test: needs root to create network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		tb.Skipf("privileged test: /dev/net/tun is not available: %v", err)
	}
}

// onThread runs fn on a fresh OS thread that is discarded afterwards, so a
// namespace switch made there never leaks into the rest of the process.
func onThread(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ch <- fn()
	}()
	return <-ch
}

// inNS runs fn on a discarded thread inside ns. Sockets and TUN descriptors made
// by fn keep that namespace.
func inNS(ns netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return fn()
	})
}

var nsSeq atomic.Int32

// newNS creates a uniquely named namespace with IPv6 off (no stray router
// solicitations on the TUNs) and removes it in Cleanup.
func newNS(tb testing.TB) (netns.NsHandle, string) {
	tb.Helper()
	name := fmt.Sprintf("vrtun%d-%d", os.Getpid(), nsSeq.Add(1))
	var h netns.NsHandle
	err := onThread(func() error {
		var err error
		if h, err = netns.NewNamed(name); err != nil {
			return err
		}
		for _, k := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("create namespace %s: %v", name, err)
	}
	tb.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			tb.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return h, name
}

// openIn opens a TUN inside ns and closes it in Cleanup (registered after the
// namespace, so it runs first).
func openIn(tb testing.TB, ns netns.NsHandle, opts Options) *Linux {
	tb.Helper()
	var d *Linux
	if err := inNS(ns, func() (err error) { d, err = Open(opts); return err }); err != nil {
		tb.Fatalf("Open(%+v): %v", opts, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func nlHandle(tb testing.TB, ns netns.NsHandle) *netlink.Handle {
	tb.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		tb.Fatalf("netlink handle: %v", err)
	}
	tb.Cleanup(h.Close)
	return h
}

// configure gives the link addr (CIDR) and brings it up.
func configure(tb testing.TB, ns netns.NsHandle, name, cidr string) {
	tb.Helper()
	h := nlHandle(tb, ns)
	l, err := h.LinkByName(name)
	if err != nil {
		tb.Fatalf("link %s: %v", name, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.AddrAdd(l, a); err != nil {
		tb.Fatalf("addr add %s %s: %v", cidr, name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		tb.Fatalf("link up %s: %v", name, err)
	}
}

const (
	addrA = "10.201.0.1"
	addrB = "10.201.0.2"
)

// pair is two namespaces, each with one TUN: A (10.201.0.1/24) and B
// (10.201.0.2/24). Whatever a copy loop moves between the TUNs connects them.
type pair struct {
	nsA, nsB netns.NsHandle
	a, b     *Linux
}

func newPair(tb testing.TB, optA, optB Options) *pair {
	tb.Helper()
	p := &pair{}
	p.nsA, _ = newNS(tb)
	p.nsB, _ = newNS(tb)
	optA.Name = fmt.Sprintf("vrt%da", os.Getpid())
	optB.Name = fmt.Sprintf("vrt%db", os.Getpid())
	p.a = openIn(tb, p.nsA, optA)
	p.b = openIn(tb, p.nsB, optB)
	configure(tb, p.nsA, p.a.Name(), addrA+"/24")
	configure(tb, p.nsB, p.b.Name(), addrB+"/24")
	return p
}

// loopStats counts what a copy loop saw.
type loopStats struct {
	packets, bytes, gsoTCP, gsoUDP, needsCsum, writeErrs atomic.Uint64
}

const testOffset = 16 // > VirtioNetHdrLen, as the engine may reserve more headroom

// copyLoop is the bare TUN-to-TUN forwarder (SPEC §9 topology T): read a batch
// from src, write it unchanged, header included, to dst. It returns when src is
// closed.
func copyLoop(src, dst Device, st *loopStats) error {
	batch := src.BatchSize()
	bufs := make([][]byte, batch)
	out := make([][]byte, batch)
	sizes := make([]int, batch)
	for i := range bufs {
		bufs[i] = make([]byte, testOffset+MaxPacketLen)
	}
	var h VirtioNetHdr
	for {
		n, err := src.Read(bufs, sizes, testOffset)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		for i := 0; i < n; i++ {
			out[i] = bufs[i][:testOffset+sizes[i]]
			if st != nil {
				h.Decode(bufs[i][testOffset-VirtioNetHdrLen:])
				st.packets.Add(1)
				st.bytes.Add(uint64(sizes[i]))
				switch h.GSOType &^ GSOECN {
				case GSOTCPv4, GSOTCPv6:
					st.gsoTCP.Add(1)
				case GSOUDPL4:
					st.gsoUDP.Add(1)
				}
				if h.Flags&VirtioNetHdrFNeedsCsum != 0 {
					st.needsCsum.Add(1)
				}
			}
		}
		w, err := dst.Write(out[:n], testOffset)
		if errors.Is(err, ErrClosed) {
			return nil
		}
		if st != nil && w < n {
			st.writeErrs.Add(uint64(n - w))
		}
	}
}

// startLoops runs copy loops A→B and B→A until Cleanup closes the devices.
func startLoops(tb testing.TB, p *pair) (ab, ba *loopStats) {
	ab, ba = &loopStats{}, &loopStats{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- copyLoop(p.a, p.b, ab) }()
	go func() { defer wg.Done(); errs <- copyLoop(p.b, p.a, ba) }()
	tb.Cleanup(func() {
		p.a.Close()
		p.b.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				tb.Errorf("copy loop: %v", err)
			}
		}
	})
	return ab, ba
}

// tcpPair connects a socket in nsA to a listener in nsB.
func tcpPair(tb testing.TB, p *pair) (client, server net.Conn) {
	tb.Helper()
	var ln net.Listener
	if err := inNS(p.nsB, func() (err error) { ln, err = net.Listen("tcp4", addrB+":0"); return err }); err != nil {
		tb.Fatalf("listen in B: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	if err := inNS(p.nsA, func() (err error) {
		client, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		tb.Fatalf("dial from A: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	select {
	case server = <-accepted:
	case <-time.After(5 * time.Second):
	}
	if server == nil {
		tb.Fatal("accept in B failed")
	}
	tb.Cleanup(func() { server.Close() })
	return client, server
}

// transfer sends total bytes from c to s, checks every byte on the receiving
// side and returns the throughput in Gbit/s. The stream repeats a random block
// of odd length, so data is cheap to produce and check and any loss, duplication
// or reordering shows up as a mismatch.
func transfer(tb testing.TB, c, s net.Conn, total int64, seed uint64) float64 {
	tb.Helper()
	deadline := time.Now().Add(40 * time.Second)
	c.SetDeadline(deadline)
	s.SetDeadline(deadline)
	block := make([]byte, 1<<20+13)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(block)
	const chunk = 256 << 10
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		for sent := int64(0); sent < total; {
			pos := int(sent % int64(len(block)))
			n := int(min(int64(chunk), int64(len(block)-pos), total-sent))
			if _, err := c.Write(block[pos : pos+n]); err != nil {
				sendErr <- err
				return
			}
			sent += int64(n)
		}
		sendErr <- c.(*net.TCPConn).CloseWrite()
	}()
	got := make([]byte, chunk)
	var recv int64
	for {
		n, err := s.Read(got)
		for b := got[:n]; len(b) > 0; {
			pos := int(recv % int64(len(block)))
			m := min(len(b), len(block)-pos)
			if !bytes.Equal(b[:m], block[pos:pos+m]) {
				tb.Fatalf("data mismatch in bytes %d..%d", recv, recv+int64(m))
			}
			b, recv = b[m:], recv+int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("receive after %d bytes: %v", recv, err)
		}
	}
	elapsed := time.Since(start)
	if err := <-sendErr; err != nil {
		tb.Fatalf("send: %v", err)
	}
	if recv != total {
		tb.Fatalf("received %d bytes, want %d", recv, total)
	}
	return float64(total) * 8 / elapsed.Seconds() / 1e9
}

// TestLinuxCopyLoopTCP (SPEC F1, F7, P1): a TCP stream between two namespaces
// crosses a bare copy loop between their TUNs. With vnet headers the loop sees
// TCP super-packets and writes them whole (F7 "GSO super-packets pass whole").
func TestLinuxCopyLoopTCP(t *testing.T) {
	requirePrivileges(t)
	tests := []struct {
		name       string
		a, b       Options
		csumOnlyA  bool // A offers checksum offload only: partial checksums, no GSO
		total      int64
		wantGSO    bool
		wantNoCsum bool // no partial checksum may reach a plain device's reader
	}{
		{name: "vnet-tso", a: Options{VnetHdr: true}, b: Options{VnetHdr: true}, total: 64 << 20, wantGSO: true},
		{name: "plain", total: 16 << 20, wantNoCsum: true},
		// B has no vnet header: Write must finish the partial checksums from A,
		// or B's TCP drops every segment.
		{name: "vnet-csum-to-plain", a: Options{VnetHdr: true}, csumOnlyA: true, total: 16 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, tt.a, tt.b)
			if tt.csumOnlyA {
				if err := p.a.setOffload(unix.TUN_F_CSUM); err != nil {
					t.Fatal(err)
				}
			}
			vnet, tso, uso := p.a.Offloads()
			t.Logf("A offloads: vnet=%v tso=%v uso=%v", vnet, tso, uso)
			if tt.wantGSO && !tso {
				t.Skip("kernel refused TSO on TUN")
			}
			ab, ba := startLoops(t, p)
			c, s := tcpPair(t, p)
			gbps := transfer(t, c, s, tt.total, 7)
			t.Logf("%s: %d MiB in one TCP stream through the copy loop: %.2f Gbit/s; A→B %d packets (%d TCP super-packets, %d partial csum), B→A %d packets, write errors %d/%d",
				tt.name, tt.total>>20, gbps, ab.packets.Load(), ab.gsoTCP.Load(), ab.needsCsum.Load(), ba.packets.Load(), ab.writeErrs.Load(), ba.writeErrs.Load())
			if tt.wantGSO && ab.gsoTCP.Load() == 0 {
				t.Errorf("no TCP super-packet crossed the loop although TSO is on")
			}
			if !tt.wantGSO && ab.gsoTCP.Load()+ba.gsoTCP.Load() != 0 {
				t.Errorf("super-packets seen without TSO: %d", ab.gsoTCP.Load()+ba.gsoTCP.Load())
			}
			if tt.csumOnlyA && ab.needsCsum.Load() == 0 {
				t.Errorf("no partial checksum seen: the test did not exercise FinishChecksum")
			}
			if tt.wantNoCsum && ab.needsCsum.Load()+ba.needsCsum.Load() != 0 {
				t.Errorf("plain devices returned headers with NeedsCsum")
			}
		})
	}
}

// TestLinuxCopyLoopUSO (SPEC F7): a UDP GSO send (UDP_SEGMENT) leaves A as one
// GSOUDPL4 super-packet when the kernel supports USO on TUN, crosses the loop
// whole, and B's stack delivers every datagram.
func TestLinuxCopyLoopUSO(t *testing.T) {
	requirePrivileges(t)
	p := newPair(t, Options{VnetHdr: true}, Options{VnetHdr: true})
	if _, _, uso := p.a.Offloads(); !uso {
		t.Skip("kernel refused USO on TUN (needs Linux 6.2)")
	}
	ab, _ := startLoops(t, p)
	var rx *net.UDPConn
	if err := inNS(p.nsB, func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addrB)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	if err := inNS(p.nsA, func() (err error) {
		tx, err = net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	raw, err := tx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const seg, segs, bursts = 1000, 8, 4
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, seg) })
	if serr != nil {
		t.Skipf("UDP_SEGMENT: %v", serr)
	}
	msg := make([]byte, seg*segs)
	for i := range msg {
		msg[i] = byte(i / seg)
	}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2*seg)
	got := 0
	for b := 0; b < bursts; b++ {
		if _, err := tx.Write(msg); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < segs; i++ {
			n, err := rx.Read(buf)
			if err != nil {
				t.Fatalf("datagram %d of burst %d: %v", i, b, err)
			}
			if n != seg || buf[0] != byte(i) || buf[n-1] != byte(i) {
				t.Fatalf("datagram %d of burst %d: %d bytes starting %d", i, b, n, buf[0])
			}
			got++
		}
	}
	if ab.gsoUDP.Load() == 0 {
		t.Errorf("no GSOUDPL4 super-packet crossed the loop (%d packets)", ab.packets.Load())
	}
	t.Logf("USO: %d datagrams delivered from %d packets (%d UDP super-packets)", got, ab.packets.Load(), ab.gsoUDP.Load())
}

// echoRequests builds n ICMP echo requests A→B as the kernel of A would send
// them through a TUN, each with a zero virtio-net header before offset.
func echoRequests(tb testing.TB, n int) [][]byte {
	tb.Helper()
	out := make([][]byte, n)
	for i := range out {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP(addrA).To4(), DstIP: net.ParseIP(addrB).To4(), Id: uint16(i)}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 77, Seq: uint16(i)}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, icmp, gopacket.Payload(make([]byte, 56))); err != nil {
			tb.Fatal(err)
		}
		out[i] = append(make([]byte, testOffset), sb.Bytes()...)
	}
	return out
}

func isEchoReply(pkt []byte) bool {
	return len(pkt) >= 28 && pkt[0]>>4 == 4 && pkt[9] == 1 && pkt[20] == 0
}

// TestLinuxReadWriteNoAllocs (house rule 4, DESIGN packet path steps 1 and 4): a
// batch Write of echo requests into B and the Reads of B's echo replies allocate
// nothing, with and without a vnet header.
func TestLinuxReadWriteNoAllocs(t *testing.T) {
	requirePrivileges(t)
	for _, vnet := range []bool{true, false} {
		t.Run(fmt.Sprintf("vnet=%v", vnet), func(t *testing.T) {
			p := newPair(t, Options{}, Options{VnetHdr: vnet, BatchSize: 8})
			d := p.b
			reqs := echoRequests(t, 8)
			bufs := make([][]byte, d.BatchSize())
			sizes := make([]int, len(bufs))
			for i := range bufs {
				bufs[i] = make([]byte, testOffset+2048)
			}
			d.file.SetReadDeadline(time.Now().Add(20 * time.Second)) // never hang
			var runErr error
			round := func() {
				if n, err := d.Write(reqs, testOffset); err != nil || n != len(reqs) {
					runErr = fmt.Errorf("Write = %d, %v", n, err)
					return
				}
				for replies := 0; replies < len(reqs); {
					n, err := d.Read(bufs, sizes, testOffset)
					if err != nil {
						runErr = fmt.Errorf("Read after %d replies: %v", replies, err)
						return
					}
					for i := 0; i < n; i++ {
						if isEchoReply(bufs[i][testOffset : testOffset+sizes[i]]) {
							replies++
						}
					}
				}
			}
			allocs := testing.AllocsPerRun(50, round)
			if runErr != nil {
				t.Fatal(runErr)
			}
			if allocs != 0 {
				t.Fatalf("Write+Read of a batch of %d allocate %v times", len(reqs), allocs)
			}
		})
	}
}

// TestLinuxWriteErrors: Write tries every packet and reports the first error;
// a plain device refuses GSO packets it cannot send whole (SPEC F7); a down link
// and a closed device fail every packet.
func TestLinuxWriteErrors(t *testing.T) {
	requirePrivileges(t)
	p := newPair(t, Options{}, Options{})
	reqs := echoRequests(t, 3)
	gso := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: GSOTCPv4, GSOSize: 1000, CsumStart: 20, CsumOffset: 16}
	gso.Encode(reqs[1][testOffset-VirtioNetHdrLen:])
	tests := []struct {
		name    string
		bufs    [][]byte
		offset  int
		wantN   int
		wantErr error
	}{
		{"gso on plain device", reqs, testOffset, 2, ErrGSONotSupported},
		{"empty packet", [][]byte{reqs[0], reqs[0][:testOffset], reqs[2]}, testOffset, 2, ErrBadPacket},
		{"offset too small", reqs, 4, 0, ErrOffset},
		{"bad checksum offsets", [][]byte{badCsum(reqs[0])}, testOffset, 0, ErrBadPacket},
		{"nothing", nil, testOffset, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := p.b.Write(tt.bufs, tt.offset)
			if n != tt.wantN || err != tt.wantErr {
				t.Fatalf("Write = %d, %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
			}
		})
	}
	h := nlHandle(t, p.nsB)
	l, err := h.LinkByName(p.b.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	if n, err := p.b.Write(echoRequests(t, 2), testOffset); n != 0 || err != ErrLinkDown {
		t.Fatalf("Write on a down link = %d, %v; want 0, ErrLinkDown", n, err)
	}
	p.b.Close()
	if n, err := p.b.Write(reqs, testOffset); n != 0 || err != ErrClosed {
		t.Fatalf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
}

func badCsum(pkt []byte) []byte {
	b := bytes.Clone(pkt)
	h := VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, CsumStart: 2000}
	h.Encode(b[testOffset-VirtioNetHdrLen:])
	return b
}

// TestLinuxCloseUnblocksRead: Close wakes a Read parked in the poller, which
// then returns ErrClosed; Close is idempotent.
func TestLinuxCloseUnblocksRead(t *testing.T) {
	requirePrivileges(t)
	ns, _ := newNS(t)
	d := openIn(t, ns, Options{Name: fmt.Sprintf("vrt%dc", os.Getpid()), VnetHdr: true})
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 2048)}
		_, err := d.Read(bufs, make([]int, 1), VirtioNetHdrLen)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("Read after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := d.Read([][]byte{make([]byte, 64)}, []int{0}, VirtioNetHdrLen); err != ErrClosed {
		t.Fatalf("Read on closed device = %v", err)
	}
}

func linkIndex(h *netlink.Handle, name string) (int, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// TestLinuxPersist (SPEC Q7): a persistent TUN outlives its descriptor, a second
// Open of the same name attaches to it, Close never clears persistence, and
// Remove deletes the link. A non-persistent TUN disappears with its descriptor.
func TestLinuxPersist(t *testing.T) {
	requirePrivileges(t)
	ns, _ := newNS(t)
	h := nlHandle(t, ns)
	name := fmt.Sprintf("vrt%dp", os.Getpid())
	open := func(opts Options) *Linux {
		t.Helper()
		var d *Linux
		if err := inNS(ns, func() (err error) { d, err = Open(opts); return err }); err != nil {
			t.Fatalf("Open(%+v): %v", opts, err)
		}
		return d
	}

	d := open(Options{Name: name, Persist: true, VnetHdr: true})
	t.Cleanup(func() { d.Close() })
	idx, err := linkIndex(h, name)
	if err != nil {
		t.Fatalf("link after create: %v", err)
	}
	d.Close()
	if got, err := linkIndex(h, name); err != nil || got != idx {
		t.Fatalf("persistent link after Close: index %d, %v; want %d", got, err, idx)
	}

	// Re-attach (as after a vrouterd restart), without asking for persistence.
	d2 := open(Options{Name: name, VnetHdr: true})
	if d2.Name() != name {
		t.Errorf("Name = %q, want %q", d2.Name(), name)
	}
	if vnet, _, _ := d2.Offloads(); !vnet {
		t.Errorf("re-attached device lost its vnet header")
	}
	if got, _ := linkIndex(h, name); got != idx {
		t.Fatalf("re-attach created a new link (index %d, want %d)", got, idx)
	}
	d2.Close()
	if _, err := linkIndex(h, name); err != nil {
		t.Fatalf("attach+Close cleared persistence: %v", err)
	}

	d3 := open(Options{Name: name})
	if err := d3.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := linkIndex(h, name); err == nil {
		t.Fatalf("link %s still exists after Remove", name)
	}

	eph := open(Options{Name: name + "e"})
	if _, err := linkIndex(h, name+"e"); err != nil {
		t.Fatalf("non-persistent link: %v", err)
	}
	eph.Close()
	if _, err := linkIndex(h, name+"e"); err == nil {
		t.Fatalf("non-persistent link survived Close")
	}
}

// TestLinuxMovedRenamedQueue (SPEC F1, Q7): the control plane moves a created
// TUN into another namespace and renames it; the descriptor keeps its creation
// Name, CurrentName follows the kernel, and OpenQueue, called from the test's own
// namespace, attaches to the moved link instead of creating a new one.
func TestLinuxMovedRenamedQueue(t *testing.T) {
	requirePrivileges(t)
	ns1, _ := newNS(t)
	ns2, _ := newNS(t)
	name := fmt.Sprintf("vrt%dm", os.Getpid())
	renamed := fmt.Sprintf("eni%dm", os.Getpid())
	d := openIn(t, ns1, Options{Name: name, MultiQueue: true, VnetHdr: true, Persist: true})
	h1, h2 := nlHandle(t, ns1), nlHandle(t, ns2)
	l, err := h1.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.LinkSetNsFd(l, int(ns2)); err != nil {
		t.Fatalf("move: %v", err)
	}
	l2, err := h2.LinkByName(name)
	if err != nil {
		t.Fatalf("moved link: %v", err)
	}
	if err := h2.LinkSetName(l2, renamed); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if d.Name() != name {
		t.Errorf("Name = %q, want creation name %q", d.Name(), name)
	}
	if cur, err := d.CurrentName(); err != nil || cur != renamed {
		t.Fatalf("CurrentName = %q, %v; want %q", cur, err, renamed)
	}
	q, err := d.OpenQueue()
	if err != nil {
		t.Fatalf("OpenQueue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	if cur, err := q.CurrentName(); err != nil || cur != renamed {
		t.Fatalf("queue CurrentName = %q, %v; want %q", cur, err, renamed)
	}
	if vnet, tso, _ := q.Offloads(); !vnet || !tso {
		t.Errorf("queue offloads vnet=%v tso=%v, want both", vnet, tso)
	}
	links, err := h2.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().Name != "lo" && l.Attrs().Name != renamed {
			t.Errorf("unexpected link %q in the target namespace", l.Attrs().Name)
		}
	}
	if _, err := h1.LinkByName(renamed); err == nil {
		t.Errorf("OpenQueue created %q in the old namespace", renamed)
	}
	single := openIn(t, ns1, Options{Name: name + "s"})
	if _, err := single.OpenQueue(); err == nil {
		t.Errorf("OpenQueue on a single-queue device succeeded")
	}
}

// TestLinuxLinkGone: deleting the link detaches the descriptor; Read reports
// ErrGone instead of blocking forever (SPEC Q4: the port is reported).
func TestLinuxLinkGone(t *testing.T) {
	requirePrivileges(t)
	ns, _ := newNS(t)
	name := fmt.Sprintf("vrt%dg", os.Getpid())
	d := openIn(t, ns, Options{Name: name, Persist: true, VnetHdr: true})
	h := nlHandle(t, ns)
	done := make(chan error, 1)
	go func() {
		_, err := d.Read([][]byte{make([]byte, 2048)}, []int{0}, VirtioNetHdrLen)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != ErrGone {
			t.Fatalf("Read after link deletion = %v, want ErrGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after the link was deleted")
	}
	if n, err := d.Write(echoRequests(t, 1), testOffset); n != 0 || err == nil {
		t.Fatalf("Write after link deletion = %d, %v; want an error", n, err)
	}
}

// BenchmarkLinuxCopyLoopTCP measures one TCP stream through the bare copy loop
// with vnet-header offloads (SPEC §9 topology T).
func BenchmarkLinuxCopyLoopTCP(b *testing.B) {
	requirePrivileges(b)
	p := newPair(b, Options{VnetHdr: true}, Options{VnetHdr: true})
	startLoops(b, p)
	c, s := tcpPair(b, p)
	const chunk = 256 << 10
	done := make(chan int64, 1)
	go func() {
		rb := make([]byte, chunk)
		var n int64
		for {
			m, err := s.Read(rb)
			n += int64(m)
			if err != nil {
				done <- n
				return
			}
		}
	}()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if n := <-done; n != int64(b.N)*chunk {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*chunk)
	}
	b.ReportMetric(float64(b.N)*chunk*8/time.Since(start).Seconds()/1e9, "Gbit/s")
}
