package traffic

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseTCP reads the receiver bit rate that SPEC P1 compares.
func TestParseTCP(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    float64
		wantErr string
	}{
		{"iperf3 3.12 two streams", readFixture(t, "iperf3-tcp.json"), 9651797327.2762, ""},
		{"error reported in JSON", readFixture(t, "iperf3-error.json"), 0, "Connection refused"},
		{"no sum_received", []byte(`{"end":{"sum_sent":{"bits_per_second":1}}}`), 0, "sum_received"},
		{"not JSON", []byte("iperf3: error"), 0, "-J output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTCP(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestParseUDP checks the receiver-side packet rate of SPEC P2.
func TestParseUDP(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		recv     float64
		lost     float64
		secs     float64
		wantErr  bool
		wantPPSz bool
	}{
		// 80610 sent, 32908 lost: 47702 delivered = 3052928 bytes / 64.
		{"iperf3 3.12", readFixture(t, "iperf3-udp.json"), 47702, 32908, 1.000375, false, false},
		{"older iperf3: only sum", []byte(`{"end":{"sum":{"start":0,"end":2,"packets":100,"lost_packets":10}}}`), 90, 10, 2, false, false},
		{"sum_received preferred", []byte(`{"end":{"sum":{"seconds":1,"packets":5,"lost_packets":0},"sum_received":{"seconds":1,"packets":100,"lost_packets":40}}}`), 60, 40, 1, false, false},
		{"more lost than packets clamps", []byte(`{"end":{"sum":{"seconds":1,"packets":5,"lost_packets":9}}}`), 0, 9, 1, false, true},
		{"TCP output", readFixture(t, "iperf3-tcp.json"), 0, 0, 0, true, false},
		{"error", readFixture(t, "iperf3-error.json"), 0, 0, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUDP(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Received != tt.recv || got.Lost != tt.lost || got.Seconds != tt.secs {
				t.Fatalf("got %+v, want received %v lost %v seconds %v", got, tt.recv, tt.lost, tt.secs)
			}
			if pps := got.PPS(); (pps == 0) != tt.wantPPSz || math.Abs(pps-tt.recv/tt.secs) > 1e-9 {
				t.Fatalf("PPS = %v, want %v", pps, tt.recv/tt.secs)
			}
		})
	}
}

// TestParsePing reads per-packet RTTs for SPEC P5.
func TestParsePing(t *testing.T) {
	out := `PING 192.168.2.10 (192.168.2.10) 56(84) bytes of data.
64 bytes from 192.168.2.10: icmp_seq=1 ttl=63 time=0.112 ms
64 bytes from 192.168.2.10: icmp_seq=2 ttl=63 time=0.041 ms
64 bytes from 192.168.2.10: icmp_seq=4 ttl=63 time=1.50 ms
64 bytes from 192.168.2.10: icmp_seq=5 ttl=63 time=12 ms

--- 192.168.2.10 ping statistics ---
5 packets transmitted, 4 received, 20% packet loss, time 9ms
rtt min/avg/max/mdev = 0.041/3.413/12.000/4.981 ms
`
	res, err := ParsePing(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{112 * time.Microsecond, 41 * time.Microsecond, 1500 * time.Microsecond, 12 * time.Millisecond}
	if len(res.RTTs) != len(want) {
		t.Fatalf("RTTs %v, want %v", res.RTTs, want)
	}
	for i := range want {
		if res.RTTs[i] != want[i] {
			t.Errorf("RTT[%d] = %v, want %v", i, res.RTTs[i], want[i])
		}
	}
	if res.Transmitted != 5 {
		t.Errorf("transmitted %d, want 5", res.Transmitted)
	}

	for _, bad := range []string{
		"PING x\n\n--- x ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss\n",
		"64 bytes from x: icmp_seq=1 ttl=63 time=abc ms\n",
		"64 bytes from x: icmp_seq=1 ttl=63 time=1 furlong\n",
	} {
		if _, err := ParsePing(strings.NewReader(bad)); err == nil {
			t.Errorf("ParsePing(%q) succeeded, want an error", bad)
		}
	}
}

// TestPercentile uses the nearest-rank definition.
func TestPercentile(t *testing.T) {
	us := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Microsecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", us(7), 99, 7 * time.Microsecond},
		{"median odd", us(5, 1, 3), 50, 3 * time.Microsecond},
		{"median even takes lower", us(4, 1, 3, 2), 50, 2 * time.Microsecond},
		{"p99 of 1..100", us(hundred...), 99, 99 * time.Microsecond},
		{"p100 is max", us(hundred...), 100, 100 * time.Microsecond},
		{"tiny p is min", us(hundred...), 0.001, 1 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tt.in...)
			if got := Percentile(tt.in, tt.p); got != tt.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatal("Percentile modified its input")
				}
			}
		})
	}
}
