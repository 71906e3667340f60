package topo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vrouter/vrouter/bench/internal/netenv"
	"github.com/vrouter/vrouter/dataplane/tun"
)

// loopOffset leaves room for the virtio-net header before each packet.
const loopOffset = tun.VirtioNetHdrLen

// copyStats counts one direction of the copy loop.
type copyStats struct {
	packets   atomic.Uint64
	batches   atomic.Uint64
	writeErrs atomic.Uint64
}

// TunLoop builds topology T: namespaces <prefix>-tc and -ts, each with a TUN
// "eth0" created inside it with IFF_VNET_HDR and offloads (tun.Open on a
// thread that entered the namespace), configured like a vrouterd ENI, and two
// goroutines that copy every packet with its virtio-net header from one TUN to
// the other. The loop does no routing and no checks: it is the floor a TUN
// design cannot beat. The TUNs are not persistent; closing them at cleanup
// removes them.
func TunLoop(ctx context.Context, env *netenv.Env) (*Topology, error) {
	t := &Topology{
		ID:       "T",
		Desc:     "bare TUN-to-TUN copy loop in vbench (vnet header + offloads, batches of 64)",
		ClientNS: env.Name("tc"),
		ServerNS: env.Name("ts"),
	}
	sides := []struct {
		ns   string
		addr netip.Prefix
		gw   netip.Addr
	}{
		{t.ClientNS, ClientAddr, ClientGW},
		{t.ServerNS, ServerAddr, ServerGW},
	}
	var devs [2]*tun.Linux
	closeDevs := func() error {
		var errs []error
		for _, d := range devs {
			if d != nil {
				errs = append(errs, d.Close())
			}
		}
		return errors.Join(errs...)
	}
	for i, s := range sides {
		h, err := env.AddNetns(ctx, s.ns)
		if err != nil {
			closeDevs()
			return nil, err
		}
		err = netenv.Do(h, func() error {
			d, err := tun.Open(tun.Options{Name: "eth0", Persist: false, VnetHdr: true})
			if err != nil {
				return err
			}
			devs[i] = d
			return nil
		})
		if err == nil {
			err = configureHost(h, "eth0", s.addr, s.gw)
		}
		h.Close()
		if err != nil {
			closeDevs()
			return nil, fmt.Errorf("T: %s: %w", s.ns, err)
		}
	}
	for _, d := range devs {
		if vnet, tso, _ := d.Offloads(); !vnet || !tso {
			closeDevs()
			return nil, fmt.Errorf("T: %s: kernel refused vnet header/TSO offloads (vnet=%v tso=%v)", d.Name(), vnet, tso)
		}
	}

	var stats [2]copyStats
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for dir := 0; dir < 2; dir++ {
		src, dst := devs[dir], devs[1-dir]
		st := &stats[dir]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := copyLoop(src, dst, st); err != nil {
				errc <- err
			}
		}()
	}
	env.OnCleanup(func() error {
		err := closeDevs() // wakes both loops with tun.ErrClosed
		wg.Wait()
		close(errc)
		for e := range errc {
			err = errors.Join(err, fmt.Errorf("T: copy loop: %w", e))
		}
		return err
	})
	t.Notes = func() string {
		var d [2]tun.Drops
		for i, dev := range devs {
			d[i] = dev.Drops()
		}
		return fmt.Sprintf("client→server %d pkts in %d batches, %d write errors; server→client %d pkts in %d batches, %d write errors; read drops %+v %+v",
			stats[0].packets.Load(), stats[0].batches.Load(), stats[0].writeErrs.Load(),
			stats[1].packets.Load(), stats[1].batches.Load(), stats[1].writeErrs.Load(), d[0], d[1])
	}
	return t, nil
}

// copyLoop moves batches from src to dst until src is closed. Packets keep
// their virtio-net header (bufs[i][:loopOffset]), so a TCP super-packet
// crosses whole. A packet dst refuses (queue full) is dropped and counted,
// as a router would. Nothing is allocated per batch.
func copyLoop(src, dst *tun.Linux, st *copyStats) error {
	n := src.BatchSize()
	bufs := make([][]byte, n)
	out := make([][]byte, n)
	sizes := make([]int, n)
	for i := range bufs {
		bufs[i] = make([]byte, loopOffset+tun.MaxPacketLen)
	}
	for {
		k, err := src.Read(bufs, sizes, loopOffset)
		if err != nil {
			if errors.Is(err, tun.ErrClosed) {
				return nil
			}
			return err
		}
		for i := 0; i < k; i++ {
			out[i] = bufs[i][:loopOffset+sizes[i]]
		}
		w, err := dst.Write(out[:k], loopOffset)
		if err != nil && errors.Is(err, tun.ErrClosed) {
			return nil
		}
		st.packets.Add(uint64(w))
		st.batches.Add(1)
		if w < k {
			st.writeErrs.Add(uint64(k - w))
		}
	}
}
