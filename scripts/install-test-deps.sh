#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/apt-packages.txt that are not installed yet.
#   scripts/install-test-deps.sh          every package the test suite needs
#   scripts/install-test-deps.sh --demo   only those marked "[demo]" (what scripts/demo.sh needs)
#   --list (after --demo, or alone)       print the packages instead of installing them
set -euo pipefail
cd "$(dirname "$0")/.."
list=$(cat scripts/apt-packages.txt)
if [ "${1:-}" = --demo ]; then
    list=$(grep -F '[demo]' <<<"$list")
    shift
fi
wanted=$(sed -e 's/#.*//' <<<"$list" | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
if [ "${1:-}" = --list ]; then
    echo "$wanted"
    exit 0
fi
missing=()
for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packages such as openssh-server start their service on install; the tests start their
    # own daemons, so keep the machine's init from starting any (policy-rc.d, Debian's switch),
    # unless the administrator already has a policy in place.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
