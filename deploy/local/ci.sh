#!/usr/bin/env bash
# THE test command (`npm run test:ci`, `.ci/run`). Runs on a fresh Debian 12 machine as root
# with CI=true, or locally: installs what it needs, checks lint/types/build, starts a test
# PostgreSQL (and dockerd when no engine answers), runs the unit, integration and e2e tiers,
# stops what it started, and ends with exactly one line `N passed, M failed`.
# Exit status is non-zero when any step or tier failed or a tier produced no results.
#
# State: .gureum-test/ (results/<tier>.json, logs/, run/; pg is a symlink, see lib.sh).
# Per-tier time limits (seconds) can be raised with GUREUM_CI_TIMEOUT_<TIER>.
set -uo pipefail
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$GUREUM_ROOT" || exit 1

STATE="$GUREUM_TEST_DIR"
RESULTS="$STATE/results"
TIERS=(unit integration e2e)
declare -A TIER_TIMEOUT=(
  [unit]="${GUREUM_CI_TIMEOUT_UNIT:-300}"
  [integration]="${GUREUM_CI_TIMEOUT_INTEGRATION:-1500}"
  [e2e]="${GUREUM_CI_TIMEOUT_E2E:-2700}"
)
# Processes the test harness spawns are registered under this id, so cleanup reaps exactly
# this run's leftovers (another run in the same checkout keeps its own).
GUREUM_TEST_RUN_ID="ci-$$-$(date +%s)"
export GUREUM_TEST_RUN_ID

STEP_NAMES=()
STEP_RESULTS=()
FAILED=false
PG_HELD=false
DOCKER_OURS=false
CLEANED=false
TIER_PID=""

record() { # name result(ok|FAILED|...) seconds
  STEP_NAMES+=("$1")
  STEP_RESULTS+=("$2 (${3}s)")
  if [ "$2" != ok ]; then FAILED=true; fi
}

# Runs one step, records ok/FAILED with its duration; returns the command's status.
step() { # name command...
  local name="$1" start=$SECONDS rc=0
  shift
  log "==> $name"
  "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    record "$name" ok $((SECONDS - start))
  else
    log "<== $name FAILED (exit $rc)"
    record "$name" FAILED $((SECONDS - start))
  fi
  return "$rc"
}

cleanup() {
  [ "$CLEANED" = true ] && return 0
  CLEANED=true
  log "==> cleanup"
  if [ -n "$TIER_PID" ] && kill -0 "$TIER_PID" 2>/dev/null; then
    log "stopping the running test tier"
    kill -TERM "$TIER_PID" 2>/dev/null # timeout passes it on to jest's process group
    wait "$TIER_PID" 2>/dev/null
  fi
  kill_registered "$GUREUM_TEST_RUN_ID"
  if [ "$PG_HELD" = true ]; then test_pg_stop $$ || log "test PostgreSQL did not stop cleanly"; fi
  if [ "$DOCKER_OURS" = true ]; then docker_stop_if_ours "$STATE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_test_pg() {
  local out
  out="$(test_pg_start $$)" || return 1
  PG_HELD=true # stopped at cleanup unless another run still uses it (see lib.sh)
  GUREUM_TEST_PG_URL="$(sed -n 's/^GUREUM_TEST_PG_URL=//p' <<<"$out")"
  export GUREUM_TEST_PG_URL
  log "GUREUM_TEST_PG_URL=$GUREUM_TEST_PG_URL"
}

start_docker() {
  docker_ensure "$STATE" "${GUREUM_DOCKERD_ARGS[@]}" || return 1
  [ "$DOCKER_STARTED" = true ] && DOCKER_OURS=true
  docker_warn_unless_remapped
  # QEMU runs as this user (setpriv in the launch wrapper); the VM tests expect it.
  ensure_qemu_user
}

install_node_modules() {
  if [ "${CI:-}" = true ]; then ensure_node_modules force; else ensure_node_modules; fi
}

run_tier() { # tier
  local tier="$1" out="$RESULTS/$1.json"
  rm -f "$out"
  # timeout puts jest in a process group of its own, out of reach of Ctrl-C; running it in
  # the background and `wait`ing keeps this shell responsive to signals, and cleanup stops
  # the tier through TIER_PID.
  timeout --signal=TERM --kill-after=30 "${TIER_TIMEOUT[$tier]}" \
    npx --no-install jest -c "jest.$tier.config.js" --ci --passWithNoTests \
    --json --outputFile "$out" &
  TIER_PID=$!
  local rc=0
  wait "$TIER_PID" || rc=$?
  TIER_PID=""
  if [ "$rc" -eq 124 ]; then log "$tier tier exceeded ${TIER_TIMEOUT[$tier]}s"; fi
  [ -s "$out" ] || { log "$tier tier wrote no results ($out)"; return 1; }
  return "$rc"
}

# Prints one line per tier, then `N passed, M failed` as the last line; exits 1 when a
# results file is missing or unreadable or a tier reports failure.
summarize() {
  node - "$RESULTS" "${TIERS[@]}" <<'EOF'
const fs = require('fs');
const path = require('path');
const [dir, ...tiers] = process.argv.slice(2);
let passed = 0, failed = 0, ok = true;
const lines = [];
for (const tier of tiers) {
  const file = path.join(dir, `${tier}.json`);
  let r;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    ok = false;
    lines.push(`${tier.padEnd(12)} MISSING    no readable results in ${file}`);
    continue;
  }
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  const files = r.testResults || [];
  const failedAssertions = (t) => (t.assertionResults || []).filter((a) => a.status === 'failed');
  const brokenFiles = files.filter((t) => t.status === 'failed' && failedAssertions(t).length === 0).length;
  const tierOk = r.success === true && r.numFailedTests === 0 && r.numFailedTestSuites === 0;
  if (!tierOk) ok = false;
  lines.push(
    `${tier.padEnd(12)} ${(tierOk ? 'ok' : 'FAILED').padEnd(10)} ` +
      `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped ` +
      `in ${r.numTotalTestSuites} files` + (brokenFiles > 0 ? `, ${brokenFiles} file(s) failed to run` : ''),
  );
  for (const t of files) {
    if (t.status === 'passed') continue;
    lines.push(`    ${path.relative(process.cwd(), t.name)}: ${t.status}`);
    for (const a of failedAssertions(t).slice(0, 10)) lines.push(`      x ${a.fullName}`);
  }
}
console.log(lines.join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
EOF
}

main() {
  mkdir -p "$RESULTS" "$STATE/logs"
  local setup_ok=true tier
  for tier in "${TIERS[@]}"; do rm -f "$RESULTS/$tier.json"; done
  step packages ensure_packages || setup_ok=false
  [ "$setup_ok" = true ] && { step "npm ci" install_node_modules || setup_ok=false; }
  [ "$setup_ok" = true ] && { step docker start_docker || setup_ok=false; }
  [ "$setup_ok" = true ] && step "busybox image" ensure_busybox_image
  if [ "$setup_ok" = true ]; then
    step lint npm run lint
    step typecheck npm run typecheck
    step build npm run build
    step "test postgres" start_test_pg || setup_ok=false
  fi
  if [ "$setup_ok" = true ]; then
    for tier in "${TIERS[@]}"; do
      step "tier $tier" run_tier "$tier"
    done
  else
    log "setup failed: tiers not run"
  fi

  cleanup
  echo
  echo "==== summary ===="
  local i
  for i in "${!STEP_NAMES[@]}"; do
    printf '%-16s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
  done
  echo
  local summary_rc=0
  summarize || summary_rc=$?
  if [ "$FAILED" = true ] || [ "$summary_rc" -ne 0 ]; then return 1; fi
  return 0
}

main
