#!/bin/sh
# Build the Debian package loa_<version>_<arch>.deb with dpkg-deb (no debhelper needed).
#
#   npm run deb -- [--arch amd64|arm64] [--version V] [--node-modules DIR] [--out DIR] [--no-build] [--compress xz|gzip]
#
# The package holds the release tree in /opt/loa/releases/<version>/ (package.json, dist/,
# production node_modules/ for ARCH, the test chime, systemd/, and a PACKAGED file: the
# agent never removes it), the launcher /usr/lib/loa/loa-launch, the units in /usr/lib/systemd/system,
# the udev rule as a conffile in /etc/udev/rules.d, /usr/bin/loa-provision and /usr/bin/loa-agent (systemd/loa-agent-cmd), and
# maintainer scripts (systemd/deb/postinst, prerm, postrm). It depends on the
# distribution's nodejs (>= 20: Debian 13 trixie, today's Raspberry Pi OS base).
#
# --arch       Debian architecture; default: this machine's (dpkg --print-architecture).
# --version    package version; default: package.json's, with "-" made "~" so that a
#              pre-release (1.2.0-rc.1) sorts before its release, as in semver.
# --node-modules DIR  use DIR/node_modules (built for ARCH) as the production dependencies.
#              Without it: for this machine's architecture, the checkout's node_modules/
#              (as `npm ci` made them from the lockfile) pruned with `npm prune --omit=dev`;
#              for another, systemd/native-modules.sh ARCH (cross-built native modules).
# --out        where the .deb goes; default: the checkout's dist-deb/.
# --no-build   use dist/ as it is (no `npm run build`).
# --compress   xz (default: 4.0 MB, ~40 s of one core) or gzip (~8 MB, a few seconds; for tests).
set -eu
umask 022

PROG=$(basename "$0")
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ARCH=
VERSION=
MODULES=
OUT=$REPO/dist-deb
BUILD=1
COMPRESS=xz

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
  --arch) [ $# -ge 2 ] || die "--arch needs a value"; ARCH=$2; shift 2 ;;
  --arch=*) ARCH=${1#--arch=}; shift ;;
  --version) [ $# -ge 2 ] || die "--version needs a value"; VERSION=$2; shift 2 ;;
  --version=*) VERSION=${1#--version=}; shift ;;
  --node-modules) [ $# -ge 2 ] || die "--node-modules needs a directory"; MODULES=$2; shift 2 ;;
  --node-modules=*) MODULES=${1#--node-modules=}; shift ;;
  --out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift 2 ;;
  --out=*) OUT=${1#--out=}; shift ;;
  --no-build) BUILD=0; shift ;;
  --compress) [ $# -ge 2 ] || die "--compress needs xz or gzip"; COMPRESS=$2; shift 2 ;;
  --compress=*) COMPRESS=${1#--compress=}; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 64 ;;
  esac
done

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg)"
case $COMPRESS in xz | gzip) ;; *) die "--compress $COMPRESS: expected xz or gzip" ;; esac
HOST_ARCH=$(dpkg --print-architecture)
ARCH=${ARCH:-$HOST_ARCH}
case $ARCH in amd64 | arm64 | armhf) ;; *) die "--arch $ARCH: expected amd64, arm64 or armhf" ;; esac
if [ -z "$VERSION" ]; then
  VERSION=$(node -p 'require(process.argv[1]).version' "$REPO/package.json" | tr '-' '~')
fi
# Debian's version syntax (no epoch or revision here): starts with a digit; letters, digits, . + ~
printf '%s' "$VERSION" | grep -Eq '^[0-9][A-Za-z0-9.+~]*$' || die "--version $VERSION: not a Debian version (digits first, then letters, digits, . + ~)"

T0=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/loa-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
PKG=$WORK/pkg
# The release directory is named by the semver version, as an OTA update names its own.
RELEASE=$(printf '%s' "$VERSION" | tr '~' '-')
OPT=$PKG/opt/loa/releases/$RELEASE

if [ $BUILD = 1 ]; then (cd "$REPO" && npm run build >/dev/null) || die "npm run build failed"; fi
[ -f "$REPO/dist/agent/main.js" ] || die "$REPO/dist/agent/main.js is missing (npm run build)"

# --- /opt/loa/releases/<v>: the release tree install.sh installs, and OTA tarballs carry ---
. "$REPO/systemd/release-tree.sh"
release_tree "$OPT" "$ARCH" "$VERSION" "$MODULES" "$WORK"

# --- launcher, units, udev rule, command, journald drop-in -----------------------------
printf 'This release came with the Debian package loa %s: its files are dpkg'"'"'s, and the agent never removes it.\n' "$VERSION" >"$OPT/PACKAGED"
# Root's, outside /opt/loa (which the agent may write): an update never replaces it.
install -D -m 0755 "$REPO/systemd/loa-launch" "$PKG/usr/lib/loa/loa-launch"
mkdir -p "$PKG/usr/lib/systemd/system" "$PKG/etc/udev/rules.d" "$PKG/usr/bin" "$PKG/usr/share/doc/loa"
for u in loa-agent.service loa-reboot.path loa-reboot.service; do
  install -m 0644 "$REPO/systemd/$u" "$PKG/usr/lib/systemd/system/$u"
done
install -m 0644 "$REPO/systemd/99-loa-io.rules" "$PKG/etc/udev/rules.d/99-loa-io.rules"
printf '#!/bin/sh\n# The technician'"'"'s command (package loa).\nexec /usr/bin/node /opt/loa/current/dist/provisioning/cli.js "$@"\n' >"$PKG/usr/bin/loa-provision"
chmod 0755 "$PKG/usr/bin/loa-provision"
# loa-agent --check-config / --version, as the user loa; the agent itself is the service's.
install -m 0755 "$REPO/systemd/loa-agent-cmd" "$PKG/usr/bin/loa-agent"
cp "$REPO/systemd/deb/copyright" "$PKG/usr/share/doc/loa/copyright"

# --- DEBIAN/ ---------------------------------------------------------------------------
mkdir "$PKG/DEBIAN"
for s in prerm postrm; do install -m 0755 "$HERE/$s" "$PKG/DEBIAN/$s"; done
# postinst points /opt/loa/current at this package's release.
sed "s/@RELEASE@/$RELEASE/" "$HERE/postinst" >"$PKG/DEBIAN/postinst"
chmod 0755 "$PKG/DEBIAN/postinst"
printf '/etc/udev/rules.d/99-loa-io.rules\n' >"$PKG/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat >"$PKG/DEBIAN/control" <<CONTROL
Package: loa
Version: $VERSION
Architecture: $ARCH
Maintainer: loa maintainers <loa@localhost>
Installed-Size: $SIZE
Depends: nodejs (>= 20), adduser, systemd, tzdata
Recommends: mpg123, alsa-utils, mosquitto-clients, zstd
Section: sound
Priority: optional
Homepage: file:/opt/loa/current/systemd/README.md
Description: loa agent for commune public-loudspeaker boxes
 Receives signed schedules and commands over MQTT, plays them on time through
 the box's amplifier, and reports proof of play. Runs as the systemd service
 loa-agent under the unprivileged user loa; configure with loa-provision init.
CONTROL

mkdir -p "$OUT"
DEB=$OUT/loa_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Z"$COMPRESS" --build "$PKG" "$DEB" >/dev/null
echo "built $DEB: $(stat -c %s "$DEB") bytes, installed size $SIZE KiB, $(($(date +%s) - T0)) s"
