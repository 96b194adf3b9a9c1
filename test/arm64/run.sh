#!/usr/bin/env bash
# npm run test:arm64 — the agent's native modules and unit tests on arm64, under emulation.
# test/arm64/run.sh armhf (npm run test:armhf) — the same on 32-bit ARM (armv7, hard float).
#
# 1. An arm64 (armhf) Debian trixie root with Debian's nodejs (20.19, same ABI as the host's Node 20)
#    and the tools the unit tests spawn (mosquitto, openssl, python3, systemd-notify):
#    debootstrap --foreign on the host, the rest unpacked on the host too (no emulated
#    second stage: nothing is configured, the tests need only the files). Cached in
#    $LOA_ARM64_CACHE (default /var/cache/loa-arm64) by trixie + package list; a run
#    works on an overlay of it, so the cache stays clean.
# 2. node_modules for it with the dev dependencies: systemd/native-modules.sh --dev ARCH
#    (npm ci for its cpu, so esbuild's @esbuild/linux-arm64 or -arm; better-sqlite3 and epoll
#    cross-compiled on the host, cached by lockfile hash).
# 3. In the root, emulated, with CI=true (a missing tool fails, never skips):
#    test/arm64/load-check.mjs, then the unit tests (LOA_ARM64_TESTS: a glob or file list
#    relative to the repo, default test/unit/*.test.ts but prometheus-rules.test.ts: the
#    centre's alert rules need promtool, which is no part of a box, and are YAML checked
#    the same on every architecture by CI on amd64).
# Needs root, qemu-user-static, binfmt-support, debootstrap, g++-aarch64-linux-gnu (armhf:
# g++-arm-linux-gnueabihf), file.
# Without them it skips with the reason, and fails under CI=true. Exits non-zero on any failure.
set -euo pipefail
arch=${1:-arm64}
case "$arch" in
  arm64) qemu=qemu-aarch64 cxx=aarch64-linux-gnu-g++   node_arch=arm64 ;;
  armhf) qemu=qemu-arm     cxx=arm-linux-gnueabihf-g++ node_arch=arm   ;;
  *) echo "usage: $0 [arm64|armhf]" >&2; exit 64 ;;
esac
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${LOA_ARM64_CACHE:-/var/cache/loa-arm64}
mirror=${LOA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
tests=${LOA_ARM64_TESTS:-$(cd "$repo" && ls test/unit/*.test.ts | grep -v '/prometheus-rules\.test\.ts$' | tr '\n' ' ')}
suite=trixie
pkgs=nodejs,mosquitto,openssl,python3-minimal,systemd

say() { printf 'test:%s: %s\n' "$arch" "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }
t_all=$(now)

unavailable() {
  if [ "${CI:-}" = true ]; then say "FAIL: $1"; exit 1; fi
  say "SKIP: $1"; exit 0
}
[ "$(id -u)" = 0 ] || unavailable "needs root (debootstrap, chroot, mounts)"
[ "$(uname -m)" = x86_64 ] || unavailable "expects an x86_64 host (it cross-compiles from amd64)"
for tool in $qemu-static:qemu-user-static update-binfmts:binfmt-support debootstrap:debootstrap \
            $cxx:g++-${cxx%-g++} file:file; do
  command -v "${tool%%:*}" >/dev/null || unavailable "${tool%%:*} missing: apt-get install ${tool#*:}"
done
# ARM ELF files run through qemu by binfmt_misc; flag F (fix binary) lets a chroot use them
# without a copy of qemu inside.
binfmt=/proc/sys/fs/binfmt_misc
[ -e $binfmt/register ] || mount -t binfmt_misc binfmt_misc $binfmt || unavailable "cannot mount binfmt_misc"
[ -e $binfmt/$qemu ] || update-binfmts --enable $qemu >/dev/null || unavailable "cannot register $qemu"
grep -q '^enabled' $binfmt/$qemu || unavailable "binfmt $qemu is disabled"
grep -q '^flags:.*F' $binfmt/$qemu || unavailable "binfmt $qemu lacks flag F"

# --- 1. the root (cached) ---
root="$cache/root-$suite-$arch-$(echo "$pkgs" | sha256sum | cut -c1-12)"
if [ ! -f "$root/.loa-ready" ]; then
  say "building the $arch $suite root in $root (first run only)"
  mkdir -p "$cache"
  rm -rf "$root.tmp"
  t=$(now)
  debootstrap --arch="$arch" --foreign --variant=minbase --include="$pkgs" "$suite" "$root.tmp" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log"; say "FAIL: debootstrap (first stage)"; exit 1; }
  say "debootstrap first stage (download, unpack on the host): $(secs "$t")"
  # No second stage: run emulated, it configures every package under qemu (more than 13 min
  # here). The tests need the files only, so the included packages are unpacked on the host.
  t=$(now)
  for p in $(cat "$root.tmp/debootstrap/base"); do
    deb=$(awk -v p="$p" '$1 == p { print $2 }' "$root.tmp/debootstrap/debpaths")
    [ -n "$deb" ] || { say "FAIL: debootstrap left no .deb for $p"; exit 1; }
    dpkg-deb --fsys-tarfile "$root.tmp$deb" | tar -C "$root.tmp" --keep-directory-symlink -xf -
  done
  # --foreign leaves proc as a symlink to the host's /proc: a mount there would land on it.
  rm -f "$root.tmp/proc"; mkdir "$root.tmp/proc"
  cp "$root.tmp/usr/share/base-passwd/passwd.master" "$root.tmp/etc/passwd"
  cp "$root.tmp/usr/share/base-passwd/group.master" "$root.tmp/etc/group"
  chroot "$root.tmp" /sbin/ldconfig
  say "packages unpacked on the host, ldconfig emulated: $(secs "$t")"
  rm -rf "$root.tmp"/var/cache/apt/archives/*.deb "$root.tmp"/var/lib/apt/lists/*
  touch "$root.tmp/.loa-ready"
  rm -rf "$root"; mv "$root.tmp" "$root"
else
  say "$arch $suite root from cache: $root"
fi

# --- a throwaway overlay of it, with /proc, /sys, /dev ---
work=$(mktemp -d "/var/tmp/loa-$arch.XXXXXX")
top="$work/root"
cleanup() {
  local rc=$?
  if mountpoint -q "$top"; then umount -R "$top" 2>/dev/null || umount -lR "$top"; fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/upper" "$work/ovl" "$top"
mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/ovl" "$top"
# Every mount point a real directory inside the root, so no mount lands on the host's own.
for d in proc sys dev dev/pts; do
  [ -d "$top/$d" ] && [ ! -L "$top/$d" ] || { say "FAIL: $top/$d is not a directory in the root"; exit 1; }
done
mount -t proc proc "$top/proc"
mount --bind /sys "$top/sys"
mount --bind /dev "$top/dev"
mount --bind /dev/pts "$top/dev/pts"
cp /etc/hosts "$top/etc/hosts"

# --- 2. the repository and its node_modules for ARCH ---
mkdir -p "$top/loa"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' _ \
  | tar --null -T - -cf -) | tar -C "$top/loa" -xf -
t=$(now)
"$repo/systemd/native-modules.sh" --dev "$arch" "$top/loa" | sed 's/^/  /'
t_install=$(secs "$t")

# --- 3. emulated: the load check, then the tests ---
in_root() {
  chroot "$top" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 CI=true /bin/sh -c "cd /loa && $1"
}
say "in the root: $(in_root 'uname -m; node --version' | tr '\n' ' ')"
t=$(now)
in_root "node test/arm64/load-check.mjs $node_arch" | sed 's/^/  /'
t_load=$(secs "$t")
say "unit tests under emulation: $(echo $tests | wc -w) files (progress: tail -f $work/tests.log)"
t=$(now)
rc=0
in_root "node --import tsx --test --test-reporter=spec $tests" >"$work/tests.log" 2>&1 || rc=$?
t_tests=$(secs "$t")
cp "$work/tests.log" "$cache/last-tests-$arch.log"
grep -E '^ℹ (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)' "$work/tests.log" | sed 's/^/  /' || true
if [ $rc != 0 ]; then
  grep -nE '^\s*✖' "$work/tests.log" | head -40 || true
  say "FAIL: unit tests exited $rc (full log: $cache/last-tests-$arch.log)"
  exit $rc
fi
say "PASS: node_modules $t_install, load check $t_load, unit tests $t_tests, total $(secs "$t_all") (log: $cache/last-tests-$arch.log)"
