#!/usr/bin/env bash
# Runs every test: installs what the tests need on a fresh Debian machine, checks formatting and
# lints, builds the workspace (the module, the CLI, nss-helper, ticketgate-server) and runs all
# tests — unit tests, real libpam, pamtester in private mount namespaces, the servers' tests.
# Needs root (mount namespaces, root-owned test configs). Usage: scripts/test.sh [nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: run as root (the tests bind-mount /etc/pam.d, /etc/passwd, /etc/shadow in private namespaces)" >&2
    exit 2
fi

scripts/install-test-deps.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast "$@"
