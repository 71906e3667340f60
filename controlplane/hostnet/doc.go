// Package hostnet owns the host side of vrouter's ports: named network
// namespaces and the persistent TUN devices placed in them (SPEC F1, C "port"
// shape). It is the "reconcile" step of DESIGN "Config path": controlplane/agent
// turns the compiled configuration into one PortSpec per ENI or external
// attachment and calls a Host to create, update, remove or detach ports. Nothing
// in the data plane imports it; the data plane only sees Port.Dev (a tun.Device).
//
// # Namespaces
//
// Named namespaces are those of `ip netns`: nsfs bind mounts at /run/netns/NAME,
// with /run/netns made a shared mount point as iproute2 does. EnsureNetns creates
// one on a throw-away OS thread and DeleteNetns unmounts and removes it. InNetns
// runs a function on a locked OS thread inside a namespace and restores the
// thread afterwards (or discards it if restoring fails), so no goroutine ever
// runs in a namespace it did not ask for. vrouterd never adds addresses or
// routes to its own namespace (F1): a port with Netns == "" is created there
// unconfigured.
//
// # Ports
//
// Linux.Create makes a persistent TUN under a temporary name ("vrt" + 8 hex
// digits) in vrouterd's own namespace, moves it into the port's namespace,
// renames it and configures MTU, addresses (primary with its prefix, secondaries
// as /32, or point-to-point with a peer), link up, a default route via the
// gateway (onlink) and extra device routes. A TUN already present under the
// port's name (left by `--on-exit keep` or a crash, SPEC Q7) is re-attached from
// inside its namespace and reconciled instead. Every failure rolls back what the
// call did and returns one line naming the port key, the namespace and the step
// (SPEC R2). Namespaces are deleted only if this Host (or an adopted previous
// run, AdoptNamespaces) created them; a namespace that already existed is never
// deleted (F1, R4). A port whose namespace or link vanished (SPEC Q4) is reported
// by LinkGone and removed without error.
//
// Addresses on a port are exactly the spec's (IPv4); routes the spec names are
// added next to any the user has, and only routes an earlier spec installed are
// deleted by Update.
//
// # Concurrency
//
// Linux and Fake serialise all their methods on one mutex each (mu guards the
// held-port set and the created-namespace set). A Port is owned by its caller:
// calls on the same Port must not overlap, and Port fields are read-only outside
// the Host. Fake is the in-memory Host for agent tests; it models namespaces and
// persistent links with the same rules and records every call.
package hostnet
