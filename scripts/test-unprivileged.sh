#!/usr/bin/env bash
# Runs the module's unit tests (`cargo test -p pam_ticketgate --lib`) as an unprivileged user:
# builds them as the caller, then runs the test binary as nobody (setpriv, from a copy under
# /tmp that nobody can read, since the target directory and the toolchain may not be). The gate
# tests run on in-memory fakes and need no root; the tests of the real file code that need
# root-owned files say "skipped (needs root ...)" and pass. Usage: scripts/test-unprivileged.sh
# [libtest args]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(cargo test -p pam_ticketgate --lib --no-run 2>&1 |
    sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))/\1/p')
[ -x "$bin" ] || { echo "scripts/test-unprivileged.sh: no unit test binary found" >&2; exit 1; }
tmp=$(mktemp -d /tmp/tg-unpriv.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$bin" "$tmp/pam_ticketgate-lib-tests"
chmod 0755 "$tmp" "$tmp/pam_ticketgate-lib-tests"
run=("$tmp/pam_ticketgate-lib-tests" --show-output "$@")
if [ "$(id -u)" -eq 0 ]; then
    run=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "${run[@]}")
fi
cd "$tmp"
"${run[@]}" 2>&1 | tee "$tmp/log" | grep -v '^skipped (needs root' || true
status=${PIPESTATUS[0]}
echo "$(grep -c '^skipped (needs root' "$tmp/log" || true) tests skipped: they need root-owned files"
exit "$status"
