#!/bin/bash
# Profile every node of a running network under scf bench load, one node at a time.
#
#   bench/profile-nodes.sh DIR OUT [WORKLOAD] [SECONDS_PER_NODE]
#   BENCH_ARGS="--value-size 1024" bench/profile-nodes.sh DIR OUT read-modify-write
#
# Starts `scf bench --workload WORKLOAD --max` (default blind-write) long enough for all
# nodes, and 10 s after the load starts attaches `py-spy record --gil` to each node's PID
# (DIR/nodes/*/pid) in turn for SECONDS_PER_NODE (default 15) s. Writes OUT/<node>.txt
# (py-spy raw/collapsed format), OUT/bench.json (the round's figures, CPU ms per tx per
# node) and prints `python -m client.bench.pyspy` summaries. One py-spy at a time: seven
# at once fall behind on a 2-core machine and mis-sample waiting threads as busy.
# Needs py-spy in the venv (`.venv/bin/pip install py-spy`; not a project dependency).
set -euo pipefail
DIR=${1:?network dir}
OUT=${2:?output dir}
WORKLOAD=${3:-blind-write}
EACH=${4:-15}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
nodes=("$DIR"/nodes/*/)
duration=$(( ${#nodes[@]} * (EACH + 1) + 20 ))
.venv/bin/scf bench --profile "$DIR/connection.yaml" --workload "$WORKLOAD" --max \
    --duration "$duration" --json "$OUT/bench.json" ${BENCH_ARGS:-} > "$OUT/bench.txt" 2>&1 &
bench=$!
# Wait for the load to start (voucher-flow first prepares its pool), then 10 s of ramp.
until grep -q "clients connected" "$OUT/bench.txt" 2>/dev/null; do sleep 1; done
sleep 10
for d in "${nodes[@]}"; do
    n=$(basename "$d")
    .venv/bin/py-spy record --pid "$(cat "$d/pid")" --duration "$EACH" --rate 100 --gil \
        --nonblocking --format raw -o "$OUT/$n.txt" > "$OUT/$n.log" 2>&1 || true
done
wait "$bench"
cat "$OUT/bench.txt"
files=()
for d in "${nodes[@]}"; do files+=("$OUT/$(basename "$d").txt"); done
.venv/bin/python -m client.bench.pyspy "${files[@]}"
