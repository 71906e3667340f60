package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		only    []string
		count   int
		dur     time.Duration
		wantErr string
	}{
		{"defaults", nil, []string{"K", "T", "V"}, 2, 5 * time.Second, ""},
		{"subset in display order, any case", []string{"-only", "v, k"}, []string{"K", "V"}, 2, 5 * time.Second, ""},
		{"duplicates collapse", []string{"-only", "T,T"}, []string{"T"}, 2, 5 * time.Second, ""},
		{"count and duration", []string{"-count", "3", "-duration", "2s"}, []string{"K", "T", "V"}, 3, 2 * time.Second, ""},
		{"unknown topology", []string{"-only", "K,X"}, nil, 0, 0, "unknown topology"},
		{"empty subset", []string{"-only", ","}, nil, 0, 0, "no topology"},
		{"short duration", []string{"-duration", "500ms"}, nil, 0, 0, "at least 1s"},
		{"zero count", []string{"-count", "0"}, nil, 0, 0, "-count"},
		{"bad ping", []string{"-ping-count", "0"}, nil, 0, 0, "-ping-count"},
		{"stray argument", []string{"extra"}, nil, 0, 0, "unexpected argument"},
		{"bench time as a count", []string{"-bench-time", "100x"}, []string{"K", "T", "V"}, 2, 5 * time.Second, ""},
		{"bad bench time", []string{"-bench-time", "soon"}, nil, 0, 0, "-bench-time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.only, tt.only) || o.count != tt.count || o.duration != tt.dur {
				t.Fatalf("got only %v count %d duration %v", o.only, o.count, o.duration)
			}
		})
	}
}
