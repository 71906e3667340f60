package testnet

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/vrouter/vrouter/controlplane/hostnet"
)

// Tests of the harness primitives themselves. The namespace tests are
// root-only; every namespace is made by NewNS and removed in t.Cleanup.

var (
	aAddr  = netip.MustParsePrefix("10.1.0.1/24")
	bAddr  = netip.MustParsePrefix("10.1.0.2/24")
	rAddrA = netip.MustParsePrefix("10.1.0.254/24")
	rAddrB = netip.MustParsePrefix("10.2.0.254/24")
	cAddr  = netip.MustParsePrefix("10.2.0.1/24")
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pair wires two namespaces a (10.1.0.1) and b (10.1.0.2) with a veth pair.
func pair(t *testing.T) (a, b string) {
	t.Helper()
	a, b = NewNS(t, "a"), NewNS(t, "b")
	must(t, Veth(a, "va", b, "vb"))
	must(t, AddrAdd(a, "va", aAddr))
	must(t, AddrAdd(b, "vb", bAddr))
	return a, b
}

// routed wires a (10.1.0.1) - r (kernel router) - c (10.2.0.1).
func routed(t *testing.T) (a, r, c string) {
	t.Helper()
	a, r, c = NewNS(t, "a"), NewNS(t, "r"), NewNS(t, "c")
	must(t, Veth(a, "va", r, "ra"))
	must(t, Veth(r, "rc", c, "vc"))
	must(t, AddrAdd(a, "va", aAddr))
	must(t, AddrAdd(r, "ra", rAddrA))
	must(t, AddrAdd(r, "rc", rAddrB))
	must(t, AddrAdd(c, "vc", cAddr))
	must(t, Sysctl(r, "net.ipv4.ip_forward", "1"))
	must(t, RouteAdd(a, netip.MustParsePrefix("0.0.0.0/0"), rAddrA.Addr(), ""))
	must(t, RouteAdd(c, netip.MustParsePrefix("0.0.0.0/0"), rAddrB.Addr(), ""))
	return a, r, c
}

func TestPrefix(t *testing.T) {
	p := Prefix()
	if !strings.HasPrefix(p, "vt") || len(p) > 7 || p != Prefix() {
		t.Fatalf("Prefix() = %q", p)
	}
}

func TestNewNSLifecycle(t *testing.T) {
	RequireRoot(t)
	var name string
	t.Run("inner", func(t *testing.T) {
		name = NewNS(t, "life")
		if name != Prefix()+"life" || !hostnet.NetnsExists(name) {
			t.Fatalf("NewNS = %q, exists %v", name, hostnet.NetnsExists(name))
		}
	})
	if hostnet.NetnsExists(name) {
		t.Fatalf("%s survived its test's cleanup", name)
	}
	var orphan string
	t.Run("cleanup prefix", func(t *testing.T) {
		CleanupPrefix(t)
		orphan = Prefix() + "orphan" // as if vrouterd made it and the test failed
		if _, err := hostnet.EnsureNetns(orphan); err != nil {
			t.Fatal(err)
		}
	})
	if hostnet.NetnsExists(orphan) {
		t.Fatalf("CleanupPrefix left %s", orphan)
	}
}

func TestSocketsAcrossVeth(t *testing.T) {
	RequireRoot(t)
	a, b := pair(t)

	t.Run("tcp", func(t *testing.T) {
		l, err := ListenTCP(b, bAddr.Addr().String()+":0")
		must(t, err)
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
		c, err := DialTCP(a, l.Addr().String(), 2*time.Second)
		must(t, err)
		defer c.Close()
		if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != aAddr.Addr().String() {
			t.Errorf("TCP source %s, want %s (socket not in namespace a)", got, aAddr.Addr())
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hello\n")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "hello\n" {
			t.Fatalf("echo = %q, %v", line, err)
		}
	})

	t.Run("udp", func(t *testing.T) {
		srv, err := ListenUDP(b, bAddr.Addr().String()+":0")
		must(t, err)
		defer srv.Close()
		go func() {
			buf := make([]byte, 1500)
			n, from, err := srv.ReadFromUDP(buf)
			if err == nil {
				_, _ = srv.WriteToUDP(buf[:n], from)
			}
		}()
		c, err := DialUDP(a, aAddr.Addr().String()+":0", srv.LocalAddr().String())
		must(t, err)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("udp echo = %q, %v", buf[:n], err)
		}
	})

	t.Run("ping", func(t *testing.T) {
		res, err := Ping(a, bAddr.Addr(), PingOpts{Count: 3, Interval: 5 * time.Millisecond, Timeout: 2 * time.Second})
		must(t, err)
		if res.Sent != 3 || res.Received != 3 || len(res.RTTs) != 3 || len(res.Errors) != 0 {
			t.Fatalf("ping = %+v", res)
		}
		if res.ReplyTTLs[0] != 64 {
			t.Errorf("reply TTL %d over one link, want 64", res.ReplyTTLs[0])
		}
		src := aAddr.Addr()
		res, err = Ping(a, bAddr.Addr(), PingOpts{Src: src, Size: 1000})
		must(t, err)
		if res.Received != 1 {
			t.Fatalf("ping with Src and Size = %+v", res)
		}
	})

	t.Run("ping without answer", func(t *testing.T) {
		res, err := Ping(a, netip.MustParseAddr("10.1.0.99"), PingOpts{Count: 2, Timeout: 200 * time.Millisecond})
		must(t, err)
		if res.Sent != 2 || res.Received != 0 || len(res.Errors) != 0 {
			t.Fatalf("ping of a missing host = %+v", res)
		}
	})
}

func TestPingThroughKernelRouter(t *testing.T) {
	RequireRoot(t)
	a, r, c := routed(t)
	dst := cAddr.Addr()

	res, err := Ping(a, dst, PingOpts{Timeout: 2 * time.Second})
	must(t, err)
	if res.Received != 1 || res.ReplyTTLs[0] != 63 {
		t.Fatalf("ping through router = %+v, want one reply with TTL 63", res)
	}

	// TTL 1 expires at the router (RFC 792 time exceeded, cf. SPEC F6).
	res, err = Ping(a, dst, PingOpts{TTL: 1, Count: 2, Timeout: 2 * time.Second})
	must(t, err)
	want := ICMPError{Type: 11, Code: 0, From: rAddrA.Addr()}
	if res.Received != 0 || len(res.Errors) != 2 || res.Errors[0] != want {
		t.Fatalf("TTL 1 ping = %+v, want 2× %v", res, want)
	}

	// Frag needed with the next-hop MTU (RFC 1191, cf. SPEC F7).
	must(t, SetMTU(c, "vc", 1280))
	must(t, SetMTU(r, "rc", 1280))
	res, err = Ping(a, dst, PingOpts{Size: 1400, DF: true, Timeout: 2 * time.Second})
	must(t, err)
	want = ICMPError{Type: 3, Code: 4, From: rAddrA.Addr(), MTU: 1280}
	if len(res.Errors) != 1 || res.Errors[0] != want {
		t.Fatalf("DF ping over a 1280 link = %+v, want %v", res, want)
	}
	res, err = Ping(a, dst, PingOpts{Size: 1400, Timeout: 2 * time.Second})
	must(t, err)
	if res.Received != 1 {
		t.Fatalf("fragmentable ping over a 1280 link = %+v", res)
	}
}

func TestSendRawIPv4Spoofed(t *testing.T) {
	RequireRoot(t)
	a, b := pair(t)
	for _, ns := range []string{b} {
		must(t, Sysctl(ns, "net.ipv4.conf.all.rp_filter", "0"))
		must(t, Sysctl(ns, "net.ipv4.conf.vb.rp_filter", "0"))
	}
	srv, err := ListenUDP(b, "0.0.0.0:0")
	must(t, err)
	defer srv.Close()
	port := srv.LocalAddr().(*net.UDPAddr).Port

	spoofed := netip.MustParseAddr("10.9.9.9")
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: spoofed.AsSlice(), DstIP: bAddr.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: 4242, DstPort: layers.UDPPort(port)}
	must(t, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload("spoof")))
	must(t, SendRawIPv4(a, buf.Bytes()))

	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 64)
	n, from, err := srv.ReadFromUDPAddrPort(got)
	must(t, err)
	if string(got[:n]) != "spoof" || from.Addr().Unmap() != spoofed || from.Port() != 4242 {
		t.Fatalf("received %q from %v", got[:n], from)
	}
	if err := SendRawIPv4(a, []byte{0x60, 0, 0}); err == nil {
		t.Error("SendRawIPv4 accepted a non-IPv4 packet")
	}
}

// fakeBinaries makes the test binary play vrouterd and vrouterctl (TestMain).
func fakeBinaries(t *testing.T) (string, string) {
	t.Helper()
	exe, err := os.Executable()
	must(t, err)
	dir := t.TempDir()
	for _, name := range []string{"vrouterd", "vrouterctl"} {
		script := "#!/bin/sh\nTESTNET_FAKE=" + name + " exec " + exe + " \"$@\"\n"
		must(t, os.WriteFile(dir+"/"+name, []byte(script), 0o755))
	}
	return dir + "/vrouterd", dir + "/vrouterctl"
}

// TestDaemonHarness runs the Daemon machinery against a stand-in vrouterd
// that logs like the real one (zap JSON); it needs no root.
func TestDaemonHarness(t *testing.T) {
	bin, ctl := fakeBinaries(t)
	d := startDaemon(t, bin, ctl, "", "enis: [eni-1, eni-2]\n", []string{"--extra"})
	if d.Ports != 2 {
		t.Errorf("Ports = %d, want 2", d.Ports)
	}
	if _, err := netip.ParseAddrPort(d.MetricsAddr); err != nil {
		t.Errorf("MetricsAddr %q: %v", d.MetricsAddr, err)
	}
	for _, want := range []string{"--config " + d.ConfigPath, "--state-dir " + d.StateDir, "--api-socket " + d.Socket,
		"--metrics-addr 127.0.0.1:0", "--log-format json", "--extra"} {
		if !strings.Contains(strings.Join(d.Cmd.Args, " "), want) {
			t.Errorf("args %v lack %q", d.Cmd.Args, want)
		}
	}
	m, err := d.Metrics()
	if err != nil || !strings.Contains(m, "vrouter_fake_up 1") {
		t.Errorf("Metrics = %q, %v", m, err)
	}
	out, err := d.Ctl("describe-vpcs", "-o", "json")
	if err != nil || strings.TrimSpace(out) != "--socket "+d.Socket+" describe-vpcs -o json" {
		t.Errorf("Ctl = %q, %v", out, err)
	}
	if _, err := d.Ctl("fail"); err == nil || !strings.Contains(err.Error(), "fake failure") {
		t.Errorf("failing Ctl = %v, want stderr in the error", err)
	}

	mark := d.LogMark()
	must(t, d.WriteConfig("enis: [eni-1]\n"))
	must(t, d.Signal(syscall.SIGHUP))
	if _, err := d.WaitLog(mark, "reloaded", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WaitLog(d.LogMark(), "never logged", 50*time.Millisecond); err == nil {
		t.Error("WaitLog found a line that was never logged")
	}

	if err := d.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("Stop = %v, want clean exit", err)
	}
	if d.Running() {
		t.Fatal("Running after Stop")
	}
	d.Restart(t)
	if d.Ports != 1 || !d.Running() {
		t.Errorf("after Restart: Ports %d, running %v", d.Ports, d.Running())
	}
	logs := d.Logs()
	for _, want := range []string{"plain stdout line", "---- restart", `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	t.Run("stubborn daemon is killed", func(t *testing.T) {
		old := stopTimeout
		stopTimeout = 300 * time.Millisecond
		defer func() { stopTimeout = old }()
		d := startDaemon(t, bin, ctl, "", "x", []string{"--ignore-term"})
		if err := d.Stop(syscall.SIGTERM); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Stop of a daemon ignoring SIGTERM = %v", err)
		}
	})

	t.Run("daemon failing at start", func(t *testing.T) {
		d := &Daemon{bin: bin, ctl: ctl, changed: make(chan struct{})}
		dir := t.TempDir()
		d.ConfigPath, d.StateDir, d.Socket = dir+"/c.yaml", dir, dir+"/s"
		must(t, d.WriteConfig("x"))
		err := d.start([]string{"--fail-start"})
		if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
			t.Fatalf("start = %v", err)
		}
		if !strings.Contains(d.Logs(), "cannot start") {
			t.Errorf("logs lack the daemon's error: %s", d.Logs())
		}
	})
}
