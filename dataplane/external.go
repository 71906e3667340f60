package dataplane

// External ports (SPEC §7): VBR leased lines, VPN gateways and the internet
// port share one shape. Their packets skip the ENI-side checks
// (anti-spoofing, security groups: S2) and enter the table of what the port
// belongs to (Port.Table). The router's own end of the point-to-point link,
// the port's `ip`, is Port.Gateway: the source of the ICMP errors and echo
// replies sent out of the port and of the health probes sent through it
// (C2), and an address of the router itself.

// externalEnd hands a packet addressed to the router's end of the external
// port it entered from to the router: an echo request is answered from that
// address, an echo reply is the answer to a health probe (C2) and reaches
// the prober through Engine.OnEchoReply; anything else is dropped as
// addressed to the router.
func (s *Snapshot) externalEnd(d Decision, in *Port, tr *Trace) Decision {
	d.Verdict = VerdictToRouter
	if tr != nil {
		tr.step("verdict", "to-router", "router end "+in.Gateway.String()+" of "+in.Name)
	}
	return d
}

// flowSide returns the port whose router's zone keys a flow between in and
// out (S7). An external port keeps no flows of its own (S2: a connection is
// checked on its ENI side only), so a flow between an ENI and an external
// port lives in the ENI's zone: its replies find it whichever leased line,
// VBR or VPN gateway they come back through (C2 failover, load balancing
// with an asymmetric return path), and two VPCs using the same addresses
// toward external networks stay apart.
func flowSide(in, out *Port) (*Port, *Port) {
	switch {
	case in.Kind == PortExternal && out.Kind != PortExternal:
		return out, out
	case out.Kind == PortExternal && in.Kind != PortExternal:
		return in, in
	}
	return in, out
}
