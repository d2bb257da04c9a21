#!/bin/bash
# Start/stop the stand-in provider (kamailio) by hand, as tests/e2e/provider.py does.
# usage: kam.sh start [PROXY_407] [WITH_QOP] [WITH_SHA256] [NO_AUTH] [WITH_WS] | kam.sh stop
# env: RUN (state dir, default $TMPDIR/kamailio-provider), PORT (SIP, default 5070),
#      WS_PORT (default 5066). kamcmd: kamcmd -s unix:$RUN/kamailio_ctl ul.dump
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="${RUN:-${TMPDIR:-/tmp}/kamailio-provider}"; mkdir -p "$RUN"
PORT="${PORT:-5070}"; WS_PORT="${WS_PORT:-5066}"
MODULES="$(dirname "$(ls /usr/lib/*/kamailio/modules/tm.so 2>/dev/null | head -1)")/"
case "$1" in
start)
  shift; defs=(); for d in "$@"; do defs+=(-A "$d"); done
  sed -e "s|127.0.0.1:5070|127.0.0.1:$PORT|g" -e "s|127.0.0.1:5066|127.0.0.1:$WS_PORT|g" \
      -e "s|@CTL_SOCKET@|$RUN/kamailio_ctl|" \
      -e "s|^mpath=.*|mpath=\"$MODULES\"|" "$HERE/provider.cfg" > "$RUN/provider.cfg"
  kamailio -f "$RUN/provider.cfg" -DD -E -w "$RUN" "${defs[@]}" >"$RUN/kamailio.log" 2>&1 &
  echo $! > "$RUN/kamailio.pid"
  for i in $(seq 1 50); do
    [ -S "$RUN/kamailio_ctl" ] && break
    sleep 0.1
  done
  kill -0 "$(cat "$RUN/kamailio.pid")" 2>/dev/null && echo "kamailio up pid $(cat "$RUN/kamailio.pid") on 127.0.0.1:$PORT" || { echo "kamailio failed"; tail -20 "$RUN/kamailio.log"; exit 1; }
  ;;
stop)
  [ -f "$RUN/kamailio.pid" ] && kill "$(cat "$RUN/kamailio.pid")" 2>/dev/null; sleep 0.5; rm -f "$RUN/kamailio.pid"; echo stopped ;;
*) echo "usage: $0 start [PROXY_407] [WITH_QOP] [WITH_SHA256] [NO_AUTH] [WITH_WS] | stop"; exit 2;;
esac
