package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SPEC R6: `vrouterctl lint FILE` prints every error and warning, one per
// line; exit 0 when valid (warnings included), 1 when invalid, 2 on usage
// errors.
func TestLintCommand(t *testing.T) {
	markRunErrors(rootCmd)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := write("valid.yaml", "version: 1\nregion: r\nvpcs:\n  - id: vpc-a\n    cidr: 192.168.0.0/16\n    security_groups:\n      - id: sg-a\n        inner_access: drop\n        rules:\n          - {direction: ingress, protocol: all, source_cidr: 0.0.0.0/0}\n          - {direction: ingress, protocol: tcp, port_range: 22/22, source_cidr: 10.0.0.0/8}\n")
	invalid := write("invalid.yaml", "version: 1\nregion: r\nvpcs:\n  - id: vpc-a\n    cidr: 8.8.0.0/16\n  - id: vpc-a\n    cidr: 10.0.0.0/33\nbogus: 1\n")
	cases := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout
		err  string   // substring of stderr
	}{
		{"valid with a lint warning", []string{"lint", valid}, 0, []string{valid + ":11:13: sg-a: L1: warning: ", "valid (1 warnings)"}, ""},
		{"invalid", []string{"lint", invalid}, 1, []string{invalid + ":5:11: vpc-a: V3: ", invalid + ":6:9: vpc-a: V0: ", invalid + ":7:11: vpc-a: V0: ", invalid + ":8:1: config: V0: ", "invalid (4 errors"}, ""},
		{"json", []string{"lint", "-o", "json", invalid}, 1, []string{`"valid": false`, `"rule": "V3"`}, ""},
		{"missing file", []string{"lint", filepath.Join(dir, "none.yaml")}, 1, nil, "no such file"},
		{"no argument", []string{"lint"}, 2, nil, "exactly one FILE"},
		{"two arguments", []string{"lint", valid, valid}, 2, nil, "exactly one FILE"},
		{"bad output", []string{"lint", "-o", "xml", valid}, 2, nil, "--output"},
		{"unknown flag", []string{"lint", "--bogus", valid}, 2, nil, "unknown flag"},
		{"unknown command", []string{"bogus"}, 2, nil, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			outputFmt = outputTable
			var out, errb bytes.Buffer
			code := execute(tc.args, &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.out {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			if tc.err != "" && !strings.Contains(errb.String(), tc.err) {
				t.Errorf("stderr lacks %q:\n%s", tc.err, errb.String())
			}
		})
	}
	t.Run("json shape", func(t *testing.T) {
		var out bytes.Buffer
		if code, err := runLint(valid, outputJSON, &out); code != 0 || err != nil {
			t.Fatalf("code %d err %v", code, err)
		}
		var res lintResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if !res.Valid || res.Errors != 0 || res.Warnings != 1 || res.Diagnostics[0].Rule != "L1" || !res.Diagnostics[0].Warning {
			t.Errorf("%+v", res)
		}
	})
}

func TestSocketDefault(t *testing.T) {
	f := rootCmd.PersistentFlags().Lookup("socket")
	if f == nil {
		t.Fatal("no --socket flag")
	}
	if os.Getenv("VROUTER_SOCKET") == "" && f.DefValue != defaultSocket {
		t.Errorf("default %q", f.DefValue)
	}
	if rootCmd.PersistentFlags().ShorthandLookup("o") == nil {
		t.Error("no -o flag")
	}
}

// Every example config lints clean.
func TestLintExamples(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	for _, f := range files {
		var out bytes.Buffer
		if code, err := runLint(f, outputTable, &out); code != 0 || err != nil || strings.Count(out.String(), "\n") != 1 {
			t.Errorf("%s: code %d err %v\n%s", f, code, err, out.String())
		}
	}
}
