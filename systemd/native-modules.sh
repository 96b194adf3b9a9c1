#!/usr/bin/env bash
# native-modules.sh [--dev] ARCH OUTDIR
#
# Makes OUTDIR/node_modules for a box of architecture ARCH (amd64 | arm64 | armhf) on this
# (amd64 Debian) host: the dependencies exactly as package-lock.json pins them
# (`npm ci --omit=dev --ignore-scripts`, or with the dev dependencies under --dev, for tests),
# then the native modules that ship no prebuilt binary for ARCH (better-sqlite3 and epoll)
# built here with node-gyp, cross-compiled with Debian's toolchain for arm64/armhf
# (g++-aarch64-linux-gnu, g++-arm-linux-gnueabihf). Compiling SQLite under emulation takes
# more than ten minutes; cross-compiled it takes about as long as natively.
#
# The built .node files are cached by lockfile hash + ARCH + Node ABI + this script's hash,
# in ${LOA_NATIVE_CACHE:-/var/cache/loa-native}/<key>/, so a second run only runs npm ci.
# Each .node file is checked with `file` to be an ELF of ARCH. Node ABI: the host node's
# NODE_MODULE_VERSION (Node 20 = 115, Debian trixie's nodejs 20.19 included); the headers
# come from the host node (npm config nodedir, or node-gyp's download).
#
# Used by the .deb builder and release tarballs (production) and by test/arm64/run.sh (--dev).
set -euo pipefail

usage() { echo "usage: $0 [--dev] amd64|arm64|armhf OUTDIR" >&2; exit 64; }
dev=0
if [ "${1:-}" = --dev ]; then dev=1; shift; fi
[ $# -eq 2 ] || usage
arch=$1 out=$2
repo=$(cd "$(dirname "$0")/.." && pwd)

# Modules built here; any other package with a binding.gyp must ship a prebuild for ARCH.
NATIVE=(better-sqlite3 epoll)

case "$arch" in
  amd64) gyp_arch=x64   npm_cpu=x64   elf='x86-64'      cross=''                   ;;
  arm64) gyp_arch=arm64 npm_cpu=arm64 elf='ARM aarch64' cross=aarch64-linux-gnu-    ;;
  armhf) gyp_arch=arm   npm_cpu=arm   elf='32-bit.*ARM, EABI5' cross=arm-linux-gnueabihf- ;;
  *) usage ;;
esac

die() { echo "native-modules: $*" >&2; exit 1; }
say() { printf 'native-modules: %s\n' "$*"; }
t0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

command -v file >/dev/null || die "needs 'file' (apt-get install file)"
if [ -n "$cross" ]; then
  command -v "${cross}g++" >/dev/null || die "needs ${cross}g++ (apt-get install g++-${cross%-})"
fi
node_gyp=${NODE_GYP:-"$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"}
[ -f "$node_gyp" ] || die "node-gyp not found at $node_gyp (set NODE_GYP)"

abi=$(node -p process.versions.modules)
lockhash=$(sha256sum "$repo/package-lock.json" | cut -c1-16)
selfhash=$(sha256sum "$0" | cut -c1-8)
key="$lockhash-$arch-abi$abi-$selfhash"
cache="${LOA_NATIVE_CACHE:-/var/cache/loa-native}/$key"

# 1. The dependencies from the lockfile, for ARCH's cpu (picks e.g. @esbuild/linux-arm64), no scripts.
mkdir -p "$out"
out=$(cd "$out" && pwd)
cp "$repo/package.json" "$repo/package-lock.json" "$out/"
rm -rf "$out/node_modules"
omit=(--omit=dev); [ $dev = 1 ] && omit=(--include=dev)
t=$(date +%s.%N)
(cd "$out" && npm ci "${omit[@]}" --ignore-scripts --no-audit --no-fund --os=linux --cpu="$npm_cpu" --loglevel=error >/dev/null) \
  || die "npm ci failed in $out"
say "npm ci (${omit[*]}, cpu $npm_cpu): $(elapsed "$t")"

# Every native package is either built below or ships a prebuild for ARCH.
while IFS= read -r gyp; do
  dir=$(dirname "$gyp"); name=$(node -p "require('$dir/package.json').name")
  [[ " ${NATIVE[*]} " == *" $name "* ]] && continue
  [ -d "$dir/prebuilds/linux-$gyp_arch" ] || die "$name has a binding.gyp and no prebuilds/linux-$gyp_arch: add it to NATIVE"
  say "$name: shipped prebuild linux-$gyp_arch"
done < <(find "$out/node_modules" -name binding.gyp -not -path '*/deps/*' -not -path '*/test/*' -not -path '*/node-gyp/*')

# 2. The native modules: from the cache, or built and then cached.
dest_of() { echo "$out/node_modules/$1/build/Release"; }
if [ -f "$cache/done" ]; then
  for m in "${NATIVE[@]}"; do mkdir -p "$(dest_of "$m")"; cp "$cache/$m/"*.node "$(dest_of "$m")/"; done
  say "native modules from cache $cache"
else
  if [ -n "$cross" ]; then
    export CC="${cross}gcc" CXX="${cross}g++" LINK="${cross}g++" AR="${cross}ar" CC_host=gcc CXX_host=g++
  fi
  # Headers: npm's nodedir, else the host node's own (/usr/include/node), else node-gyp downloads them.
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  [ -f "$nodedir/include/node/common.gypi" ] || nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  gyp_args=(rebuild --release --arch="$gyp_arch" -j "$(nproc)")
  [ -f "$nodedir/include/node/common.gypi" ] && gyp_args+=(--nodedir="$nodedir")
  # node-gyp's config.gypi for a 32-bit ARM target (Debian armhf: ARMv7, VFPv3-D16, hard float).
  [ "$arch" = armhf ] && export npm_config_arm_version=7 npm_config_arm_float_abi=hard npm_config_arm_fpu=vfpv3-d16
  mkdir -p "${cache%/*}"
  tmpc=$(mktemp -d "${cache%/*}/.tmp.XXXXXX")
  trap 'rm -rf "$tmpc"' EXIT
  for m in "${NATIVE[@]}"; do
    t=$(date +%s.%N)
    (cd "$out/node_modules/$m" && node "$node_gyp" "${gyp_args[@]}" >"$tmpc/$m.log" 2>&1) \
      || { tail -30 "$tmpc/$m.log" >&2; die "building $m for $arch failed (log above)"; }
    mkdir -p "$tmpc/$m"; cp "$(dest_of "$m")/"*.node "$tmpc/$m/"
    # Keep only the .node file: the objects are hundreds of MB the box never needs.
    find "$out/node_modules/$m/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find "$(dest_of "$m")" -mindepth 1 ! -name '*.node' -exec rm -rf {} +
    say "$m built for $arch with ${CXX:-g++}: $(elapsed "$t")"
  done
  touch "$tmpc/done"
  rm -rf "$cache"; mv "$tmpc" "$cache"; trap - EXIT
  say "cached in $cache"
fi

# 3. Verify: every built .node is an ELF for ARCH.
for m in "${NATIVE[@]}"; do
  for f in "$(dest_of "$m")"/*.node; do
    [ -f "$f" ] || die "$m: no .node file in $(dest_of "$m")"
    desc=$(file -b "$f")
    grep -Eq "^ELF .*$elf" <<<"$desc" || die "$f is not an $arch ELF: $desc"
    say "ok ${f#"$out"/}: ${desc%%, BuildID*}"
  done
done
say "$arch node_modules in $out/node_modules ($(du -sh "$out/node_modules" | cut -f1)), total $(elapsed "$t0")"
