package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad checks SPEC Q1 for the config loader: Parse, Validate, Lint and
// Compare never panic on any input, valid inputs stay valid when defaults
// are re-applied, and every finding is well formed. The committed corpus
// in testdata/fuzz/FuzzLoad holds example configs, an alias bomb, deep
// nesting and earlier crashers.
func FuzzLoad(f *testing.F) {
	// A smaller node budget keeps every execution fast; the cap itself is
	// the same code path as in production (MaxNodes).
	old := nodeBudget
	nodeBudget = 20_000
	f.Cleanup(func() { nodeBudget = old })
	// Seeds stay small (comments stripped): the fuzzer minimizes every
	// input that finds new coverage, at a cost quadratic in its size.
	files, _ := filepath.Glob("../../configs/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(stripComments(b))
		}
	}
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, warns, err := ParseAndValidate("fuzz.yaml", data)
		for _, d := range append(Diagnostics(err), warns...) {
			if d.Rule == "" || d.ID == "" || d.Msg == "" || d.Line < 0 || d.Col < 0 {
				t.Fatalf("malformed diagnostic %#v", d)
			}
		}
		if c == nil {
			return
		}
		for _, d := range Lint(c) {
			if !d.Warning || d.Rule == "" {
				t.Fatalf("malformed lint finding %#v", d)
			}
		}
		if d := Compare(c, c); !d.Empty() {
			t.Fatalf("self diff not empty: %v", d)
		}
		if err != nil {
			return
		}
		ApplyDefaults(c)
		if _, err2 := Validate(c); err2 != nil {
			t.Fatalf("valid config invalid after re-applying defaults:\n%v", err2)
		}
		if err3 := ValidateTransition(c, c); err3 != nil {
			t.Fatalf("self transition: %v", err3)
		}
	})
}

// stripComments drops full-line comments and blank lines.
func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) == 0 || t[0] == '#' {
			continue
		}
		out = append(append(out, l...), '\n')
	}
	return out
}
