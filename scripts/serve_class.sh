#!/usr/bin/env bash
# Serve a class or a school: N NeckLab processes on loopback ports behind Debian's nginx.
#   scripts/serve_class.sh [N=2] [PORT=8080]       # nginx on 127.0.0.1:PORT; HOST=0.0.0.0 for a class network
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

servers=""
for i in $(seq 1 "$N"); do
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$PY" app.py --port "$port" >"$RUN/app-$i.log" 2>&1 &
  pids+=($!)
  echo $! >"$RUN/app-$i.pid"
  servers+="server 127.0.0.1:$port max_fails=0; "
done
# Every process answers before nginx sends it anyone.
"$PY" - "$RUN" $(grep -o '127.0.0.1:[0-9]*' <<<"$servers") <<'WAIT' || exit 1
import sys, time, urllib.request
from pathlib import Path
run, hosts = Path(sys.argv[1]), sys.argv[2:]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for i, host in enumerate(hosts, 1):
    for _ in range(480):
        try:
            opener.open(f"http://{host}/", timeout=2).close()
            break
        except OSError:
            if not Path(f"/proc/{(run / f'app-{i}.pid').read_text().strip()}").exists():
                sys.exit(f"app {i} failed: see {run}/app-{i}.log")
            time.sleep(0.5)
    else:
        sys.exit(f"app {i} did not answer in 4 minutes: see {run}/app-{i}.log")
WAIT
sed -e "s|@RUN_DIR@|$RUN|g" -e "s|@LISTEN@|$HOST:$PORT|g" -e "s|@SERVERS@|$servers|g" \
  deploy/nginx.conf.template >"$RUN/nginx.conf"
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf" &
pids+=($!)
echo "NeckLab: http://$HOST:$PORT/ → $N process(es) (run dir $RUN; Ctrl-C stops everything)"
wait -n "${pids[@]}"  # any process ending ends the service
echo "a process ended; stopping the rest" >&2
