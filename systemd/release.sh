#!/bin/sh
# Build the OTA release artifacts loa-<version>-<arch>.tar.gz (docs/ota.md).
#
#   npm run release -- [--arch amd64|arm64|armhf]... [--version V] [--out DIR] [--no-build] [--node-modules DIR]
#
# Each tarball has one top directory loa/ holding the release tree the .deb
# installs (systemd/release-tree.sh: package.json, package-lock.json, dist/, production
# node_modules/ for ARCH, agent/demo-assets/, systemd/ with loa-launch) and RELEASE.json
# {"version","arch","node":">=20","builtAt"}. The tar is deterministic (sorted names,
# mtime and builtAt = SOURCE_DATE_EPOCH or the last commit's time, owner 0, gzip -n):
# the same tree gives the same bytes, so a sha256 names a release.
#
# --arch          Debian architecture; repeat for several; default: this machine's.
# --version       default: package.json's.
# --out           where the artifacts go; default: the checkout's dist-release/.
# --no-build      use dist/ as it is (no `npm run build`).
# --node-modules DIR  DIR/node_modules (built for the one --arch) as the production
#                 dependencies; without it, as systemd/deb/build.sh does (host: pruned
#                 checkout; other arch: systemd/native-modules.sh, cached).
#
# Prints one line per artifact: path, bytes, sha256, tarSha256 (of the uncompressed tar,
# what a delta rebuilds), installedBytes (du of the unpacked tree), and writes the same
# as <out>/loa-<version>-<arch>.json, which `noc release` reads.
set -eu
umask 022

PROG=$(basename "$0")
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
ARCHES=
VERSION=
MODULES=
OUT=$REPO/dist-release
BUILD=1

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case $1 in
  --arch) [ $# -ge 2 ] || die "--arch needs a value"; ARCHES="$ARCHES $2"; shift 2 ;;
  --arch=*) ARCHES="$ARCHES ${1#--arch=}"; shift ;;
  --version) [ $# -ge 2 ] || die "--version needs a value"; VERSION=$2; shift 2 ;;
  --version=*) VERSION=${1#--version=}; shift ;;
  --node-modules) [ $# -ge 2 ] || die "--node-modules needs a directory"; MODULES=$2; shift 2 ;;
  --node-modules=*) MODULES=${1#--node-modules=}; shift ;;
  --out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift 2 ;;
  --out=*) OUT=${1#--out=}; shift ;;
  --no-build) BUILD=0; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 64 ;;
  esac
done

. "$REPO/systemd/release-tree.sh"
for c in tar gzip sha256sum du dpkg; do command -v $c >/dev/null || die "$c not found"; done
ARCHES=${ARCHES:-$(dpkg --print-architecture)}
for a in $ARCHES; do release_arch_check "$a"; done
[ -z "$MODULES" ] || [ "$(echo $ARCHES | wc -w)" -eq 1 ] || die "--node-modules holds one architecture's modules: give exactly one --arch with it"
[ -n "$VERSION" ] || VERSION=$(node -p 'require(process.argv[1]).version' "$REPO/package.json")
# It names a directory on the box (releases/<version>) and the files: no "/", no "..".
printf '%s' "$VERSION" | grep -Eq '^[0-9][0-9A-Za-z.+-]{0,63}$' && ! printf '%s' "$VERSION" | grep -q '\.\.' \
  || die "--version $VERSION: expected a version like 1.2.0 or 1.2.0-rc.1 (digits first, then letters, digits, . + -)"
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  EPOCH=$SOURCE_DATE_EPOCH
else
  EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null) || die "not a git checkout: set SOURCE_DATE_EPOCH (the release's timestamp, seconds)"
fi
printf '%s' "$EPOCH" | grep -Eq '^[0-9]+$' || die "SOURCE_DATE_EPOCH $EPOCH: expected whole seconds"
BUILT_AT=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/loa-release.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
if [ $BUILD = 1 ]; then (cd "$REPO" && npm run build >/dev/null) || die "npm run build failed"; fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

for ARCH in $ARCHES; do
  T0=$(date +%s)
  rm -rf "$WORK/$ARCH" && mkdir -p "$WORK/$ARCH"
  # One top directory without the version: a delta between two releases then does not
  # differ in every path name (39 KB -> 2.3 KB for a one-line change, docs/ota.md §1).
  TOP=loa
  TREE=$WORK/$ARCH/$TOP
  release_tree "$TREE" "$ARCH" "$VERSION" "$MODULES" "$WORK/$ARCH"
  printf '{"version":"%s","arch":"%s","node":">=20","builtAt":"%s"}\n' "$VERSION" "$ARCH" "$BUILT_AT" >"$TREE/RELEASE.json"
  INSTALLED=$(du -s -B1 "$TREE" | cut -f1)
  NAME=loa-$VERSION-$ARCH
  tar -C "$WORK/$ARCH" --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu --mode=go-w \
    -cf "$WORK/$ARCH/$NAME.tar" "$TOP"
  TAR_SHA=$(sha256sum "$WORK/$ARCH/$NAME.tar" | cut -d' ' -f1)
  gzip -n -9 -c "$WORK/$ARCH/$NAME.tar" >"$OUT/$NAME.tar.gz.tmp"
  mv "$OUT/$NAME.tar.gz.tmp" "$OUT/$NAME.tar.gz"
  BYTES=$(stat -c %s "$OUT/$NAME.tar.gz")
  SHA=$(sha256sum "$OUT/$NAME.tar.gz" | cut -d' ' -f1)
  printf '{"path":"%s","version":"%s","arch":"%s","bytes":%s,"sha256":"%s","tarSha256":"%s","installedBytes":%s}\n' \
    "$OUT/$NAME.tar.gz" "$VERSION" "$ARCH" "$BYTES" "$SHA" "$TAR_SHA" "$INSTALLED" >"$OUT/$NAME.json.tmp"
  mv "$OUT/$NAME.json.tmp" "$OUT/$NAME.json"
  rm -rf "$WORK/$ARCH"
  echo "built $OUT/$NAME.tar.gz in $(($(date +%s) - T0)) s"
  printf '%s %s %s %s %s\n' "$OUT/$NAME.tar.gz" "$BYTES" "$SHA" "$TAR_SHA" "$INSTALLED" >>"$WORK/table"
done
echo
(echo "path bytes sha256 tarSha256 installedBytes" && cat "$WORK/table") \
  | awk '{ r[NR] = $0; for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i) }
    END { for (n = 1; n <= NR; n++) { split(r[n], f, " "); line = ""
      for (i = 1; i <= 5; i++) line = line sprintf(i < 5 ? "%-" w[i] "s  " : "%s", f[i]); print line } }'
