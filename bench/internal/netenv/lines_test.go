package netenv

import (
	"strings"
	"testing"
)

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		keep   int
		lines  []string
		tail   string
	}{
		{"split across writes", []string{"he", "llo\nwor", "ld\n"}, 0, []string{"hello", "world"}, "hello\nworld"},
		{"several lines in one write", []string{"a\nb\nc\n"}, 2, []string{"a", "b", "c"}, "b\nc"},
		{"unterminated last line", []string{"a\npartial"}, 0, []string{"a"}, "a\npartial"},
		{"empty lines kept", []string{"\n\nx\n"}, 0, []string{"", "", "x"}, "\n\nx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &LineWriter{Keep: tt.keep, OnLine: func(l string) { got = append(got, l) }}
			for _, s := range tt.writes {
				n, err := w.Write([]byte(s))
				if n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.lines, "|") || len(got) != len(tt.lines) {
				t.Errorf("lines %q, want %q", got, tt.lines)
			}
			if w.Tail() != tt.tail {
				t.Errorf("tail %q, want %q", w.Tail(), tt.tail)
			}
		})
	}
}
