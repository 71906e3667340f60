package fib

import (
	"net/netip"
	"testing"
)

// FuzzLPM compares Table.Lookup with a linear longest-prefix scan over the
// same routes (SPEC F5, Q1). The input is read as a sequence of 5-byte
// records: 4 address bytes and a prefix length; records with the high bit
// of the length byte set are lookups instead of routes.
func FuzzLPM(f *testing.F) {
	f.Add([]byte{10, 0, 0, 0, 24, 0, 0, 0, 0, 0, 10, 0, 0, 1, 0x80, 10, 0, 1, 1, 0x80})
	f.Add([]byte{192, 168, 0, 0, 16, 192, 168, 1, 0, 24, 192, 168, 1, 7, 32, 192, 168, 1, 7, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := NewTable("fuzz")
		var golden []netip.Prefix
		var lookups []netip.Addr
		for len(data) >= 5 {
			a := netip.AddrFrom4([4]byte(data[:4]))
			l := data[4]
			data = data[5:]
			if l&0x80 != 0 {
				lookups = append(lookups, a)
				continue
			}
			p := netip.PrefixFrom(a, int(l%33)).Masked()
			if _, dup := tb.Get(p); dup {
				continue
			}
			g, err := NewGroup(Single, []Member{{ID: "i-" + p.String(), Kind: MemberPort, Port: PortID(len(golden))}})
			if err != nil {
				t.Fatal(err)
			}
			if err := tb.Insert(&Route{Dst: p, Type: Custom, Action: ActionForward, Group: g, VSwitch: -1}); err != nil {
				t.Fatalf("insert %s: %v", p, err)
			}
			golden = append(golden, p)
		}
		for _, a := range lookups {
			best := -1
			for i, p := range golden {
				if p.Contains(a) && (best < 0 || p.Bits() > golden[best].Bits()) {
					best = i
				}
			}
			r, ok := tb.Lookup(a)
			switch {
			case best < 0 && ok:
				t.Fatalf("%s: got %s, want no route", a, r.Dst)
			case best >= 0 && !ok:
				t.Fatalf("%s: no route, want %s", a, golden[best])
			case best >= 0 && r.Dst != golden[best]:
				t.Fatalf("%s: got %s, want %s", a, r.Dst, golden[best])
			}
		}
		if tb.Len() != len(golden) {
			t.Fatalf("len %d, want %d", tb.Len(), len(golden))
		}
	})
}
