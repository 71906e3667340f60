package conntrack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"testing"
	"time"
)

type savedFlow struct {
	reply Key
	info  EntryInfo
}

func snapshot(tab *Table, now int64) map[Key]savedFlow {
	m := map[Key]savedFlow{}
	tab.Range(func(k, reply Key, e EntryInfo) bool {
		if !e.Expired(now) {
			e.Handle = Handle{}
			m[k] = savedFlow{reply, e}
		}
		return true
	})
	return m
}

// TestSaveRestore (Q7): flows survive a save and a restore into a new table
// whose clock has another base; timers are kept relative.
func TestSaveRestore(t *testing.T) {
	src := New(DefaultConfig())
	now := 5000 * sec
	n := 0
	for i := range 2500 { // more than two blocks
		a := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		at := now - int64(i%25)*sec
		switch i % 5 {
		case 0:
			establish(t, src, MakeKey(2, 6, a, srv, 1000, 22), at)
		case 1:
			k := MakeKey(2, 6, a, srv, 1000, 80)
			src.Insert(&k, nil, FlagSYN, Meta{InPort: 4, OutPort: 5, Gen: 6}, at)
		case 2:
			k := MakeKey(2, 17, a, srv, 1000, 53)
			src.Insert(&k, nil, 0, Meta{Gen: uint32(i)}, at)
			src.Lookup(ptr(k.Reverse()), 0, at)
		case 3: // NAT
			k := MakeKey(2, 6, a, srv, 1000, 443)
			reply := MakeKey(0, 6, srv, netip.MustParseAddr("203.0.113.1"), 443, uint16(i))
			src.Insert(&k, &reply, FlagACK, Meta{NAT: 1}, at)
		case 4:
			k := MakeKey(2, 1, netip.MustParseAddr("fd00::1"), netip.AddrFrom16(a.As16()), uint16(i), uint16(i))
			src.Insert(&k, nil, 0, Meta{}, at)
		}
		n++
	}
	// One flow that is expired at save time is not saved.
	old := MakeKey(9, 17, cli, srv, 1, 1)
	src.Insert(&old, nil, 0, Meta{}, now-100*sec)

	var buf bytes.Buffer
	if err := src.SaveAt(&buf, now); err != nil {
		t.Fatal(err)
	}
	want := snapshot(src, now)
	if len(want) != n {
		t.Fatalf("source has %d live flows, want %d", len(want), n)
	}

	const shift = -4000 * sec // the new process's clock started elsewhere
	dst := New(DefaultConfig())
	got, err := dst.Restore(bytes.NewReader(buf.Bytes()), now+shift)
	if err != nil || got != n {
		t.Fatalf("Restore = %d, %v; want %d", got, err, n)
	}
	after := snapshot(dst, now+shift)
	if len(after) != n {
		t.Fatalf("restored table has %d flows", len(after))
	}
	for k, w := range want {
		g, ok := after[k]
		if !ok {
			t.Fatalf("flow %v not restored", k)
		}
		w.info.Created += shift
		w.info.LastSeen += shift
		if g != w {
			t.Fatalf("flow %v restored as %+v, want %+v", k, g, w)
		}
	}
	checkInvariants(t, dst)
	// Restored flows are tracked normally: the NAT reply key still works.
	dst.Range(func(k, reply Key, e EntryInfo) bool {
		if _, dir, _, ok := dst.Lookup(&reply, FlagACK, now+shift); !ok || dir != Reply {
			t.Fatalf("restored flow %v not found by its reply key", k)
		}
		return true
	})
	if st := dst.Stats(); st.Inserts != 0 || st.Refusals != 0 {
		t.Fatalf("restore counted as new flows: %+v", st)
	}

	// Flows idle longer than the restoring table's timeouts are skipped:
	// with a 10 s udp stream timeout only the UDP flows idle for at most 10 s
	// (2 of every 5) are restored.
	shortCfg := DefaultConfig()
	shortCfg.UDPStream = 10 * time.Second
	short := New(shortCfg)
	if got, err = short.Restore(bytes.NewReader(buf.Bytes()), now); err != nil || got != n-n/5+n/5*2/5 {
		t.Fatalf("Restore with short timeouts = %d, %v; want %d", got, err, n-n/5+n/5*2/5)
	}
	// A later save holds only what is still alive then: established TCP.
	var later bytes.Buffer
	if err := src.SaveAt(&later, now+200*sec); err != nil {
		t.Fatal(err)
	}
	if got, err = New(DefaultConfig()).Restore(&later, 0); err != nil || got != n/5 {
		t.Fatalf("Restore of a later save = %d, %v; want %d", got, err, n/5)
	}
	// Restoring into a smaller table stops at its limit.
	small := New(Config{MaxEntries: 100})
	if got, err = small.Restore(bytes.NewReader(buf.Bytes()), now); err != nil || got != 100 {
		t.Fatalf("small Restore = %d, %v", got, err)
	}
	// Restoring twice does not duplicate.
	if got, err = dst.Restore(bytes.NewReader(buf.Bytes()), now+shift); err != nil || got != 0 {
		t.Fatalf("second Restore = %d, %v", got, err)
	}
}

// TestSaveUsesTableClock: Save without a clock uses the latest clock the
// table saw.
func TestSaveUsesTableClock(t *testing.T) {
	tab := New(DefaultConfig())
	k := MakeKey(0, 17, cli, srv, 1, 2)
	tab.Insert(&k, nil, 0, Meta{}, 10*sec)
	tab.Lookup(&k, 0, 20*sec)
	var buf bytes.Buffer
	if err := tab.Save(&buf); err != nil {
		t.Fatal(err)
	}
	dst := New(DefaultConfig())
	if n, err := dst.Restore(&buf, 0); n != 1 || err != nil {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	info := snapshot(dst, 0)[k].info
	if info.LastSeen != 0 || info.Created != -10*sec {
		t.Fatalf("restored timers %+v", info)
	}
}

// TestRestoreCorrupt: a damaged stream restores nothing.
func TestRestoreCorrupt(t *testing.T) {
	src := New(DefaultConfig())
	for i := range 1500 {
		k := MakeKey(0, 17, netip.AddrFrom4([4]byte{10, 3, byte(i >> 8), byte(i)}), srv, 1, 2)
		src.Insert(&k, nil, 0, Meta{}, sec)
	}
	var buf bytes.Buffer
	if err := src.SaveAt(&buf, sec); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	lastBlock := 16 + 4 + saveBlock*recSize + 4 // offset of the second block
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"version", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 2); return b }},
		{"record size", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 99); return b }},
		{"flipped bit in first block", func(b []byte) []byte { b[100] ^= 1; return b }},
		{"flipped bit in second block", func(b []byte) []byte { b[lastBlock+50] ^= 1; return b }},
		{"truncated in second block", func(b []byte) []byte { return b[:lastBlock+50] }},
		{"truncated trailer", func(b []byte) []byte { return b[:len(b)-3] }},
		{"trailer count", func(b []byte) []byte { b[len(b)-10]++; return b }},
		{"huge block", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[lastBlock:], saveBlock+1); return b }},
		{"bad state", func(b []byte) []byte {
			rec := b[20 : 20+recSize]
			rec[2*keySize] = byte(numStates)
			binary.LittleEndian.PutUint32(b[20+saveBlock*recSize:], crc32Of(b[16:20+saveBlock*recSize]))
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := New(DefaultConfig())
			n, err := dst.Restore(bytes.NewReader(tc.mod(bytes.Clone(good))), sec)
			if err == nil || !errors.Is(err, ErrCorrupt) || n != 0 {
				t.Fatalf("Restore = %d, %v", n, err)
			}
			if st := dst.Stats(); st.Entries != 0 {
				t.Fatalf("corrupt restore left %d flows", st.Entries)
			}
			checkInvariants(t, dst)
		})
	}
	dst := New(DefaultConfig())
	if n, err := dst.Restore(bytes.NewReader(good), sec+time.Second.Nanoseconds()); n != 1500 || err != nil {
		t.Fatalf("good stream: %d, %v", n, err)
	}
}

func crc32Of(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// errWriter fails after n bytes.
type errWriter struct{ n int }

func (w *errWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestSaveWriteError(t *testing.T) {
	tab := New(DefaultConfig())
	for i := range 3000 {
		k := MakeKey(0, 17, netip.AddrFrom4([4]byte{10, 4, byte(i >> 8), byte(i)}), srv, 1, 2)
		tab.Insert(&k, nil, 0, Meta{}, sec)
	}
	for _, n := range []int{0, 100, 200000} {
		if err := tab.SaveAt(&errWriter{n}, sec); err == nil {
			t.Errorf("SaveAt with a writer failing after %d bytes succeeded", n)
		}
	}
}
