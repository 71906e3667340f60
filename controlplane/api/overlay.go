package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vrouter/vrouter/controlplane/config"
)

// OverlayFile is the name of the overlay in the state directory (R5).
const OverlayFile = "overlay.json"

// overlayVersion is the version of the overlay file format.
const overlayVersion = 1

// Op is one operation made through the API: the action name, its
// parameters as the API received them (normalised JSON) and when it was
// made. The overlay is an ordered list of Ops replayed on top of the file.
type Op struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Time   time.Time       `json:"time"`
}

func (o Op) equal(p Op) bool {
	return o.Action == p.Action && o.Time.Equal(p.Time) && bytes.Equal(o.Params, p.Params)
}

// Dropped is an overlay operation that no longer applies (R5): its target
// left the file, or it would make the configuration invalid.
type Dropped struct {
	Index  int    `json:"index"` // position in the overlay before the drop (0-based)
	Op     Op     `json:"op"`
	Reason string `json:"reason"`
}

// Overlay is the ordered list of API operations, persisted in the state
// directory as overlay.json (R5, Q5). Every change is written atomically
// (temporary file, fsync, rename, fsync of the directory) before it becomes
// visible through Ops; a failed write changes nothing. It is safe for
// concurrent use: mu guards every field.
type Overlay struct {
	path string // "" keeps the overlay in memory only (no state directory)

	mu          sync.Mutex
	ops         []Op
	pruneGen    uint64    // incremented by every Replace that removed operations
	lastDropped []Dropped // what the latest such Replace removed
}

type overlayDoc struct {
	Version int  `json:"version"`
	Ops     []Op `json:"ops"`
}

// OpenOverlay opens (or starts) the overlay of stateDir, creating the
// directory when needed. An empty stateDir gives an overlay that is kept in
// memory only. A file that cannot be parsed is an error: the user's runtime
// changes are never silently discarded (Q5).
func OpenOverlay(stateDir string) (*Overlay, error) {
	o := &Overlay{}
	if stateDir == "" {
		return o, nil
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	o.path = filepath.Join(stateDir, OverlayFile)
	data, err := os.ReadFile(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	var doc overlayDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("overlay %s: %v (fix or remove the file; it holds the changes made through the API)", o.path, err)
	}
	if doc.Version != overlayVersion {
		return nil, fmt.Errorf("overlay %s: unsupported version %d (want %d)", o.path, doc.Version, overlayVersion)
	}
	for i := range doc.Ops {
		op := &doc.Ops[i]
		if op.Action == "" {
			return nil, fmt.Errorf("overlay %s: operation %d has no action", o.path, i)
		}
		// The file is indented for people; operations compare by their
		// compact parameters.
		op.Params = compactJSON(op.Params)
	}
	o.ops = doc.Ops
	return o, nil
}

// Path returns the overlay file's path ("" when kept in memory only).
func (o *Overlay) Path() string { return o.path }

// Ops returns a copy of the operations in order.
func (o *Overlay) Ops() []Op {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Op(nil), o.ops...)
}

// Len returns the number of operations.
func (o *Overlay) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ops)
}

// compactJSON returns data without insignificant white space ("{}" when
// empty).
func compactJSON(data []byte) json.RawMessage {
	if len(bytes.TrimSpace(data)) == 0 {
		return json.RawMessage("{}")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return append(json.RawMessage(nil), data...)
	}
	return b.Bytes()
}

// Append adds op at the end and persists the overlay.
func (o *Overlay) Append(op Op) error {
	op.Params = compactJSON(op.Params)
	o.mu.Lock()
	defer o.mu.Unlock()
	next := make([]Op, len(o.ops), len(o.ops)+1)
	copy(next, o.ops)
	next = append(next, op)
	if err := o.writeLocked(next); err != nil {
		return err
	}
	o.ops = next
	return nil
}

// Replace sets the operations to ops and persists the overlay; it is how
// operations that no longer apply are dropped after a reload (R5). dropped,
// when given, says why each removed operation went (see Replay); removed
// operations not described there are reported as no longer applying. The
// removal is remembered for the reply to the Reload that caused it.
func (o *Overlay) Replace(ops []Op, dropped ...Dropped) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	next := make([]Op, len(ops))
	for i, op := range ops {
		op.Params = compactJSON(op.Params)
		next[i] = op
	}
	if err := o.writeLocked(next); err != nil {
		return err
	}
	removed := removedOps(o.ops, next)
	if len(removed) > 0 {
		for i := range removed {
			for _, d := range dropped {
				if d.Op.equal(removed[i].Op) {
					removed[i].Reason = d.Reason
					break
				}
			}
		}
		o.pruneGen++
		o.lastDropped = removed
	}
	o.ops = next
	return nil
}

// Reset drops every operation (vrouterctl state reset) and persists the
// empty overlay.
func (o *Overlay) Reset() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.writeLocked(nil); err != nil {
		return err
	}
	o.ops = nil
	return nil
}

// pruned returns the removal generation and what the latest removal
// dropped.
func (o *Overlay) pruned() (uint64, []Dropped) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pruneGen, append([]Dropped(nil), o.lastDropped...)
}

// removedOps lists the operations of old that are not in next, with their
// index in old.
func removedOps(old, next []Op) []Dropped {
	var out []Dropped
	j := 0
	for i, op := range old {
		if j < len(next) && next[j].equal(op) {
			j++
			continue
		}
		out = append(out, Dropped{Index: i, Op: op, Reason: "no longer applies"})
	}
	return out
}

// writeLocked persists ops atomically: temporary file in the same
// directory, fsync, rename over the overlay, fsync of the directory.
func (o *Overlay) writeLocked(ops []Op) error {
	if o.path == "" {
		return nil
	}
	if ops == nil {
		ops = []Op{}
	}
	data, err := json.MarshalIndent(overlayDoc{Version: overlayVersion, Ops: ops}, "", "  ")
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(o.path)
	f, err := os.CreateTemp(dir, "."+OverlayFile+".tmp*")
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		return fmt.Errorf("overlay: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("overlay: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("overlay: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if err := os.Rename(tmp, o.path); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("overlay: sync %s: %w", dir, err)
	}
	return nil
}

// Replay applies ops in order to cfg, a freshly loaded file configuration
// with defaults applied, running ApplyDefaults after each (R5). An
// operation that no longer applies — its target left the file, or it
// would add validation errors — is skipped and reported in dropped; the
// others are returned in kept, in order. cfg is updated in place.
//
// The common case (every operation still applies) costs one copy of the
// configuration and one validation; only when that fails are the
// operations retried one by one to find the ones to drop.
func Replay(cfg *config.Config, ops []Op) (kept []Op, dropped []Dropped) {
	if cfg == nil || len(ops) == 0 {
		return append([]Op(nil), ops...), nil
	}
	_, baseErr := config.Validate(cfg)
	base := diagSet(baseErr)

	all := CloneConfig(cfg)
	ok := true
	for _, op := range ops {
		if err := ApplyOp(all, op); err != nil {
			ok = false
			break
		}
		config.ApplyDefaults(all)
	}
	if ok {
		if _, err := config.Validate(all); len(newDiags(err, base)) == 0 {
			*cfg = *all
			return append([]Op(nil), ops...), nil
		}
	}

	cur := cfg
	for i, op := range ops {
		next := CloneConfig(cur)
		if err := ApplyOp(next, op); err != nil {
			dropped = append(dropped, Dropped{Index: i, Op: op, Reason: err.Error()})
			continue
		}
		config.ApplyDefaults(next)
		_, err := config.Validate(next)
		if fresh := newDiags(err, base); len(fresh) > 0 {
			msgs := make([]string, len(fresh))
			for j, d := range fresh {
				msgs[j] = renderDiag(op.Action, d)
			}
			dropped = append(dropped, Dropped{Index: i, Op: op, Reason: strings.Join(msgs, "; ")})
			continue
		}
		kept = append(kept, op)
		cur = next
	}
	if cur != cfg {
		*cfg = *cur
	}
	return kept, dropped
}

// diagSet returns the rendered diagnostics of err.
func diagSet(err error) map[string]bool {
	m := map[string]bool{}
	for _, d := range config.Diagnostics(err) {
		m[d.Error()] = true
	}
	if err != nil && len(m) == 0 {
		m[err.Error()] = true
	}
	return m
}

// newDiags returns the diagnostics of err that are not in base.
func newDiags(err error, base map[string]bool) []*config.Diag {
	if err == nil {
		return nil
	}
	ds := config.Diagnostics(err)
	if len(ds) == 0 {
		if base[err.Error()] {
			return nil
		}
		return []*config.Diag{{ID: "config", Rule: "V0", Msg: err.Error()}}
	}
	var out []*config.Diag
	for _, d := range ds {
		if !base[d.Error()] {
			out = append(out, d)
		}
	}
	return out
}

// renderDiag renders a validation finding of a candidate built by action:
// a finding without a file position was introduced by the operation and
// reads "api:<Action>: <id>: <rule>: <message>"; the others keep their
// FILE:LINE:COL form (SPEC §3).
func renderDiag(action string, d *config.Diag) string {
	if d.Line == 0 {
		return fmt.Sprintf("api:%s: %s: %s: %s", action, d.ID, d.Rule, d.Msg)
	}
	return d.Error()
}

// Effective is the effective configuration of R5: the file with the
// overlay replayed on top.
type Effective struct {
	Config   *config.Config
	Warnings []*config.Diag // of the effective configuration (V20, C4)
	Kept     []Op           // operations that still apply, in order
	Dropped  []Dropped      // operations that no longer apply (R5)
}

// LoadEffective reads and validates the configuration file at path (every
// error is returned, joined, as config.Validate does: an invalid file is
// rejected whole, R3, Q2), then replays ops on top. The result is valid.
// The caller applies it and, on success, persists the pruning with
// Overlay.Replace(e.Kept, e.Dropped...) when e.Dropped is not empty.
func LoadEffective(path string, ops []Op) (*Effective, error) {
	cfg, _, err := config.LoadAndValidate(path)
	if err != nil {
		return nil, err
	}
	kept, dropped := Replay(cfg, ops)
	warns, err := config.Validate(cfg)
	if err != nil {
		return nil, err
	}
	return &Effective{Config: cfg, Warnings: warns, Kept: kept, Dropped: dropped}, nil
}
