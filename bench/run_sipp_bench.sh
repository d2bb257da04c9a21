#!/usr/bin/env bash
# Run the SIPp benchmark (bench/sipp/run.sh, the method that measured Asterisk)
# against this PBX: one group at a time, the PBX restarted before each, pinned
# to core 0 (SIPp runs on core 1). Figures land in bench/out/<group>-<date>/.
#
# usage: bench/run_sipp_bench.sh [GROUP...]     (default: cps reg play echo bridge dialcps;
#        also: moh, 998 MusicOnHold measured as play)
#   env: any of run.sh's (CPS_RATES, REG_RATES, PLAY_LEVELS, ...), PBX_CORE [0],
#        PORT [5060] and UAS_PORT [5090]: other ports run a copy of bench/etc moved there
# Needs: sipp, tshark (play group), taskset; traffic stays on 127.0.0.1.
set -u
cd "$(dirname "$0")/.."
GROUPS_TO_RUN=${*:-"cps reg play echo bridge dialcps"}
PBX_CORE=${PBX_CORE:-0}
CONF=bench/etc
PORT=${PORT:-5060}
export UAS_PORT=${UAS_PORT:-5090}
STAMP=$(date +%Y%m%d-%H%M%S)
if [ "$PORT" != 5060 ] || [ "$UAS_PORT" != 5090 ]; then
  CONF=$(mktemp -d)/etc
  cp -r bench/etc "$CONF"
  sed -i "s/127.0.0.1:5060/127.0.0.1:$PORT/g; s/127.0.0.1:8098/127.0.0.1:$((PORT + 3000))/" "$CONF/pbx.yaml"
  sed -i "s/^port=5090/port=$UAS_PORT/" "$CONF/sip.conf"
fi
[ -x .venv/bin/pbx ] || make venv >/dev/null

start_pbx() {
  rm -rf "$CONF/var"
  taskset -c "$PBX_CORE" .venv/bin/pbx run --config-dir "$CONF" > "bench/out/pbx-$1-$STAMP.log" 2>&1 &
  PBX_PID=$!
  for _ in $(seq 1 50); do
    .venv/bin/python - "$PORT" <<'PY' && return 0
import sys
from tests.e2e.harness import options_ok
sys.exit(0 if options_ok("127.0.0.1", int(sys.argv[1]), timeout=0.3) else 1)
PY
    sleep 0.2
  done
  echo "PBX did not start; see bench/out/pbx-$1-$STAMP.log" >&2
  exit 1
}

stop_pbx() {
  kill -TERM "$PBX_PID" 2>/dev/null
  wait "$PBX_PID" 2>/dev/null
}

mkdir -p bench/out
for group in $GROUPS_TO_RUN; do
  start_pbx "$group"
  echo "== $group (pbx pid $PBX_PID on core $PBX_CORE)"
  TESTS=$group LABEL=pbx-$group OUT=bench/out/$group-$STAMP bash bench/sipp/run.sh 127.0.0.1 "$PORT" "$PBX_PID"
  stop_pbx
  echo "summary: bench/out/$group-$STAMP/summary.tsv"
done
