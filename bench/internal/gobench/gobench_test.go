package gobench

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/vrouter/vrouter/dataplane
cpu: Intel(R) Xeon(R)
BenchmarkForward/established-2         	 5000000	       231.5 ns/op	       0 B/op	       0 allocs/op
BenchmarkForward/bart_lookup-2         	20000000	        77.1 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/vrouter/vrouter/dataplane	3.1s
pkg: github.com/vrouter/vrouter/dataplane/mcast
BenchmarkReplicate128-2   	   10000	    105000 ns/op	   1219 copies/s	      16 B/op	       1 allocs/op
BenchmarkNoProcs   	   10	    5 ns/op
Benchmark broken line
BenchmarkOdd-2 12 3 ns/op 4
--- FAIL: BenchmarkX
ok  	github.com/vrouter/vrouter/dataplane/mcast	1.2s
`

// TestParse reads go test -bench output, the source of SPEC P3, P4 and P6.
func TestParse(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("got %d results, want 4: %+v", len(rs), rs)
	}
	tests := []struct {
		pkg, name string
		procs     int
		n         int64
		unit      string
		val       float64
	}{
		{"dataplane", "Forward/established", 2, 5000000, "ns/op", 231.5},
		{"dataplane", "Forward/bart_lookup", 2, 20000000, "allocs/op", 0},
		{"mcast", "Replicate128", 2, 10000, "copies/s", 1219},
		{"mcast", "NoProcs", 1, 10, "ns/op", 5},
	}
	for _, tt := range tests {
		r, ok := Find(rs, tt.pkg, tt.name)
		if !ok {
			t.Errorf("Find(%s, %s) found nothing", tt.pkg, tt.name)
			continue
		}
		if r.Procs != tt.procs || r.N != tt.n {
			t.Errorf("%s: procs %d n %d, want %d %d", tt.name, r.Procs, r.N, tt.procs, tt.n)
		}
		if v, ok := r.Get(tt.unit); !ok || v != tt.val {
			t.Errorf("%s %s = %v (%v), want %v", tt.name, tt.unit, v, ok, tt.val)
		}
	}
	if _, ok := Find(rs, "dataplane", "Replicate128"); ok {
		t.Error("Find matched a benchmark of another package")
	}
	if _, ok := rs[0].Get("furlongs"); ok {
		t.Error("Get found a unit that is not there")
	}

	var b bytes.Buffer
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Forward/established") || !strings.Contains(b.String(), "1219 copies/s") {
		t.Errorf("table:\n%s", b.String())
	}
}
