// Package packet owns the byte-level view of the vrouter data plane: typed,
// zero-allocation header views over []byte (IPv4, IPv6, TCP, UDP, ICMPv4), the
// one-pass decoder Parsed.Decode, the symmetric flow hash, Internet checksums
// and the slow-path packet builders (ICMP errors, echo, IPv4 fragmentation).
//
// # Who calls what
//
// The fast path (one worker per ingress TUN queue, DESIGN "Packet path") decodes
// every packet into one reused Parsed, computes FlowHash once, and rewrites the
// TTL with DecTTL. These functions, UpdateChecksum16/32, Sum, Checksum and
// PseudoHeaderSum allocate nothing (enforced by AllocsPerRun tests) and never
// panic on any input (Decode is fuzzed, SPEC Q1).
//
// The slow path (ICMP errors under the F14 rate limit, echo replies of the
// VSwitch gateway F3, health probes F9, fragmentation F7) uses the Build*
// functions and FragmentIPv4. They also allocate nothing: they write into
// caller-provided buffers and return the number of bytes written (0, or an
// error for FragmentIPv4, when no packet may be built).
//
// # Rules followed
//
//   - Sanity checks of SPEC F12: truncated headers, bad IHL or total length, a
//     length field larger than the packet, a bad IPv4 header checksum, a version
//     other than 4 or 6 and malformed IPv4 options (RFC 791) each have their own
//     Status so that the caller can count the drop per reason. Martian address
//     checks are policy and belong to the caller.
//   - IPv6 (SPEC F13) is fully decoded (extension headers hop-by-hop, routing,
//     destination options and fragment are skipped) so that the caller can count
//     and drop it, and so that the packet path stays address-family agnostic.
//   - TTL decrement uses the incremental checksum update of RFC 1624 eqn. 3 (F6).
//   - ICMP errors follow RFC 792, RFC 1191 (next-hop MTU) and RFC 1812 4.3.2.3
//     (576-byte cap) and 4.3.2.7 (when an error must not be sent).
//   - FlowHash is symmetric so both directions of a flow choose the same ECMP
//     member (F8).
//
// # Synchronisation
//
// The package has no shared mutable state. A Parsed, a header view and the
// buffers handed to the builders belong to the caller; concurrent use of the
// same value needs the caller's own synchronisation. Header views alias the
// slice they were made from: setters write through to the packet.
package packet
