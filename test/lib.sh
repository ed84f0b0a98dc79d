# Shared by test/run, test/bench/run and test/demo/run (sourced, not run).
#
# sg_ensure_packages   install the Debian packages the project needs (as root)
# sg_prepare_install   copy the checkout and a relocated PostgreSQL into $WORK,
#                      build the extension warning-free and install it there
# sg_as_user CMD...    run CMD as the server user (postgres when we are root)

SG_PKGS="postgresql-15 postgresql-server-dev-15 postgresql-15-postgis-3 postgresql-15-cron
  libsodium-dev libcrypt-dev build-essential libipc-run-perl rsync
  python3 python3-jwt python3-argon2 argon2 pgbouncer"

sg_log() { printf '== %s\n' "$*" >&2; }

sg_ensure_packages() {
  [ "$(id -u)" = 0 ] || return 0
  local missing="" p
  for p in $SG_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    sg_log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}

if [ "$(id -u)" = 0 ]; then SG_RUNAS=postgres; else SG_RUNAS=""; fi

sg_as_user() {
  if [ -n "$SG_RUNAS" ]; then runuser -u "$SG_RUNAS" -- "$@"; else "$@"; fi
}

# sg_prepare_install SRC WORK: afterwards $WORK/src is a writable copy of the
# checkout, built, and $WORK/inst a relocated PostgreSQL with the extension;
# SG_BINDIR names its bin directory.
sg_prepare_install() {
  local src="$1" work="$2" pgbin
  pgbin="$(pg_config --bindir)"
  mkdir -p "$work"
  rsync -a --delete --exclude .git --exclude tmp_check --exclude results --exclude '*.o' \
    --exclude '*.so' --exclude demo-cluster --exclude bench-results "$src/" "$work/src/"
  rm -rf "$work/inst"
  mkdir -p "$work/inst/usr/lib/postgresql" "$work/inst/usr/share/postgresql"
  cp -a "$(dirname "$pgbin")" "$work/inst/usr/lib/postgresql/"
  cp -a "$(pg_config --sharedir)" "$work/inst/usr/share/postgresql/"
  [ -n "$SG_RUNAS" ] && chown -R "$SG_RUNAS" "$work"
  sg_log "building"
  (cd "$work/src" && sg_as_user make -s -j2 all) 2>&1 | tee "$work/build.log" >&2
  if grep -q "warning:" "$work/build.log"; then
    sg_log "the build has compiler warnings"; return 1
  fi
  if grep -qE "error:|Error [0-9]" "$work/build.log"; then
    sg_log "the build failed"; return 1
  fi
  (cd "$work/src" && sg_as_user make -s install DESTDIR="$work/inst") >/dev/null
  SG_BINDIR="$work/inst$pgbin"
  export SG_BINDIR
}
