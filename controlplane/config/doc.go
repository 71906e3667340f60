// Package config owns vrouter's configuration model: the YAML schema of
// SPEC §2, its strict loading with positions, the defaults vrouter adds by
// itself, validation of every rule of SPEC §3 (V0–V20), §6 (M2) and §7
// (C1–C6), the difference between two configurations (reloads, R3) and the
// lint warnings of `vrouterctl lint` (R6).
//
// Flow (DESIGN.md "Config path"):
//
//	Load / Parse          strict YAML → *Config (V0 errors with positions),
//	                      then ApplyDefaults
//	Validate              every remaining error, joined and sorted; warnings
//	Compare / ValidateTransition
//	                      what a reload changes; V4 immutability
//	Lint                  L1–L3 warnings for people
//
// Who may call what: everything here is pure (no I/O except Load's read of
// the file, no clock, no globals), so the agent, the API, the compiler and
// the CLI call it freely. A *Config is a plain value tree: after Parse (or
// ApplyDefaults) it may be read from many goroutines at once, but nothing
// in it is synchronised, so whoever wants to change it (the API applying
// an overlay operation, R5) works on its own copy and calls ApplyDefaults
// and Validate again before publishing it. The lookup index built by
// ApplyDefaults is replaced, never mutated in place.
//
// Errors are *Diag values whose Error() is
// "FILE:LINE:COL: <id>: <rule>: <message>" (SPEC §3). The rule is the SPEC
// id that the input breaks; where a reference does not resolve, the rule
// governing that reference is used (see Validate). Lint ids:
//
//	L1  a security-group rule that never decides anything because an
//	    earlier-evaluated rule of the same group (higher priority, or equal
//	    priority and drop over accept, or an identical-verdict rule written
//	    earlier) matches a superset of its packets (S3);
//	L2  inner_access: accept of a group hides a drop rule that applies to a
//	    member and whose peer matches another member (S5);
//	L3  a custom route entry that can never be chosen by longest-prefix
//	    match because more specific entries of the same table cover every
//	    address of its dst (F5).
//
// Ids chosen by defaults: the VRouter "vrt-<suffix>", the system table
// "vtb-sys-<suffix>", the default group "sg-default-<suffix>" (suffix: the
// VPC id without "vpc-"), the default VPC "vpc-default" and its per-zone
// VSwitches "vsw-default-<zone>" (V11).
package config
