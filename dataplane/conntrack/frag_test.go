package conntrack

import (
	"testing"
	"time"
)

func fragKey(id uint32) FragKey {
	return FragKey{Src: cli.As16(), Dst: srv.As16(), ID: id, Zone: 1, Proto: 17}
}

// TestFragsS9: non-first fragments get the first fragment's verdict; those
// of unknown datagrams are dropped (ok=false).
func TestFragsS9(t *testing.T) {
	f := NewFrags(0, 0)
	h := Handle{idx: 1, gen: 1}
	f.NoteFirst(fragKey(1), true, h, sec)
	f.NoteFirst(fragKey(2), false, Handle{}, sec)
	for _, tc := range []struct {
		name     string
		key      FragKey
		admitted bool
		ok       bool
	}{
		{"admitted datagram", fragKey(1), true, true},
		{"refused datagram", fragKey(2), false, true},
		{"unknown datagram", fragKey(3), false, false},
		{"same id, other zone", FragKey{Src: cli.As16(), Dst: srv.As16(), ID: 1, Zone: 2, Proto: 17}, false, false},
		{"same id, other protocol", FragKey{Src: cli.As16(), Dst: srv.As16(), ID: 1, Zone: 1, Proto: 6}, false, false},
	} {
		adm, gh, ok := f.LookupFrag(tc.key, false, 2*sec)
		if adm != tc.admitted || ok != tc.ok {
			t.Errorf("%s: LookupFrag = %v %v", tc.name, adm, ok)
		}
		if tc.admitted && gh != h {
			t.Errorf("%s: handle %+v", tc.name, gh)
		}
	}
	if st := f.Stats(); st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFragsExpiry: entries last 30 s, or a short grace after the last
// fragment (MF=0).
func TestFragsExpiry(t *testing.T) {
	f := NewFrags(0, 0)
	f.NoteFirst(fragKey(1), true, Handle{}, sec)
	if _, _, ok := f.LookupFrag(fragKey(1), false, 31*sec); !ok {
		t.Fatal("entry gone before 30 s")
	}
	if _, _, ok := f.LookupFrag(fragKey(1), false, 31*sec+1); ok {
		t.Fatal("entry alive after 30 s")
	}
	f.NoteFirst(fragKey(2), true, Handle{}, sec)
	if _, _, ok := f.LookupFrag(fragKey(2), true, 2*sec); !ok { // the last fragment itself
		t.Fatal("last fragment dropped")
	}
	if _, _, ok := f.LookupFrag(fragKey(2), false, 2*sec+int64(fragLastGrace)); !ok {
		t.Fatal("fragment reordered behind the last one dropped")
	}
	if _, _, ok := f.LookupFrag(fragKey(2), false, 2*sec+int64(fragLastGrace)+1); ok {
		t.Fatal("entry alive after its last fragment's grace")
	}
	// A repeated first fragment refreshes the entry.
	f.NoteFirst(fragKey(3), false, Handle{}, sec)
	f.NoteFirst(fragKey(3), true, Handle{}, 20*sec)
	if adm, _, ok := f.LookupFrag(fragKey(3), false, 45*sec); !ok || !adm {
		t.Fatal("repeated first fragment did not refresh the verdict")
	}
	if st := f.Stats(); st.Expired != 2 || st.Evictions != 0 {
		t.Fatalf("stats %+v", st)
	}
	g := NewFrags(10, 5*time.Second)
	g.NoteFirst(fragKey(1), true, Handle{}, 0)
	if _, _, ok := g.LookupFrag(fragKey(1), false, 5*sec+1); ok {
		t.Fatal("custom timeout ignored")
	}
}

// TestFragsBounded: the tracker keeps at most its size, forgetting the oldest
// datagrams first.
func TestFragsBounded(t *testing.T) {
	f := NewFrags(100, 0)
	for id := range uint32(250) {
		f.NoteFirst(fragKey(id), true, Handle{}, sec+int64(id))
	}
	if st := f.Stats(); st.Entries != 100 || st.Evictions != 150 {
		t.Fatalf("stats %+v", st)
	}
	for id := range uint32(250) {
		_, _, ok := f.LookupFrag(fragKey(id), false, 2*sec)
		if ok != (id >= 150) {
			t.Fatalf("datagram %d tracked %v", id, ok)
		}
	}
	// Slots freed early are reused in ring order; expired ones are counted
	// as expired, not evicted.
	for id := range uint32(100) {
		f.NoteFirst(fragKey(1000+id), true, Handle{}, 100*sec)
	}
	if st := f.Stats(); st.Entries != 100 || st.Evictions != 150 || st.Expired != 100 {
		t.Fatalf("stats %+v", st)
	}
}
