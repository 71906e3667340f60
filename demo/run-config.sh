#!/usr/bin/env bash
# make demo CONFIG=configs/FILE.yaml: run vrouterd on one of the example
# configurations, show what it built (ports, route tables with their System,
# Custom and CEN entries), let every instance ping its VSwitch gateway and
# trace a packet between the first two instances, then stop. Namespaces named
# in the file that do not exist are created by vrouterd and removed when it
# stops (F1); nothing else is touched. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:?usage: run-config.sh CONFIG.yaml}
VROUTERD=${VROUTERD:-./bin/vrouterd}
VROUTERCTL=${VROUTERCTL:-./bin/vrouterctl}
WORK=$(mktemp -d /tmp/vrouter-demo.XXXXXX)
PID=""
cleanup() {
	set +e
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null; fi
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ctl() { "$VROUTERCTL" --socket "$WORK/vrouterd.sock" "$@"; }

[ "$(id -u)" = 0 ] || { echo "make demo needs root (it creates network namespaces and TUN devices)"; exit 1; }
for ns in $(grep -o 'netns: *[A-Za-z0-9_.-]*' "$CONFIG" | awk '{print $2}' | sort -u); do
	if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
		echo "namespace $ns already exists: vrouterd would use it and leave it (F1); remove it first for a clean demo"
	fi
done
say "checking $CONFIG"
"$VROUTERD" --check --config "$CONFIG"
say "starting vrouterd"
"$VROUTERD" --config "$CONFIG" --state-dir "$WORK/state" --api-socket "$WORK/vrouterd.sock" \
	--metrics-addr 127.0.0.1:0 --log-format json 2>"$WORK/vrouterd.log" &
PID=$!
for _ in $(seq 100); do
	grep -q '"vrouterd ready"' "$WORK/vrouterd.log" 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || { cat "$WORK/vrouterd.log"; exit 1; }
	sleep 0.1
done
grep '"vrouterd ready"' "$WORK/vrouterd.log"
say "instances and route tables"
ctl describe-instances
ctl describe-route-tables
for t in $(ctl -o json describe-route-tables | grep -o '"RouteTableId": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | sort -u); do
	echo "-- $t"; ctl describe-route-entry-list --table "$t"
done
say "every instance pings its gateway (F3)"
ctl -o json describe-instances > "$WORK/inst.json"
python3 - "$WORK/inst.json" > "$WORK/pings" <<'PY'
import json, sys, ipaddress
d = json.load(open(sys.argv[1]))
for i in d.get("Instances", []):
    ns, ip = i.get("Netns"), i.get("PrimaryIpAddress")
    if ns and ip:
        print(i["InstanceId"], ns, ip)
PY
first=""; second=""
while read -r id ns ip; do
	gw=$(ip -n "$ns" route show default | awk '{print $3; exit}')
	printf '%-14s %-16s ' "$id" "$ns"
	ip netns exec "$ns" ping -c 2 -i 0.2 -W 1 -q "$gw" | grep -o '[0-9]* received'
	[ -z "$first" ] && first=$id || { [ -z "$second" ] && second=$ip; }
done < "$WORK/pings"
if [ -n "$first" ] && [ -n "$second" ]; then
	say "trace $first -> $second tcp/22 (R7; nothing is sent)"
	ctl trace --from "$first" --dst "$second" --proto tcp --dport 22 || true
fi
say "stopping vrouterd"
kill -TERM "$PID"; wait "$PID"; PID=""
echo "demo finished"
