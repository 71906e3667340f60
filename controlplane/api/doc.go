// Package api owns vrouterd's management API (SPEC R5): HTTP/JSON on a
// unix socket with the cloud's action names, the overlay that persists
// changes made through it, and the Client that vrouterctl uses (R6).
//
// # Endpoints
//
// Every call is `POST /v1/<Action>` with the parameters as a JSON object
// (PascalCase names, as in the cloud API; unknown names are rejected). A
// success is 200 with a JSON reply; a failure is 4xx/5xx with
// {"code", "message", "errors"} (see Error and the Code constants).
//
//   - Mutating actions (MutatingActions): CreateRouteEntry,
//     DeleteRouteEntry, CreateRouteTable, DeleteRouteTable,
//     AssociateRouteTable, UnassociateRouteTable, AuthorizeSecurityGroup
//     (+Egress), RevokeSecurityGroup (+Egress), CreateSecurityGroup,
//     DeleteSecurityGroup, JoinSecurityGroup, LeaveSecurityGroup,
//     ModifyVpcAttribute, ModifyVSwitchAttribute, CreateVSwitch,
//     DeleteVSwitch, CreateVpc, DeleteVpc; and multicast (SPEC M3, M4;
//     mcast.go): CreateMulticastGroup, JoinMulticastGroup,
//     QuitMulticastGroup, DeleteMulticastGroup, ClearMulticastGroups,
//     AddMulticastClient, RemoveMulticastClient, ClearMulticastClients;
//     and connections (SPEC C5, C6; connections.go): AssociateEipAddress,
//     UnassociateEipAddress, AttachClassicLinkVpc, DetachClassicLinkVpc.
//   - Describe actions: DescribeVpcs, DescribeVSwitches,
//     DescribeRouteTables, DescribeRouteEntryList, DescribeSecurityGroups,
//     DescribeSecurityGroupAttribute, DescribeInstances,
//     DescribeNetworkInterfaces, DescribeMulticastGroups and
//     DescribeMulticastClients (M3 -S/-L/-P, M6: they also read the
//     published snapshot's multicast counters).
//   - Runtime: Reload (R3), Flows (conntrack dump), Stats (R8), Health
//     (next-hop states, F8/F9), Trace (R7), StateShow and StateReset (the
//     overlay).
//
// # Changes (R5, SPEC §3)
//
// A mutating action builds a candidate — a deep copy of the running
// configuration (file + overlay) with the new operation applied — runs
// config.ApplyDefaults and config.Validate (every rule of §3, exactly as
// for the file) plus V4's transition check, and only if the candidate is
// valid hands it to Backend.Apply. Once applied, the operation — with its
// parameters as apply completed them (a default it chose, such as the
// multicast server of M3, so that a replay does the same) — is
// appended to the Overlay, which writes overlay.json in the state
// directory atomically (temporary file, fsync, rename, fsync of the
// directory); if that write fails the previous configuration is
// re-applied, so a change is applied and persisted or neither. Findings
// the operation introduced have no file position and read
// "api:<Action>: <id>: <rule>: <message>"; findings at a file position
// keep "FILE:LINE:COL: …". V5 (a VPC with VSwitches, a VSwitch with ENIs
// or SNAT entries) and the other "still in use" checks are the API's own.
//
// At start and on every reload the agent computes the effective
// configuration with LoadEffective: the file (validated alone, R3) with
// the overlay replayed on top (Replay). An operation that no longer
// applies — its target left the file, or it would add a validation error
// — is dropped, reported (Dropped, in the Reload reply and the log) and
// removed from the overlay with Overlay.Replace once the result is
// applied.
//
// # Who may call what; synchronisation
//
// The agent implements Backend, creates the Overlay (OpenOverlay) and the
// Server, calls Serve and Close, and sends SIGHUP reloads through
// Server.Reload. Server.mu serialises every change (mutations, Reload,
// StateReset), so a candidate is always built from the configuration it
// replaces. Describe, Flows, Stats, Health, Trace and StateShow take no
// Server lock: they read the running *config.Config (never modified once
// published; changes work on copies made by CloneConfig), the published
// snapshot and the counters, all safe for concurrent readers. Trace runs
// dataplane.Snapshot.Forward with a non-nil *dataplane.Trace, which
// records every decision and creates no flow. The Overlay has its own
// mutex; the Client is safe for concurrent use.
package api
