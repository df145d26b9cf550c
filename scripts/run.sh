#!/usr/bin/env bash
# `make run`: the sandbox Microsoft tenant, a Celery worker (with the periodic watchdog) and the web server,
# stopped together on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PY=.venv/bin/python
mkdir -p var
: > var/worker.log
SANDBOX_PORT="${ONRAMP_SANDBOX_PORT:-8443}"
# The installation vouches for its sandbox as it does for Microsoft's clouds: a token from it proves a tenant id.
export ONRAMP_TRUSTED_ENDPOINT_HOSTS="${ONRAMP_TRUSTED_ENDPOINT_HOSTS:-127.0.0.1:$SANDBOX_PORT}"

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Onramp stopped."
}
trap cleanup INT TERM EXIT

rm -f var/sandbox.json
"$PY" -m sandbox serve --port "$SANDBOX_PORT" --rooms 120 --equipment 6 --users 20 \
  --provisioning-delay-s 20 --info var/sandbox.json > var/sandbox.log 2>&1 &
pids+=($!)

"$PY" manage.py migrate --noinput
"$PY" manage.py setup_demo

for _ in $(seq 100); do [ -s var/sandbox.json ] && break; sleep 0.1; done
[ -s var/sandbox.json ] || { echo "The sandbox tenant did not start; see var/sandbox.log"; exit 1; }
# "Sign in with Microsoft" at the sandbox tenant too, unless an Entra app is configured: its sign-in page lists
# its people (admin@ is a Global Administrator, user-001@ an Exchange Administrator, user-002@ neither).
if [ -z "${ONRAMP_SIGNIN_CLIENT_ID:-}" ]; then
  eval "$("$PY" -c '
import json, shlex
info = json.load(open("var/sandbox.json"))
values = {
    "ONRAMP_SIGNIN_CLIENT_ID": info["client_id"],
    "ONRAMP_SIGNIN_CLIENT_SECRET": info["client_secret"],
    "ONRAMP_SIGNIN_AUTHORITY": info["authority"].rsplit("/", 1)[0] + "/organizations",
    "ONRAMP_SIGNIN_CA_BUNDLE": info["ca_bundle"],
}
print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items()))
')"
fi
# The sandbox prints the explicit endpoints and secret files to connect with; Onramp knows no sandbox.
"$PY" manage.py onramp connect --slug demo $("$PY" -m sandbox onramp-connect --info var/sandbox.json) --actor make-run || \
  echo "Connecting the demo tenant failed; open it in the wizard to see why."

# Restarted if it exits (Celery's Redis transport can end the worker when Redis restarts); the watchdog in its
# beat then re-sends whatever was lost.
(
  trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null; exit 0' TERM INT
  while :; do
    "$PY" -m celery -A config worker --beat --pool threads --concurrency 4 --loglevel INFO \
      --schedule var/celerybeat-schedule >> var/worker.log 2>&1 &
    worker=$!
    wait "$worker" || true
    echo "$(date -Is) worker exited; restarting it" >> var/worker.log
    sleep 2
  done
) &
pids+=($!)

echo "Onramp: http://127.0.0.1:8000  (worker log: var/worker.log, sandbox: var/sandbox.log; Ctrl-C stops all)"
"$PY" manage.py runserver 127.0.0.1:8000 &
pids+=($!)
wait -n
