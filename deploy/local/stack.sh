#!/usr/bin/env bash
# shellcheck disable=SC2119 # lib functions take optional arguments, not the script's
# Gureum on one machine, DevStack style: installs and starts PostgreSQL, NATS and (when no
# engine answers) Docker, builds, migrates, then runs api, scheduler and one agent.
#
#   deploy/local/stack.sh up [--infra]   idempotent; --infra stops after PostgreSQL, NATS,
#                                        Docker and the base image (to run services yourself)
#   deploy/local/stack.sh down [--docker]  stops what `up` started except dockerd (the tenants'
#                                        runtime); workloads keep running. --docker also stops
#                                        the dockerd `up` started (live-restore keeps containers)
#   deploy/local/stack.sh status
#   deploy/local/stack.sh logs [svc]     follows .gureum/logs/<svc>.log (all when no svc)
#   deploy/local/stack.sh purge          down, then delete .gureum and the PostgreSQL cluster
#
# State lives in .gureum/ at the repo root: pg (symlink, see lib.sh), nats/, logs/, run/,
# secrets.env (generated passwords, mode 600), demo.json, agent/.
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="$GUREUM_STACK_DIR"
LOGS="$STATE/logs"
RUN="$STATE/run"
SECRETS="$STATE/secrets.env"
PG_PORT=55432
NATS_PORT=54222
NATS_HTTP_PORT=58222
API_PORT=8080
API_URL="http://127.0.0.1:$API_PORT"
REGISTRY_PORT=5000
REGISTRY_HOST="127.0.0.1:$REGISTRY_PORT"
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/gureum"
NATS_URL="nats://127.0.0.1:$NATS_PORT"
AGENT_NODE_ID=node-1
SERVICES=(api scheduler registry metering billing agent) # start order; `down` stops them in reverse

svc_script() { printf 'apps/%s/dist/main.js' "$1"; }
svc_args() { if [ "$1" = agent ]; then printf '%s\n' --driver "${GUREUM_AGENT_DRIVERS:-docker,vm}"; fi; }

# The environment of every service process, one VAR=value per line.
svc_env() { # svc
  printf '%s\n' \
    "GUREUM_DATABASE_URL=$DATABASE_URL" \
    "GUREUM_NATS_URL=$NATS_URL" \
    "GUREUM_LOG_LEVEL=${GUREUM_LOG_LEVEL:-info}"
  case "$1" in
    agent)
      printf '%s\n' \
        "GUREUM_NATS_USER=agent-$AGENT_NODE_ID" \
        "GUREUM_NATS_PASSWORD=$(secret "$SECRETS" GUREUM_NATS_AGENT_NODE_1_PASSWORD)" \
        "GUREUM_AGENT_NODE_ID=$AGENT_NODE_ID" \
        "GUREUM_AGENT_STATE_DIR=$STATE/agent/$AGENT_NODE_ID"
      ;;
    *)
      printf '%s\n' \
        "GUREUM_NATS_USER=control" \
        "GUREUM_NATS_PASSWORD=$(secret "$SECRETS" GUREUM_NATS_CONTROL_PASSWORD)"
      ;;
  esac
  if [ "$1" = api ]; then
    printf '%s\n' "GUREUM_API_PORT=$API_PORT" "GUREUM_API_HOST=127.0.0.1"
    # billing runs in this stack, so workload creates honour its hard budget limit (failing closed)
    printf '%s\n' "GUREUM_API_BILLING_ADMISSION=enforce"
  fi
  if [ "$1" = registry ]; then
    printf '%s\n' "GUREUM_REGISTRY_HOST=127.0.0.1" "GUREUM_REGISTRY_PORT=$REGISTRY_PORT" \
      "GUREUM_REGISTRY_STORAGE_DIR=$STATE/registry" \
      "GUREUM_REGISTRY_TOKEN_SECRET=$(secret "$SECRETS" GUREUM_REGISTRY_TOKEN_SECRET)"
  fi
  # Agents pull images of this registry with short-lived tokens the scheduler gets for them.
  if [ "$1" = scheduler ]; then
    printf '%s\n' "GUREUM_REGISTRY_ADDRESS=$REGISTRY_HOST"
    # A larger young generation: fewer scavenges of the short-lived garbage of create batches
    # (bench:scheduler, 5 alternating pairs: 2,208 against 1,953 placements/s; docs/scheduler.md).
    # bench:scheduler starts its replicas with the same flag.
    printf '%s\n' "NODE_OPTIONS=--max-semi-space-size=32"
  fi
}

# Runs a command with a service's environment, from the repo root.
with_svc_env() { # svc command...
  local svc="$1" line env_args=()
  shift
  while IFS= read -r line; do env_args+=("$line"); done < <(svc_env "$svc")
  (cd "$GUREUM_ROOT" && env "${env_args[@]}" "$@")
}

# ---------------------------------------------------------------------------- up

start_postgres() {
  pg_ensure pg "$PG_PORT" "$STATE/pg" "$LOGS/postgres.log" || die "PostgreSQL did not start"
  pg_create_db "$PG_PORT" gureum
}

start_nats() {
  local conf="$STATE/nats/nats.conf" pidfile="$RUN/nats.pid" next
  mkdir -p "$STATE/nats/js" "$RUN" "$LOGS"
  next="$(mktemp "$STATE/nats/nats.conf.XXXXXX")"
  node "$GUREUM_ROOT/deploy/local/nats-config.mjs" \
    --port "$NATS_PORT" --http-port "$NATS_HTTP_PORT" --store "$STATE/nats/js" \
    --control-password "$(secret "$SECRETS" GUREUM_NATS_CONTROL_PASSWORD)" \
    --agent "$AGENT_NODE_ID=$(secret "$SECRETS" GUREUM_NATS_AGENT_NODE_1_PASSWORD)" >"$next"
  chmod 600 "$next"
  if proc_alive "$pidfile"; then
    if ! cmp -s "$next" "$conf"; then
      mv "$next" "$conf"
      log "NATS configuration changed: reloading"
      kill -HUP "$(proc_pid "$pidfile")"
    else
      rm -f "$next"
    fi
  else
    mv "$next" "$conf"
    log "starting NATS on 127.0.0.1:$NATS_PORT (monitor :$NATS_HTTP_PORT)"
    local bin
    bin="$(nats_server_bin)" || die "nats-server is not installed"
    proc_start "$pidfile" "$conf" "$LOGS/nats.log" "$bin" -c "$conf"
  fi
  wait_http "http://127.0.0.1:$NATS_HTTP_PORT/healthz" 30 "$pidfile" || {
    show_log_tail "$LOGS/nats.log"
    die "NATS did not become healthy"
  }
}

start_docker() {
  # Our own dockerd gets GUREUM_DOCKERD_ARGS (user-namespace remap, live-restore; see lib.sh).
  # A system dockerd we found running is used as it is, with a warning if it does not remap.
  docker_ensure "$STATE" "${GUREUM_DOCKERD_ARGS[@]}" || die "no Docker engine"
  docker_warn_unless_remapped
}

build_image() {
  ensure_busybox_image || die "deploy/images/busybox.sh failed"
  # The tiny VM template (cached in .gureum/images/vm/tiny); without it the agent's vm driver
  # simply offers no template and VMs are refused with image_unknown.
  bash "$GUREUM_ROOT/deploy/images/vm-guest.sh" >&2 || log "deploy/images/vm-guest.sh failed: no VM template, VMs will be refused"
}

start_service() { # svc
  local svc="$1" pidfile="$RUN/$1.pid" script args=() line
  script="$(svc_script "$svc")"
  if proc_alive "$pidfile"; then
    log "$svc already running (pid $(proc_pid "$pidfile"))"
    return 0
  fi
  [ -f "$GUREUM_ROOT/$script" ] || die "$script is missing: did the build fail?"
  while IFS= read -r line; do [ -n "$line" ] && args+=("$line"); done < <(svc_args "$svc")
  if [ "$svc" = registry ] && (exec 3<>"/dev/tcp/127.0.0.1/$REGISTRY_PORT") 2>/dev/null; then
    die "port $REGISTRY_PORT is taken by another process: the registry cannot start"
  fi
  log "starting $svc"
  mkdir -p "$STATE/agent/$AGENT_NODE_ID" "$STATE/registry"
  local env_args=()
  while IFS= read -r line; do env_args+=("$line"); done < <(svc_env "$svc")
  (cd "$GUREUM_ROOT" && proc_start "$pidfile" "$GUREUM_ROOT/$script" "$LOGS/$svc.log" \
    env "${env_args[@]}" node "$GUREUM_ROOT/$script" "${args[@]}")
}

migrate() {
  local svc
  for svc in api scheduler registry metering billing; do
    log "migrating $svc"
    with_svc_env "$svc" node "apps/$svc/dist/migrate.js" >>"$LOGS/migrate.log" 2>&1 || {
      show_log_tail "$LOGS/migrate.log"
      die "migrations of $svc failed"
    }
  done
}

demo_field() { # jsonpath like tenant.apiKey
  node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    const v=process.argv[2].split(".").reduce((o,k)=>o?.[k],d);
    if(typeof v!=="string")process.exit(1);process.stdout.write(v)' "$STATE/demo.json" "$1"
}

# The base image goes into the registry as the demo tenant's, through the stock docker CLI,
# with a DOCKER_CONFIG of the stack's own so no credentials land in ~/.docker.
push_demo_image() {
  local key config="$STATE/docker-config" ref="$REGISTRY_HOST/demo/busybox:latest"
  key="$(demo_field tenant.apiKey)" || return 1
  mkdir -p "$config" && chmod 700 "$config"
  local tries=0 # /v2/ answers 401 (a token challenge) once the registry is up
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$REGISTRY_HOST/v2/")" = 401 ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || return 1
    sleep 0.5
  done
  log "pushing gureum/busybox:latest to $ref"
  {
    printf '%s' "$key" | DOCKER_CONFIG="$config" docker login "$REGISTRY_HOST" --username demo --password-stdin &&
      docker tag gureum/busybox:latest "$ref" &&
      DOCKER_CONFIG="$config" docker push "$ref"
  } >>"$LOGS/registry-push.log" 2>&1
}

# The admin console's demo login: an operator user `admin` whose generated password is kept in
# $STATE/console-operator.json (mode 600), created once. Prints "login password" on stdout.
CONSOLE_OPERATOR_LOGIN='admin'
console_operator_login() {
  local file="$STATE/console-operator.json"
  if [ ! -s "$file" ]; then
    local out
    out="$(with_svc_env api node apps/api/dist/cli.js create-operator-user "$CONSOLE_OPERATOR_LOGIN" --json 2>>"$LOGS/seed.log")" || {
      log "could not create the console operator '$CONSOLE_OPERATOR_LOGIN' (it may exist from an earlier run without $file); log in with the operator key"
      return 1
    }
    (umask 077 && printf '%s\n' "$out" >"$file")
  fi
  node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
    if(typeof d.login!=="string"||typeof d.password!=="string")process.exit(1);process.stdout.write(d.login+" "+d.password)' "$file"
}

# The commands print_summary suggests need node-1 in the scheduler's picture, ready, with the
# demo image (and the VM template when it was built): the agent reports them in its heartbeats
# some seconds after it starts. Without this wait the first create right after "Gureum is up"
# was refused with image_unknown (seen: for 11 s).
wait_agent_ready() {
  local deadline=$((SECONDS + 90)) want wants=('gureum/busybox:latest')
  [ -d "$STATE/images/vm/tiny" ] && wants+=('vm-template+tiny')
  local psql=("$(pg_bin)/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d gureum -tA)
  log "waiting for $AGENT_NODE_ID to report ${wants[*]}"
  for want in "${wants[@]}"; do
    until [ "$("${psql[@]}" -c "SELECT count(*) FROM scheduler.hosts WHERE id = '$AGENT_NODE_ID' AND state = 'ready' AND '$want' = ANY(images)" 2>/dev/null)" = 1 ]; do
      if [ "$SECONDS" -ge "$deadline" ] || ! proc_alive "$RUN/agent.pid"; then
        show_log_tail "$LOGS/agent.log"
        log "$AGENT_NODE_ID is not ready with $want yet: creates may be refused or stay pending until it is"
        return 1
      fi
      sleep 0.5
    done
  done
}

print_summary() {
  local tenant_key operator_key
  tenant_key="$(demo_field tenant.apiKey)" || die "$STATE/demo.json has no tenant.apiKey"
  operator_key="$(demo_field operator.apiKey)" || die "$STATE/demo.json has no operator.apiKey"
  local console_creds console_line="login with the operator key"
  if console_creds="$(console_operator_login)"; then console_line="login: ${console_creds%% *}  password: ${console_creds#* }"; fi
  cat <<EOF

Gureum is up.
  API              $API_URL/v1
  OpenAPI          $API_URL/v1/openapi.json
  demo tenant key  $tenant_key
  operator key     $operator_key
  Console          $API_URL/console/   ($console_line)
  logs             $LOGS/<svc>.log   (deploy/local/stack.sh logs [svc])
  PostgreSQL       $DATABASE_URL
  NATS             $NATS_URL (passwords in $SECRETS)
  Registry         $REGISTRY_HOST (demo/busybox:latest)

Log docker in to the registry as the demo tenant:
  echo $tenant_key | docker login $REGISTRY_HOST --username demo --password-stdin

Start a container as the demo tenant:
  KEY=$tenant_key
  curl -sS -X POST $API_URL/v1/workloads -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d '{"name":"hello","kind":"container","image":"gureum/busybox:latest","command":["sh","-c","while true; do date; sleep 5; done"],"resources":{"cpuMillis":500,"memoryMiB":64,"pids":64}}'
Or a VM (the tiny template; its console: GET /v1/workloads/<id>/console?follow=true):
  curl -sS -X POST $API_URL/v1/workloads -H "Authorization: Bearer \$KEY" -H 'Content-Type: application/json' -d '{"name":"tiny","kind":"vm","image":"tiny","resources":{"cpuMillis":1000,"memoryMiB":128},"vm":{"diskGiB":1}}'
Watch it (use the id from the answer):
  curl -sS $API_URL/v1/workloads/<id> -H "Authorization: Bearer \$KEY"
  curl -sS $API_URL/v1/workloads -H "Authorization: Bearer \$KEY"

Stop with: npm run down   (workloads and Docker keep running; the agent adopts them on the next up)
EOF
}

cmd_up() {
  local infra_only=false
  [ "${1:-}" = --infra ] && infra_only=true
  mkdir -p "$LOGS" "$RUN"
  chmod 700 "$LOGS" "$RUN" # logs name tenants and workloads; pid files are ours
  ensure_packages || die "installing packages failed"
  start_postgres
  start_nats
  start_docker
  ensure_qemu_user || die "could not create the QEMU user"
  build_image
  if [ "$infra_only" = true ]; then
    log "infrastructure is up (--infra): PostgreSQL $DATABASE_URL, NATS $NATS_URL"
    cmd_status
    return 0
  fi

  ensure_node_modules
  log "npm run build"
  (cd "$GUREUM_ROOT" && npm run build >&2) || die "build failed"
  migrate

  local svc
  for svc in "${SERVICES[@]}"; do start_service "$svc"; done
  log "waiting for the api on $API_URL/v1/health"
  if ! wait_http "$API_URL/v1/health" 60 "$RUN/api.pid"; then
    show_log_tail "$LOGS/api.log"
    die "the api did not become healthy"
  fi
  for svc in "${SERVICES[@]}"; do
    if ! proc_alive "$RUN/$svc.pid"; then
      show_log_tail "$LOGS/$svc.log"
      die "$svc exited during startup"
    fi
  done

  log "seeding the demo tenant"
  with_svc_env api node apps/api/dist/cli.js seed-demo --out "$STATE/demo.json" >>"$LOGS/seed.log" 2>&1 || {
    show_log_tail "$LOGS/seed.log"
    die "seed-demo failed"
  }
  chmod 600 "$STATE/demo.json"
  push_demo_image || log "could not push the demo image into the registry (see $LOGS/registry-push.log)"
  wait_agent_ready || true
  print_summary
}

# ---------------------------------------------------------------------------- down

cmd_down() {
  local i svc
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    svc="${SERVICES[i]}"
    if proc_alive "$RUN/$svc.pid"; then log "stopping $svc"; fi
    proc_stop "$RUN/$svc.pid" 10
  done
  if proc_alive "$RUN/nats.pid"; then log "stopping NATS"; fi
  proc_stop "$RUN/nats.pid" 10
  pg_stop pg || log "PostgreSQL did not stop cleanly"
  local dockerd_pid running vms
  # Docker is the tenants' runtime, not part of the control plane: `down` leaves it running.
  # (live-restore would keep the containers alive through a stop of dockerd too, but a
  # container writing to stdout blocks once the stopped dockerd no longer drains its log
  # pipe, and `docker ps` would not answer.) `down --docker` stops the dockerd we started.
  if [ "${1:-}" = --docker ] && proc_alive "$RUN/dockerd.pid"; then
    docker_stop_if_ours "$STATE"
  fi
  # This stack's agent's workloads only (tests and other checkouts may share the engine).
  running="$(docker_answers && docker ps -q --filter "label=io.gureum.node=$AGENT_NODE_ID" | wc -l)" || running="?"
  vms="$(pgrep -c -f -- "qemu-system-x86_64 .*$STATE/agent/$AGENT_NODE_ID/vms/" 2>/dev/null)" || vms=0
  echo "Gureum is down (api, scheduler, registry, metering, billing, agent, NATS, PostgreSQL)."
  if dockerd_pid="$(proc_pid "$RUN/dockerd.pid")"; then
    echo "The dockerd started by the stack (pid $dockerd_pid) was left running, and with it"
    echo "$running Gureum container(s); $vms QEMU VM(s) keep running too. The agent adopts them"
    echo "on the next 'up'; list them with 'docker ps'. '$0 down --docker' stops that dockerd"
    echo "too (its --live-restore keeps the containers running while it is down)."
  elif [ "${1:-}" = --docker ]; then
    echo "The stack's dockerd was stopped. With --live-restore its containers keep running"
    echo "(containerd shims), but 'docker' does not answer and a container's stdout blocks"
    echo "once its log pipe is full, until dockerd runs again ('up' starts it)."
    echo "$vms QEMU VM(s) keep running."
  elif docker_answers; then
    echo "The system Docker engine (not started by the stack) keeps running with $running Gureum"
    echo "container(s); $vms QEMU VM(s) keep running. The agent adopts them on the next 'up'."
  else
    echo "No Docker engine answers; $vms QEMU VM(s) keep running."
  fi
}

cmd_purge() {
  cmd_down --docker
  log "deleting $STATE and $(pg_home pg)"
  local home
  home="$(pg_home pg)"
  as_root rm -rf "$home"
  # The parent holds `checkout` and possibly the test cluster (pg-test): keep it if so.
  if [ -z "$(as_root find "$(dirname "$home")" -mindepth 1 -maxdepth 1 ! -name checkout)" ]; then
    as_root rm -rf "$(dirname "$home")"
  fi
  rm -rf "$STATE"
}

# ---------------------------------------------------------------------------- status, logs

status_row() { # name pid alive log
  printf '%-10s %-8s %-6s %s\n' "$@"
}

cmd_status() {
  local svc pid
  status_row SERVICE PID ALIVE LOG
  if pg_is_running pg 2>/dev/null; then
    status_row postgres "$(pg_postmaster_pid pg)" yes "$LOGS/postgres.log"
  else
    status_row postgres - no "$LOGS/postgres.log"
  fi
  for svc in nats "${SERVICES[@]}"; do
    if pid="$(proc_pid "$RUN/$svc.pid")"; then
      status_row "$svc" "$pid" yes "$LOGS/$svc.log"
    else
      status_row "$svc" - no "$LOGS/$svc.log"
    fi
  done
  if pid="$(proc_pid "$RUN/dockerd.pid")"; then
    status_row dockerd "$pid" yes "$LOGS/dockerd.log"
  elif docker_answers; then
    status_row dockerd system yes "(not started by the stack)"
  else
    status_row dockerd - no "$LOGS/dockerd.log"
  fi
  cat <<EOF

API        $API_URL/v1   (OpenAPI: $API_URL/v1/openapi.json)
Postgres   $DATABASE_URL
NATS       $NATS_URL   monitor http://127.0.0.1:$NATS_HTTP_PORT
Registry   $REGISTRY_HOST
EOF
}

cmd_logs() {
  if [ -n "${1:-}" ]; then
    [ -f "$LOGS/$1.log" ] || die "no log $LOGS/$1.log"
    exec tail -n 100 -F "$LOGS/$1.log"
  fi
  exec tail -n 20 -F "$LOGS"/*.log
}

case "${1:-}" in
  up) shift && cmd_up "$@" ;;
  down) cmd_down "${2:-}" ;;
  status) cmd_status ;;
  logs) shift && cmd_logs "$@" ;;
  purge) cmd_purge ;;
  *)
    echo "usage: $0 up [--infra] | down [--docker] | status | logs [svc] | purge" >&2
    exit 2
    ;;
esac
