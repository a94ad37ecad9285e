#!/usr/bin/env bash
# Installs pam_ticketgate from a built tree (cargo build --release).
#   scripts/install.sh              install under PREFIX (default /usr/local) into DESTDIR (default /)
#   scripts/install.sh --uninstall  remove what install put there; configuration and state stay.
#                                   It first disables the pam-auth-update profiles, and refuses
#                                   while a file in /etc/pam.d still names pam_ticketgate.so
#                                   (removing the module under a stack that loads it breaks every
#                                   login that stack serves); FORCE=1 removes it anyway.
# Environment:
#   DESTDIR       staging root (packaging); default empty = the live system
#   PREFIX        default /usr/local (binaries in $PREFIX/sbin and $PREFIX/bin, man pages and
#                 shell completions in $PREFIX/share)
#   UNITDIR       the systemd unit directory; default /lib/systemd/system for PREFIX=/usr,
#                 else $PREFIX/lib/systemd/system (systemd reads /usr/local/lib/systemd/system)
#   TMPFILESDIR   the tmpfiles.d directory; default /usr/lib/tmpfiles.d for PREFIX=/usr, else
#                 $PREFIX/lib/tmpfiles.d
#   SECURITY_DIR  where PAM modules live; default: Debian multiarch (/lib/<triplet>/security)
#                 when dpkg-architecture or that directory exists, else /usr/lib64/security
#                 (RHEL-likes), else /lib/security
#   TARGET_DIR    the cargo output with the built files; default target/release
#   SKIP_BUILD=1  do not run cargo build first
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
TARGET_DIR=${TARGET_DIR:-target/release}

security_dir() {
    if [ -n "${SECURITY_DIR:-}" ]; then echo "$SECURITY_DIR"; return; fi
    local triplet
    triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
    if [ -n "$triplet" ] && [ -d "/lib/$triplet/security" ]; then echo "/lib/$triplet/security"
    elif [ -d /usr/lib64/security ]; then echo /usr/lib64/security
    else echo /lib/security
    fi
}
SEC=$(security_dir)
if [ "$PREFIX" = /usr ]; then
    UNITDIR=${UNITDIR:-/lib/systemd/system}
    TMPFILESDIR=${TMPFILESDIR:-/usr/lib/tmpfiles.d}
else
    UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
    TMPFILESDIR=${TMPFILESDIR:-$PREFIX/lib/tmpfiles.d}
fi

files=(
    "$SEC/pam_ticketgate.so"
    "$PREFIX/sbin/ticketgate"
    "$PREFIX/sbin/ticketgate-server"
    "$PREFIX/sbin/ticketgate-agent"
    "$PREFIX/bin/nss-helper"
    "$UNITDIR/ticketgate-server.service"
    "$UNITDIR/ticketgate-agent.service"
    "$TMPFILESDIR/ticketgate.conf"
)
# Debian's pam-auth-update profiles (they only take effect once enabled, see README).
PROFILES=(ticketgate ticketgate-preauth ticketgate-authfail)
for p in "${PROFILES[@]}"; do files+=("/usr/share/pam-configs/$p"); done
# Man pages, generated from the code by ticketgate-man.
MANPAGES=(man8/pam_ticketgate.8 man8/ticketgate.8 man5/ticketgate.toml.5 man8/ticketgate-server.8 man8/ticketgate-agent.8)
for m in "${MANPAGES[@]}"; do files+=("$PREFIX/share/man/$m"); done
# Shell completions, generated from the CLIs' definitions by ticketgate-man.
COMPLETIONS=()
for prog in ticketgate ticketgate-server ticketgate-agent; do
    COMPLETIONS+=("bash-completion/completions/$prog" "zsh/vendor-completions/_$prog" "fish/vendor_completions.d/$prog.fish")
done
for c in "${COMPLETIONS[@]}"; do files+=("$PREFIX/share/$c"); done

if [ "${1:-}" = "--uninstall" ]; then
    if [ -z "$DESTDIR" ] && command -v pam-auth-update >/dev/null \
        && grep -qs pam_ticketgate /etc/pam.d/common-*; then
        DEBIAN_FRONTEND=noninteractive pam-auth-update --package --remove "${PROFILES[@]}"
        echo "disabled the pam-auth-update profiles ${PROFILES[*]}"
    fi
    users=$(grep -ls 'pam_ticketgate\.so' "$DESTDIR"/etc/pam.d/* || true)
    if [ -n "$users" ] && [ "${FORCE:-0}" != 1 ]; then
        echo "scripts/install.sh: not uninstalling: these PAM stacks still load pam_ticketgate.so:" >&2
        echo "$users" | sed 's/^/    /' >&2
        echo "remove those lines first (logins through a stack naming a missing module fail), or set FORCE=1" >&2
        exit 1
    fi
    for f in "${files[@]}"; do
        rm -f "$DESTDIR$f" && echo "removed $DESTDIR$f"
    done
    echo "kept: $DESTDIR/etc/security/ticketgate.toml, $DESTDIR/etc/ticketgate-server/, $DESTDIR/etc/logrotate.d/ticketgate, $DESTDIR/var/lib/ticketgate, $DESTDIR/var/log/ticketgate and the user _ticketgate-server (remove them by hand if wanted)"
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: scripts/install.sh [--uninstall]" >&2; exit 2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -q -p pam-ticketgate-module -p pam_ticketgate -p nss-helper -p ticketgate-server -p ticketgate-agent -p ticketgate-man
fi
for built in libpam_ticketgate.so ticketgate ticketgate-server ticketgate-agent nss-helper ticketgate-man; do
    [ -f "$TARGET_DIR/$built" ] || { echo "scripts/install.sh: $TARGET_DIR/$built is missing: build first" >&2; exit 1; }
done

# The units name the installed binaries, wherever PREFIX put them.
unit=$(mktemp)
agent_unit=$(mktemp)
mandir=$(mktemp -d)
trap 'rm -rf "$unit" "$agent_unit" "$mandir"' EXIT
sed "s#^ExecStart=/usr/local/sbin/ticketgate-server#ExecStart=$PREFIX/sbin/ticketgate-server#" conf/ticketgate-server.service > "$unit"
sed "s#^ExecStart=/usr/local/sbin/ticketgate-agent#ExecStart=$PREFIX/sbin/ticketgate-agent#" conf/ticketgate-agent.service > "$agent_unit"

install -D -m 0644 "$TARGET_DIR/libpam_ticketgate.so" "$DESTDIR$SEC/pam_ticketgate.so"
install -D -m 0755 "$TARGET_DIR/ticketgate" "$DESTDIR$PREFIX/sbin/ticketgate"
install -D -m 0755 "$TARGET_DIR/ticketgate-server" "$DESTDIR$PREFIX/sbin/ticketgate-server"
install -D -m 0755 "$TARGET_DIR/ticketgate-agent" "$DESTDIR$PREFIX/sbin/ticketgate-agent"
install -D -m 0755 "$TARGET_DIR/nss-helper" "$DESTDIR$PREFIX/bin/nss-helper"
install -D -m 0644 "$unit" "$DESTDIR$UNITDIR/ticketgate-server.service"
# Not enabled: the host agent runs once [agent] is configured (systemctl enable --now ticketgate-agent).
install -D -m 0644 "$agent_unit" "$DESTDIR$UNITDIR/ticketgate-agent.service"
install -D -m 0644 conf/tmpfiles.d/ticketgate.conf "$DESTDIR$TMPFILESDIR/ticketgate.conf"
for p in "${PROFILES[@]}"; do
    install -D -m 0644 "conf/pam-configs/$p" "$DESTDIR/usr/share/pam-configs/$p"
done
"$TARGET_DIR/ticketgate-man" "$mandir" >/dev/null
for m in "${MANPAGES[@]}"; do
    install -D -m 0644 "$mandir/$m" "$DESTDIR$PREFIX/share/man/$m"
done
for c in "${COMPLETIONS[@]}"; do
    install -D -m 0644 "$mandir/completions/$c" "$DESTDIR$PREFIX/share/$c"
done
for f in "${files[@]}"; do echo "installed $DESTDIR$f"; done

# Configuration: never overwrite one that exists (it is the administrator's).
config() {
    local src=$1 dst=$DESTDIR$2
    if [ -e "$dst" ]; then
        echo "kept existing $dst (the new example is $src)"
    else
        install -D -m 0644 "$src" "$dst" && echo "installed $dst"
    fi
}
config conf/ticketgate.toml /etc/security/ticketgate.toml
config conf/server.toml /etc/ticketgate-server/server.toml
config conf/logrotate.d/ticketgate /etc/logrotate.d/ticketgate
install -d -m 0700 "$DESTDIR/etc/security/ticketgate.d" "$DESTDIR/var/lib/ticketgate"
# The server's secrets, root only: the unit loads them as credentials (LoadCredential=), so both
# directories must exist even while empty (db: the PostgreSQL connection string).
install -d -m 0700 "$DESTDIR/etc/ticketgate-server/hosts" "$DESTDIR/etc/ticketgate-server/tls" \
    "$DESTDIR/etc/ticketgate-server/db"
# The server's system user (the unit's User=), on a live system; a package's postinst makes it.
if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ] && ! getent passwd _ticketgate-server >/dev/null; then
    if command -v adduser >/dev/null && adduser --help 2>&1 | grep -q -- --no-create-home; then
        adduser --system --group --quiet --home /var/lib/ticketgate-server --no-create-home \
            --comment "ticketgate-server login-protect server" _ticketgate-server
    else
        useradd --system --user-group --home-dir /var/lib/ticketgate-server --no-create-home \
            --shell /usr/sbin/nologin --comment "ticketgate-server login-protect server" _ticketgate-server
    fi
    echo "created the system user _ticketgate-server (ticketgate-server.service runs as it)"
fi
# The examples' audit_file lives here; the module creates the file, not the directory.
install -d -m 0750 "$DESTDIR/var/log/ticketgate"
# What systemd-tmpfiles would make at boot (conf/tmpfiles.d/ticketgate.conf), now, on a live system.
if [ -z "$DESTDIR" ] && command -v systemd-tmpfiles >/dev/null && [ -d /run/systemd/system ]; then
    systemd-tmpfiles --create "$TMPFILESDIR/ticketgate.conf" || true
fi
if [ "$(id -u)" -eq 0 ]; then
    chown root:root "$DESTDIR/etc/security/ticketgate.toml" "$DESTDIR/etc/security/ticketgate.d" "$DESTDIR/var/lib/ticketgate" "$DESTDIR/var/log/ticketgate" \
        "$DESTDIR/etc/ticketgate-server/hosts" "$DESTDIR/etc/ticketgate-server/tls" \
        "$DESTDIR/etc/ticketgate-server/db"
fi
echo "state in $DESTDIR/var/lib/ticketgate (0700); secrets go in $DESTDIR/etc/security/ticketgate.d (0700, files 0600); audit_file in $DESTDIR/var/log/ticketgate (0750)"
echo "next: ticketgate check-config, then add the stack lines (README, 'The PAM stack') — test with pamtester first"
