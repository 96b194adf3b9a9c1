# shellcheck shell=sh
# Sourced (not run) by systemd/deb/build.sh and systemd/release.sh: the ONE place that
# lays out a release tree, so the .deb's /opt/loa and an OTA tarball's loa/ hold
# the same files, pruned the same way, with native modules checked for the same arch.
#
#   release_tree DIR ARCH VERSION MODULES WORK
#
# DIR      the tree to fill (created): package.json (its version set to VERSION, no
#          "prepare" script), package-lock.json, dist/, agent/demo-assets/, systemd/
#          (the units, install.sh, the journald drop-in, the udev rule, README.md, and
#          loa-launch when the checkout has it), node_modules/ (production, for ARCH).
# ARCH     Debian arch: amd64 | arm64 | armhf.
# VERSION  the version package.json gets (semver: "~" is turned back into "-").
# MODULES  a directory holding node_modules/ built for ARCH, or empty: this machine's
#          node_modules/ pruned to production for the host's arch, otherwise
#          systemd/native-modules.sh ARCH (cross-built native modules, cached).
# WORK     a scratch directory (native-modules.sh writes WORK/modules there).
#
# Needs REPO (the checkout) and a die() function from the caller. Expects dist/ built.

# The systemd/ files every release carries; loa-launch is added when present.
RELEASE_SYSTEMD_FILES='README.md install.sh journald-volatile.sh journald-volatile.conf loa-agent.service loa-reboot.path loa-reboot.service 99-loa-io.rules loa-agent-cmd'

release_arch_check() {
  case $1 in
  amd64 | arm64 | armhf) ;;
  *) die "--arch $1: expected amd64, arm64 or armhf" ;;
  esac
}

release_tree() {
  _dir=$1 _arch=$2 _version=$3 _modules=$4 _work=$5
  release_arch_check "$_arch"
  case $_arch in amd64) _node_arch=x64 ;; arm64) _node_arch=arm64 ;; armhf) _node_arch=arm ;; esac
  [ -f "$REPO/dist/agent/main.js" ] || die "$REPO/dist/agent/main.js is missing (npm run build)"
  mkdir -p "$_dir/systemd" "$_dir/agent"
  # The version the agent reports (contract/version.ts reads package.json) is the release's.
  node -e '
    const [src, dst, v] = process.argv.slice(1);
    const p = JSON.parse(require("fs").readFileSync(src, "utf8"));
    p.version = v.replace(/~/g, "-");
    delete p.scripts.prepare; // a release has no TypeScript to build
    require("fs").writeFileSync(dst, JSON.stringify(p, null, 2) + "\n");
  ' "$REPO/package.json" "$_dir/package.json" "$_version"
  cp "$REPO/package-lock.json" "$_dir/"
  cp -R "$REPO/dist" "$_dir/dist"
  cp -R "$REPO/agent/demo-assets" "$_dir/agent/demo-assets"
  for _f in $RELEASE_SYSTEMD_FILES; do cp "$REPO/systemd/$_f" "$_dir/systemd/"; done
  if [ -f "$REPO/systemd/loa-launch" ]; then cp "$REPO/systemd/loa-launch" "$_dir/systemd/"; fi

  # --- production node_modules for ARCH ---------------------------------------------
  if [ -n "$_modules" ]; then
    [ -d "$_modules/node_modules" ] || die "--node-modules $_modules: no node_modules/ in it"
    cp -R "$_modules/node_modules" "$_dir/node_modules"
    echo "node_modules: from $_modules"
  elif [ "$_arch" = "$(dpkg --print-architecture)" ]; then
    [ -d "$REPO/node_modules/better-sqlite3" ] || die "$REPO/node_modules is missing (npm ci)"
    cp -R "$REPO/node_modules/." "$_dir/node_modules/"
    (cd "$_dir" && npm prune --omit=dev --no-audit --no-fund >/dev/null) || die "npm prune --omit=dev failed"
    echo "node_modules: $REPO/node_modules, pruned to production"
  elif [ -x "$REPO/systemd/native-modules.sh" ]; then
    "$REPO/systemd/native-modules.sh" "$_arch" "$_work/modules" || die "systemd/native-modules.sh $_arch failed"
    cp -R "$_work/modules/node_modules" "$_dir/node_modules"
    echo "node_modules: systemd/native-modules.sh $_arch"
  else
    die "no node_modules for $_arch: pass --node-modules DIR (built for $_arch), or add systemd/native-modules.sh"
  fi
  # What a box never uses: native modules' sources and objects (the .node files stay, in
  # build/Release where `bindings` finds them) and other platforms' serialport prebuilds.
  _nm=$_dir/node_modules
  for _m in better-sqlite3 epoll; do
    [ -d "$_nm/$_m" ] || continue
    rm -rf "$_nm/$_m/deps" "$_nm/$_m/src"
    if [ -d "$_nm/$_m/build" ]; then
      # obj.target/ holds the linker's second copy of each .node (2 MB for better-sqlite3).
      find "$_nm/$_m/build" -mindepth 1 \( -type f ! -name '*.node' -o -name 'test_extension.node' -o -path '*/obj.target/*' \) -delete
      find "$_nm/$_m/build" -mindepth 1 -type d -empty -delete
    fi
  done
  # Scopes npm prune emptied (@esbuild/ of the dev tools).
  find "$_nm" -mindepth 1 -maxdepth 1 -type d -empty -delete
  [ -f "$_nm/better-sqlite3/build/Release/better_sqlite3.node" ] || die "better-sqlite3's native module is missing from node_modules"
  if [ -d "$_nm/@serialport/bindings-cpp/prebuilds" ]; then
    find "$_nm/@serialport/bindings-cpp/prebuilds" -mindepth 1 -maxdepth 1 ! -name "linux-$_node_arch" -exec rm -rf {} +
  fi
  # The .node files must be for ARCH: a release for the wrong machine installs, then crashes.
  case $_arch in amd64) _elf='x86-64' ;; arm64) _elf='aarch64' ;; armhf) _elf='ARM,' ;; esac
  if command -v file >/dev/null; then
    find "$_nm" -name '*.node' | while read -r _f; do
      file -b "$_f" | grep -q "$_elf" || die "$_f is not a $_arch binary: $(file -b "$_f")"
    done || exit 1 # die() above only left the pipeline's subshell
  fi
}
