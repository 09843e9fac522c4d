#!/usr/bin/env bash
# The long soak (not in CI): a fleet's offline collisions (a cancelled order
# picked offline, a double pack) and receipts in every round, synced all at
# once while the server is kill -9ed under the syncs and restarted, and
# agents are killed mid-write and mid-sync, until SOAK_KILLS processes
# (1,000 unless set) were killed. It ends by checking that every
# acknowledged event is on the server, no receipt counts twice, every
# device converged to the server's view and every collision is an open
# exception. Prints its figures as it goes; docs/reliability.md has a run's.
#
#   bash scripts/soak.sh            # 1,000 kills, about 15 minutes
#   SOAK_KILLS=100 bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
SOAK_KILLS="${SOAK_KILLS:-1000}" cargo test -p waybill-tests --test collisions soak -- --ignored --nocapture
