#!/bin/sh
# journald's volatile mode for a loa box: the journal in RAM only, no log writes to the
# SD card (logs are lost at reboot). Off by default; see journald-volatile.conf.
#
#   sudo /opt/loa/current/systemd/journald-volatile.sh enable|disable|status [--root DIR]
#
# enable: installs /etc/systemd/journald.conf.d/60-loa-volatile.conf, restarts
# journald (the journal files already on the card stay readable with
# `journalctl -D /var/log/journal`); disable: removes it, restarts journald.
# --root DIR: into a directory tree (an image), without restarting anything.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=
ACTION=
die() { printf 'journald-volatile.sh: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
  enable | disable | status) [ -z "$ACTION" ] || die "one action only"; ACTION=$1; shift ;;
  --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  esac
done
[ -n "$ACTION" ] || die "enable, disable or status?"
DROPIN=$ROOT/etc/systemd/journald.conf.d/60-loa-volatile.conf
restart() {
  if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then systemctl restart systemd-journald; fi
}
case $ACTION in
enable)
  mkdir -p "$(dirname "$DROPIN")"
  cp "$HERE/journald-volatile.conf" "$DROPIN.tmp"
  chmod 0644 "$DROPIN.tmp"
  mv "$DROPIN.tmp" "$DROPIN"
  restart
  echo "journald: volatile (RAM only, lost at reboot): $DROPIN"
  ;;
disable)
  rm -f "$DROPIN"
  restart
  echo "journald: volatile mode off (journald.conf decides again)"
  ;;
status)
  if [ -e "$DROPIN" ]; then echo "journald: volatile ($DROPIN)"; else echo "journald: not volatile (no $DROPIN)"; fi
  ;;
esac
