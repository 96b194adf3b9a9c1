#!/bin/sh
# Install the loa agent on Raspberry Pi OS / Debian: the release in
# /opt/loa/releases/<version> with /opt/loa/current pointing at it, the launcher
# /usr/lib/loa/loa-launch, the systemd units, the udev rule, the loa user, /etc/loa, and
# the commands loa-provision and loa-agent (--check-config, --version) in /usr/local/bin.
# Safe to run again (an upgrade, or a repair): it never duplicates the user, never
# touches /etc/loa/agent.json, keeps the release it replaces (rollback target), moves a
# legacy /opt/loa (dist/ in it, no current) to /opt/loa.prev, and changes nothing when
# the code is the same.
#
#   sudo systemd/install.sh [--start] [--no-build] [--node PATH] [--journald-volatile] [SOURCE]
#   systemd/install.sh --root /tmp/x [SOURCE]     # into a directory tree, for tests/images
#
# SOURCE: a checkout (default: the one holding this script), an unpacked release
# directory, or a release tarball (.tar.gz/.tgz). A release holds package.json,
# dist/agent/main.js and either node_modules/ (built for the box's architecture) or
# package-lock.json (then `npm ci --omit=dev` runs here). From a checkout the code is
# built first (`npm ci` if needed, `npm run build`; --no-build uses dist/ as it is), and
# the production dependencies are installed fresh into the new tree.
#
# --root DIR (or DESTDIR=DIR): install under DIR instead of /. Everything that acts on
# the running system (users, groups, ownership, systemctl, udevadm) is skipped then and
# said so; units are still enabled in DIR with `systemctl --root`.
#
# --journald-volatile: keep the journal in RAM only, no log writes to the SD card (logs
# are lost at reboot); systemd/journald-volatile.sh enable|disable does it later too.
set -eu
umask 022

PROG=$(basename "$0")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${DESTDIR:-/}
START=0
BUILD=1
NODE=
SRC=
JOURNALD=0

say() { printf '%s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}
usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case $1 in
  --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
  --root=*) ROOT=${1#--root=}; shift ;;
  --node) [ $# -ge 2 ] || die "--node needs a path"; NODE=$2; shift 2 ;;
  --node=*) NODE=${1#--node=}; shift ;;
  --start) START=1; shift ;;
  --no-build) BUILD=0; shift ;;
  --journald-volatile) JOURNALD=1; shift ;;
  -h | --help) usage; exit 0 ;;
  -*) usage >&2; exit 64 ;;
  *) [ -z "$SRC" ] || die "one SOURCE only"; SRC=$1; shift ;;
  esac
done

[ -d "$ROOT" ] || die "--root $ROOT: no such directory"
ROOT=$(cd "$ROOT" && pwd -P)
if [ "$ROOT" = / ]; then
  LIVE=1
  R=
else
  LIVE=0
  R=$ROOT
fi
if [ $LIVE = 1 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo $0 ...), or with --root DIR to install into a directory"
fi
skip() { say "  skipped (--root is $ROOT, not /): $*"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/loa-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# --- node >= 20, at the path the unit will run -------------------------------------
if [ -z "$NODE" ]; then
  if [ $LIVE = 1 ]; then
    NODE=$(command -v node) || die "node not found: install Node.js 20 or later (https://nodejs.org, or NodeSource's Debian packages)"
  else
    NODE=/usr/bin/node
  fi
fi
case $NODE in /*) ;; *) die "--node $NODE: give an absolute path" ;; esac
check_node() {
  "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null
}
if [ -x "$R$NODE" ]; then
  check_node "$R$NODE" || die "$NODE is Node.js $("$R$NODE" --version 2>/dev/null || echo '?'); the agent needs 20 or later"
  say "node: $NODE $("$R$NODE" --version)"
elif [ $LIVE = 1 ]; then
  die "$NODE is not executable"
else
  say "node: $NODE (not in $ROOT; version not checked)"
fi

# --- the source: checkout, release directory or tarball ---------------------------
if [ -z "$SRC" ]; then
  SRC=$(cd "$HERE/.." && pwd)
fi
if [ -f "$SRC" ]; then
  case $SRC in *.tar.gz | *.tgz) ;; *) die "$SRC: expected a directory or a .tar.gz release" ;; esac
  mkdir "$TMP/src"
  tar -xzf "$SRC" -C "$TMP/src"
  # A single top directory (loa-1.2.3/, or package/ from npm pack) is the release.
  set -- "$TMP/src"/*
  if [ $# = 1 ] && [ -d "$1" ] && [ ! -e "$TMP/src/package.json" ]; then SRC=$1; else SRC=$TMP/src; fi
  KIND=release
elif [ -d "$SRC" ]; then
  SRC=$(cd "$SRC" && pwd)
  if [ -f "$SRC/tsconfig.build.json" ] && [ -d "$SRC/agent" ]; then KIND=checkout; else KIND=release; fi
else
  die "$SRC: no such file or directory"
fi
[ -f "$SRC/package.json" ] || die "$SRC: no package.json; not a loa checkout or release"
say "source: $SRC ($KIND)"

if [ $KIND = checkout ] && [ $BUILD = 1 ]; then
  say "building in $SRC"
  if [ ! -x "$SRC/node_modules/.bin/tsc" ]; then (cd "$SRC" && npm ci); fi
  (cd "$SRC" && npm run build)
fi
[ -f "$SRC/dist/agent/main.js" ] || die "$SRC/dist/agent/main.js is missing (build first: npm ci && npm run build)"

# --- /opt/loa/releases/<version>, then /opt/loa/current switched to it -------------
# The version names the release directory, as an OTA update names its own.
VERSION=$(grep -o '"version"[[:space:]]*:[[:space:]]*"[^"]*"' "$SRC/package.json" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
case $VERSION in '' | . | .. | *[!A-Za-z0-9._+~-]*) die "$SRC/package.json: no usable \"version\" (${VERSION:-none})" ;; esac
OPT=$R/opt/loa
REL=$OPT/releases/$VERSION
STAGE=$OPT/releases/.$VERSION.install
mkdir -p "$R/opt"
# A legacy install (/opt/loa/dist, no releases/) moves aside whole, as upgrades always did.
LEGACY=0
if [ -d "$OPT" ] && [ ! -L "$OPT/current" ] && [ -e "$OPT/dist" ]; then
  LEGACY=1
  STAGE=$OPT.new/releases/$VERSION
  rm -rf "$OPT.new"
fi
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp "$SRC/package.json" "$STAGE/"
for f in package-lock.json RELEASE.json; do [ ! -f "$SRC/$f" ] || cp "$SRC/$f" "$STAGE/"; done
cp -R "$SRC/dist" "$STAGE/dist"
# The test chime `loa-provision check --tone` plays (dist/ has only the JavaScript).
if [ -d "$SRC/agent/demo-assets" ]; then mkdir -p "$STAGE/agent" && cp -R "$SRC/agent/demo-assets" "$STAGE/agent/demo-assets"; fi
mkdir "$STAGE/systemd"
for f in README.md install.sh loa-launch journald-volatile.sh journald-volatile.conf loa-agent.service loa-reboot.path loa-reboot.service 99-loa-io.rules loa-agent-cmd; do
  if [ -f "$SRC/systemd/$f" ]; then cp "$SRC/systemd/$f" "$STAGE/systemd/"; else cp "$HERE/$f" "$STAGE/systemd/"; fi
done
if [ $KIND = release ] && [ -d "$SRC/node_modules" ]; then
  cp -R "$SRC/node_modules" "$STAGE/node_modules"
elif [ -f "$STAGE/package-lock.json" ]; then
  say "installing production dependencies (npm ci --omit=dev; better-sqlite3 builds from source without a prebuilt binary)"
  (cd "$STAGE" && npm ci --omit=dev --no-audit --no-fund)
else
  die "$SRC has neither node_modules/ nor package-lock.json"
fi

# ln + rename(2): current always names a whole release, the old one or the new one.
switch_current() {
  ln -sfn "releases/$VERSION" "$1/current.new"
  mv -fT "$1/current.new" "$1/current"
}
UPDATED=0
PREV=
if [ $LEGACY = 1 ]; then
  switch_current "$OPT.new"
  rm -rf "$OPT.prev"
  mv "$OPT" "$OPT.prev"
  mv "$OPT.new" "$OPT"
  UPDATED=1
  say "code: the legacy install moved to $OPT.prev; $VERSION installed in $REL"
else
  OLD=$(readlink "$OPT/current" 2>/dev/null || true)
  PREV=${OLD#releases/}
  if [ -d "$REL" ] && diff -r -q --no-dereference "$REL" "$STAGE" >/dev/null 2>&1; then
    rm -rf "$STAGE"
    say "code: $REL is already this version"
  else
    if [ -d "$REL" ]; then
      [ ! -e "$REL/PACKAGED" ] || die "$REL is the loa package's (dpkg's files): install another version, or apt remove loa first"
      # The same version, other code (a rebuilt checkout): replaced in two renames.
      rm -rf "$REL.old"
      mv "$REL" "$REL.old"
    fi
    mv "$STAGE" "$REL"
    rm -rf "$REL.old"
    UPDATED=1
    say "code: installed in $REL"
  fi
  if [ "$OLD" = "releases/$VERSION" ]; then
    say "code: $OPT/current is $OLD; unchanged"
  else
    switch_current "$OPT"
    UPDATED=1
    if [ -n "$OLD" ] && [ "$PREV" != "$OLD" ] && [ -f "$OPT/$OLD/dist/agent/main.js" ]; then
      say "code: $OPT/current → releases/$VERSION; $PREV kept (roll back: ln -sfn $OLD $OPT/current.new && mv -T $OPT/current.new $OPT/current)"
    else
      PREV=
      say "code: $OPT/current → releases/$VERSION"
    fi
    # At most two releases, as the agent keeps them: this one and the one it replaced.
    # The package's own (with a PACKAGED file) are dpkg's to remove.
    for d in "$OPT"/releases/*/; do
      [ -d "$d" ] || continue
      v=${d%/}
      v=${v##*/}
      case $v in "$VERSION" | "$PREV") continue ;; esac
      [ ! -e "$d/PACKAGED" ] || continue
      rm -rf "$d"
      say "code: removed the old release $v"
    done
  fi
fi

# The launcher: root's, outside /opt/loa, so an update cannot replace it.
mkdir -p "$R/usr/lib/loa"
cp "$REL/systemd/loa-launch" "$R/usr/lib/loa/loa-launch.tmp"
chmod 0755 "$R/usr/lib/loa/loa-launch.tmp"
mv -f "$R/usr/lib/loa/loa-launch.tmp" "$R/usr/lib/loa/loa-launch"
say "launcher: /usr/lib/loa/loa-launch"

# --- user, groups, directories ----------------------------------------------------
if [ $LIVE = 1 ]; then
  # Plain Debian has no gpio group; the udev rule gives it /dev/gpiochip*.
  if ! getent group gpio >/dev/null; then
    if command -v addgroup >/dev/null; then addgroup --system gpio; else groupadd --system gpio; fi
  fi
  if getent passwd loa >/dev/null; then
    say "user: loa exists"
  elif command -v adduser >/dev/null; then
    adduser --system --group --home /var/lib/loa --no-create-home --shell /usr/sbin/nologin --gecos "loa agent" loa
  else
    useradd --system --user-group --home-dir /var/lib/loa --no-create-home --shell /usr/sbin/nologin --comment "loa agent" loa
  fi
  for g in gpio dialout audio; do
    getent group "$g" >/dev/null || continue
    case " $(id -nG loa) " in
    *" $g "*) ;;
    *) if command -v adduser >/dev/null; then adduser loa "$g" >/dev/null; else usermod -a -G "$g" loa; fi; say "user: loa added to group $g" ;;
    esac
  done
else
  skip "system user loa and its groups gpio, dialout, audio"
fi
# The agent installs updates: it writes /opt/loa/releases and switches /opt/loa/current
# (the unit's ReadWritePaths=/opt/loa). The launcher in /usr/lib/loa stays root's.
if [ $LIVE = 1 ]; then chown -R loa:loa "$OPT"; else skip "chown -R loa:loa /opt/loa"; fi

mkdir -p "$R/etc/loa"
chmod 0750 "$R/etc/loa"
if [ $LIVE = 1 ]; then chown root:loa "$R/etc/loa"; else skip "chown root:loa /etc/loa"; fi
if [ -e "$R/etc/loa/agent.json" ]; then
  say "config: /etc/loa/agent.json exists; left as it is"
else
  say "config: /etc/loa/agent.json does not exist yet (see next steps)"
fi

# --- units and udev rule ----------------------------------------------------------
UNITDIR=$R/etc/systemd/system
mkdir -p "$UNITDIR"
for u in loa-agent.service loa-reboot.path loa-reboot.service; do
  cp "$REL/systemd/$u" "$UNITDIR/$u.tmp"
  chmod 0644 "$UNITDIR/$u.tmp"
  mv "$UNITDIR/$u.tmp" "$UNITDIR/$u"
done
DROPIN=$UNITDIR/loa-agent.service.d/10-node-path.conf
if [ "$NODE" != /usr/bin/node ]; then
  mkdir -p "$UNITDIR/loa-agent.service.d"
  {
    say "# Written by install.sh: node is not /usr/bin/node on this machine."
    say "[Service]"
    say "Environment=LOA_NODE=$NODE"
  } >"$DROPIN"
  say "units: $DROPIN runs $NODE (LOA_NODE, read by loa-launch)"
else
  rm -f "$DROPIN"
  rmdir "$UNITDIR/loa-agent.service.d" 2>/dev/null || true
fi
say "units: installed in $UNITDIR"

# The rule is edited on site (the board's USB ids): an edited copy is never overwritten.
RULES=$R/etc/udev/rules.d
mkdir -p "$RULES"
if [ ! -e "$RULES/99-loa-io.rules" ]; then
  cp "$REL/systemd/99-loa-io.rules" "$RULES/99-loa-io.rules"
  say "udev: /etc/udev/rules.d/99-loa-io.rules installed; enable the line for the IO board's serial port"
elif cmp -s "$REL/systemd/99-loa-io.rules" "$RULES/99-loa-io.rules"; then
  rm -f "$RULES/99-loa-io.rules.dist"
  say "udev: /etc/udev/rules.d/99-loa-io.rules is current"
else
  cp "$REL/systemd/99-loa-io.rules" "$RULES/99-loa-io.rules.dist"
  say "udev: /etc/udev/rules.d/99-loa-io.rules was edited here; kept. The shipped version is 99-loa-io.rules.dist: compare them"
fi

if [ $JOURNALD = 1 ]; then
  if [ $LIVE = 1 ]; then sh "$REL/systemd/journald-volatile.sh" enable; else sh "$REL/systemd/journald-volatile.sh" enable --root "$ROOT"; fi
fi

# The technician's command, on PATH for sudo.
mkdir -p "$R/usr/local/bin"
printf '#!/bin/sh\n# Written by loa install.sh\nexec %s /opt/loa/current/dist/provisioning/cli.js "$@"\n' "$NODE" >"$R/usr/local/bin/loa-provision.tmp"
chmod 0755 "$R/usr/local/bin/loa-provision.tmp"
mv -f "$R/usr/local/bin/loa-provision.tmp" "$R/usr/local/bin/loa-provision"
# loa-agent --check-config / --version, as the user loa (systemd/loa-agent-cmd); the agent itself is the service's.
cp "$REL/systemd/loa-agent-cmd" "$R/usr/local/bin/loa-agent.tmp"
chmod 0755 "$R/usr/local/bin/loa-agent.tmp"
mv -f "$R/usr/local/bin/loa-agent.tmp" "$R/usr/local/bin/loa-agent"

if [ $LIVE = 1 ]; then
  systemctl daemon-reload
  # No udevd in a container (read-only /sys): the rule then applies at the next boot.
  if udevadm control --reload 2>/dev/null; then
    udevadm trigger --subsystem-match=gpio --subsystem-match=tty || warn "udevadm trigger failed"
  else
    warn "udevadm control --reload failed (no udevd here?); the udev rule applies at the next boot"
  fi
  systemctl enable loa-agent.service loa-reboot.path
  systemctl start loa-reboot.path
  if [ $START = 1 ]; then
    systemctl restart loa-agent.service
    say "service: loa-agent (re)started; systemctl status loa-agent"
  elif [ $UPDATED = 1 ] && systemctl is-active --quiet loa-agent.service; then
    say "service: loa-agent runs the previous code; systemctl restart loa-agent to run this one"
  fi
else
  skip "systemctl daemon-reload, udevadm control --reload, starting units"
  if command -v systemctl >/dev/null && systemctl --root="$ROOT" enable loa-agent.service loa-reboot.path >/dev/null 2>&1; then
    say "units: enabled in $ROOT (systemctl --root)"
  else
    skip "enabling units (systemctl --root failed or is missing)"
  fi
fi

cat <<EOF

Next steps:
  1. Provision the box (writes /etc/loa/agent.json, root:loa 0640, and the device keys):
       sudo loa-provision init
     or write /etc/loa/agent.json by hand and check it:
       sudo loa-agent --check-config
  2. IO board on a serial port: enable its line in /etc/udev/rules.d/99-loa-io.rules,
       then: udevadm control --reload && udevadm trigger --subsystem-match=tty && ls -l /dev/loa-io
  3. Start the agent and follow its log:
       sudo systemctl start loa-agent && journalctl -u loa-agent -f
EOF
