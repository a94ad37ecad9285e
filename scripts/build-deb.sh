#!/usr/bin/env bash
# Builds the Debian package libpam-ticketgate_<version>_<arch>.deb with dpkg-deb.
#   scripts/build-deb.sh [OUT_DIR]     (default target/debian)
# The files are laid out by scripts/install.sh (the same script a source install runs) with
# PREFIX=/usr; the package adds the maintainer scripts and control files from packaging/debian,
# compressed man pages, the copyright and the example configurations.
# Environment:
#   TARGET_DIR    the cargo output with the built files; default target/release
#   SKIP_BUILD=1  package what TARGET_DIR has (the tests package their debug build this way)
#   DEB_COMPRESSION  dpkg-deb's -Z: xz (default, as Debian) or gzip (faster; the tests use it)
#   DEBFULLNAME, DEBEMAIL  the Maintainer (Debian's usual variables)
#   DEB_REVISION  the Debian revision (default 1): the version is <crate version>-<revision>
# Needs dpkg-dev (dpkg-architecture, dpkg-shlibdeps) and binutils (strip).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD

OUT=${1:-target/debian}
export TARGET_DIR=${TARGET_DIR:-target/release}
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -q -p pam-ticketgate-module -p pam_ticketgate -p nss-helper -p ticketgate-server -p ticketgate-agent -p ticketgate-man
fi

package=libpam-ticketgate
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pam_ticketgate/Cargo.toml | head -n 1)-${DEB_REVISION:-1}
maintainer="${DEBFULLNAME:-pam_ticketgate developers} <${DEBEMAIL:-pam-ticketgate@example.org}>"
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/root

DESTDIR=$stage PREFIX=/usr SECURITY_DIR=/lib/$multiarch/security SKIP_BUILD=1 \
    scripts/install.sh >/dev/null

# Debian policy: stripped binaries, compressed man pages, docs under /usr/share/doc/<package>.
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/lib/$multiarch/security/pam_ticketgate.so" \
    "$stage/usr/sbin/ticketgate" "$stage/usr/sbin/ticketgate-server" "$stage/usr/sbin/ticketgate-agent" \
    "$stage/usr/bin/nss-helper"
if [ -d "$stage/usr/share/man" ]; then
    find "$stage/usr/share/man" -type f ! -name '*.gz' -exec gzip -9n {} +
fi
doc=$stage/usr/share/doc/$package
install -d -m 0755 "$doc/examples"
install -m 0644 packaging/debian/copyright "$doc/copyright"
install -m 0644 conf/ticketgate-*.toml conf/server.toml "$doc/examples/"
install -d -m 0755 "$doc/examples/pam.d"
install -m 0644 conf/pam.d/* "$doc/examples/pam.d/"
gzip -9nc README.md > "$doc/README.md.gz"
gzip -9nc docs/admin-guide.md > "$doc/admin-guide.md.gz"
chmod 0644 "$doc/README.md.gz" "$doc/admin-guide.md.gz"
# The 0700 directories (secrets, state) are deliberate.
install -D -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/$package"
{
    echo "$package ($version) unstable; urgency=medium"
    echo
    echo "  * Built from the pam_ticketgate source tree with scripts/build-deb.sh."
    echo
    echo " -- $maintainer  $(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# The shared-library dependencies of what we ship, as debhelper's ${shlibs:Depends} would say.
mkdir -p "$work/shlibs/debian"
printf 'Source: pam-ticketgate\n\nPackage: %s\nArchitecture: any\n' "$package" > "$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$stage/lib/$multiarch/security/pam_ticketgate.so" \
    -e"$stage/usr/sbin/ticketgate" -e"$stage/usr/sbin/ticketgate-server" -e"$stage/usr/sbin/ticketgate-agent" \
    -e"$stage/usr/bin/nss-helper" 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "scripts/build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d -m 0755 "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
# perl (perl-base, always on Debian): the values are taken literally, whatever they contain.
VERSION=$version ARCH=$arch SIZE=$size SHLIBS=$shlibs MAINTAINER=$maintainer \
    perl -pe 's/@(VERSION|ARCH|SIZE|SHLIBS|MAINTAINER)@/$ENV{$1}/g' \
    packaging/debian/control.in > "$stage/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$stage/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$stage/DEBIAN/"
(cd "$stage" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z \
    | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$OUT"
deb=$OUT/${package}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$stage" "$deb" >/dev/null
case $deb in /*) echo "$deb" ;; *) echo "$root_dir/$deb" ;; esac
