package packet

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func fragBufs(n, size int) ([][]byte, []int) {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
	}
	return out, make([]int, n)
}

// reassemble checks each fragment (valid header, fits mtu, offsets multiples
// of 8, MF on all but the last) and returns the reassembled data, the MF of the
// last fragment and the headers seen.
func reassemble(t *testing.T, frags [][]byte, mtu int) (data []byte, lastMF bool, base uint16) {
	t.Helper()
	var p Parsed
	next := -1
	for i, f := range frags {
		if len(f) > mtu {
			t.Fatalf("fragment %d is %d bytes > mtu %d", i, len(f), mtu)
		}
		if st := p.Decode(f); st != OK && !(st == ErrBadL4 && i > 0) {
			t.Fatalf("fragment %d: Decode %v", i, st)
		}
		if p.decodeIPv4Header(f) != OK {
			t.Fatalf("fragment %d: bad header", i)
		}
		if p.FragOff%8 != 0 {
			t.Fatalf("fragment %d: offset %d not a multiple of 8", i, p.FragOff)
		}
		if i == 0 {
			base = p.FragOff
			next = int(base)
		}
		if int(p.FragOff) != next {
			t.Fatalf("fragment %d: offset %d, want %d (no gap or overlap)", i, p.FragOff, next)
		}
		if i < len(frags)-1 {
			if !p.MF {
				t.Fatalf("fragment %d of %d lacks MF", i, len(frags))
			}
			if (p.TotalLen-p.HdrLen)%8 != 0 {
				t.Fatalf("fragment %d: data length %d not a multiple of 8", i, p.TotalLen-p.HdrLen)
			}
		}
		lastMF = p.MF
		data = append(data, f[p.HdrLen:p.TotalLen]...)
		next += p.TotalLen - p.HdrLen
	}
	return data, lastMF, base
}

// TestFragmentIPv4 covers SPEC F7 (fragment when DF is clear) and RFC 791.
func TestFragmentIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	payload := make([]byte, 4000)
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	pkt := udp4(t, "10.0.0.1", 1, "10.0.1.1", 2, payload)
	for _, mtu := range []int{68, 69, 75, 576, 1280, 1499, 1500, 4027, 4028, 9000} {
		out, sizes := fragBufs(128, mtu)
		n, err := FragmentIPv4(pkt, mtu, out, sizes)
		if err != nil {
			t.Fatalf("mtu %d: %v", mtu, err)
		}
		frags := make([][]byte, n)
		for i := range frags {
			frags[i] = out[i][:sizes[i]]
		}
		data, lastMF, base := reassemble(t, frags, mtu)
		if !bytes.Equal(data, pkt[20:]) || lastMF || base != 0 {
			t.Fatalf("mtu %d: reassembly differs (n=%d lastMF=%t base=%d)", mtu, n, lastMF, base)
		}
		wantN := 1
		if len(pkt) > mtu {
			per := (mtu - 20) &^ 7
			wantN = (len(pkt) - 20 + per - 1) / per
		}
		if n != wantN {
			t.Errorf("mtu %d: %d fragments, want %d", mtu, n, wantN)
		}
		for i := 0; i < n; i++ {
			if IPv4(frags[i]).ID() != 0x4242 || IPv4(frags[i]).TTL() != 64 || IPv4(frags[i]).Protocol() != ProtoUDP {
				t.Errorf("mtu %d fragment %d: id/ttl/proto not kept", mtu, i)
			}
		}
	}
}

// TestFragmentIPv4Options: the first fragment keeps every option, later ones
// only those with the copy flag (RFC 791 3.1).
func TestFragmentIPv4Options(t *testing.T) {
	opts := []byte{
		IPv4OptRecordRoute, 7, 4, 0, 0, 0, 0, // not copied
		IPv4OptNOP,
		IPv4OptLSRR, 7, 4, 10, 0, 0, 9, // copied
		IPv4OptRouterAlert, 4, 0, 0, // copied
		IPv4OptTimestamp, 8, 5, 0, 0, 0, 0, 0, // not copied
		IPv4OptEOL,
	}
	payload := bytes.Repeat([]byte{0xa5}, 3000)
	pkt := rawIPv4(ProtoUDP, "10.0.0.1", "10.0.1.1", opts, 0, payload)
	out, sizes := fragBufs(8, 1500)
	n, err := FragmentIPv4(pkt, 1500, out, sizes)
	if err != nil {
		t.Fatal(err)
	}
	frags := make([][]byte, n)
	for i := range frags {
		frags[i] = out[i][:sizes[i]]
	}
	data, _, _ := reassemble(t, frags, 1500)
	if !bytes.Equal(data, payload) {
		t.Fatal("reassembly differs")
	}
	if got := IPv4(frags[0]).Options(); !bytes.Equal(got, opts) {
		t.Errorf("first fragment options %x, want all %x", got, opts)
	}
	wantLater := []byte{IPv4OptLSRR, 7, 4, 10, 0, 0, 9, IPv4OptRouterAlert, 4, 0, 0, IPv4OptEOL}
	for i := 1; i < n; i++ {
		if got := IPv4(frags[i]).Options(); !bytes.Equal(got, wantLater) {
			t.Errorf("fragment %d options %x, want copied only %x", i, got, wantLater)
		}
	}

	// Only non-copied options: later fragments have a bare 20-byte header.
	pkt = rawIPv4(ProtoUDP, "10.0.0.1", "10.0.1.1", []byte{IPv4OptRecordRoute, 7, 4, 0, 0, 0, 0, 0}, 0, payload)
	n, err = FragmentIPv4(pkt, 1000, out, sizes)
	if err != nil {
		t.Fatal(err)
	}
	if IPv4(out[0]).HeaderLen() != 28 || IPv4(out[1]).HeaderLen() != 20 || n != 4 {
		t.Errorf("header lengths %d, %d; n=%d", IPv4(out[0]).HeaderLen(), IPv4(out[1]).HeaderLen(), n)
	}
}

// TestFragmentIPv4Refragment: a non-last fragment split further keeps MF on
// its last piece and continues its offsets.
func TestFragmentIPv4Refragment(t *testing.T) {
	data := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 185) // 1480 bytes
	for _, mf := range []bool{true, false} {
		fo := uint16(2960 / 8)
		if mf {
			fo |= 0x2000
		}
		pkt := rawIPv4(ProtoTCP, "10.0.0.1", "10.0.1.1", nil, fo, data)
		out, sizes := fragBufs(4, 600)
		n, err := FragmentIPv4(pkt, 600, out, sizes)
		if err != nil {
			t.Fatal(err)
		}
		frags := make([][]byte, n)
		for i := range frags {
			frags[i] = out[i][:sizes[i]]
		}
		got, lastMF, base := reassemble(t, frags, 600)
		if !bytes.Equal(got, data) || lastMF != mf || base != 2960 {
			t.Errorf("mf=%t: lastMF=%t base=%d equal=%t", mf, lastMF, base, bytes.Equal(got, data))
		}
	}
}

func TestFragmentIPv4Errors(t *testing.T) {
	pkt := udp4(t, "10.0.0.1", 1, "10.0.1.1", 2, make([]byte, 3000))
	df := rawIPv4(ProtoUDP, "10.0.0.1", "10.0.1.1", nil, 0x4000, make([]byte, 3000))
	badCsum := append([]byte(nil), pkt...)
	badCsum[10] ^= 1
	badOpts := rawIPv4(ProtoUDP, "10.0.0.1", "10.0.1.1", []byte{IPv4OptLSRR, 9, 4, 0}, 0, make([]byte, 3000))
	tooFar := rawIPv4(ProtoUDP, "10.0.0.1", "10.0.1.1", nil, 8000, make([]byte, 3000))
	cases := []struct {
		name  string
		pkt   []byte
		mtu   int
		nbuf  int
		size  int
		nsize int
		want  error
	}{
		{"df set", df, 1500, 8, 1500, 8, ErrFragDF},
		{"mtu 67", pkt, 67, 100, 1500, 100, ErrFragMTU},
		{"too few buffers", pkt, 1500, 2, 1500, 8, ErrFragBuffers},
		{"too few sizes", pkt, 1500, 8, 1500, 2, ErrFragBuffers},
		{"buffers too small", pkt, 1500, 8, 1499, 8, ErrFragBuffers},
		{"no buffer for a packet that fits", pkt, 9000, 0, 0, 0, ErrFragBuffers},
		{"bad checksum", badCsum, 1500, 8, 1500, 8, ErrFragInvalid},
		{"bad options", badOpts, 1500, 8, 1500, 8, ErrFragInvalid},
		{"truncated", pkt[:1000], 576, 8, 1500, 8, ErrFragInvalid},
		{"not ipv4", udp6(t, "fd00::1", 1, "fd00::2", 2, make([]byte, 3000)), 1500, 8, 1500, 8, ErrFragInvalid},
		{"empty", nil, 1500, 8, 1500, 8, ErrFragInvalid},
		{"offset past 65535", tooFar, 1500, 8, 1500, 8, ErrFragTooLarge},
	}
	for _, tc := range cases {
		out, _ := fragBufs(tc.nbuf, tc.size)
		n, err := FragmentIPv4(tc.pkt, tc.mtu, out, make([]int, tc.nsize))
		if !errors.Is(err, tc.want) || n != 0 {
			t.Errorf("%s: n=%d err=%v, want %v", tc.name, n, err, tc.want)
		}
		for i, b := range out {
			if !bytes.Equal(b, make([]byte, len(b))) {
				t.Errorf("%s: buffer %d written on error", tc.name, i)
			}
		}
	}
	// A packet that fits is copied whole, DF or not does not matter for size.
	out, sizes := fragBufs(1, 4000)
	if n, err := FragmentIPv4(pkt, 4000, out, sizes); err != nil || n != 1 || !bytes.Equal(out[0][:sizes[0]], pkt) {
		t.Errorf("fits: n=%d err=%v", n, err)
	}
}
