package conntrack

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// Saved flows (Q7 `--on-exit keep`) use a versioned binary format:
//
//	header  "VRCTFLOW" | version u32 | record size u32
//	block   n u32 (1..saveBlock) | n records | CRC-32C u32 of n and the records
//	end     0 u32 | total records u64 | CRC-32C u32 of both
//
// All integers are little endian. A record is the original key, the reply
// key (each 39 bytes: src, dst, sport, dport, zone, proto), state u8,
// flags u8 (bit 0: established), idle age u64 and age u64 (nanoseconds
// before the save), in port u16, out port u16, generation u32, NAT u8.
// Timers are stored relative to the save, so they survive a change of clock
// base across restarts.
const (
	saveMagic   = "VRCTFLOW"
	saveVersion = 1
	keySize     = 39
	recSize     = 2*keySize + 2 + 16 + 9
	saveBlock   = 1024
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Save writes every live flow to w, timed by the clock given to RunGC, or
// else by the latest clock value callers passed to the table. Flows may be
// added or removed while Save runs; stop the packet path first for an exact
// snapshot.
func (t *Table) Save(w io.Writer) error { return t.SaveAt(w, t.now()) }

// SaveAt is Save with the current clock given.
func (t *Table) SaveAt(w io.Writer, now int64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := make([]byte, 0, 16)
	hdr = append(hdr, saveMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, saveVersion)
	hdr = binary.LittleEndian.AppendUint32(hdr, recSize)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	block := make([]byte, 4, 4+saveBlock*recSize+4)
	var total uint64
	var werr error
	flush := func() {
		n := (len(block) - 4) / recSize
		if n == 0 || werr != nil {
			return
		}
		binary.LittleEndian.PutUint32(block, uint32(n))
		block = binary.LittleEndian.AppendUint32(block, crc32.Checksum(block, crcTable))
		_, werr = bw.Write(block)
		block = block[:4]
	}
	t.Range(func(k, reply Key, e EntryInfo) bool {
		if e.Expired(now) {
			return true
		}
		block = appendRecord(block, &k, &reply, &e, now)
		total++
		if len(block)-4 == saveBlock*recSize {
			flush()
		}
		return werr == nil
	})
	flush()
	if werr != nil {
		return werr
	}
	end := make([]byte, 0, 16)
	end = binary.LittleEndian.AppendUint32(end, 0)
	end = binary.LittleEndian.AppendUint64(end, total)
	end = binary.LittleEndian.AppendUint32(end, crc32.Checksum(end, crcTable))
	if _, err := bw.Write(end); err != nil {
		return err
	}
	return bw.Flush()
}

func appendKey(b []byte, k *Key) []byte {
	b = append(b, k.Src[:]...)
	b = append(b, k.Dst[:]...)
	b = binary.LittleEndian.AppendUint16(b, k.SrcPort)
	b = binary.LittleEndian.AppendUint16(b, k.DstPort)
	b = binary.LittleEndian.AppendUint16(b, k.Zone)
	return append(b, k.Proto)
}

func readKey(b []byte) Key {
	var k Key
	copy(k.Src[:], b[0:16])
	copy(k.Dst[:], b[16:32])
	k.SrcPort = binary.LittleEndian.Uint16(b[32:])
	k.DstPort = binary.LittleEndian.Uint16(b[34:])
	k.Zone = binary.LittleEndian.Uint16(b[36:])
	k.Proto = b[38]
	return k
}

func appendRecord(b []byte, k, reply *Key, e *EntryInfo, now int64) []byte {
	b = appendKey(b, k)
	b = appendKey(b, reply)
	var flags byte
	if e.Established {
		flags = 1
	}
	b = append(b, byte(e.State), flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(max(now-e.LastSeen, 0)))
	b = binary.LittleEndian.AppendUint64(b, uint64(max(now-e.Created, 0)))
	b = binary.LittleEndian.AppendUint16(b, e.Meta.InPort)
	b = binary.LittleEndian.AppendUint16(b, e.Meta.OutPort)
	b = binary.LittleEndian.AppendUint32(b, e.Meta.Gen)
	return append(b, e.Meta.NAT)
}

// ErrCorrupt is wrapped by Restore errors about the content of the stream.
var ErrCorrupt = errors.New("conntrack: corrupt saved flows")

// Restore reads flows written by Save and inserts them with their timers
// relative to now. Flows that have expired meanwhile, flows whose keys are
// already tracked and flows beyond MaxEntries are skipped. It returns the
// number of flows restored. On any error nothing is restored: flows already
// inserted from r are removed again.
func (t *Table) Restore(r io.Reader, now int64) (int, error) {
	var handles []Handle
	n, err := t.restore(bufio.NewReaderSize(r, 64<<10), now, &handles)
	if err != nil {
		for _, h := range handles {
			t.Delete(h)
		}
		return 0, err
	}
	// Records arrive in slot order, not creation order: restore the
	// oldest-first order of the eviction lists.
	for i := range t.shards {
		s := &t.shards[i].shard
		s.mu.Lock()
		s.sortListLocked()
		s.mu.Unlock()
	}
	return n, nil
}

// sortListLocked orders the eviction list by creation (stable).
func (s *shard) sortListLocked() {
	var idxs []uint32
	for idx := s.head; idx != nilIdx; idx = s.at(idx).next {
		idxs = append(idxs, idx)
	}
	slices.SortStableFunc(idxs, func(a, b uint32) int { return cmp.Compare(s.at(a).created, s.at(b).created) })
	for _, idx := range idxs {
		s.unlinkLocked(idx)
	}
	for _, idx := range idxs {
		s.appendLocked(idx)
	}
}

func (t *Table) restore(r io.Reader, now int64, handles *[]Handle) (int, error) {
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if string(hdr[:8]) != saveMagic {
		return 0, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != saveVersion {
		return 0, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, v)
	}
	if rs := binary.LittleEndian.Uint32(hdr[12:]); rs != recSize {
		return 0, fmt.Errorf("%w: record size %d, want %d", ErrCorrupt, rs, recSize)
	}
	tos := t.tos.Load()
	buf := make([]byte, 4+saveBlock*recSize+4)
	var records uint64
	restored := 0
	for {
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return 0, fmt.Errorf("%w: block header: %v", ErrCorrupt, err)
		}
		n := binary.LittleEndian.Uint32(buf)
		if n == 0 {
			if _, err := io.ReadFull(r, buf[4:16]); err != nil {
				return 0, fmt.Errorf("%w: trailer: %v", ErrCorrupt, err)
			}
			if crc32.Checksum(buf[:12], crcTable) != binary.LittleEndian.Uint32(buf[12:]) {
				return 0, fmt.Errorf("%w: trailer checksum", ErrCorrupt)
			}
			if total := binary.LittleEndian.Uint64(buf[4:]); total != records {
				return 0, fmt.Errorf("%w: %d records, trailer says %d", ErrCorrupt, records, total)
			}
			return restored, nil
		}
		if n > saveBlock {
			return 0, fmt.Errorf("%w: block of %d records", ErrCorrupt, n)
		}
		body := buf[:4+int(n)*recSize+4]
		if _, err := io.ReadFull(r, body[4:]); err != nil {
			return 0, fmt.Errorf("%w: block: %v", ErrCorrupt, err)
		}
		sum := binary.LittleEndian.Uint32(body[len(body)-4:])
		if crc32.Checksum(body[:len(body)-4], crcTable) != sum {
			return 0, fmt.Errorf("%w: block checksum", ErrCorrupt)
		}
		for i := range int(n) {
			rec := body[4+i*recSize : 4+(i+1)*recSize]
			k, reply := readKey(rec), readKey(rec[keySize:])
			p := rec[2*keySize:]
			st, flags := State(p[0]), p[1]
			if st == StateNone || st >= numStates || flags > 1 {
				return 0, fmt.Errorf("%w: record %d: state %d flags %d", ErrCorrupt, records, st, flags)
			}
			idle := int64(binary.LittleEndian.Uint64(p[2:]))
			age := int64(binary.LittleEndian.Uint64(p[10:]))
			if idle < 0 || age < 0 {
				return 0, fmt.Errorf("%w: record %d: negative age", ErrCorrupt, records)
			}
			meta := Meta{
				InPort:  binary.LittleEndian.Uint16(p[18:]),
				OutPort: binary.LittleEndian.Uint16(p[20:]),
				Gen:     binary.LittleEndian.Uint32(p[22:]),
				NAT:     p[26],
			}
			records++
			conf := flags == 1
			ci := 0
			if conf {
				ci = 1
			}
			if idle > tos[st][ci] {
				continue // expired while vrouterd was down
			}
			h, res := t.insert(&k, &reply, st, conf, meta, now-idle, now-age, false, now)
			if res == Inserted {
				*handles = append(*handles, h)
				restored++
			}
		}
	}
}
