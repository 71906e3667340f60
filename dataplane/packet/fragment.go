package packet

import "errors"

// Errors of FragmentIPv4. They are sentinel values so that returning them
// allocates nothing.
var (
	ErrFragInvalid  = errors.New("packet: not a valid IPv4 packet to fragment")
	ErrFragDF       = errors.New("packet: DF set, must not fragment")
	ErrFragMTU      = errors.New("packet: MTU below 68 (RFC 791)")
	ErrFragBuffers  = errors.New("packet: too few or too small fragment buffers")
	ErrFragTooLarge = errors.New("packet: fragment offset beyond 65535")
)

// copyOptions writes the options of opts whose copy flag is set into dst
// (RFC 791 3.1: "copied flag") and pads them with EOL to a multiple of 4. It
// returns the padded length. opts must be well formed (validIPv4Options) and
// dst at least len(opts) long.
func copyOptions(dst, opts []byte) int {
	n := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == IPv4OptEOL {
			break
		}
		if t == IPv4OptNOP {
			i++
			continue
		}
		l := int(opts[i+1])
		if t&IPv4OptCopied != 0 {
			n += copy(dst[n:], opts[i:i+l])
		}
		i += l
	}
	for n%4 != 0 {
		dst[n] = IPv4OptEOL
		n++
	}
	return n
}

// FragmentIPv4 splits pkt, a valid IPv4 datagram (or fragment) with DF clear,
// into fragments that each fit mtu bytes (SPEC F7, RFC 791 3.2): the data of
// every fragment but the last is a multiple of 8 bytes, offsets continue from
// pkt's own offset, MF is set on all but the last, and the last keeps pkt's MF
// (so a non-last fragment refragmented stays non-last). The first fragment
// carries all options; later ones carry only options with the copy flag set
// (EOL-padded). TTL, TOS, identification and protocol are kept; every header
// checksum is recomputed. A pkt that already fits mtu is copied as the single
// fragment. Bytes of pkt beyond its total length are ignored.
//
// Fragment i is written to out[i][:sizes[i]]; n is the number of fragments.
// Before writing anything it returns an error when pkt is not a valid IPv4
// datagram (header, total length, checksum or options), DF is set, mtu < 68,
// out or sizes hold fewer than n entries or a buffer is too small for its
// fragment, or the offsets would pass 65535. It allocates nothing; out must
// not overlap pkt.
func FragmentIPv4(pkt []byte, mtu int, out [][]byte, sizes []int) (n int, err error) {
	// Only the IP header is checked: a router fragments whatever transport
	// header the datagram carries.
	var p Parsed
	if len(pkt) == 0 || pkt[0]>>4 != 4 || p.decodeIPv4Header(pkt) != OK {
		return 0, ErrFragInvalid
	}
	if p.DF {
		return 0, ErrFragDF
	}
	if mtu < MinIPv4MTU {
		return 0, ErrFragMTU
	}
	hl, tl := p.HdrLen, p.TotalLen
	if tl <= mtu {
		if len(out) < 1 || len(sizes) < 1 || len(out[0]) < tl {
			return 0, ErrFragBuffers
		}
		sizes[0] = copy(out[0], pkt[:tl])
		return 1, nil
	}

	// Header of the later fragments: fixed part plus the copied options.
	var later [IPv4MaxHeaderLen]byte
	copy(later[:], pkt[:IPv4MinHeaderLen])
	hl2 := IPv4MinHeaderLen + copyOptions(later[IPv4MinHeaderLen:], pkt[IPv4MinHeaderLen:hl])

	data := pkt[hl:tl]
	first := (mtu - hl) &^ 7 // >= 8 since mtu >= 68 and hl <= 60
	rest := (mtu - hl2) &^ 7
	n = 1 + (len(data)-first+rest-1)/rest
	if int(p.FragOff)+len(data) > 0xffff {
		return 0, ErrFragTooLarge
	}
	if len(out) < n || len(sizes) < n {
		return 0, ErrFragBuffers
	}
	for i, off := 0, 0; i < n; i++ {
		h, chunk := hl2, rest
		if i == 0 {
			h, chunk = hl, first
		}
		chunk = min(chunk, len(data)-off)
		if len(out[i]) < h+chunk {
			return 0, ErrFragBuffers
		}
		off += chunk
	}

	for i, off := 0, 0; i < n; i++ {
		hdr, chunk := later[:hl2], rest
		if i == 0 {
			hdr, chunk = pkt[:hl], first
		}
		chunk = min(chunk, len(data)-off)
		f := IPv4(out[i])
		copy(f, hdr)
		f.SetHeaderLen(len(hdr))
		copy(f[len(hdr):], data[off:off+chunk])
		size := len(hdr) + chunk
		f.SetTotalLen(uint16(size))
		last := i == n-1
		f.SetFragment(false, !last || p.MF, p.FragOff+uint16(off))
		f.UpdateChecksum()
		sizes[i] = size
		off += chunk
	}
	return n, nil
}
