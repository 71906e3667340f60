package tuntest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vrouter/vrouter/dataplane/tun"
)

const off = 16

func newBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, off+size)
	}
	return bufs, make([]int, n)
}

func pkt(i, size int) []byte {
	p := make([]byte, size)
	for j := range p {
		p[j] = byte(i + j)
	}
	return p
}

var gsoHdr = tun.VirtioNetHdr{Flags: tun.VirtioNetHdrFNeedsCsum, GSOType: tun.GSOTCPv4, HdrLen: 52, GSOSize: 1448, CsumStart: 20, CsumOffset: 16}

// TestReadBatches: Read returns what is pending, at most len(bufs), in order,
// with each packet's header before offset (SPEC F7: headers travel along).
func TestReadBatches(t *testing.T) {
	tests := []struct {
		inject, batch int
		want          []int
	}{
		{10, 4, []int{4, 4, 2}},
		{3, 8, []int{3}},
		{8, 8, []int{8}},
		{3000, 1000, []int{1000, 1000, 1000}}, // beyond the initial ring
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.inject, tt.batch), func(t *testing.T) {
			d := New("eni0", tt.batch)
			defer d.Close()
			for i := range tt.inject {
				h := gsoHdr
				h.GSOSize = uint16(i)
				d.Inject(pkt(i, 40+i%7), h)
			}
			bufs, sizes := newBufs(tt.batch, 64)
			next := 0
			for _, want := range tt.want {
				n, err := d.Read(bufs, sizes, off)
				if err != nil || n != want {
					t.Fatalf("Read = %d, %v; want %d", n, err, want)
				}
				for i := range n {
					if got := bufs[i][off : off+sizes[i]]; !bytes.Equal(got, pkt(next, 40+next%7)) {
						t.Fatalf("packet %d = % x", next, got)
					}
					var h tun.VirtioNetHdr
					h.Decode(bufs[i][off-tun.VirtioNetHdrLen:])
					if want := gsoHdr; h.GSOSize != uint16(next) || h.GSOType != want.GSOType || h.CsumStart != want.CsumStart {
						t.Fatalf("packet %d header = %+v", next, h)
					}
					next++
				}
			}
			if d.Pending() != 0 || d.Stats().Read != uint64(tt.inject) {
				t.Fatalf("pending %d, stats %+v", d.Pending(), d.Stats())
			}
		})
	}
}

func TestReadBlocksUntilInject(t *testing.T) {
	d := New("eni0", 4)
	defer d.Close()
	got := make(chan int, 1)
	go func() {
		bufs, sizes := newBufs(4, 64)
		n, _ := d.Read(bufs, sizes, off)
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("Read returned %d before anything was injected", n)
	case <-time.After(20 * time.Millisecond):
	}
	d.Inject(pkt(1, 20), tun.VirtioNetHdr{})
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("Read = %d, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not wake up")
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	d := New("eni0", 4)
	errc := make(chan error, 1)
	go func() {
		bufs, sizes := newBufs(4, 64)
		_, err := d.Read(bufs, sizes, off)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	d.Close()
	select {
	case err := <-errc:
		if err != tun.ErrClosed {
			t.Fatalf("Read = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	d.Inject(pkt(1, 20), tun.VirtioNetHdr{})
	bufs, sizes := newBufs(1, 64)
	if _, err := d.Read(bufs, sizes, off); err != tun.ErrClosed {
		t.Fatalf("Read after Close = %v", err)
	}
	if _, err := d.Write([][]byte{append(make([]byte, off), 1)}, off); err != tun.ErrClosed {
		t.Fatalf("Write after Close = %v", err)
	}
}

func TestReadArguments(t *testing.T) {
	d := New("eni0", 4)
	defer d.Close()
	d.Inject(pkt(0, 100), tun.VirtioNetHdr{})
	d.Inject(pkt(1, 10), tun.VirtioNetHdr{})
	if _, err := d.Read([][]byte{make([]byte, 64)}, []int{0}, 4); err != tun.ErrOffset {
		t.Fatalf("offset 4: %v", err)
	}
	if _, err := d.Read([][]byte{make([]byte, off)}, []int{0}, off); err != tun.ErrOffset {
		t.Fatalf("buffer without room: %v", err)
	}
	// The 100-byte packet does not fit in 50 bytes: dropped and counted.
	bufs, sizes := newBufs(2, 50)
	n, err := d.Read(bufs, sizes, off)
	if n != 1 || err != nil || sizes[0] != 10 {
		t.Fatalf("Read = %d, %v, sizes %v", n, err, sizes)
	}
	if s := d.Stats(); s.Truncated != 1 || s.Read != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWriteCollectsAndWaits(t *testing.T) {
	d := New("eni1", 4)
	defer d.Close()
	go func() {
		time.Sleep(10 * time.Millisecond)
		b := make([]byte, off, off+3)
		gsoHdr.Encode(b[off-tun.VirtioNetHdrLen:])
		b = append(b, 1, 2, 3)
		d.Write([][]byte{b, b}, off)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := d.WaitWritten(ctx, 2)
	if err != nil || len(w) != 2 {
		t.Fatalf("WaitWritten = %d packets, %v", len(w), err)
	}
	if !bytes.Equal(w[1].Data, []byte{1, 2, 3}) || w[1].Hdr != gsoHdr {
		t.Fatalf("collected %+v", w[1])
	}
	if len(d.Written()) != 0 {
		t.Fatal("WaitWritten did not consume the packets")
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := d.WaitWritten(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitWritten with nothing written = %v", err)
	}
}

// TestWriteErrors: Write tries every packet, counts failures and returns the
// first error (DESIGN step 4: the engine counts short writes per reason).
func TestWriteErrors(t *testing.T) {
	mk := func(h tun.VirtioNetHdr, payload ...byte) []byte {
		b := make([]byte, off)
		h.Encode(b[off-tun.VirtioNetHdrLen:])
		return append(b, payload...)
	}
	good := mk(tun.VirtioNetHdr{}, 1, 2, 3, 4)
	gso := mk(gsoHdr, make([]byte, 60)...)
	badCsum := mk(tun.VirtioNetHdr{Flags: tun.VirtioNetHdrFNeedsCsum, CsumStart: 3, CsumOffset: 1}, 1, 2, 3, 4)
	tests := []struct {
		name     string
		vnet     bool
		failN    int
		failErr  error
		bufs     [][]byte
		offset   int
		wantN    int
		wantErr  error
		wantErrs uint64
	}{
		{"all good", true, 0, nil, [][]byte{good, good, gso}, off, 3, nil, 0},
		{"queue full twice", true, 2, nil, [][]byte{good, good, good}, off, 1, tun.ErrQueueFull, 2},
		{"custom error, every packet", true, -1, errors.New("boom"), [][]byte{good, good}, off, 0, nil, 2},
		{"gso on plain device", false, 0, nil, [][]byte{good, gso, good}, off, 2, tun.ErrGSONotSupported, 1},
		{"bad checksum offsets on plain device", false, 0, nil, [][]byte{badCsum}, off, 0, tun.ErrBadPacket, 1},
		{"empty packet", true, 0, nil, [][]byte{good[:off], good}, off, 1, tun.ErrBadPacket, 1},
		{"offset too small", true, 0, nil, [][]byte{good}, 3, 0, tun.ErrOffset, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New("eni1", 4)
			defer d.Close()
			d.SetVnetHdr(tt.vnet)
			if tt.failN != 0 {
				d.FailWrites(tt.failN, tt.failErr)
			}
			n, err := d.Write(tt.bufs, tt.offset)
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = tt.failErr
			}
			if n != tt.wantN || err != wantErr {
				t.Fatalf("Write = %d, %v; want %d, %v", n, err, tt.wantN, wantErr)
			}
			if s := d.Stats(); s.Written != uint64(tt.wantN) || s.WriteErrs != tt.wantErrs {
				t.Fatalf("stats %+v", s)
			}
			if got := len(d.Written()); got != tt.wantN {
				t.Fatalf("collected %d packets, want %d", got, tt.wantN)
			}
		})
	}
}

// TestPlainDevice: without a vnet header Read reports zero headers and Write
// finishes the partial checksum and passes no header on, like tun.Linux.
func TestPlainDevice(t *testing.T) {
	d := New("eni2", 4)
	defer d.Close()
	d.SetVnetHdr(false)
	if v, tso, uso := d.Offloads(); v || tso || uso {
		t.Fatalf("Offloads = %v %v %v", v, tso, uso)
	}
	d.Inject(pkt(0, 20), gsoHdr)
	bufs, sizes := newBufs(1, 64)
	for i := range bufs[0] {
		bufs[0][i] = 0xee
	}
	if n, err := d.Read(bufs, sizes, off); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if h := bufs[0][off-tun.VirtioNetHdrLen : off]; !bytes.Equal(h, make([]byte, tun.VirtioNetHdrLen)) {
		t.Fatalf("header = % x, want zeros", h)
	}
	b := make([]byte, off)
	(&tun.VirtioNetHdr{Flags: tun.VirtioNetHdrFNeedsCsum, CsumStart: 0, CsumOffset: 2}).Encode(b[off-tun.VirtioNetHdrLen:])
	b = append(b, 0x12, 0x34, 0, 0)
	if n, err := d.Write([][]byte{b}, off); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	w := d.Written()
	if len(w) != 1 || !bytes.Equal(w[0].Data, []byte{0x12, 0x34, 0xed, 0xcb}) || w[0].Hdr != (tun.VirtioNetHdr{}) {
		t.Fatalf("written %+v", w)
	}
}

// TestWriteHook: the hook sees every accepted packet in the caller's buffer and
// may inject into another device (a wire between two fakes).
func TestWriteHook(t *testing.T) {
	a, b := New("a", 8), New("b", 8)
	defer a.Close()
	defer b.Close()
	a.SetWriteHook(func(p []byte, h tun.VirtioNetHdr) { b.Inject(p, h) })
	bufs, _ := newBufs(8, 128)
	out := make([][]byte, 3)
	for i := range out {
		out[i] = bufs[i][:off+50]
		gsoHdr.Encode(bufs[i][off-tun.VirtioNetHdrLen:])
		copy(bufs[i][off:], pkt(i, 50))
	}
	if n, err := a.Write(out, off); n != 3 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(a.Written()) != 0 {
		t.Fatal("packets collected although a hook is set")
	}
	rb, rs := newBufs(8, 128)
	n, err := b.Read(rb, rs, off)
	if n != 3 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	for i := range n {
		var h tun.VirtioNetHdr
		h.Decode(rb[i][off-tun.VirtioNetHdrLen:])
		if h != gsoHdr || !bytes.Equal(rb[i][off:off+rs[i]], pkt(i, 50)) {
			t.Fatalf("packet %d mangled on the wire", i)
		}
	}
}

// TestSteadyStateNoAllocs (house rule 4): Inject→Read→hooked Write of a full
// batch allocates nothing once the ring slots have their buffers.
func TestSteadyStateNoAllocs(t *testing.T) {
	const batch = 32
	d := New("eni0", batch)
	defer d.Close()
	var seen int
	d.SetWriteHook(func(p []byte, h tun.VirtioNetHdr) { seen += len(p) })
	payload := pkt(3, 1400)
	bufs, sizes := newBufs(batch, 2048)
	out := make([][]byte, batch)
	run := func() {
		for range batch {
			d.Inject(payload, gsoHdr)
		}
		n, err := d.Read(bufs, sizes, off)
		if err != nil || n != batch {
			t.Fatalf("Read = %d, %v", n, err)
		}
		for i := range n {
			out[i] = bufs[i][:off+sizes[i]]
		}
		if w, err := d.Write(out[:n], off); w != n || err != nil {
			t.Fatalf("Write = %d, %v", w, err)
		}
	}
	for range 2 * initialRing / batch { // touch every ring slot once
		run()
	}
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Fatalf("steady state allocates %v times per batch", a)
	}
	d.FailWrites(-1, nil)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := d.Write(out, off); err != tun.ErrQueueFull {
			t.Fatalf("Write = %v", err)
		}
	}); a != 0 {
		t.Fatalf("failing writes allocate %v times per batch", a)
	}
	if seen == 0 {
		t.Fatal("hook never called")
	}
}

// TestConcurrent exercises injectors, a reader and Close together (run with
// -race): every injected packet is read exactly once, in per-injector order.
func TestConcurrent(t *testing.T) {
	const injectors, per = 4, 2000
	d := New("eni0", 16)
	var wg sync.WaitGroup
	for g := range injectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				d.Inject([]byte{byte(g), byte(i >> 8), byte(i)}, tun.VirtioNetHdr{})
			}
		}()
	}
	next := make([]int, injectors)
	bufs, sizes := newBufs(16, 16)
	for total := 0; total < injectors*per; {
		n, err := d.Read(bufs, sizes, off)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			p := bufs[i][off : off+sizes[i]]
			g, seq := int(p[0]), int(p[1])<<8|int(p[2])
			if seq != next[g] {
				t.Fatalf("injector %d: got seq %d, want %d", g, seq, next[g])
			}
			next[g]++
		}
		total += n
	}
	wg.Wait()
	d.Close()
}
