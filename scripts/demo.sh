#!/usr/bin/env bash
# A walk through the lockout gate, in a private mount namespace with a throwaway user:
# wrong passwords -> locked (refused before the password is asked) -> ticketgate status ->
# ticketgate reset -> login. Nothing on the host changes. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scripts/demo.sh: run as root (private mount namespaces)" >&2; exit 2; }
scripts/install-test-deps.sh --demo
cargo build --release -q -p pam-ticketgate-module -p pam_ticketgate

if [ "${1:-}" != "--inside" ]; then
    exec unshare -m --propagation private "$0" --inside
fi

top=$PWD
so=$top/target/release/libpam_ticketgate.so
tg=$top/target/release/ticketgate
box=$(mktemp -d /tmp/ticketgate-demo.XXXXXX)
trap 'rm -rf "$box"' EXIT
chmod 755 "$box"
user=demo password='correct horse battery'

# Throwaway /etc: the host's files plus one user with a known password.
mkdir "$box/pam.d" "$box/etc"
cp /etc/passwd /etc/shadow /etc/group "$box/etc/"
echo "$user:x:4343:4343:Demo User,,,:/nonexistent:/bin/sh" >> "$box/etc/passwd"
echo "$user:$(printf '%s\n' "$password" | openssl passwd -6 -stdin):19000:0:99999:7:::" >> "$box/etc/shadow"
echo "$user:x:4343:" >> "$box/etc/group"
cat > "$box/ticketgate.toml" <<TOML
version = 1
[module]
state_dir  = "$box/state"
audit_file = "$box/audit.jsonl"
fail_delay = "0s"
[[scope]]
users = ["$user"]
[policy.default]
failed_logon       = 3
reset_failed_after = "30m"
lockout_duration   = "30m"
TOML
cat > "$box/pam.d/demo" <<PAM
auth     requisite                  $so preauth config=$box/ticketgate.toml
auth     [success=1 default=ignore] pam_unix.so nullok nodelay
auth     [default=die]              $so authfail config=$box/ticketgate.toml
auth     requisite                  $so ticket config=$box/ticketgate.toml
account  required                   $so config=$box/ticketgate.toml
account  required                   pam_unix.so
PAM
mount --bind "$box/pam.d" /etc/pam.d
for f in passwd shadow group; do mount --bind "$box/etc/$f" "/etc/$f"; done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
try() {
    printf '$ echo %q | pamtester demo %s authenticate acct_mgmt\n' "$1" "$user"
    printf '%s\n' "$1" | pamtester demo "$user" authenticate acct_mgmt 2>&1 | sed 's/^/  /' || true
}

say "The stack in /etc/pam.d/demo (inside the namespace)"
sed 's/^/  /' "$box/pam.d/demo"
say "Three wrong passwords (failed_logon = 3)"
for _ in 1 2 3; do try "wrong password"; done
say "Now even the right password is refused, before it is asked for (no 'Password:' prompt)"
try "$password"
say "What the administrator sees"
echo "\$ ticketgate status $user"
"$tg" --config "$box/ticketgate.toml" status "$user" | sed 's/^/  /'
say "The administrator resets the account"
echo "\$ ticketgate reset $user"
"$tg" --config "$box/ticketgate.toml" reset "$user" | sed 's/^/  /'
say "The right password works again"
try "$password"
say "The audit trail (audit_file, one JSON object per event)"
sed 's/^/  /' "$box/audit.jsonl"
