#!/usr/bin/env bash
# Shared functions for deploy/local/stack.sh and deploy/local/ci.sh.
#
# Source it from bash, or run one of its commands directly (the test harness does):
#   bash deploy/local/lib.sh test-pg-start [HOLDER_PID]   # ensure the test PostgreSQL, print its URL
#   bash deploy/local/lib.sh test-pg-stop [HOLDER_PID]    # stops it when the last holder leaves
#   bash deploy/local/lib.sh kill-registered [RUN_ID]   # reap processes tests left behind
#
# Conventions: progress goes to stderr (stdout is for values a caller parses); functions
# return non-zero instead of exiting, except `die`.

GUREUM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

# Every Debian package the local stack and the tests need, in one place: add new ones here.
GUREUM_APT_PACKAGES="postgresql nats-server docker.io busybox-static iproute2 ca-certificates curl qemu-system-x86 qemu-utils chromium"

GUREUM_PG_VERSION=15
# shellcheck disable=SC2034 # used by stack.sh, which sources this file
GUREUM_STACK_DIR="$GUREUM_ROOT/.gureum"
GUREUM_TEST_DIR="$GUREUM_ROOT/.gureum-test"
# Overridable so two checkouts (or a checkout and a CI rehearsal) can test side by side.
GUREUM_TEST_PG_PORT="${GUREUM_TEST_PG_PORT:-56432}"
# Processes spawned by the TypeScript harness register here (one file per process).
GUREUM_PROC_REGISTRY="$GUREUM_TEST_DIR/run/procs"
GUREUM_DOCKER_SOCK=/var/run/docker.sock

# Nx must not leave a daemon behind or try to reach Nx Cloud (machines are offline).
export NX_DAEMON="${NX_DAEMON:-false}" NX_NO_CLOUD="${NX_NO_CLOUD:-true}"

log() { printf '[gureum] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Prints the last lines of a log file to stderr, framed, to explain a failure.
show_log_tail() { # file [lines]
  local file="$1" lines="${2:-30}"
  if [ -r "$file" ]; then
    log "---- last $lines lines of $file ----"
    tail -n "$lines" "$file" >&2
    log "----"
  else
    log "(no log at $file)"
  fi
}

# ---------------------------------------------------------------------------- packages

# A package counts as present when dpkg has it, or when what we use from it is already on
# the machine by other means (e.g. docker-ce instead of docker.io: installing docker.io on
# top would conflict with it).
pkg_present() { # package
  if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; then
    return 0
  fi
  case "$1" in
    postgresql) [ -x "/usr/lib/postgresql/$GUREUM_PG_VERSION/bin/initdb" ] ;;
    nats-server) command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] ;;
    docker.io) command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 ;;
    iproute2) command -v ip >/dev/null 2>&1 ;;
    curl) command -v curl >/dev/null 2>&1 ;;
    chromium) [ -x /usr/bin/chromium ] ;;
    ca-certificates) [ -s /etc/ssl/certs/ca-certificates.crt ] ;;
    *) return 1 ;;
  esac
}

_GUREUM_APT_UPDATED=false
# Installs whatever of GUREUM_APT_PACKAGES (plus any extra arguments) is missing; runs
# `apt-get update` only when something is missing, and only once per shell.
ensure_packages() { # [extra packages...]
  local pkg missing=() extra=()
  # dockerd needs apparmor_parser when the kernel enforces AppArmor (a Recommends we skip).
  if grep -qs Y /sys/module/apparmor/parameters/enabled; then extra+=(apparmor); fi
  for pkg in $GUREUM_APT_PACKAGES "${extra[@]}" "$@"; do
    pkg_present "$pkg" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ "$_GUREUM_APT_UPDATED" = false ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || return 1
    _GUREUM_APT_UPDATED=true
  fi
  # Recommends are skipped: docker.io would pull git, needrestart and xz-utils, none of
  # which we use, and postgresql would pull sysstat.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# ---------------------------------------------------------------------------- node

# `npm ci` when node_modules is missing or older than package-lock.json (npm writes
# node_modules/.package-lock.json on every install), or always with `force`.
ensure_node_modules() { # [force]
  local marker="$GUREUM_ROOT/node_modules/.package-lock.json"
  if [ "${1:-}" = force ] || [ ! -f "$marker" ] || [ "$GUREUM_ROOT/package-lock.json" -nt "$marker" ]; then
    log "npm ci"
    (cd "$GUREUM_ROOT" && npm ci --no-audit --no-fund >&2)
  fi
}

# ---------------------------------------------------------------------------- processes
#
# Pid files hold two lines: the pid, and a marker string that must appear in the process's
# command line. The marker keeps a stale pid file (after a reboot, say) from making us
# signal an unrelated process that got the same pid.

proc_pid() { # pidfile -> prints the pid if the process is alive and matches its marker
  local pidfile="$1" pid marker cmdline
  [ -r "$pidfile" ] || return 1
  { read -r pid && read -r marker; } <"$pidfile" || [ -n "${pid:-}" ] || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || as_root kill -0 "$pid" 2>/dev/null || return 1
  if [ -n "${marker:-}" ]; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$marker"* ]] || return 1
  fi
  printf '%s\n' "$pid"
}

proc_alive() { proc_pid "$1" >/dev/null; }

# Starts a command in the background in its own session, stdout+stderr appended to the log
# file, and writes the pid file. Environment goes in front: proc_start ... env A=1 node x.
proc_start() { # pidfile marker logfile command...
  local pidfile="$1" marker="$2" logfile="$3"
  shift 3
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  local arg shown=()
  for arg in "$@"; do # logs are for reading: no secrets in them
    if [[ "$arg" =~ ^[A-Z_]*(PASSWORD|SECRET|TOKEN)[A-Z_]*= ]]; then arg="${arg%%=*}=***"; fi
    shown+=("$arg")
  done
  printf '=== %s starting: %s\n' "$(date -Is)" "${shown[*]}" >>"$logfile"
  # In a non-interactive shell a background job is not a process-group leader, so setsid
  # execs in place and $! is the pid of the command itself.
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  printf '%s\n%s\n' "$!" "$marker" >"$pidfile"
}

# SIGTERM, then SIGKILL after the timeout; removes the pid file. Only the process itself
# is signalled, never its process group: the agent's workloads must outlive it.
proc_stop() { # pidfile [timeout-seconds]
  local pidfile="$1" timeout="${2:-10}" pid waited=0
  if ! pid="$(proc_pid "$pidfile")"; then
    rm -f "$pidfile"
    return 0
  fi
  as_root kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((timeout * 10)) ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop within ${timeout}s: SIGKILL"
    as_root kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Polls an HTTP URL until it answers 2xx. With a pid file, gives up as soon as that
# process has died.
wait_http() { # url timeout-seconds [pidfile]
  local url="$1" timeout="$2" pidfile="${3:-}" deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    if [ -n "$pidfile" ] && ! proc_alive "$pidfile"; then return 1; fi
    sleep 0.5
  done
  return 1
}

random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# Returns the value of VAR from a mode-600 env file, generating and appending it first if
# the file does not have it yet.
secret() { # file VAR
  local file="$1" var="$2" value
  if [ ! -f "$file" ]; then
    (umask 077 && mkdir -p "$(dirname "$file")" && : >"$file")
  fi
  chmod 600 "$file"
  value="$(sed -n "s/^$var=//p" "$file" | tail -n 1)"
  if [ -z "$value" ]; then
    value="$(random_secret)"
    printf '%s=%s\n' "$var" "$value" >>"$file"
  fi
  printf '%s' "$value"
}

# ---------------------------------------------------------------------------- PostgreSQL
#
# Where the data lives. PostgreSQL refuses to run as root, so a cluster belongs to user
# postgres, and that user must be able to traverse every directory above its data
# directory. Checkouts often live where it cannot (/root is 0700, so are many home
# directories; bind mounts and network filesystems may refuse or squash chown). So every
# cluster lives on the local root filesystem under
#   /var/lib/gureum/<first 12 hex of sha256(checkout path)>/<name>/{data,sock}
# and the state folder holds a symlink to the data directory (.gureum/pg, .gureum-test/pg).
# One code path on every machine, and two checkouts never share a cluster. Removing the
# state folder does not remove the cluster: `stack.sh purge` does both.
pg_bin() { printf '/usr/lib/postgresql/%s/bin' "$GUREUM_PG_VERSION"; }

pg_home() { # name
  local hash
  hash="$(printf '%s' "$GUREUM_ROOT" | sha256sum | cut -c1-12)"
  printf '/var/lib/gureum/%s/%s' "$hash" "$1"
}

pg_is_running() { # name
  local data
  data="$(pg_home "$1")/data"
  as_root test -s "$data/PG_VERSION" || return 1
  as_root runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$data" status >/dev/null 2>&1
}

# Ensures a cluster <name> exists, is linked from <link>, and runs on 127.0.0.1:<port>.
# Sets PG_STARTED=true when this call started it.
pg_ensure() { # name port link logfile
  local name="$1" port="$2" link="$3" logfile="$4" home data sock bin
  home="$(pg_home "$name")"
  data="$home/data"
  sock="$home/sock"
  bin="$(pg_bin)"
  PG_STARTED=false
  [ -x "$bin/initdb" ] || { log "PostgreSQL $GUREUM_PG_VERSION is not installed ($bin/initdb missing)"; return 1; }
  id postgres >/dev/null 2>&1 || { log "user postgres does not exist (install the postgresql package)"; return 1; }

  as_root mkdir -p "$data" "$sock"
  as_root chown postgres:postgres "$home" "$data" "$sock"
  as_root chmod 700 "$data"
  printf '%s\n' "$GUREUM_ROOT" | as_root tee "$(dirname "$home")/checkout" >/dev/null
  mkdir -p "$(dirname "$link")" "$(dirname "$logfile")"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    log "$link exists and is not a symlink to the cluster: move it away"
    return 1
  fi
  ln -sfn "$data" "$link"

  if ! as_root test -s "$data/PG_VERSION"; then
    log "initdb $data"
    as_root runuser -u postgres -- "$bin/initdb" -D "$data" --auth=trust -U postgres \
      --encoding=UTF8 --locale=C.UTF-8 >>"$logfile" 2>&1 </dev/null ||
      { show_log_tail "$logfile"; return 1; }
  fi

  if pg_is_running "$name"; then
    return 0
  fi
  log "starting PostgreSQL $name on 127.0.0.1:$port"
  # Without -l, the server's output goes to pg_ctl's stdout: our log file, opened here by
  # the calling user, so user postgres never needs access to the checkout.
  if ! as_root runuser -u postgres -- "$bin/pg_ctl" -D "$data" -w -t 60 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >>"$logfile" 2>&1 </dev/null; then
    show_log_tail "$logfile"
    return 1
  fi
  PG_STARTED=true
}

pg_stop() { # name
  local data
  data="$(pg_home "$1")/data"
  pg_is_running "$1" || return 0
  log "stopping PostgreSQL $1"
  as_root runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$data" -w -t 60 stop -m fast >/dev/null 2>&1 </dev/null
}

pg_postmaster_pid() { # name
  as_root head -n 1 "$(pg_home "$1")/data/postmaster.pid" 2>/dev/null
}

pg_create_db() { # port dbname
  local psql=("$(pg_bin)/psql" -X -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA)
  if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$2'")" != 1 ]; then
    log "creating database $2"
    "${psql[@]}" -c "CREATE DATABASE \"$2\"" >/dev/null
  fi
}

# ---------------------------------------------------------------------------- NATS

nats_server_bin() {
  command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }
}

# ---------------------------------------------------------------------------- Docker

docker_answers() {
  timeout 15 docker -H "unix://$GUREUM_DOCKER_SOCK" info >/dev/null 2>&1
}

# Uses the engine on /var/run/docker.sock when it answers; otherwise starts dockerd with
# its pid file and log in <statedir>, and waits up to 60 s. Sets DOCKER_STARTED=true when
# this call started it (callers stop only what they started). Extra arguments go to
# dockerd.
docker_ensure() { # statedir [dockerd args...]
  local statedir="$1" pidfile logfile deadline
  shift
  pidfile="$statedir/run/dockerd.pid"
  logfile="$statedir/logs/dockerd.log"
  DOCKER_STARTED=false
  if docker_answers; then return 0; fi
  if ! proc_alive "$pidfile"; then
    log "no Docker engine answers on $GUREUM_DOCKER_SOCK: starting dockerd (log: $logfile)"
    mkdir -p "$statedir/run" "$statedir/logs"
    printf '=== %s starting dockerd %s\n' "$(date -Is)" "$*" >>"$logfile"
    if [ "$(id -u)" -eq 0 ]; then
      setsid dockerd "$@" >>"$logfile" 2>&1 </dev/null &
    else
      # shellcheck disable=SC2024 # the log belongs to the caller, on purpose
      sudo setsid dockerd "$@" >>"$logfile" 2>&1 </dev/null &
    fi
    printf '%s\n%s\n' "$!" dockerd >"$pidfile"
    # shellcheck disable=SC2034 # read by the callers
    DOCKER_STARTED=true
  fi
  deadline=$((SECONDS + 60))
  until docker_answers; do
    if [ "$SECONDS" -ge "$deadline" ] || ! proc_alive "$pidfile"; then
      log "dockerd did not come up"
      show_log_tail "$logfile"
      return 1
    fi
    sleep 1
  done
}

# The dockerd flags every engine the project starts gets (stack, CI, node set-up):
#   --userns-remap=default  root in a container is an unprivileged uid on the host (dockerd
#                           creates the `dockremap` user and its /etc/subuid range itself);
#   --live-restore          containers keep running while dockerd is stopped or restarted.
GUREUM_DOCKERD_ARGS=(--userns-remap=default --live-restore)

# Whether the engine on the socket runs containers in a user namespace (a remapped root).
docker_userns_remapped() {
  timeout 15 docker -H "unix://$GUREUM_DOCKER_SOCK" info --format '{{json .SecurityOptions}}' 2>/dev/null | grep -q 'name=userns'
}

# Warns loudly when the engine we use (one we found, not started) does not remap users:
# then uid 0 in every tenant container is uid 0 on this host. The agent reports the same in
# its docker fingerprint (`detail`), so an operator sees it in the host list as well.
docker_warn_unless_remapped() {
  docker_userns_remapped && return 0
  log "WARNING: the Docker engine on $GUREUM_DOCKER_SOCK runs WITHOUT --userns-remap:"
  log "WARNING: root in a tenant's container is root on this host. Restart it with"
  log "WARNING: 'dockerd ${GUREUM_DOCKERD_ARGS[*]}' (or \"userns-remap\": \"default\" and"
  log "WARNING: \"live-restore\": true in /etc/docker/daemon.json)."
  return 0
}

# The unprivileged user QEMU drops to (the agent's launch wrapper execs it through setpriv,
# see docs/vm-driver.md). A system user with no shell, no home and its own group; the agent
# (root) keeps VM directories 0700/0710 so that QEMU can reach its disk, console and sockets
# and nobody else can.
GUREUM_QEMU_USER=gureum-qemu
ensure_qemu_user() {
  if ! id -u "$GUREUM_QEMU_USER" >/dev/null 2>&1; then
    log "creating the system user $GUREUM_QEMU_USER (QEMU runs as it)"
    as_root useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$GUREUM_QEMU_USER" || return 1
  fi
  ensure_qemu_can_traverse "$GUREUM_ROOT"
}

# QEMU, as $GUREUM_QEMU_USER, opens its disk and templates below the checkout, so every
# directory above them must let others pass (o+x: enter, not list). A checkout under a 0700
# home would stop every VM with QEMU's own "Permission denied". CI (a throwaway machine) adds
# the missing o+x and says where; elsewhere we only say what to change.
ensure_qemu_can_traverse() { # dir
  local dir="$1" blocked=()
  while [ -n "$dir" ] && [ "$dir" != / ]; do
    if [ "$(( 8#$(stat -c %a "$dir") & 1 ))" -eq 0 ]; then blocked+=("$dir"); fi
    dir="$(dirname "$dir")"
  done
  [ "${#blocked[@]}" -eq 0 ] && return 0
  if [ "${CI:-}" = true ]; then
    log "letting $GUREUM_QEMU_USER pass through (chmod o+x): ${blocked[*]}"
    as_root chmod o+x "${blocked[@]}"
  else
    log "WARNING: $GUREUM_QEMU_USER cannot pass through ${blocked[*]}: VMs will not start."
    log "WARNING: run 'chmod o+x ${blocked[*]}' (enter only, not list) or move the checkout."
  fi
}

# Stops dockerd only if <statedir> holds a pid file for it, i.e. we started it.
docker_stop_if_ours() { # statedir
  local pidfile="$1/run/dockerd.pid"
  if proc_alive "$pidfile"; then
    log "stopping the dockerd we started"
    proc_stop "$pidfile" 30
  fi
  rm -f "$pidfile"
}

# Builds the base image (deploy/images/busybox.sh is idempotent).
ensure_busybox_image() { # [tag]
  bash "$GUREUM_ROOT/deploy/images/busybox.sh" "$@" >/dev/null
}

# ---------------------------------------------------------------------------- test harness

# Test PostgreSQL (127.0.0.1:56432, cluster linked from .gureum-test/pg), shared by every
# test run in this checkout (ci.sh, Jest runs started by hand, in parallel). Each user
# registers as a holder (a pid that lives as long as the run) and stops it when done; the
# cluster stops with the last holder, so one run never pulls it from under another. A
# holder that died without stopping is pruned. A lock serialises start and stop.
# test_pg_start prints GUREUM_TEST_PG_URL=... and GUREUM_TEST_PG_STARTED=true|false.
GUREUM_TEST_PG_HOLDERS="$GUREUM_TEST_DIR/run/pg-holders"

_test_pg_locked() { # command... (runs with the test-PostgreSQL lock held)
  mkdir -p "$GUREUM_TEST_PG_HOLDERS"
  (
    flock -w 180 9 || { log "timed out waiting for $GUREUM_TEST_DIR/run/pg.lock"; exit 1; }
    # 9>&-: the postmaster started in there must not inherit the lock (it would hold it for
    # its lifetime); bash keeps its own close-on-exec copy while the command runs.
    "$@" 9>&-
  ) 9>"$GUREUM_TEST_DIR/run/pg.lock"
}

_test_pg_prune_holders() {
  local file
  for file in "$GUREUM_TEST_PG_HOLDERS"/*; do
    [ -f "$file" ] || continue
    kill -0 "$(basename "$file")" 2>/dev/null || rm -f "$file"
  done
}

_test_pg_start_locked() { # holder-pid
  pg_ensure pg-test "$GUREUM_TEST_PG_PORT" "$GUREUM_TEST_DIR/pg" "$GUREUM_TEST_DIR/logs/postgres.log" || return 1
  : >"$GUREUM_TEST_PG_HOLDERS/$1"
  printf 'GUREUM_TEST_PG_URL=postgres://postgres@127.0.0.1:%s/postgres\n' "$GUREUM_TEST_PG_PORT"
  printf 'GUREUM_TEST_PG_STARTED=%s\n' "$PG_STARTED"
}

_test_pg_stop_locked() { # holder-pid
  rm -f "$GUREUM_TEST_PG_HOLDERS/$1"
  _test_pg_prune_holders
  local holders
  holders="$(find "$GUREUM_TEST_PG_HOLDERS" -mindepth 1 -maxdepth 1 -printf '%f ')"
  if [ -n "$holders" ]; then
    log "test PostgreSQL left running: still used by pid(s) $holders"
    return 0
  fi
  pg_stop pg-test
}

test_pg_start() { _test_pg_locked _test_pg_start_locked "${1:-$PPID}"; }
test_pg_stop() { _test_pg_locked _test_pg_stop_locked "${1:-$PPID}"; }

# Kills the processes the TypeScript harness registered (files <runId>.<pid> holding the
# pid, the run id, the command line and a scratch directory) and removes their files and
# scratch directories. A process is signalled only if its current command line is exactly
# the registered one, so a reused pid is never hit. The harness starts each process as a
# group leader: the whole group goes.
kill_registered() { # [run-id]
  local run_id="${1:-}" file pid run cmd scratch actual waited
  [ -d "$GUREUM_PROC_REGISTRY" ] || return 0
  for file in "$GUREUM_PROC_REGISTRY"/*; do
    [ -f "$file" ] || continue
    pid="" run="" cmd="" scratch=""
    { read -r pid && read -r run && IFS= read -r cmd && IFS= read -r scratch; } <"$file" || true
    if [ -n "$run_id" ] && [ "$run" != "$run_id" ]; then continue; fi
    if [[ "${pid:-}" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ]; then
      actual="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
      if [ "${actual% }" = "$cmd" ]; then
        log "killing leftover test process $pid: $cmd"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do
          sleep 0.1
          waited=$((waited + 1))
        done
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    if [ -n "$scratch" ] && [[ "$scratch" == "$GUREUM_TEST_DIR"/* ]]; then rm -rf -- "$scratch"; fi
    rm -f "$file"
  done
}

# ---------------------------------------------------------------------------- entry point

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    test-pg-start) test_pg_start "${2:-$PPID}" ;;
    test-pg-stop) test_pg_stop "${2:-$PPID}" ;;
    kill-registered) kill_registered "${2:-}" ;;
    *)
      echo "usage: $0 test-pg-start [holder-pid] | test-pg-stop [holder-pid] | kill-registered [run-id]" >&2
      exit 2
      ;;
  esac
fi
