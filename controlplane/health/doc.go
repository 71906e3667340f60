// Package health owns next-hop health checking (SPEC F8, F9, C2): it sends
// ICMP echo requests (RFC 792) from the VRouter to every probed next hop,
// matches the replies, applies the failures/successes hysteresis and flips
// the next hop's shared fib.Health flag. It never recompiles anything: the
// data plane's next-hop groups read the flags with atomic loads (fib.Group
// Select), so a flip takes effect at the next packet.
//
// # Probing model (SPEC F9)
//
// Each Target is probed every Interval. A probe succeeds when its echo reply
// arrives less than Timeout after it was sent; otherwise it is lost. A reply
// that comes later ("late") counts as nothing: the probe is lost all the same.
// After Failures consecutive lost probes an up target goes down
// (Flag.Set(false)); after Successes consecutive good probes a down target
// goes up. Any result of the other kind resets the run, so flapping below the
// thresholds changes nothing. If a next hop stops answering at time D, the
// first probe sent after D leaves no later than D+Interval and the Failures-th
// lost probe expires no later than D + Failures×Interval + Timeout, which is
// F9's failover bound (the extra 100 ms of the SPEC are left to the data
// plane, which sees the flag at its next packet). Timeout may exceed Interval:
// several probes are then outstanding at once. Results count in the order the
// probes were sent: a good reply first resolves every older probe still
// outstanding as lost (a directly attached next hop does not reorder its
// replies), so a recovering next hop is not held back by the expiries of
// probes it missed while it was down.
//
// Replies are matched by (next-hop address, VSwitch gateway address, ICMP
// identifier, sequence). Every target has its own identifier, unique among
// targets that probe the same address from the same gateway, and an
// incrementing sequence number; identifiers and first sequence numbers start
// at random values so replies to a previous process are not mistaken for
// ours.
//
// One log line (zap, Info) is written per transition, never per probe; a
// target whose probes cannot be sent logs one warning when its sends start
// failing and one line when they work again.
//
// # Who may call what
//
//   - The agent calls Update after every compile with the compiled targets
//     (compile.Result.Health). Targets are keyed by Target.Key: state
//     (up/down, consecutive counts, counters, identifier) survives reloads for
//     every key that persists, new keys start probing and removed keys stop.
//     A new target starts in the state its Flag holds. Changed labels, port,
//     thresholds, interval and timeout take effect at once (the next probe is
//     due one new Interval after the previous one; probes already in flight
//     keep the timeout they were sent with). A changed Addr or Source restarts
//     the target's counts, since earlier evidence was about another address.
//     A new Flag pointer for a kept key is set to the target's current state.
//   - The agent runs Run in one goroutine; it calls Step whenever a probe is
//     due or a deadline passes, and returns when its context is done. Tests
//     call Step directly with a fake clock instead (see WithClock).
//   - The data plane calls HandleReply for every ICMP echo reply addressed to
//     one of the VRouter's own addresses, from any worker goroutine. It takes
//     one short lock and allocates nothing.
//   - The API and metrics call States and Transitions.
//
// Sender.Send is called from Step (Run's goroutine) with no lock of this
// package held, so a Sender may block or call back into HandleReply. The
// packet it is given is valid only during the call.
//
// # Synchronisation
//
// Prober.mu guards the target map, the reply index, the deadline heap and
// every field of every target. Prober.stepMu serialises Step and guards the
// buffers Step reuses (send jobs, pending transition logs, the packet
// buffer); it is taken before mu and never while mu is held. The total
// transition count is an atomic, and the flags are fib.Health atomics shared
// with the data plane. Step collects due work under mu, then logs and sends
// after releasing it, so HandleReply never waits for a Sender.
//
// # Cost
//
// One goroutine serves all targets: a min-heap orders them by their next
// event (the next probe or the earliest probe deadline), so a Step costs
// O(k log n) for k due targets out of n and no timer exists per target.
// Targets added together are spread evenly over one interval so a thousand
// next hops do not probe in the same instant.
package health
