#!/usr/bin/env bash
# make demo: run vrouterd on an embedded VPC in network namespaces and show
# traffic flowing (README). Needs root; `make demo` builds bin/ and installs
# the Debian packages first. Everything it creates is removed on exit, even
# on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

VROUTERD=${VROUTERD:-./bin/vrouterd}
VROUTERCTL=${VROUTERCTL:-./bin/vrouterctl}
P="vrdemo$$"            # unique prefix for every namespace of this run
NS_WEB=$P-web NS_APP=$P-app NS_NAT=$P-nat NS_INET=$P-inet
WORK=$(mktemp -d /tmp/vrouter-demo.XXXXXX)
PID=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
	set +e
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"; wait "$PID" 2>/dev/null
	fi
	# vrouterd removes the namespaces it created; the demo removes its own.
	for ns in "$NS_NAT" "$NS_INET"; do ip netns del "$ns" 2>/dev/null; done
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do ip netns del "$ns"; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || { echo "make demo needs root (it creates network namespaces and TUN devices)"; exit 1; }

# The NAT instance's namespace and the "internet" namespace are the demo's:
# vrouterd uses an existing namespace and never deletes it (F1).
ip netns add "$NS_NAT"
ip netns add "$NS_INET"
ip link add "${P:0:8}n" type veth peer name "${P:0:8}i"
ip link set "${P:0:8}n" netns "$NS_NAT" name wan0
ip link set "${P:0:8}i" netns "$NS_INET" name wan0
ip -n "$NS_NAT" addr add 203.0.113.1/24 dev wan0
ip -n "$NS_NAT" link set wan0 up
ip -n "$NS_INET" addr add 203.0.113.10/24 dev wan0
ip -n "$NS_INET" link set wan0 up
ip -n "$NS_INET" link set lo up
ip netns exec "$NS_NAT" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NS_NAT" nft -f - <<NFT
table ip nat {
	chain postrouting { type nat hook postrouting priority srcnat; oifname "wan0" masquerade; }
}
NFT

cat > "$WORK/vpc.yaml" <<YAML
# The embedded demo topology: one VPC, two VSwitches, an ECS instance doing
# NAT toward an "internet" namespace (SPEC §2 example, F5, F10).
version: 1
region: cn-hangzhou
vpcs:
  - id: vpc-demo
    name: demo
    cidr: 192.168.0.0/16
    vswitches:
      - {id: vsw-a, zone: cn-hangzhou-b, cidr: 192.168.1.0/24}
      - {id: vsw-b, zone: cn-hangzhou-b, cidr: 192.168.2.0/24, route_table: vtb-b}
    route_tables:
      - id: vtb-b
        name: Table1
        routes:
          - {dst: 0.0.0.0/0, next_hop: i-nat, description: everything else through the NAT instance}
    security_groups:
      # The NAT instance receives packets addressed to the internet, which
      # inner access (S5) does not cover: it admits the VPC explicitly.
      - id: sg-nat
        rules:
          - {direction: ingress, policy: accept, priority: 1, protocol: all, port_range: -1/-1, source_cidr: 192.168.0.0/16}
instances:
  - {id: i-web, vswitch: vsw-a, ip: 192.168.1.10, netns: $NS_WEB}
  - {id: i-app, vswitch: vsw-b, ip: 192.168.2.10, netns: $NS_APP}
  - {id: i-nat, vswitch: vsw-a, ip: 192.168.1.20, netns: $NS_NAT, security_groups: [sg-nat, sg-default-demo]}
YAML

say "configuration"
sed -n '/^vpcs:/,$p' "$WORK/vpc.yaml"
"$VROUTERD" --check --config "$WORK/vpc.yaml"

say "starting vrouterd"
"$VROUTERD" --config "$WORK/vpc.yaml" --state-dir "$WORK/state" --api-socket "$WORK/vrouterd.sock" \
	--metrics-addr 127.0.0.1:0 --log-format json 2>"$WORK/vrouterd.log" &
PID=$!
for _ in $(seq 100); do
	grep -q '"vrouterd ready"' "$WORK/vrouterd.log" 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || { cat "$WORK/vrouterd.log"; exit 1; }
	sleep 0.1
done
grep '"vrouterd ready"' "$WORK/vrouterd.log"
ip -n "$NS_WEB" -br addr show dev eth0
ip -n "$NS_WEB" route

say "i-web pings its gateway and i-app in the other VSwitch"
ip netns exec "$NS_WEB" ping -c 3 -i 0.2 192.168.1.253
ip netns exec "$NS_WEB" ping -c 3 -i 0.2 192.168.2.10

say "i-app reaches the internet through the NAT instance (vtb-b 0.0.0.0/0 -> i-nat)"
ip netns exec "$NS_APP" ping -c 3 -i 0.2 203.0.113.10

say "TCP transfer i-web -> i-app (iperf3, 3 s)"
ip netns exec "$NS_APP" iperf3 -s -1 -D --logfile "$WORK/iperf3.log"
sleep 0.5
ip netns exec "$NS_WEB" iperf3 -c 192.168.2.10 -t 3 -f g | tail -n 4

say "traceroute from i-app to the internet: gateway, NAT instance, destination"
ip netns exec "$NS_APP" tracepath -n -m 5 203.0.113.10 || true

say "drops by reason (metrics)"
METRICS=$(grep -o '"msg":"metrics listening","addr":"[^"]*"' "$WORK/vrouterd.log" | sed 's/.*"addr":"//; s/"$//')
if [ -n "$METRICS" ]; then
	curl -s "http://$METRICS/metrics" 2>/dev/null | grep -E '^vrouter_(port_packets_total|drops_total)' | grep -v ' 0$' | head -20 || true
fi

say "stopping vrouterd (SIGTERM removes its TUNs and the namespaces it created)"
kill -TERM "$PID"; wait "$PID"; PID=""
echo "namespaces left: $(ip netns list | awk '{print $1}' | grep "^$P-" | tr '\n' ' ')(the demo's own NAT and internet namespaces, removed now)"
echo "demo finished"
