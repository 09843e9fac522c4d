#!/usr/bin/env bash
# Sync demo: a waybill-server on 127.0.0.1, two pickers enrolled with it.
# Both sync, go offline, pick from the same bin (which holds only enough
# for one of them), then sync: the server's merged state shows both orders
# picked and the bin below zero as an exception, nothing dropped.
# Usage: [PORT=4433] bash scripts/sync-demo.sh [FOLDER]   (default ./waybill-sync-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p waybill-sync-server -p waybill-agent
root=$PWD
server=${CARGO_TARGET_DIR:-$root/target}/debug/waybill-server
agent=${CARGO_TARGET_DIR:-$root/target}/debug/waybill-agent
demo=${1:-waybill-sync-demo}
port=${PORT:-4433}
# The folder is this script's own: an earlier run's is replaced, anything
# else is refused, and a run still going in it is left alone.
if [ -n "$(ls -A "$demo" 2>/dev/null)" ] && [ ! -e "$demo/.sync-demo" ]; then
  echo "error: $demo holds data that is not an earlier sync-demo.sh run's: give another folder as the first argument" >&2
  exit 1
fi
mkdir -p "$demo"
exec 9>>"$demo/.sync-demo"
if ! flock -n 9; then
  echo "error: sync-demo.sh is already running in $demo: let it finish, or give another folder as the first argument" >&2
  exit 1
fi
find "$demo" -mindepth 1 -maxdepth 1 ! -name .sync-demo -exec rm -rf {} +
cd "$demo"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

say "The office loads orders into the server and starts it"
"$server" --data server import "$root/scripts/sync-demo-seed.json"
RUST_LOG=warn "$server" --data server serve --listen "127.0.0.1:$port" > server.out 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until grep -q listening server.out; do
  if ! kill -0 $pid 2>/dev/null; then
    echo "error: the server did not start (is port $port taken? set PORT=<port>):" >&2
    cat server.out >&2
    exit 1
  fi
  sleep 0.1
done

for d in hh-7 hh-8; do
  say "The office enrols $d; the device enrols with the code and syncs"
  out=$("$server" --data server --json enrol --device $d --role picker --location wh-2)
  "$agent" --store $d.db enrol --server "127.0.0.1:$port" --code "$(field code <<<"$out")" \
    --fingerprint "$(field fingerprint <<<"$out")"
  "$agent" --store $d.db sync
  "$agent" --store $d.db tasks
done

say "Offline, each picker picks its order from bin A-01 (2 units there, 4 picked)"
"$agent" --store hh-7.db pick --order SO-2001 --line 1 --bin 'WB:BIN:wh-2:A-01' --item 09506000134383 --qty 2
"$agent" --store hh-8.db pick --order SO-2002 --line 1 --bin A-01 --item 09506000134383 --qty 2
"$agent" --store hh-8.db status

say "Links come back: both sync"
"$agent" --store hh-7.db sync
"$agent" --store hh-8.db sync
"$agent" --store hh-7.db sync   # picks up hh-8's move of the shared bin

say "The server's merged state"
"$server" --data server orders
"$server" --data server stock
"$server" --data server exceptions
"$server" --data server devices
"$agent" --store hh-7.db stock
