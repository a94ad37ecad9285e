#!/usr/bin/env bash
# Per-login cost benchmark (not a test): pam_permit vs pam_faillock vs pam_ticketgate's lockout
# stack through real libpam, in one process; and login protect against a loopback server and a
# dead one (breaker open). Bounded: LOGINS per stack (default 20000).
# Usage: scripts/bench.sh [LOGINS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo build --release -q -p pam_ticketgate -p ticketgate-tests
exec target/release/ticketgate-bench --logins "${1:-20000}"
