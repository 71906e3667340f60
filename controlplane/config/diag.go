package config

import (
	"errors"
	"fmt"
	"sort"
)

// Diag is one validation finding. Error() is exactly
// "FILE:LINE:COL: <id>: <rule>: <message>" (SPEC §3). ID is the resource id
// (or a path such as "quotas", "conntrack", "vpcs[2]" where there is no
// id); Rule is a SPEC rule id (V0–V20, C1–C6, S7) or a lint id (L1–L3).
// A Diag without file and position (a hand-built Config) prints as
// "<id>: <rule>: <message>".
type Diag struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	ID      string `json:"id"`
	Rule    string `json:"rule"`
	Msg     string `json:"message"`
	Warning bool   `json:"warning,omitempty"`
}

func (d *Diag) Error() string {
	if d.File == "" && d.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", d.ID, d.Rule, d.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s: %s", d.File, d.Line, d.Col, d.ID, d.Rule, d.Msg)
}

// String is Error() with "warning: " before the message of a warning; it
// is what `vrouterctl lint` prints.
func (d *Diag) String() string {
	if !d.Warning {
		return d.Error()
	}
	w := *d
	w.Msg = "warning: " + d.Msg
	return w.Error()
}

// Pos returns the diagnostic's position.
func (d *Diag) Pos() Pos { return Pos{d.Line, d.Col} }

// SortDiags sorts in file order (line, column), then by rule, id and message
// so that output is deterministic.
func SortDiags(ds []*Diag) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Msg < b.Msg
	})
}

// Diagnostics extracts every *Diag from err (as returned by Parse, Load,
// Validate, ValidateTransition), in order. Errors that are not Diags (I/O
// errors) are skipped.
func Diagnostics(err error) []*Diag {
	var out []*Diag
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if d, ok := e.(*Diag); ok {
			out = append(out, d)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	walk(err)
	return out
}

// joinDiags sorts, removes exact duplicates and joins; nil when empty.
func joinDiags(ds []*Diag) error {
	ds = dedupDiags(ds)
	if len(ds) == 0 {
		return nil
	}
	errs := make([]error, len(ds))
	for i, d := range ds {
		errs[i] = d
	}
	return errors.Join(errs...)
}

func dedupDiags(ds []*Diag) []*Diag {
	SortDiags(ds)
	out := ds[:0]
	var prev *Diag
	for _, d := range ds {
		if prev != nil && *prev == *d {
			continue
		}
		out = append(out, d)
		prev = d
	}
	return out
}
