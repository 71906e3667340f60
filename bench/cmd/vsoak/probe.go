package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. The kernel reports
// them in USER_HZ, which is 100 on every architecture Linux exports it for
// (it is part of the /proc ABI, independent of CONFIG_HZ).
const userHZ = 100

// procStats is what /proc says about the vrouterd process at one instant.
type procStats struct {
	RSSKiB   uint64 // VmRSS
	AnonKiB  uint64 // RssAnon: heap, stacks and other private memory
	FileKiB  uint64 // RssFile: mapped file pages (the binary's text and data)
	Threads  int    // Threads
	FDs      int    // entries of /proc/PID/fd
	CPUTicks uint64 // utime + stime, in 1/userHZ seconds
}

// parseStatus extracts VmRSS, RssAnon, RssFile (kB) and Threads from
// /proc/PID/status into ps.
func parseStatus(b []byte, ps *procStats) error {
	var haveRSS, haveThreads bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		var kib *uint64
		switch key {
		case "VmRSS":
			kib, haveRSS = &ps.RSSKiB, true
		case "RssAnon":
			kib = &ps.AnonKiB
		case "RssFile":
			kib = &ps.FileKiB
		case "Threads":
			if len(f) != 1 {
				return fmt.Errorf("status: unexpected Threads %q", val)
			}
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return fmt.Errorf("status: Threads: %w", err)
			}
			ps.Threads, haveThreads = n, true
			continue
		default:
			continue
		}
		if len(f) != 2 || f[1] != "kB" {
			return fmt.Errorf("status: unexpected %s %q", key, val)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return fmt.Errorf("status: %s: %w", key, err)
		}
		*kib = n
	}
	if !haveRSS || !haveThreads {
		return errors.New("status: VmRSS or Threads missing (process exited?)")
	}
	return nil
}

// parseStatCPU returns utime + stime (fields 14 and 15) of /proc/PID/stat.
// The command name (field 2) is in parentheses and may contain spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	// After ')': field 3 (state) is rest[0], so field n is rest[n-3].
	rest := strings.Fields(string(b[i+1:]))
	if len(rest) < 13 {
		return 0, fmt.Errorf("stat: only %d fields after the command name", len(rest))
	}
	ut, err := strconv.ParseUint(rest[14-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	st, err := strconv.ParseUint(rest[15-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return ut + st, nil
}

// readProc reads RSS, threads, descriptors and CPU time of pid.
func readProc(pid int) (procStats, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	var ps procStats
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ps, err
	}
	if err := parseStatus(b, &ps); err != nil {
		return ps, err
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return ps, err
	}
	ps.FDs = len(fds)
	b, err = os.ReadFile(dir + "/stat")
	if err != nil {
		return ps, err
	}
	ps.CPUTicks, err = parseStatCPU(b)
	return ps, err
}

// parseGoroutineTotal reads the count from the first line of
// /debug/pprof/goroutine?debug=1 ("goroutine profile: total 42").
func parseGoroutineTotal(body []byte) (int, error) {
	line, _, _ := bytes.Cut(body, []byte{'\n'})
	const prefix = "goroutine profile: total "
	s := strings.TrimSpace(string(line))
	if !strings.HasPrefix(s, prefix) {
		return 0, fmt.Errorf("goroutine profile: unexpected first line %q", s)
	}
	n, err := strconv.Atoi(s[len(prefix):])
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	return n, nil
}

// parseMemStats reads the runtime.MemStats trailer of
// /debug/pprof/heap?debug=1 ("# HeapAlloc = 123" lines); fields that are not
// a single integer (Stack = a / b, PauseNs = [...]) are skipped.
func parseMemStats(body []byte) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, "# ")
		if !ok {
			continue
		}
		key, val, ok := strings.Cut(rest, " = ")
		if !ok || strings.ContainsAny(key, " \t") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64); err == nil {
			out[key] = n
		}
	}
	if _, ok := out["HeapAlloc"]; !ok {
		return nil, errors.New("heap profile: no runtime.MemStats (HeapAlloc) in the output")
	}
	return out, nil
}

// series is one sample of the Prometheus text exposition format.
type series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseMetrics parses the Prometheus text exposition format (version 0.0.4)
// as client_golang writes it: comment lines, then `name{l="v",...} value`
// with an optional timestamp. Label values may contain the escapes \\, \"
// and \n.
func parseMetrics(body string) ([]series, error) {
	var out []series
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSeriesLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSeriesLine(line string) (series, error) {
	s := series{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if rest == "" {
				return s, fmt.Errorf("unterminated labels in %q", line)
			}
			if rest[0] == '}' {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label in %q", line)
			}
			key := strings.TrimSpace(rest[:eq])
			val, after, err := unquoteLabel(rest[eq+2:])
			if err != nil {
				return s, fmt.Errorf("%v in %q", err, line)
			}
			s.Labels[key] = val
			rest = after
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("bad value in %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %w", line, err)
	}
	s.Value = v
	return s, nil
}

// unquoteLabel reads a label value up to its closing quote and returns it
// with the rest of the line after the quote.
func unquoteLabel(s string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 >= len(s) {
				return "", "", errors.New("dangling escape")
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case '\\', '"':
				b.WriteByte(s[i])
			default:
				return "", "", fmt.Errorf("unknown escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated label value")
}

// metricSet is a parsed /metrics body with the queries vsoak needs.
type metricSet []series

// sum adds the values of every series called name whose labels include all
// of match.
func (m metricSet) sum(name string, match map[string]string) float64 {
	var t float64
	for _, s := range m {
		if s.Name != name || !labelsMatch(s.Labels, match) {
			continue
		}
		t += s.Value
	}
	return t
}

// by adds the values of the series called name, grouped by label key.
func (m metricSet) by(name, key string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.Name == name {
			out[s.Labels[key]] += s.Value
		}
	}
	return out
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// portAccount is one port's packet accounting as vrouterd exports it (R8).
type portAccount struct {
	RX, TX                       uint64 // vrouter_port_packets_total
	Forwarded, Consumed, Dropped uint64 // vrouter_port_rx_outcomes_total
}

// ports returns the accounting of every port that appears in the metrics.
func (m metricSet) ports() map[string]portAccount {
	out := map[string]portAccount{}
	for _, s := range m {
		port, ok := s.Labels["port"]
		if !ok {
			continue
		}
		var field *uint64
		pa := out[port]
		switch {
		case s.Name == "vrouter_port_packets_total" && s.Labels["direction"] == "rx":
			field = &pa.RX
		case s.Name == "vrouter_port_packets_total" && s.Labels["direction"] == "tx":
			field = &pa.TX
		case s.Name == "vrouter_port_rx_outcomes_total" && s.Labels["outcome"] == "forwarded":
			field = &pa.Forwarded
		case s.Name == "vrouter_port_rx_outcomes_total" && s.Labels["outcome"] == "consumed":
			field = &pa.Consumed
		case s.Name == "vrouter_port_rx_outcomes_total" && s.Labels["outcome"] == "dropped":
			field = &pa.Dropped
		default:
			continue
		}
		*field = uint64(s.Value)
		out[port] = pa
	}
	return out
}

// identityProblems checks the accounting identity of issue 10 on every port:
// each packet read is forwarded, consumed or dropped for a named reason
// (rx = forwarded + consumed + dropped), and the dropped outcome equals the
// sum of the port's drops by reason. It returns one line per violation,
// sorted; none means the identity holds. No port at all is a violation too.
func (m metricSet) identityProblems() []string {
	ports := m.ports()
	if len(ports) == 0 {
		return []string{"no vrouter_port_packets_total series in /metrics"}
	}
	byReason := map[string]float64{}
	for _, s := range m {
		if s.Name == "vrouter_drops_total" {
			byReason[s.Labels["port"]] += s.Value
		}
	}
	var out []string
	for name, p := range ports {
		if p.RX != p.Forwarded+p.Consumed+p.Dropped {
			out = append(out, fmt.Sprintf("%s: rx %d != forwarded %d + consumed %d + dropped %d",
				name, p.RX, p.Forwarded, p.Consumed, p.Dropped))
		}
		if r := uint64(byReason[name]); r < p.Dropped {
			out = append(out, fmt.Sprintf("%s: dropped %d but only %d drops by reason", name, p.Dropped, r))
		}
	}
	sort.Strings(out)
	return out
}

// dropReasons returns the non-zero drop counters as "port/reason" → count.
func (m metricSet) dropReasons() map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if s.Name == "vrouter_drops_total" && s.Value != 0 {
			out[s.Labels["port"]+"/"+s.Labels["reason"]] += s.Value
		}
	}
	return out
}

// scraper reads vrouterd's metrics endpoint. Keep-alives are off so that no
// idle connection of ours shows up in vrouterd's descriptor or goroutine
// counts between samples.
type scraper struct {
	addr   string
	client *http.Client
}

func newScraper(addr string) *scraper {
	return &scraper{addr: addr, client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}}
}

func (s *scraper) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

func (s *scraper) metrics(ctx context.Context) (metricSet, error) {
	b, err := s.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(string(b))
}

func (s *scraper) goroutines(ctx context.Context) (int, error) {
	b, err := s.get(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	return parseGoroutineTotal(b)
}

// memStats runs two garbage collections in vrouterd (gc=1, twice) and
// returns its runtime.MemStats after the second, so HeapAlloc is the live
// heap: the figure a leak grows, free of the GC cycle's sawtooth. One cycle
// is not enough: objects cached in a sync.Pool (the metrics handler's gzip
// writer, for one) survive the first in the pool's victim cache, and since
// vrouterd allocates almost nothing per packet it collects rarely on its
// own, so a single forced cycle reads whatever the pools happen to hold.
func (s *scraper) memStats(ctx context.Context) (map[string]uint64, error) {
	if _, err := s.get(ctx, "/debug/pprof/heap?gc=1"); err != nil {
		return nil, err
	}
	b, err := s.get(ctx, "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return nil, err
	}
	return parseMemStats(b)
}

// logLine is the part of a vrouterd JSON log line vsoak reads.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Error string `json:"error"`
	Addr  string `json:"addr"`
}

// parseLogLine decodes one JSON log line; ok is false for anything else.
func parseLogLine(line string) (l logLine, ok bool) {
	if json.Unmarshal([]byte(line), &l) != nil {
		return logLine{}, false
	}
	return l, true
}

// iperfIntervals returns the bit rate of every interval of an iperf3 -J run
// (intervals[].sum.bits_per_second, the client's view), in order.
func iperfIntervals(out []byte) ([]float64, error) {
	var r struct {
		Intervals []struct {
			Sum struct {
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum"`
		} `json:"intervals"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("iperf3 -J output: %w", err)
	}
	var bps []float64
	for _, iv := range r.Intervals {
		// iperf3 may close with a sliver of an interval; it says nothing.
		if iv.Sum.Seconds < 0.5 {
			continue
		}
		bps = append(bps, iv.Sum.BitsPerSecond)
	}
	return bps, nil
}
