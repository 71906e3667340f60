package traffic

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// iperfSum is the part of an iperf3 "end" summary vbench reads.
type iperfSum struct {
	Seconds       float64  `json:"seconds"`
	Start         float64  `json:"start"`
	End           float64  `json:"end"`
	Bytes         float64  `json:"bytes"`
	BitsPerSecond float64  `json:"bits_per_second"`
	Packets       *float64 `json:"packets"`
	LostPackets   *float64 `json:"lost_packets"`
}

type iperfEnd struct {
	Sum         *iperfSum `json:"sum"`
	SumSent     *iperfSum `json:"sum_sent"`
	SumReceived *iperfSum `json:"sum_received"`
}

type iperfResult struct {
	Error string   `json:"error"`
	End   iperfEnd `json:"end"`
}

func decodeIperf(out []byte) (*iperfResult, error) {
	var r iperfResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("iperf3 -J output: %w", err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("iperf3: %s", r.Error)
	}
	return &r, nil
}

// ParseTCP returns the receiver-side throughput in bit/s of an iperf3 -J TCP
// client run (end.sum_received.bits_per_second, all streams together).
func ParseTCP(out []byte) (float64, error) {
	r, err := decodeIperf(out)
	if err != nil {
		return 0, err
	}
	s := r.End.SumReceived
	if s == nil || s.BitsPerSecond <= 0 {
		return 0, errors.New("iperf3 -J output has no end.sum_received.bits_per_second")
	}
	return s.BitsPerSecond, nil
}

// UDPResult is what the receiver of an iperf3 UDP test saw.
type UDPResult struct {
	Received float64 // datagrams that arrived: packets - lost
	Lost     float64 // datagrams missing from the sequence
	Seconds  float64 // measurement interval
}

// PPS is the packets per second delivered.
func (u UDPResult) PPS() float64 {
	if u.Seconds <= 0 {
		return 0
	}
	return u.Received / u.Seconds
}

// ParseUDP extracts the receiver-side counts of an iperf3 -J UDP client run:
// end.sum_received (iperf3 ≥ 3.12; the receiver's report relayed to the
// client), else end.sum of older versions, which carries the same receiver
// counts. In both, packets is the highest sequence number the receiver saw
// and lost_packets the gaps, so packets - lost is what was delivered.
func ParseUDP(out []byte) (UDPResult, error) {
	r, err := decodeIperf(out)
	if err != nil {
		return UDPResult{}, err
	}
	for _, s := range []*iperfSum{r.End.SumReceived, r.End.Sum} {
		if s == nil || s.Packets == nil || s.LostPackets == nil {
			continue
		}
		secs := s.Seconds
		if secs <= 0 {
			secs = s.End - s.Start
		}
		if secs <= 0 {
			continue
		}
		recv := *s.Packets - *s.LostPackets
		if recv < 0 {
			recv = 0
		}
		return UDPResult{Received: recv, Lost: *s.LostPackets, Seconds: secs}, nil
	}
	return UDPResult{}, errors.New("iperf3 -J output has no UDP packet counts")
}

// PingResult is the outcome of one ping run.
type PingResult struct {
	RTTs        []time.Duration // one per reply, in arrival order
	Transmitted int             // from the summary line; 0 if absent
}

// ParsePing reads the output of ping (without -q): every reply line carries
// "time=<ms> ms"; the summary line "N packets transmitted" gives the count sent.
func ParsePing(r io.Reader) (PingResult, error) {
	var res PingResult
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "time="); i >= 0 {
			f := strings.Fields(line[i+len("time="):])
			if len(f) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return res, fmt.Errorf("ping: bad time in %q", line)
			}
			unit := "ms"
			if len(f) > 1 {
				unit = f[1]
			}
			var scale float64
			switch unit {
			case "ms":
				scale = float64(time.Millisecond)
			case "us", "µs":
				scale = float64(time.Microsecond)
			case "s":
				scale = float64(time.Second)
			default:
				return res, fmt.Errorf("ping: unknown unit in %q", line)
			}
			res.RTTs = append(res.RTTs, time.Duration(math.Round(v*scale)))
			continue
		}
		if i := strings.Index(line, " packets transmitted"); i >= 0 {
			n, err := strconv.Atoi(strings.TrimSpace(line[:i]))
			if err == nil {
				res.Transmitted = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if len(res.RTTs) == 0 {
		return res, errors.New("ping: no replies")
	}
	return res, nil
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of ds by the
// nearest-rank method; ds need not be sorted and is not modified.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}
