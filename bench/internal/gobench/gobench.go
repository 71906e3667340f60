// Package gobench runs the project's in-process Go benchmarks (`go test
// -bench`) for vbench and parses their standard output format, so that the
// SPEC §9 targets measured inside one process (P3 pipeline cost, P4 scale,
// P6 multicast) can be printed and judged beside the netns comparison. Which
// benchmarks exist is up to the packages; this package only runs and reads
// them. Results are plain values; nothing here is shared between goroutines.
package gobench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Value is one measured quantity of a benchmark line ("ns/op", "B/op",
// "allocs/op" or a custom unit reported with b.ReportMetric).
type Value struct {
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// Result is one benchmark line.
type Result struct {
	Pkg    string  `json:"pkg"`
	Name   string  `json:"name"` // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Procs  int     `json:"procs"`
	N      int64   `json:"n"`
	Values []Value `json:"values"`
}

// Get returns the value with unit u.
func (r Result) Get(u string) (float64, bool) {
	for _, v := range r.Values {
		if v.Unit == u {
			return v.Value, true
		}
	}
	return 0, false
}

// Find returns the first result of package path suffix pkg (e.g.
// "dataplane") named name (e.g. "Forward/established").
func Find(rs []Result, pkg, name string) (Result, bool) {
	for _, r := range rs {
		if (r.Pkg == pkg || strings.HasSuffix(r.Pkg, "/"+pkg)) && r.Name == name {
			return r, true
		}
	}
	return Result{}, false
}

// Parse reads `go test -bench` output. Lines it does not understand are
// skipped; "pkg:" lines set the package of the benchmarks that follow.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if res, ok := parseLine(line); ok {
			res.Pkg = pkg
			out = append(out, res)
		}
	}
	return out, sc.Err()
}

// parseLine parses "BenchmarkName-2   1000   123 ns/op   0 B/op ...".
func parseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Result{}, false
	}
	res := Result{Name: strings.TrimPrefix(f[0], "Benchmark"), N: n, Procs: 1}
	if i := strings.LastIndexByte(res.Name, '-'); i > 0 {
		if p, err := strconv.Atoi(res.Name[i+1:]); err == nil {
			res.Name, res.Procs = res.Name[:i], p
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Values = append(res.Values, Value{Unit: f[i+1], Value: v})
	}
	return res, true
}

// Options configures Run.
type Options struct {
	Go       string   // the go command; "" means "go" from PATH
	Dir      string   // module root to run in
	Packages []string // package patterns, e.g. ./dataplane/...
	Bench    string   // -bench regexp; "" means "."
	Extra    []string // further go test flags, e.g. -benchtime=1s
	Log      io.Writer
}

// Run runs `go test -run=^$ -bench=… -benchmem` on the packages and parses
// the output, which is also copied to opts.Log as it arrives. A failing
// package is reported as an error together with whatever results the other
// packages produced.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	goBin := opts.Go
	if goBin == "" {
		goBin = "go"
	}
	bench := opts.Bench
	if bench == "" {
		bench = "."
	}
	args := []string{"test", "-run=^$", "-bench=" + bench, "-benchmem"}
	args = append(args, opts.Extra...)
	args = append(args, opts.Packages...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = opts.Dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	type parsed struct {
		rs  []Result
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		var src io.Reader = pr
		if opts.Log != nil {
			src = io.TeeReader(pr, opts.Log)
		}
		rs, err := Parse(src)
		io.Copy(io.Discard, pr) // keep the child unblocked after a parse error
		done <- parsed{rs, err}
	}()
	rerr := cmd.Run()
	pw.Close()
	p := <-done
	if rerr != nil {
		return p.rs, fmt.Errorf("go %s: %w", strings.Join(args, " "), rerr)
	}
	return p.rs, p.err
}

// WriteTable prints results as a table: package, benchmark, then each unit.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rs {
		var vals []string
		for _, v := range r.Values {
			vals = append(vals, strconv.FormatFloat(v.Value, 'g', 6, 64)+" "+v.Unit)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Pkg, r.Name, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}
