package health

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vrouter/vrouter/dataplane/fib"
	"github.com/vrouter/vrouter/dataplane/packet"
)

// SPEC F9's default probe, applied to a Target field that is not positive.
const (
	DefaultInterval  = time.Second
	DefaultTimeout   = 500 * time.Millisecond
	DefaultFailures  = 3
	DefaultSuccesses = 3
)

// probePayload is the data carried by every echo request; it makes the
// probes easy to recognise in a capture and is echoed back unchanged.
var probePayload = [8]byte{'v', 'r', 'h', 'e', 'a', 'l', 't', 'h'}

// probeLen is the length of a probe packet.
const probeLen = packet.IPv4MinHeaderLen + packet.ICMPv4HeaderLen + len(probePayload)

// Target is one probed next hop (one member of a route entry's next-hop
// group). The agent builds it from compile.HealthTarget.
type Target struct {
	Key     string       // unique, e.g. "vtb-b|172.16.0.0/12|i-fw1"
	Table   string       // route table id (log and metric label)
	Dst     netip.Prefix // route entry destination (label)
	NextHop string       // next-hop id (label)
	Addr    netip.Addr   // the next hop's address: the probe's destination
	Source  netip.Addr   // the VSwitch gateway the probe is sent from
	Port    uint16       // data-plane port id the probe is written to

	Interval  time.Duration // between probes; ≤ 0: DefaultInterval
	Timeout   time.Duration // a reply must arrive within it; ≤ 0: DefaultTimeout
	Failures  int           // consecutive lost probes that take it down; ≤ 0: DefaultFailures
	Successes int           // consecutive good probes that bring it up; ≤ 0: DefaultSuccesses

	Flag *fib.Health // the flag the data plane reads; shared across snapshots
}

// Sender writes a complete IPv4 packet to a data-plane port. The data plane
// glue implements it. pkt is valid only during the call.
type Sender interface {
	Send(port uint16, pkt []byte) error
}

// State is a target's health as reported by `vrouterctl health` and the
// metrics (SPEC R6, R8).
type State struct {
	Key     string       `json:"key"`
	Table   string       `json:"table"`
	Dst     netip.Prefix `json:"dst"`
	NextHop string       `json:"next_hop"`
	Addr    netip.Addr   `json:"addr"`
	Source  netip.Addr   `json:"source"`
	Port    uint16       `json:"port"`

	Interval  time.Duration `json:"interval"`
	Timeout   time.Duration `json:"timeout"`
	Failures  int           `json:"failures"`
	Successes int           `json:"successes"`

	Up                   bool          `json:"up"`
	ConsecutiveFailures  int           `json:"consecutive_failures"`
	ConsecutiveSuccesses int           `json:"consecutive_successes"`
	LastRTT              time.Duration `json:"last_rtt"`    // of the latest good probe; 0 before any
	Transitions          uint64        `json:"transitions"` // up↔down changes of this target
	LastChange           time.Time     `json:"last_change"` // zero if it never changed

	Sent       uint64 `json:"sent"`        // probes sent
	Received   uint64 `json:"received"`    // good probes (reply in time)
	Lost       uint64 `json:"lost"`        // probes that expired without a reply in time
	Late       uint64 `json:"late"`        // replies that matched no outstanding probe: late or duplicate
	SendErrors uint64 `json:"send_errors"` // Sender.Send failures (such probes are lost)
}

// Option configures a Prober.
type Option func(*Prober)

// WithClock replaces time.Now as the Prober's clock (used by Update to
// schedule new targets and by Run). Tests use it with Step to run without
// sleeping.
func WithClock(now func() time.Time) Option {
	return func(p *Prober) { p.now = now }
}

// Prober probes next hops and flips their health flags. See the package
// documentation for who may call what.
type Prober struct {
	log  *zap.Logger
	send Sender
	now  func() time.Time
	wake chan struct{} // Update → Run: the schedule changed

	transitions atomic.Uint64 // total, including removed targets

	stepMu  sync.Mutex // serialises Step; guards jobs, pending, buf
	jobs    []sendJob
	pending []transition
	buf     [probeLen]byte

	mu      sync.Mutex // guards everything below and all target fields
	targets map[string]*target
	byReply map[replyKey]*target
	sched   schedule
	nextID  uint16
}

// New returns a Prober that writes its probes with s. A nil log discards
// logs.
func New(log *zap.Logger, s Sender, opts ...Option) *Prober {
	if log == nil {
		log = zap.NewNop()
	}
	p := &Prober{
		log:     log,
		send:    s,
		now:     time.Now,
		wake:    make(chan struct{}, 1),
		targets: make(map[string]*target),
		byReply: make(map[replyKey]*target),
		nextID:  uint16(rand.Uint32()),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// replyKey is what an echo reply is matched by, besides its sequence number.
type replyKey struct {
	addr, src netip.Addr
	id        uint16
}

// probe is an outstanding echo request.
type probe struct {
	seq      uint16
	sent     time.Time
	deadline time.Time // a reply at or after it is late
}

// target is a Target with its probing state. All fields are guarded by
// Prober.mu.
type target struct {
	Target
	id  uint16 // ICMP identifier
	seq uint16 // sequence number of the next probe

	out      []probe   // outstanding probes, in send order
	nextSend time.Time // when the next probe is due
	lastSend time.Time // zero before the first probe
	at       time.Time // next event: min(nextSend, out[*].deadline)
	hidx     int       // index in Prober.sched

	up          bool
	fails       int // consecutive lost probes
	succs       int // consecutive good probes
	lastRTT     time.Duration
	transitions uint64
	lastChange  time.Time

	sent, received, lost, late, sendErrors uint64
	sendFailing                            bool // the last send failed
}

// transition is a flag change waiting to be logged.
type transition struct {
	key, table, nextHop string
	dst                 netip.Prefix
	addr                netip.Addr
	up                  bool // the new state
	count               int  // consecutive results that caused it
}

// sendJob is a probe to build and send once Prober.mu is released.
type sendJob struct {
	t         *target
	port      uint16
	src, addr netip.Addr
	id, seq   uint16
	failing   bool // t.sendFailing when the job was made
}

// sanitize applies the defaults and rejects targets that cannot be probed.
func sanitize(in Target) (Target, error) {
	switch {
	case in.Key == "":
		return in, errors.New("empty key")
	case in.Flag == nil:
		return in, errors.New("no health flag")
	}
	in.Addr, in.Source = in.Addr.Unmap(), in.Source.Unmap()
	if !in.Addr.Is4() || !in.Source.Is4() {
		return in, errors.New("probe addresses must be IPv4 (SPEC F13)")
	}
	if in.Interval <= 0 {
		in.Interval = DefaultInterval
	}
	if in.Timeout <= 0 {
		in.Timeout = DefaultTimeout
	}
	if in.Failures <= 0 {
		in.Failures = DefaultFailures
	}
	if in.Successes <= 0 {
		in.Successes = DefaultSuccesses
	}
	return in, nil
}

// Update reconciles the probed targets with targets (after every reload).
// Targets whose Key persists keep their state; new ones start probing (a
// batch of new targets is spread over one interval); removed ones stop and
// their flags are left as they are. Targets without a key or flag, with a
// duplicate key, or with a non-IPv4 address are skipped with a warning.
func (p *Prober) Update(targets []Target) {
	valid := make([]Target, 0, len(targets))
	seen := make(map[string]struct{}, len(targets))
	for _, in := range targets {
		c, err := sanitize(in)
		if err == nil {
			if _, dup := seen[c.Key]; dup {
				err = errors.New("duplicate key")
			}
		}
		if err != nil {
			p.log.Warn("health target skipped", zap.String("key", in.Key), zap.String("next_hop", in.NextHop),
				zap.Stringer("addr", in.Addr), zap.Error(err))
			continue
		}
		seen[c.Key] = struct{}{}
		valid = append(valid, c)
	}

	now := p.now()
	var added, removed, exhausted []string
	p.mu.Lock()
	for key, t := range p.targets {
		if _, ok := seen[key]; !ok {
			p.removeLocked(t)
			removed = append(removed, key)
		}
	}
	var fresh []*target
	for _, c := range valid {
		if t := p.targets[c.Key]; t != nil {
			if !p.reconfigureLocked(t, c) {
				exhausted = append(exhausted, c.Key)
			}
			continue
		}
		fresh = append(fresh, &target{Target: c, up: c.Flag.Up(), hidx: -1})
	}
	for i, t := range fresh {
		if !p.registerLocked(t) {
			exhausted = append(exhausted, t.Key)
			continue
		}
		t.seq = uint16(rand.Uint32())
		t.nextSend = now.Add(t.Interval * time.Duration(i) / time.Duration(len(fresh)))
		p.targets[t.Key] = t
		p.scheduleLocked(t)
		added = append(added, t.Key)
	}
	p.mu.Unlock()

	select {
	case p.wake <- struct{}{}:
	default:
	}
	for _, k := range exhausted {
		p.log.Warn("health target skipped", zap.String("key", k), zap.String("error", "no free ICMP identifier for its address pair"))
	}
	if len(added)+len(removed) > 0 {
		p.log.Debug("health targets updated", zap.Strings("added", added), zap.Strings("removed", removed))
	}
}

// registerLocked gives t an ICMP identifier unused among the targets probing
// t.Addr from t.Source and enters it in the reply index. It reports false if
// all 65536 identifiers are taken.
func (p *Prober) registerLocked(t *target) bool {
	for range 1 << 16 {
		id := p.nextID
		p.nextID++
		k := replyKey{t.Addr, t.Source, id}
		if _, used := p.byReply[k]; !used {
			t.id = id
			p.byReply[k] = t
			return true
		}
	}
	return false
}

// removeLocked stops probing t. Outstanding probes are forgotten, so their
// replies no longer match.
func (p *Prober) removeLocked(t *target) {
	if t.hidx >= 0 {
		heap.Remove(&p.sched, t.hidx)
	}
	delete(p.byReply, replyKey{t.Addr, t.Source, t.id})
	delete(p.targets, t.Key)
}

// reconfigureLocked applies a reloaded configuration c to the existing
// target t, keeping its state. It reports false (and removes t) if t's
// address pair changed and no identifier is free for the new pair.
func (p *Prober) reconfigureLocked(t *target, c Target) bool {
	if c.Flag != t.Flag {
		c.Flag.Set(t.up)
	}
	if c.Addr != t.Addr || c.Source != t.Source {
		delete(p.byReply, replyKey{t.Addr, t.Source, t.id})
		t.Target = c
		t.out = t.out[:0]
		t.fails, t.succs = 0, 0
		if !p.registerLocked(t) {
			if t.hidx >= 0 {
				heap.Remove(&p.sched, t.hidx)
			}
			delete(p.targets, t.Key)
			return false
		}
	}
	t.Target = c
	if !t.lastSend.IsZero() {
		t.nextSend = t.lastSend.Add(t.Interval)
	}
	p.scheduleLocked(t)
	return true
}

// scheduleLocked recomputes t's next event and restores the heap order.
func (p *Prober) scheduleLocked(t *target) {
	at := t.nextSend
	for i := range t.out {
		if t.out[i].deadline.Before(at) {
			at = t.out[i].deadline
		}
	}
	t.at = at
	if t.hidx < 0 {
		heap.Push(&p.sched, t)
	} else {
		heap.Fix(&p.sched, t.hidx)
	}
}

// recordLocked applies one probe result to t's hysteresis and, on a
// transition, flips the flag and returns the transition to log.
func (p *Prober) recordLocked(t *target, good bool, now time.Time) (transition, bool) {
	var count int
	if good {
		t.succs++
		t.fails = 0
		if t.up || t.succs < t.Successes {
			return transition{}, false
		}
		count = t.succs
	} else {
		t.fails++
		t.succs = 0
		if !t.up || t.fails < t.Failures {
			return transition{}, false
		}
		count = t.fails
	}
	t.up = good
	t.Flag.Set(good)
	t.transitions++
	t.lastChange = now
	p.transitions.Add(1)
	return transition{key: t.Key, table: t.Table, nextHop: t.NextHop, dst: t.Dst, addr: t.Addr, up: good, count: count}, true
}

// logTransition writes the one log line of a transition.
func (p *Prober) logTransition(tr transition) {
	from, to, msg, what := "up", "down", "next hop down", "consecutive_failures"
	if tr.up {
		from, to, msg, what = "down", "up", "next hop up", "consecutive_successes"
	}
	p.log.Info(msg,
		zap.String("key", tr.key),
		zap.String("table", tr.table),
		zap.Stringer("dst", tr.dst),
		zap.String("next_hop", tr.nextHop),
		zap.Stringer("addr", tr.addr),
		zap.String("from", from),
		zap.String("to", to),
		zap.Int(what, tr.count))
}

// HandleReply is called by the data plane for every ICMP echo reply
// addressed to a VRouter address: src is the reply's source (the next hop),
// dst its destination (the gateway the probe came from), id and seq the
// echo's identifier and sequence, now the time it was received. It reports
// whether the reply answered an outstanding probe in time. Late and
// duplicate replies of a known target are counted and otherwise ignored.
// It allocates nothing and may be called from any goroutine.
func (p *Prober) HandleReply(src, dst netip.Addr, id, seq uint16, now time.Time) bool {
	k := replyKey{src.Unmap(), dst.Unmap(), id}
	p.mu.Lock()
	t := p.byReply[k]
	if t == nil {
		p.mu.Unlock()
		return false
	}
	i := 0
	for i < len(t.out) && t.out[i].seq != seq {
		i++
	}
	if i == len(t.out) || !now.Before(t.out[i].deadline) {
		// Not outstanding, or past its deadline: Step expires it as lost.
		t.late++
		p.mu.Unlock()
		return false
	}
	// Results count in send order: older probes still outstanding are lost
	// (a directly attached next hop does not reorder its replies). This can
	// cause at most one transition (down), and the good probe another (up).
	var trs [2]transition
	n := 0
	for j := 0; j < i; j++ {
		t.lost++
		if tr, ok := p.recordLocked(t, false, now); ok {
			trs[n] = tr
			n++
		}
	}
	pr := t.out[i]
	t.out = append(t.out[:0], t.out[i+1:]...)
	t.received++
	t.lastRTT = max(now.Sub(pr.sent), 0)
	if tr, ok := p.recordLocked(t, true, now); ok {
		trs[n] = tr
		n++
	}
	p.scheduleLocked(t)
	p.mu.Unlock()
	for _, tr := range trs[:n] {
		p.logTransition(tr)
	}
	return true
}

// Step does what is due at now: it expires probes whose deadline has passed
// (lost) and sends the probes that are due. Run calls it; tests call it
// with a fake clock. Calls are serialised.
func (p *Prober) Step(now time.Time) {
	p.stepMu.Lock()
	defer p.stepMu.Unlock()
	p.jobs = p.jobs[:0]
	p.pending = p.pending[:0]

	p.mu.Lock()
	for len(p.sched) > 0 && !p.sched[0].at.After(now) {
		t := p.sched[0]
		kept := t.out[:0]
		for _, pr := range t.out {
			if now.Before(pr.deadline) {
				kept = append(kept, pr)
				continue
			}
			t.lost++
			if tr, ok := p.recordLocked(t, false, now); ok {
				p.pending = append(p.pending, tr)
			}
		}
		t.out = kept
		if !now.Before(t.nextSend) {
			t.out = append(t.out, probe{seq: t.seq, sent: now, deadline: now.Add(t.Timeout)})
			p.jobs = append(p.jobs, sendJob{t: t, port: t.Port, src: t.Source, addr: t.Addr, id: t.id, seq: t.seq, failing: t.sendFailing})
			t.seq++
			t.sent++
			t.lastSend = now
			// Keep the schedule free of drift, but never burst to catch
			// up after a stall.
			t.nextSend = t.nextSend.Add(t.Interval)
			if !t.nextSend.After(now) {
				t.nextSend = now.Add(t.Interval)
			}
		}
		p.scheduleLocked(t) // t.at > now now, so the loop ends
	}
	p.mu.Unlock()

	for _, tr := range p.pending {
		p.logTransition(tr)
	}
	for i := range p.jobs {
		j := &p.jobs[i]
		n := packet.BuildEchoRequest(p.buf[:], j.src, j.addr, j.id, j.seq, probePayload[:])
		err := p.send.Send(j.port, p.buf[:n])
		if err != nil || j.failing {
			p.sendResult(j, err)
		}
		j.t = nil
	}
}

// sendResult records a failed send, or the first good send after failures,
// logging once per change.
func (p *Prober) sendResult(j *sendJob, err error) {
	p.mu.Lock()
	t := j.t
	key := t.Key
	was := t.sendFailing
	t.sendFailing = err != nil
	if err != nil {
		t.sendErrors++
	}
	p.mu.Unlock()
	switch {
	case err != nil && !was:
		p.log.Warn("health probe send failing", zap.String("key", key), zap.Stringer("addr", j.addr),
			zap.Uint16("port", j.port), zap.Error(err))
	case err == nil && was:
		p.log.Info("health probe send recovered", zap.String("key", key), zap.Stringer("addr", j.addr),
			zap.Uint16("port", j.port))
	}
}

// nextAt returns the time of the earliest pending event.
func (p *Prober) nextAt() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sched) == 0 {
		return time.Time{}, false
	}
	return p.sched[0].at, true
}

// Run probes until ctx is done: it calls Step whenever the earliest event is
// due and when Update changes the targets. Call it from one goroutine.
func (p *Prober) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		p.Step(p.now())
		var fire <-chan time.Time
		if at, ok := p.nextAt(); ok {
			d := at.Sub(p.now())
			if d <= 0 {
				continue
			}
			timer.Reset(d)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-fire:
		}
	}
}

// States returns every target's state, sorted by key.
func (p *Prober) States() []State {
	p.mu.Lock()
	out := make([]State, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, State{
			Key: t.Key, Table: t.Table, Dst: t.Dst, NextHop: t.NextHop,
			Addr: t.Addr, Source: t.Source, Port: t.Port,
			Interval: t.Interval, Timeout: t.Timeout, Failures: t.Failures, Successes: t.Successes,
			Up: t.up, ConsecutiveFailures: t.fails, ConsecutiveSuccesses: t.succs,
			LastRTT: t.lastRTT, Transitions: t.transitions, LastChange: t.lastChange,
			Sent: t.sent, Received: t.received, Lost: t.lost, Late: t.late, SendErrors: t.sendErrors,
		})
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Transitions returns the number of up↔down changes since the Prober was
// made, removed targets included (vrouter_nexthop_transitions_total).
func (p *Prober) Transitions() uint64 {
	return p.transitions.Load()
}

// schedule is a min-heap of targets by their next event.
type schedule []*target

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].at.Before(s[j].at) }
func (s schedule) Swap(i, j int) {
	s[i], s[j] = s[j], s[i]
	s[i].hidx = i
	s[j].hidx = j
}

func (s *schedule) Push(x any) {
	t := x.(*target)
	t.hidx = len(*s)
	*s = append(*s, t)
}

func (s *schedule) Pop() any {
	old := *s
	n := len(old) - 1
	t := old[n]
	old[n] = nil
	t.hidx = -1
	*s = old[:n]
	return t
}
