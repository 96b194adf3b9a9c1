#!/bin/sh
# Build the Debian package loa_<version>_<arch>.deb with dpkg-deb (no debhelper needed).
#
#   npm run deb -- [--arch amd64|arm64] [--version V] [--node-modules DIR] [--out DIR] [--no-build] [--compress xz|gzip]
#
# The package holds the release tree in /opt/loa/releases/<version>/ (package.json, dist/,
# production node_modules/ for ARCH, the test chime, systemd/, and a PACKAGED file: the
# agent never removes it), the launcher /usr/lib/loa/loa-launch, the units in /usr/lib/systemd/system,
# the udev rule as a conffile in /etc/udev/rules.d, /usr/bin/loa-provision, and
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
case $ARCH in
amd64) NODE_ARCH=x64 ;;
arm64) NODE_ARCH=arm64 ;;
armhf) NODE_ARCH=arm ;;
*) die "--arch $ARCH: expected amd64, arm64 or armhf" ;;
esac
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

# --- /opt/loa: the same release tree install.sh installs --------------------------
mkdir -p "$OPT/systemd" "$OPT/agent"
# The version the agent reports (agent/version.ts reads package.json) is the package's.
node -e '
  const [src, dst, v] = process.argv.slice(1);
  const p = JSON.parse(require("fs").readFileSync(src, "utf8"));
  p.version = v.replace(/~/g, "-");
  delete p.scripts.prepare; // a release has no TypeScript to build
  require("fs").writeFileSync(dst, JSON.stringify(p, null, 2) + "\n");
' "$REPO/package.json" "$OPT/package.json" "$VERSION"
cp "$REPO/package-lock.json" "$OPT/"
cp -R "$REPO/dist" "$OPT/dist"
cp -R "$REPO/agent/demo-assets" "$OPT/agent/demo-assets"
for f in README.md install.sh journald-volatile.sh journald-volatile.conf loa-agent.service loa-reboot.path loa-reboot.service 99-loa-io.rules; do
  cp "$REPO/systemd/$f" "$OPT/systemd/"
done

# --- production node_modules for ARCH ---------------------------------------------
if [ -n "$MODULES" ]; then
  [ -d "$MODULES/node_modules" ] || die "--node-modules $MODULES: no node_modules/ in it"
  cp -R "$MODULES/node_modules" "$OPT/node_modules"
  echo "node_modules: from $MODULES"
elif [ "$ARCH" = "$HOST_ARCH" ]; then
  [ -d "$REPO/node_modules/better-sqlite3" ] || die "$REPO/node_modules is missing (npm ci)"
  cp -R "$REPO/node_modules/." "$OPT/node_modules/"
  (cd "$OPT" && npm prune --omit=dev --no-audit --no-fund >/dev/null) || die "npm prune --omit=dev failed"
  echo "node_modules: $REPO/node_modules, pruned to production"
elif [ -x "$REPO/systemd/native-modules.sh" ]; then
  "$REPO/systemd/native-modules.sh" "$ARCH" "$WORK/modules" || die "systemd/native-modules.sh $ARCH failed"
  cp -R "$WORK/modules/node_modules" "$OPT/node_modules"
  echo "node_modules: systemd/native-modules.sh $ARCH"
else
  die "no node_modules for $ARCH: pass --node-modules DIR (built for $ARCH), or add systemd/native-modules.sh"
fi
# What a box never uses: native modules' sources and objects (the .node files stay, in
# build/Release where `bindings` finds them) and other platforms' serialport prebuilds.
NM=$OPT/node_modules
for m in better-sqlite3 epoll; do
  [ -d "$NM/$m" ] || continue
  rm -rf "$NM/$m/deps" "$NM/$m/src"
  if [ -d "$NM/$m/build" ]; then
    find "$NM/$m/build" -mindepth 1 \( -type f ! -name '*.node' -o -name 'test_extension.node' \) -delete
    find "$NM/$m/build" -mindepth 1 -type d -empty -delete
  fi
done
[ -f "$NM/better-sqlite3/build/Release/better_sqlite3.node" ] || die "better-sqlite3's native module is missing from node_modules"
if [ -d "$NM/@serialport/bindings-cpp/prebuilds" ]; then
  find "$NM/@serialport/bindings-cpp/prebuilds" -mindepth 1 -maxdepth 1 ! -name "linux-$NODE_ARCH" -exec rm -rf {} +
fi
# The .node files must be for ARCH: a package for the wrong machine installs, then crashes.
case $ARCH in amd64) ELF='x86-64' ;; arm64) ELF='aarch64' ;; armhf) ELF='ARM,' ;; esac
if command -v file >/dev/null; then
  find "$NM" -name '*.node' | while read -r f; do
    file -b "$f" | grep -q "$ELF" || die "$f is not a $ARCH binary: $(file -b "$f")"
  done
fi

# --- launcher, units, udev rule, command, journald drop-in -----------------------------
cp "$REPO/systemd/loa-launch" "$OPT/systemd/"
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
Recommends: mpg123, mosquitto-clients
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
