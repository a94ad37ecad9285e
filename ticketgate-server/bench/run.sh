#!/usr/bin/env bash
# Load benchmark of ticketgate-server's POST /v1/attempt (not a test): enrolls USERS users,
# then for each store in STORES starts the release server on loopback (PostgreSQL: REPLICAS
# replicas sharing one database of a throwaway cluster, run as the postgres user like the tests'),
# drives it from a second process, and prints the figures side by side.
# Bounded: SECONDS_ (default 20) or MAX_REQUESTS (default 1000000) per store, whichever first.
# Then, on each store (PostgreSQL: the same replicas), POST /v1/fleet/failure: FLEET_USERS
# (default 10000) users, every event its own id and counted (failed_logon = 0),
# FLEET_CONNECTIONS (default 32) spread over the replicas, bounded by FLEET_SECONDS (default 10)
# or FLEET_MAX (default 200000), then again with FLEET_CONNECTIONS_LOW (default 8); the store
# must hold each event once.
# Then (BENCH "protect agents", the default; BENCH=agents for this part alone) host agents: on
# each store one server with AGENTS (default 1000) [[host]] tables, each agent polling
# POST /v1/agent/poll every AGENT_PERIOD (default 60) seconds with +/-10% jitter, on a fresh
# connection each time, for AGENT_SECONDS (default 120), with AGENT_TASKS (default 200) tasks
# queued; requests/s, p50/p99 and the server's CPU (utime+stime from /proc/PID/stat).
#   ticketgate-server/bench/run.sh                   # defaults: 100000 users, 32 connections
#   USERS=1000 SECONDS_=5 ticketgate-server/bench/run.sh
#   STORES=postgres REPLICAS=3 ticketgate-server/bench/run.sh
#   BENCH=agents ticketgate-server/bench/run.sh      # the host agents' load only
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
fleet_connections_low=${FLEET_CONNECTIONS_LOW:-8}
fleet_seconds=${FLEET_SECONDS:-10}
fleet_max=${FLEET_MAX:-200000}
stores=${STORES:-sqlite postgres}
replicas=${REPLICAS:-2}
bench=${BENCH:-protect agents}
agents=${AGENTS:-1000}
agent_period=${AGENT_PERIOD:-60}
agent_seconds=${AGENT_SECONDS:-120}
agent_tasks=${AGENT_TASKS:-200}

cd "$root"
CARGO_TARGET_DIR=$target cargo build --release -q -p ticketgate-server --bin ticketgate-server --example server-load
bin=$target/release/ticketgate-server
load=$target/release/examples/server-load

work=$(mktemp -d /tmp/ticketgate-server-bench.XXXXXX)
chmod 700 "$work"
pg=
pg_bin=
server_pids=()
stop_servers() {
    for pid in "${server_pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
    done
    server_pids=()
}
stop_postgres() {
    if [ -n "$pg" ] && [ -f "$pg/data/postmaster.pid" ]; then
        runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null || true
    fi
}
cleanup() {
    stop_servers
    stop_postgres
    rm -rf "$work"
    if [ -n "$pg" ]; then rm -rf "$pg"; fi
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

# Starts one server with config $1, logging to $2; appends its pid and address.
addrs=
start_server() {
    "$bin" --config "$1" serve 2> "$2" &
    local pid=$! addr=
    server_pids+=("$pid")
    for _ in $(seq 1 300); do
        addr=$(grep -o 'event=listening addr=[^ ]*' "$2" | head -1 | cut -d= -f3 || true)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "server did not start:"; cat "$2"; exit 1; }
    addrs=${addrs:+$addrs,}$addr
}

# Drives the servers started since the last call; the output goes to $1 too. Then drives
# /v1/fleet/failure on the same servers and checks the fleet store of config $2.
run_load() {
    local pids
    pids=$(IFS=,; echo "${server_pids[*]}")
    "$load" load "$addrs" "$work/bench.token" "$pids" "$work/data" "$connections" "$seconds" "$max_requests" "$unlocks" | tee "$1"
    "$load" fleet "$addrs" "$work/bench.token" bench "$2" "$fleet_connections" "$fleet_seconds" "$fleet_max" "$fleet_users" | tee "$1.fleet"
    "$load" fleet "$addrs" "$work/bench.token" bench "$2" "$fleet_connections_low" "$fleet_seconds" "$fleet_max" "$fleet_users" | tee "$1.fleet-low"
    stop_servers
    addrs=
}

start_postgres() {
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$pg_bin/initdb" ] || { echo "PostgreSQL is missing: run scripts/install-test-deps.sh"; exit 1; }
    pg=$(mktemp -d /tmp/ticketgate-server-bench-pg.XXXXXX)
    chmod 755 "$pg"
    local password
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    echo "$password" > "$pg/pw"
    mkdir -m 700 "$pg/data" "$pg/sockets"
    chown -R postgres:postgres "$pg"
    runuser -u postgres -- "$pg_bin/initdb" -D "$pg/data" -U postgres --auth=scram-sha-256 \
        --pwfile="$pg/pw" --no-sync -E UTF8 >/dev/null
    # Durability as shipped (fsync, synchronous_commit on): only the address and sockets differ.
    printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nmax_connections = 200\n" \
        "$pg/sockets" >> "$pg/data/postgresql.auto.conf"
    pg_port=
    for port in $(seq 55432 55462); do
        if runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -o "-p $port" -w -t 30 start >/dev/null 2>&1; then
            pg_port=$port
            break
        fi
    done
    [ -n "$pg_port" ] || { echo "PostgreSQL did not start:"; cat "$pg/postgres.log"; exit 1; }
    PGPASSWORD=$password psql -q -h "$pg/sockets" -p "$pg_port" -U postgres -d postgres -c "CREATE DATABASE ticketgate"
    echo "postgresql://postgres:$password@127.0.0.1:$pg_port/ticketgate?sslmode=disable" > "$work/pg.url"
    chmod 600 "$work/pg.url"
    { echo 'store = "postgres"'; echo "postgres_url_file = \"$work/pg.url\""; cat "$work/server.toml"; } > "$work/server-pg.toml"
    chmod 600 "$work/server-pg.toml"
    echo "postgresql: $("$pg_bin/postgres" --version), port $pg_port, data in $pg/data"
}

echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1048576 " GiB"}'), $(uname -r)"
if [[ " $bench " == *" protect "* ]]; then
"$load" populate "$work/data" "$users"
echo "store size: $(du -sh "$work/data" | cut -f1)"
if [[ " $stores " == *" postgres "* ]]; then
    # Copied before any unlock: an unlock's code is then used in one store only.
    start_postgres
    t0=$(date +%s%N)
    "$bin" --config "$work/server-pg.toml" store copy --from sqlite --to postgres
    t1=$(date +%s%N)
    echo "store copy: $(( (t1 - t0) / 1000000 )) ms"
fi

for store in $stores; do
    echo
    case $store in
    sqlite)
        echo "== store = \"sqlite\": one server"
        t0=$(date +%s%N)
        start_server "$work/server.toml" "$work/sqlite.log"
        t1=$(date +%s%N)
        echo "server: pid ${server_pids[0]} on $addrs, ready $(( (t1 - t0) / 1000000 )) ms after exec with $users users enrolled"
        run_load "$work/sqlite.out" "$work/server.toml"
        log=$work/sqlite.log
        ;;
    postgres)
        echo "== store = \"postgres\": $replicas replicas, one database"
        for r in $(seq 1 "$replicas"); do
            start_server "$work/server-pg.toml" "$work/postgres-$r.log"
        done
        echo "servers: pids ${server_pids[*]} on $addrs"
        run_load "$work/postgres.out" "$work/server-pg.toml"
        stop_postgres
        log="$work/postgres-*.log"
        ;;
    *) echo "unknown store $store (sqlite or postgres)"; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    echo "server log: $(cat $log | grep -c 'event=attempt ') attempt lines, $(cat $log | grep -c 'event=unlock ') unlock lines, $(cat $log | grep -c 'reason=store_') store failures; clean shutdowns: $(cat $log | grep -c 'clean=true')"
    # shellcheck disable=SC2086
    cat $log | grep 'reason=store_' | head -3 || true
done

echo
echo "== /v1/attempt side by side ($connections connections, $users users, $(nproc) cores shared by load, servers and database)"
printf "%-28s %12s %10s %10s\n" store attempts/s p50_ms p99_ms
for store in $stores; do
    out=$work/$store.out
    rate=$(grep -o '= [0-9]* attempts/s' "$out" | awk '{print $2}')
    p50=$(grep -o 'p50 [0-9.]* ms' "$out" | awk '{print $2}')
    p99=$(grep -o 'p99 [0-9.]* ms' "$out" | awk '{print $2}')
    label=$store
    [ "$store" = postgres ] && label="postgres ($replicas replicas)"
    printf "%-28s %12s %10s %10s\n" "$label" "$rate" "$p50" "$p99"
done

echo
echo "== /v1/fleet/failure side by side ($fleet_users users, every event counted once)"
printf "%-28s %12s %12s %10s %10s\n" store connections events/s p50_ms p99_ms
for store in $stores; do
    for run in fleet:$fleet_connections fleet-low:$fleet_connections_low; do
        out=$work/$store.out.${run%%:*}
        rate=$(grep -o '= [0-9]* events/s' "$out" | awk '{print $2}')
        p50=$(grep -o 'p50 [0-9.]* ms' "$out" | awk '{print $2}')
        p99=$(grep -o 'p99 [0-9.]* ms' "$out" | awk '{print $2}')
        label=$store
        [ "$store" = postgres ] && label="postgres ($replicas replicas)"
        printf "%-28s %12s %12s %10s %10s\n" "$label" "${run#*:}" "$rate" "$p50" "$p99"
    done
done
fi

if [[ " $bench " == *" agents "* ]]; then
    # One server per store with AGENTS hosts and [agent]; a fresh PostgreSQL cluster.
    mkdir -p "$work/agents"
    head -c 32 /dev/urandom | base64 > "$work/task.key"
    chmod 600 "$work/task.key"
    {
        echo 'listen = "127.0.0.1:0"'
        echo "data_dir = \"$work/agents-data\""
        echo '[agent]'
        echo "task_key_file = \"$work/task.key\""
        echo "interval = \"${agent_period}s\""
        "$load" agents-setup "$work/agents/tokens" "$agents"
    } > "$work/agents.toml"
    chmod 600 "$work/agents.toml"
    for store in $stores; do
        echo
        config=$work/agents.toml
        case $store in
        sqlite) echo "== host agents, store = \"sqlite\": one server" ;;
        postgres)
            echo "== host agents, store = \"postgres\": one server"
            if [ -n "$pg" ]; then stop_postgres; rm -rf "$pg"; pg=; fi
            start_postgres
            { echo 'store = "postgres"'; echo "postgres_url_file = \"$work/pg.url\""; cat "$work/agents.toml"; } > "$work/agents-pg.toml"
            chmod 600 "$work/agents-pg.toml"
            config=$work/agents-pg.toml
            ;;
        *) echo "unknown store $store (sqlite or postgres)"; exit 2 ;;
        esac
        start_server "$config" "$work/agents-$store.log"
        "$load" agents "$addrs" "$work/agents/tokens" "${server_pids[0]}" "$config" "$agents" "$agent_period" "$agent_seconds" "$agent_tasks" | tee "$work/agents-$store.out"
        stop_servers
        addrs=
        echo "server log: $(grep -c 'event=agent_poll ' "$work/agents-$store.log") agent_poll lines (polls with results or tasks), $(grep -c 'event=task_result ' "$work/agents-$store.log") task_result lines, $(grep -c 'reason=store_' "$work/agents-$store.log") store failures"
        [ "$store" = postgres ] && stop_postgres
    done
    echo
    echo "== /v1/agent/poll side by side ($agents agents every ${agent_period}s +/-10%, ${agent_seconds}s, one server, $(nproc) cores shared by agents, server and database)"
    printf "%-12s %12s %10s %10s %12s\n" store requests/s p50_ms p99_ms server_cpu
    for store in $stores; do
        out=$work/agents-$store.out
        rate=$(grep -o '= [0-9.]* requests/s' "$out" | awk '{print $2}')
        p50=$(grep -o 'p50 [0-9.]* ms' "$out" | awk '{print $2}')
        p99=$(grep -o 'p99 [0-9.]* ms' "$out" | awk '{print $2}')
        cpu=$(grep -o '= [0-9.]*% of one core' "$out" | awk '{print $2}')
        printf "%-12s %12s %10s %10s %12s\n" "$store" "$rate" "$p50" "$p99" "$cpu"
    done
fi
