#!/usr/bin/env bash
# Per-login cost benchmark (not a test): pam_permit vs pam_faillock vs pam_ticketgate's lockout
# stack through real libpam, in one process; the ticket gate (cache hit, cold fetch, dead system),
# login protect and the fleet lockout against loopback servers and dead ones (breaker open); the
# host agent (task add -> result with the real server at interval = 1s); then the load and first
# call in a new process per login, and the module's size. Bounded: LOGINS per stack
# (default 20000), 200 new processes per stack (after 10 discarded).
# Usage: scripts/bench.sh [LOGINS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo build --release -q -p pam-ticketgate-module -p pam_ticketgate -p ticketgate-tests -p ticketgate-server -p ticketgate-agent
exec target/release/ticketgate-bench --logins "${1:-20000}"
