#!/usr/bin/env bash
# Load benchmark of ticketgate-server's POST /v1/attempt (not a test): enrolls USERS users,
# starts the release server on loopback, drives it from a second process, prints the figures.
# Bounded: SECONDS_ (default 20) or MAX_REQUESTS (default 1000000), whichever comes first.
# Then POST /v1/fleet/failure on the SQLite fleet store: FLEET_USERS (default 10000) users, every
# event its own id and counted (failed_logon = 0), FLEET_CONNECTIONS (default 32), bounded by
# FLEET_SECONDS (default 10) or FLEET_MAX (default 200000); the store must hold each event once.
#   ticketgate-server/bench/run.sh                   # defaults: 100000 users, 32 connections
#   USERS=1000 SECONDS_=5 ticketgate-server/bench/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
users=${USERS:-100000}
connections=${CONNECTIONS:-32}
seconds=${SECONDS_:-20}
max_requests=${MAX_REQUESTS:-1000000}
unlocks=${UNLOCKS:-200}
fleet_users=${FLEET_USERS:-10000}
fleet_connections=${FLEET_CONNECTIONS:-32}
fleet_seconds=${FLEET_SECONDS:-10}
fleet_max=${FLEET_MAX:-200000}

cd "$root"
CARGO_TARGET_DIR=$target cargo build --release -q -p ticketgate-server --bin ticketgate-server --example server-load
bin=$target/release/ticketgate-server
load=$target/release/examples/server-load

work=$(mktemp -d /tmp/ticketgate-server-bench.XXXXXX)
chmod 700 "$work"
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

head -c 32 /dev/urandom | base64 > "$work/bench.token"
chmod 600 "$work/bench.token"
cat > "$work/server.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/data"
unlock_window = "60s"
[fleet]
failed_logon = 0
[[host]]
name = "bench"
token_file = "$work/bench.token"
TOML
chmod 600 "$work/server.toml"

echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1048576 " GiB"}'), $(uname -r)"
"$load" populate "$work/data" "$users"
echo "store size: $(du -sh "$work/data" | cut -f1)"

t0=$(date +%s%N)
"$bin" --config "$work/server.toml" serve 2> "$work/server.log" &
server_pid=$!
addr=
for _ in $(seq 1 300); do
    addr=$(grep -o 'event=listening addr=[^ ]*' "$work/server.log" | head -1 | cut -d= -f3 || true)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
t1=$(date +%s%N)
echo "server: pid $server_pid on $addr, ready $(( (t1 - t0) / 1000000 )) ms after exec with $users users enrolled"

"$load" load "$addr" "$work/bench.token" "$server_pid" "$work/data" "$connections" "$seconds" "$max_requests" "$unlocks"

"$load" fleet "$addr" "$work/bench.token" bench "$work/data" "$fleet_connections" "$fleet_seconds" "$fleet_max" "$fleet_users"

kill -TERM "$server_pid"
wait "$server_pid" || { echo "server exited non-zero after SIGTERM"; exit 1; }
server_pid=
echo "server log: $(grep -c 'event=attempt ' "$work/server.log") attempt lines, $(grep -c 'event=fleet_failure ' "$work/server.log") fleet_failure lines, $(grep -c 'event=unlock ' "$work/server.log") unlock lines, $(du -h "$work/server.log" | cut -f1); clean shutdown: $(grep -c 'clean=true' "$work/server.log")"
