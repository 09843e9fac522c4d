#!/usr/bin/env bash
# Offline demo: an office, a picker, a packer and a driver, each with its own
# store in ./waybill-offline-demo/ (or the folder given as the first
# argument), no network. Documents travel between devices as exported
# .automerge files (the sync server replaces this step).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p waybill-agent
root=$PWD
bin=${CARGO_TARGET_DIR:-$root/target}/debug/waybill-agent
demo=${1:-waybill-offline-demo}
# The folder is this script's own: an earlier run's is replaced, anything
# else is refused, and a run still going in it is left alone.
if [ -n "$(ls -A "$demo" 2>/dev/null)" ] && [ ! -e "$demo/.offline-demo" ]; then
  echo "error: $demo holds data that is not an earlier offline-demo.sh run's: give another folder as the first argument" >&2
  exit 1
fi
mkdir -p "$demo"
exec 9>>"$demo/.offline-demo"
if ! flock -n 9; then
  echo "error: offline-demo.sh is already running in $demo: let it finish, or give another folder as the first argument" >&2
  exit 1
fi
find "$demo" -mindepth 1 -maxdepth 1 ! -name .offline-demo -exec rm -rf {} +
cd "$demo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
office() { "$bin" --store office.db "$@"; }
picker() { "$bin" --store hh-1.db "$@"; }
packer() { "$bin" --store pk-1.db "$@"; }
driver() { "$bin" --store drv-1.db "$@"; }

say "The office takes orders in and hands the documents down"
office init --device office-1 --role office
office import "$root/agent/demo/seed.json"
for d in order/SO-1001 order/SO-1002 location/wh-1/0 route/R-7; do
  office export "$d" --out "${d//\//_}.automerge" >/dev/null
done

say "The picker works its list, in bin-walk order, offline"
picker init --device hh-1 --role picker --location wh-1 --user ana
picker merge order_SO-1001.automerge order_SO-1002.automerge location_wh-1_0.automerge
picker tasks
picker scan 'WB:BIN:wh-1:A-01'
picker pick --order SO-1001 --line 1 --bin 'WB:BIN:wh-1:A-01' --item ']C10109506000134352' --qty 2
picker pick --order SO-1001 --line 2 --bin B-01 --item 9506000134369 --qty 1
echo "(a wrong item is refused and nothing is written:)"
picker pick --order SO-1002 --line 1 --bin A-02 --item 09506000134352 --qty 3 || true
picker status
picker export order/SO-1001 --out order_SO-1001.automerge >/dev/null

say "The packer packs, closes and stages"
packer init --device pk-1 --role packer --location wh-1
packer merge order_SO-1001.automerge
packer pack --order SO-1001 --package 106141411234567897 --line 1:2 --line 2:1 --weight-g 1800
packer close --order SO-1001 --package '(00)106141411234567897' --weight-g 1850
packer stage --order SO-1001 --package 106141411234567897 --area lane-3
packer export order/SO-1001 --out order_SO-1001.automerge >/dev/null

say "The driver loads, goes out and delivers with proof"
printf '\xff\xd8\xff photo of the front door' > door.jpg
printf '\x89PNG signature strokes' > signature.png
driver init --device drv-1 --role driver --user bo
driver merge order_SO-1001.automerge route_R-7.automerge
driver load --route R-7 --package 106141411234567897
driver out --route R-7
driver arrive --route R-7 --stop 1 --gps 51.5074,-0.1344
driver deliver --route R-7 --stop 1 --recipient 'A. Lovelace' --relation recipient \
  --photo door.jpg --signature signature.png --gps 51.5074,-0.1344
driver route R-7
driver export order/SO-1001 --out order_SO-1001.automerge >/dev/null

say "Back in the office: the merged order"
office merge order_SO-1001.automerge
office order SO-1001
echo
echo "Stores and exported documents are in $demo/."
