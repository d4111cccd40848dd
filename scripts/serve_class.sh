#!/usr/bin/env bash
# Serve a class or a school: N NeckLab processes on loopback ports, and any on other machines, behind
# Debian's nginx.
#   scripts/serve_class.sh [N=2] [PORT=8080]       # nginx on 127.0.0.1:PORT; HOST=0.0.0.0 for a class network
#   UPSTREAMS="10.0.0.2:7860 10.0.0.3:7860" scripts/serve_class.sh 1 8080
#       # one local process plus one on each listed machine (started there with
#       # `python app.py --host 0.0.0.0`, reachable only from this one); N=0: remote ones only
# Runs in the foreground; Ctrl-C (or SIGTERM) stops nginx and every app process. Installs nginx with
# apt-get if it is missing. State, logs and PID files go to $NECKLAB_RUN_DIR (default: a fresh /tmp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2}
PORT=${2:-8080}
HOST=${HOST:-127.0.0.1}
RUN=${NECKLAB_RUN_DIR:-$(mktemp -d /tmp/necklab-class.XXXXXX)}
PY=.venv/bin/python
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  as_root apt-get update -qq && as_root apt-get install -y -qq nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

mkdir -p "$RUN"/tmp/{body,proxy,fastcgi,uwsgi,scgi} "$RUN/logs"
chmod -R 1777 "$RUN/tmp"  # nginx's workers drop root and must write request bodies here
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$RUN"/*.pid
  echo "stopped nginx and $N NeckLab process(es)"
}
trap stop INT TERM EXIT

# answer_or_fail NAME PID HOST: wait until HOST answers HTTP, or fail once process PID has ended.
answer_or_fail() {
  "$PY" - "$@" <<'WAIT'
import sys, time, urllib.request
from pathlib import Path
name, pid, host = sys.argv[1:4]  # pid "-": a process on another machine, nothing to watch here
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for _ in range(480):
    try:
        opener.open(f"http://{host}/", timeout=2).close()
        sys.exit(0)
    except OSError:
        if pid != "-" and not Path(f"/proc/{pid}").exists():
            sys.exit(f"{name} ended before it answered")
        time.sleep(0.5)
sys.exit(f"{name} did not answer in 4 minutes")
WAIT
}

servers=""
hosts=()
for i in $(seq 1 "$N"); do
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$PY" app.py --port "$port" >"$RUN/app-$i.log" 2>&1 &
  pids+=($!)
  echo $! >"$RUN/app-$i.pid"
  hosts+=("127.0.0.1:$port")
  servers+="server 127.0.0.1:$port max_fails=0; "
done
# Every process answers before nginx sends it anyone.
for i in $(seq 1 "$N"); do
  answer_or_fail "app $i (log: $RUN/app-$i.log)" "${pids[$((i - 1))]}" "${hosts[$((i - 1))]}" || exit 1
done
for remote in ${UPSTREAMS:-}; do
  answer_or_fail "the NeckLab process at $remote" - "$remote" || exit 1
  servers+="server $remote max_fails=0; "
done
[ -n "$servers" ] || { echo "nothing to serve: N=0 and no UPSTREAMS" >&2; exit 2; }
sed -e "s|@RUN_DIR@|$RUN|g" -e "s|@LISTEN@|$HOST:$PORT|g" -e "s|@SERVERS@|$servers|g" \
  deploy/nginx.conf.template >"$RUN/nginx.conf"
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf" &
pids+=($!)
# The address is printed only once nginx itself answers: whoever reads it may connect at once.
local_host=$([ "$HOST" = 0.0.0.0 ] && echo 127.0.0.1 || echo "$HOST")
answer_or_fail "nginx (log: $RUN/nginx-error.log)" "${pids[-1]}" "$local_host:$PORT" || exit 1
echo "NeckLab: http://$HOST:$PORT/ → $N process(es) here${UPSTREAMS:+ and ${UPSTREAMS// /, }} (run dir $RUN; Ctrl-C stops everything)"
wait -n "${pids[@]}"  # any process ending ends the service
echo "a process ended; stopping the rest" >&2
