package conntrack

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const sec = int64(time.Second)

var (
	cli = netip.MustParseAddr("192.168.1.10")
	srv = netip.MustParseAddr("192.168.2.20")
)

func tcpKey(sport uint16) Key { return MakeKey(1, 6, cli, srv, sport, 80) }

// pkt is one packet of a conversation: its direction and TCP flags, the
// state and establishment expected after it.
type pkt struct {
	dir   Dir
	flags uint8
	state State
	est   bool
}

func flowInfo(t *testing.T, tab *Table, h Handle) EntryInfo {
	t.Helper()
	var info EntryInfo
	found := false
	tab.Range(func(k, reply Key, e EntryInfo) bool {
		if e.Handle == h {
			info, found = e, true
			return false
		}
		return true
	})
	if !found {
		t.Fatalf("flow %+v not in table", h)
	}
	return info
}

// TestTCPStateMachine walks conversations through the table (S7 states).
func TestTCPStateMachine(t *testing.T) {
	const O, R = Original, Reply
	S, SA, A, FA, RA := FlagSYN, FlagSYN|FlagACK, FlagACK, FlagFIN|FlagACK, FlagRST|FlagACK
	for _, tc := range []struct {
		name  string
		first uint8 // flags of the packet that creates the flow
		init  State
		pkts  []pkt
	}{
		{"handshake and close from client", S, TCPSynSent, []pkt{
			{O, S, TCPSynSent, false},    // retransmitted SYN
			{R, SA, TCPSynRecv, false},   // SYN-ACK
			{R, SA, TCPSynRecv, false},   // retransmitted SYN-ACK
			{O, A, TCPEstablished, true}, // ACK of the SYN-ACK
			{R, A | FlagPSH, TCPEstablished, true},
			{O, FA, TCPFinWait, true},
			{R, A, TCPFinWait, true},
			{R, FA, TCPTimeWait, true},
			{O, A, TCPTimeWait, true},
		}},
		{"close from server", S, TCPSynSent, []pkt{
			{R, SA, TCPSynRecv, false}, {O, A, TCPEstablished, true},
			{R, FA, TCPCloseWait, true}, {O, FA, TCPTimeWait, true},
		}},
		{"ACK alone does not complete SYN_SENT", S, TCPSynSent, []pkt{
			{O, A, TCPSynSent, false}, {R, A, TCPSynSent, false},
		}},
		{"SYN-ACK from the original side is no handshake", S, TCPSynSent, []pkt{
			{O, SA, TCPSynSent, false},
		}},
		{"simultaneous open", S, TCPSynSent, []pkt{
			{R, S, TCPSynRecv, false}, {O, A, TCPEstablished, true},
		}},
		{"reply ACK does not complete SYN_RECV", S, TCPSynSent, []pkt{
			{R, SA, TCPSynRecv, false}, {R, A, TCPSynRecv, false}, {O, A, TCPEstablished, true},
		}},
		{"FIN completing the handshake", S, TCPSynSent, []pkt{
			{R, SA, TCPSynRecv, false}, {O, FA, TCPFinWait, true},
		}},
		{"RST during handshake", S, TCPSynSent, []pkt{{R, RA, TCPClose, false}}},
		{"RST when established keeps it established (S7) until it ends", S, TCPSynSent, []pkt{
			{R, SA, TCPSynRecv, false}, {O, A, TCPEstablished, true}, {O, FlagRST, TCPClose, true},
		}},
		{"reopen after TIME_WAIT", S, TCPSynSent, []pkt{
			{R, SA, TCPSynRecv, false}, {O, A, TCPEstablished, true},
			{O, FA, TCPFinWait, true}, {R, FA, TCPTimeWait, true},
			{O, S, TCPSynSent, false}, {R, SA, TCPSynRecv, false}, {O, A, TCPEstablished, true},
		}},
		{"reopen after RST", S, TCPSynSent, []pkt{{R, RA, TCPClose, false}, {O, S, TCPSynSent, false}}},
		{"loose pick-up confirmed by the reply side", A, TCPEstablished, []pkt{
			{O, A, TCPEstablished, false}, {R, A, TCPEstablished, true},
		}},
		{"loose pick-up of a closing flow", FA, TCPEstablished, []pkt{
			{O, FA, TCPFinWait, false}, {R, FA, TCPTimeWait, true},
		}},
		{"loose pick-up from SYN-ACK", SA, TCPEstablished, []pkt{{R, A, TCPEstablished, true}}},
		{"first packet RST", FlagRST, TCPClose, nil},
		{"SYN+FIN counts as SYN", S | FlagFIN, TCPSynSent, []pkt{{R, SA | FlagFIN, TCPSynRecv, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := New(DefaultConfig())
			k := tcpKey(40000)
			h, res := tab.Insert(&k, nil, tc.first, Meta{}, sec)
			if res != Inserted {
				t.Fatalf("Insert = %v", res)
			}
			if info := flowInfo(t, tab, h); info.State != tc.init || info.Established {
				t.Fatalf("initial state %v established %v, want %v false", info.State, info.Established, tc.init)
			}
			for i, p := range tc.pkts {
				key := k
				if p.dir == Reply {
					key = k.Reverse()
				}
				gh, dir, _, ok := tab.Lookup(&key, p.flags, sec+int64(i+1))
				if !ok || gh != h || dir != p.dir {
					t.Fatalf("packet %d: Lookup = %+v %v %v", i, gh, dir, ok)
				}
				if info := flowInfo(t, tab, h); info.State != p.state || info.Established != p.est {
					t.Fatalf("packet %d (%v %#x): state %v established %v, want %v %v",
						i, p.dir, p.flags, info.State, info.Established, p.state, p.est)
				}
			}
		})
	}
}

// TestStatelessProtocols: UDP, ICMP echo and others are confirmed by the
// first reply (S1, S7).
func TestStatelessProtocols(t *testing.T) {
	for _, tc := range []struct {
		proto       uint8
		sport       uint16
		dport       uint16
		first, then State
	}{
		{17, 5353, 53, UDPUnreplied, UDPReplied},
		{136, 1, 2, UDPUnreplied, UDPReplied},
		{1, 77, 77, ICMPUnreplied, ICMPReplied},
		{58, 77, 77, ICMPUnreplied, ICMPReplied},
		{47, 0, 0, OtherUnreplied, OtherReplied},
	} {
		t.Run(protoName(tc.proto), func(t *testing.T) {
			tab := New(DefaultConfig())
			k := MakeKey(3, tc.proto, cli, srv, tc.sport, tc.dport)
			h, _ := tab.Insert(&k, nil, 0, Meta{}, sec)
			for i, want := range []struct {
				dir Dir
				st  State
			}{{Original, tc.first}, {Original, tc.first}, {Reply, tc.then}, {Original, tc.then}} {
				key := k
				if want.dir == Reply {
					key = k.Reverse()
				}
				if _, dir, _, ok := tab.Lookup(&key, FlagSYN, sec+int64(i)); !ok || dir != want.dir {
					t.Fatalf("packet %d: Lookup = %v %v", i, dir, ok)
				}
				info := flowInfo(t, tab, h)
				if info.State != want.st || info.Established != (want.st == tc.then) {
					t.Fatalf("packet %d: %v established %v", i, info.State, info.Established)
				}
			}
		})
	}
}

// TestTimeouts checks every S7 timeout with a fake clock: a flow is alive at
// exactly its timeout after the last packet and gone one nanosecond later.
func TestTimeouts(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		name   string
		proto  uint8
		setup  []pkt // after a first packet with flags first
		first  uint8
		expect time.Duration
	}{
		{"tcp handshake SYN_SENT", 6, nil, FlagSYN, 60 * time.Second},
		{"tcp handshake SYN_RECV", 6, []pkt{{dir: Reply, flags: FlagSYN | FlagACK}}, FlagSYN, 60 * time.Second},
		{"tcp established", 6, []pkt{{dir: Reply, flags: FlagSYN | FlagACK}, {dir: Original, flags: FlagACK}}, FlagSYN, 910 * time.Second},
		{"tcp loose pick-up unconfirmed", 6, nil, FlagACK, 60 * time.Second},
		{"tcp loose pick-up confirmed", 6, []pkt{{dir: Reply, flags: FlagACK}}, FlagACK, 910 * time.Second},
		{"tcp fin wait", 6, []pkt{{dir: Reply, flags: FlagSYN | FlagACK}, {dir: Original, flags: FlagACK}, {dir: Original, flags: FlagFIN | FlagACK}}, FlagSYN, 120 * time.Second},
		{"tcp close wait", 6, []pkt{{dir: Reply, flags: FlagSYN | FlagACK}, {dir: Original, flags: FlagACK}, {dir: Reply, flags: FlagFIN | FlagACK}}, FlagSYN, 120 * time.Second},
		{"tcp rst", 6, []pkt{{dir: Reply, flags: FlagRST}}, FlagSYN, 10 * time.Second},
		{"udp", 17, nil, 0, 30 * time.Second},
		{"udp stream", 17, []pkt{{dir: Reply}}, 0, 180 * time.Second},
		{"icmp", 1, nil, 0, 30 * time.Second},
		{"icmp replied", 1, []pkt{{dir: Reply}}, 0, 30 * time.Second},
		{"gre", 47, nil, 0, 30 * time.Second},
		{"gre replied", 47, []pkt{{dir: Reply}}, 0, 180 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, extra := range []int64{0, 1} {
				tab := New(cfg)
				k := MakeKey(0, tc.proto, cli, srv, 1000, 2000)
				now := 100 * sec
				tab.Insert(&k, nil, tc.first, Meta{}, now)
				for _, p := range tc.setup {
					now += sec
					key := k
					if p.dir == Reply {
						key = k.Reverse()
					}
					if _, _, _, ok := tab.Lookup(&key, p.flags, now); !ok {
						t.Fatal("setup lookup missed")
					}
				}
				at := now + int64(tc.expect) + extra
				_, _, _, ok := tab.Lookup(&k, 0, at)
				if ok != (extra == 0) {
					t.Fatalf("at last+%v+%dns: alive %v", tc.expect, extra, ok)
				}
				if st := tab.Stats(); st.Expired != uint64(extra) || st.Entries != 1-extra {
					t.Fatalf("stats %+v", st)
				}
			}
		})
	}
}

// TestSetConfigKeepsFlows: a reload changes timeouts of existing flows and
// the limit, without losing flows (R3).
func TestSetConfigKeepsFlows(t *testing.T) {
	tab := New(Config{MaxEntries: 10})
	if c := tab.Config(); c != (Config{MaxEntries: 10, TCPHandshake: 60 * time.Second, TCPEstablished: 910 * time.Second,
		TCPClosing: 120 * time.Second, UDP: 30 * time.Second, UDPStream: 180 * time.Second, ICMP: 30 * time.Second}) {
		t.Fatalf("defaults not filled: %+v", c)
	}
	var keys []Key
	for i := range 10 {
		k := MakeKey(0, 17, cli, srv, uint16(i), 53)
		keys = append(keys, k)
		if _, res := tab.Insert(&k, nil, 0, Meta{}, sec); res != Inserted {
			t.Fatal(res)
		}
	}
	cfg := DefaultConfig()
	cfg.MaxEntries = 4
	cfg.UDP = 5 * time.Second
	tab.SetConfig(cfg)
	if st := tab.Stats(); st.Entries != 10 {
		t.Fatalf("reload dropped flows: %+v", st)
	}
	// The shorter UDP timeout applies at once…
	if _, _, _, ok := tab.Lookup(&keys[0], 0, 7*sec); ok {
		t.Fatal("flow outlived the new udp timeout")
	}
	if _, _, _, ok := tab.Lookup(&keys[1], 0, 6*sec); !ok {
		t.Fatal("flow lost within the new udp timeout")
	}
	// …and the lower limit is reached as new flows arrive (evicting the
	// unreplied flows, oldest first).
	k := MakeKey(0, 17, cli, srv, 100, 53)
	if _, res := tab.Insert(&k, nil, 0, Meta{}, 6*sec); res != Inserted {
		t.Fatal(res)
	}
	if st := tab.Stats(); st.Entries != 4 || st.Evictions != 6 || st.Expired != 1 {
		t.Fatalf("stats after shrinking insert: %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{MaxEntries: 0, UDP: -1}.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"max_entries 0", "udp_timeout", "tcp_handshake_timeout", "icmp_timeout", "udp_stream_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if c := (Config{MaxEntries: MaxMaxEntries + 1}).normalized(); c.MaxEntries != MaxMaxEntries {
		t.Errorf("MaxEntries not clamped: %d", c.MaxEntries)
	}
}

// TestLookupRelated: an ICMP error quoting a tracked flow's packet, in either
// direction, is related (S1); it changes neither timer nor state.
func TestLookupRelated(t *testing.T) {
	tab := New(DefaultConfig())
	k := tcpKey(1234)
	h, _ := tab.Insert(&k, nil, FlagSYN, Meta{InPort: 3}, sec)
	for _, tc := range []struct {
		inner Key
		dir   Dir
	}{{k, Reply}, {k.Reverse(), Original}} {
		gh, dir, meta, ok := tab.LookupRelated(&tc.inner, 50*sec)
		if !ok || gh != h || dir != tc.dir || meta.InPort != 3 {
			t.Fatalf("LookupRelated(%v) = %+v %v %+v %v", tc.inner, gh, dir, meta, ok)
		}
	}
	if info := flowInfo(t, tab, h); info.LastSeen != sec || info.State != TCPSynSent {
		t.Fatalf("related lookup touched the flow: %+v", info)
	}
	other := tcpKey(1235)
	if _, _, _, ok := tab.LookupRelated(&other, 50*sec); ok {
		t.Fatal("unrelated error matched")
	}
	if _, _, _, ok := tab.LookupRelated(&k, 62*sec); ok {
		t.Fatal("expired flow matched")
	}
}

// TestHandles: SetGen, SetMeta, Keys and Delete act on the flow of a handle
// and ignore stale handles (S8).
func TestHandles(t *testing.T) {
	tab := New(DefaultConfig())
	k := tcpKey(1)
	h, _ := tab.Insert(&k, nil, FlagSYN, Meta{InPort: 1, OutPort: 2, Gen: 7}, sec)
	tab.SetGen(h, 8)
	if _, _, m, _ := tab.Lookup(&k, 0, sec); m != (Meta{InPort: 1, OutPort: 2, Gen: 8}) {
		t.Fatalf("meta after SetGen: %+v", m)
	}
	tab.SetMeta(h, Meta{InPort: 5, OutPort: 6, Gen: 9, NAT: 1})
	if _, _, m, _ := tab.Lookup(&k, 0, sec); m != (Meta{InPort: 5, OutPort: 6, Gen: 9, NAT: 1}) {
		t.Fatalf("meta after SetMeta: %+v", m)
	}
	if o, r, ok := tab.Keys(h); !ok || o != k || r != k.Reverse() {
		t.Fatalf("Keys = %v %v %v", o, r, ok)
	}
	tab.Delete(h)
	if _, _, _, ok := tab.Lookup(&k, 0, sec); ok {
		t.Fatal("deleted flow found")
	}
	// The slot is reused; the stale handle must not touch the new flow.
	k2 := tcpKey(2)
	h2, _ := tab.Insert(&k2, nil, FlagSYN, Meta{Gen: 1}, sec)
	tab.SetGen(h, 99)
	tab.Delete(h)
	if _, _, ok := tab.Keys(h); ok {
		t.Fatal("Keys of a stale handle")
	}
	if _, _, m, ok := tab.Lookup(&k2, 0, sec); !ok || m.Gen != 1 {
		t.Fatalf("stale handle touched another flow: %+v %v", m, ok)
	}
	var zero Handle
	tab.Delete(zero)
	tab.SetGen(zero, 1)
	if zero.Valid() || !h2.Valid() {
		t.Fatal("Valid")
	}
	if st := tab.Stats(); st.Entries != 1 || st.Inserts != 2 || st.Expired != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNATReplyKey: a flow inserted with a rewritten reply tuple is found by
// it, in the reply direction, even when it hashes to another shard.
func TestNATReplyKey(t *testing.T) {
	tab := New(DefaultConfig())
	eip := netip.MustParseAddr("203.0.113.5")
	web := netip.MustParseAddr("198.51.100.80")
	crossed := 0
	for port := uint16(1); port <= 200; port++ {
		k := MakeKey(1, 6, cli, web, port, 443)
		reply := MakeKey(0, 6, web, eip, 443, 20000+port) // after SNAT, in the internet zone
		h, res := tab.Insert(&k, &reply, FlagSYN, Meta{NAT: 1}, sec)
		if res != Inserted {
			t.Fatal(res)
		}
		if tab.shardOf(&k) != tab.shardOf(&reply) {
			crossed++
		}
		gh, dir, _, ok := tab.Lookup(&reply, FlagSYN|FlagACK, 2*sec)
		if !ok || gh != h || dir != Reply {
			t.Fatalf("reply lookup = %+v %v %v", gh, dir, ok)
		}
		if _, _, _, ok := tab.Lookup(ptr(k.Reverse()), 0, 2*sec); ok {
			t.Fatal("un-NATed reverse key found")
		}
		if o, r, _ := tab.Keys(h); o != k || r != reply {
			t.Fatal("Keys")
		}
		// A new flow colliding with the rewritten tuple is refused as Exists.
		if gh, res := tab.Insert(ptr(reply.Reverse()), nil, FlagSYN, Meta{}, 2*sec); res != Exists || gh != h {
			t.Fatalf("colliding insert = %v", res)
		}
		if port%2 == 0 {
			tab.Delete(h)
		}
	}
	if crossed < 150 {
		t.Fatalf("only %d of 200 NAT flows crossed shards", crossed)
	}
	checkInvariants(t, tab)
	if n := tab.GC(1000*sec, 1<<20); n != 100 {
		t.Fatalf("GC removed %d NAT flows, want 100", n)
	}
	checkInvariants(t, tab)
	if st := tab.Stats(); st.Entries != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func ptr[T any](v T) *T { return &v }

// TestInsertExisting: Insert on a live key returns it unchanged; on an
// expired one it replaces it.
func TestInsertExisting(t *testing.T) {
	tab := New(DefaultConfig())
	k := tcpKey(9)
	h, _ := tab.Insert(&k, nil, FlagSYN, Meta{Gen: 1}, sec)
	if gh, res := tab.Insert(&k, nil, FlagACK, Meta{Gen: 2}, 2*sec); res != Exists || gh != h {
		t.Fatalf("Insert existing = %v", res)
	}
	if gh, res := tab.Insert(ptr(k.Reverse()), nil, FlagSYN, Meta{Gen: 2}, 2*sec); res != Exists || gh != h {
		t.Fatalf("Insert of the reverse = %v", res)
	}
	if info := flowInfo(t, tab, h); info.State != TCPSynSent || info.Meta.Gen != 1 || info.LastSeen != sec {
		t.Fatalf("Exists changed the flow: %+v", info)
	}
	h2, res := tab.Insert(&k, nil, FlagACK, Meta{Gen: 3}, 100*sec)
	if res != Inserted || h2 == h {
		t.Fatalf("Insert over expired = %v", res)
	}
	if st := tab.Stats(); st.Entries != 1 || st.Expired != 1 || st.Inserts != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStringsAndKeys(t *testing.T) {
	k := MakeKey(7, 6, cli, netip.MustParseAddr("2001:db8::1"), 1, 2)
	if got := k.String(); got != "zone 7 tcp 192.168.1.10:1 -> [2001:db8::1]:2" {
		t.Errorf("Key.String = %q", got)
	}
	if k.SrcAddr() != cli || k.Reverse().DstAddr() != cli || k.Reverse().Reverse() != k {
		t.Error("addresses / Reverse")
	}
	for _, tc := range []struct{ got, want string }{
		{Original.String(), "original"}, {Reply.String(), "reply"},
		{TCPEstablished.String(), "ESTABLISHED"}, {TCPSynSent.String(), "SYN_SENT"},
		{UDPReplied.String(), "UDP_REPLIED"}, {State(200).String(), "state(200)"},
		{Inserted.String(), "inserted"}, {Exists.String(), "exists"}, {Refused.String(), "refused"},
		{protoName(1), "icmp"}, {protoName(17), "udp"}, {protoName(47), "gre"}, {protoName(58), "ipv6-icmp"}, {protoName(99), "proto-99"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	info := EntryInfo{LastSeen: 10, Timeout: 5}
	if info.Expires() != 15 || info.Expired(15) || !info.Expired(16) {
		t.Error("EntryInfo expiry")
	}
}

// TestSymmetricShard: both keys of a flow hash alike; zones and protocols
// separate flows.
func TestSymmetricShard(t *testing.T) {
	tab := New(DefaultConfig())
	shards := map[uint8]int{}
	for i := range 5000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		k := MakeKey(uint16(i%3), []uint8{6, 17, 1}[i%3], a, srv, uint16(i), 443)
		if symHash(&k, tab.seed) != symHash(ptr(k.Reverse()), tab.seed) {
			t.Fatalf("hash of %v not symmetric", k)
		}
		shards[tab.shardOf(&k)]++
	}
	if len(shards) != numShards {
		t.Fatalf("only %d shards used", len(shards))
	}
	for s, n := range shards {
		if n < 5000/numShards/3 {
			t.Errorf("shard %d got %d of 5000 keys", s, n)
		}
	}
}
