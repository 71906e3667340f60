package tun

import (
	"encoding/binary"
	"testing"
)

// TestVirtioNetHdrLayout checks the byte layout of struct virtio_net_hdr
// (include/uapi/linux/virtio_net.h): flags, gso_type, then four native-endian
// 16-bit fields. SPEC F1/F7: the header travels with every packet.
func TestVirtioNetHdrLayout(t *testing.T) {
	tests := []struct {
		name string
		h    VirtioNetHdr
	}{
		{"zero", VirtioNetHdr{}},
		{"tcp4 super-packet", VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: GSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 20, CsumOffset: 16}},
		{"tcp6 ecn", VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: GSOTCPv6 | GSOECN, HdrLen: 86, GSOSize: 1428, CsumStart: 40, CsumOffset: 16}},
		{"uso", VirtioNetHdr{Flags: VirtioNetHdrFNeedsCsum, GSOType: GSOUDPL4, HdrLen: 28, GSOSize: 1000, CsumStart: 20, CsumOffset: 6}},
		{"data valid", VirtioNetHdr{Flags: VirtioNetHdrFDataValid}},
		{"all ones", VirtioNetHdr{0xff, 0xff, 0xffff, 0xffff, 0xffff, 0xffff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, VirtioNetHdrLen+2)
			b[VirtioNetHdrLen], b[VirtioNetHdrLen+1] = 0xaa, 0xbb
			tt.h.Encode(b)
			want := make([]byte, VirtioNetHdrLen)
			want[0], want[1] = tt.h.Flags, tt.h.GSOType
			binary.NativeEndian.PutUint16(want[2:], tt.h.HdrLen)
			binary.NativeEndian.PutUint16(want[4:], tt.h.GSOSize)
			binary.NativeEndian.PutUint16(want[6:], tt.h.CsumStart)
			binary.NativeEndian.PutUint16(want[8:], tt.h.CsumOffset)
			if string(b[:VirtioNetHdrLen]) != string(want) {
				t.Fatalf("Encode = % x, want % x", b[:VirtioNetHdrLen], want)
			}
			if b[VirtioNetHdrLen] != 0xaa || b[VirtioNetHdrLen+1] != 0xbb {
				t.Fatal("Encode wrote past the header")
			}
			var got VirtioNetHdr
			got.Decode(b)
			if got != tt.h {
				t.Fatalf("Decode(Encode(h)) = %+v, want %+v", got, tt.h)
			}
		})
	}
}

// TestVirtioNetHdrLittleEndianOnX86 pins the documented wire order on the
// little-endian hosts vrouter runs on.
func TestVirtioNetHdrLittleEndianOnX86(t *testing.T) {
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	if probe[0] != 1 {
		t.Skip("big-endian host: the legacy header is big endian here")
	}
	h := VirtioNetHdr{HdrLen: 0x0102, GSOSize: 0x0304, CsumStart: 0x0506, CsumOffset: 0x0708}
	b := make([]byte, VirtioNetHdrLen)
	h.Encode(b)
	want := []byte{0, 0, 2, 1, 4, 3, 6, 5, 8, 7}
	if string(b) != string(want) {
		t.Fatalf("Encode = % x, want % x", b, want)
	}
}

func TestVirtioNetHdrIsGSO(t *testing.T) {
	tests := []struct {
		gso  uint8
		want bool
	}{
		{GSONone, false},
		{GSOECN, false},
		{GSOTCPv4, true},
		{GSOTCPv4 | GSOECN, true},
		{GSOTCPv6, true},
		{GSOUDP, true},
		{GSOUDPL4, true},
	}
	for _, tt := range tests {
		h := VirtioNetHdr{GSOType: tt.gso}
		if got := h.IsGSO(); got != tt.want {
			t.Errorf("IsGSO(%#x) = %v, want %v", tt.gso, got, tt.want)
		}
	}
}

func TestVirtioNetHdrNoAllocs(t *testing.T) {
	b := make([]byte, VirtioNetHdrLen)
	h := VirtioNetHdr{GSOType: GSOTCPv4, GSOSize: 1448}
	var g VirtioNetHdr
	if a := testing.AllocsPerRun(100, func() { h.Encode(b); g.Decode(b) }); a != 0 {
		t.Fatalf("Encode+Decode allocate %v times", a)
	}
}
