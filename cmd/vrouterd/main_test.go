package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckExamples: every configs/*.yaml passes `vrouterd --check` (SPEC §3).
func TestCheckExamples(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs")
	}
	for _, f := range files {
		var out, errb bytes.Buffer
		if code := run([]string{"--check", "--config", f}, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d\n%s", f, code, errb.String())
		}
	}
}

// TestCheckExitCodes: 0 valid, 1 invalid with every error, 2 usage (SPEC §3).
func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`version: 1
region: r
vpcs:
  - id: vpc-a
    cidr: 8.8.0.0/16
    vswitches:
      - {id: vsw-a, zone: z, cidr: 8.8.1.0/30}
`), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"--check", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("invalid: exit %d", code)
	}
	msg := errb.String()
	if !strings.Contains(msg, "bad.yaml:5:11: vpc-a: V3:") || !strings.Contains(msg, "vsw-a: V6:") {
		t.Errorf("errors not reported with positions:\n%s", msg)
	}
	if code := run([]string{"--check"}, &out, &errb); code != 2 {
		t.Errorf("missing --config: exit %d", code)
	}
	if code := run([]string{"--bogus"}, &out, &errb); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
	if code := run([]string{"--config", bad, "--on-exit", "later"}, &out, &errb); code != 2 {
		t.Errorf("bad --on-exit: exit %d", code)
	}
}
