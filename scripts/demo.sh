#!/usr/bin/env bash
# The demo, all on CPU and offline (timed in benchmarks/RESULTS.md, "demo"):
#   1. plans from the built-in (published) matrices, and their analysis;
#   2. the measured 13-task synthetic matrix (tiny local Qwen2.5-VL) and how it was measured;
#   3. the scarce-target question, train -> compare: 50 target examples alone vs the same 50 plus a
#      planned mix (vs best-single and random mixes, and zero-shot), 3 seeds, on the test split.
set -euo pipefail
OUT=${1:-demo-out}
PGF=.venv/bin/pgfselect
MATRIX=benchmarks/results/selection_synthetic_matrix_base4d531110.csv
RECIPE=recipes/demo-scarce-functional-correspondence.yaml
mkdir -p "$OUT"
export PGFSELECT_CACHE_DIR="$OUT/cache"   # the tiny base, built once, reused by every run

step() { printf '\n== %s\n' "$*"; }

# The first training process starts now: building the tiny base (minutes, one core) overlaps the
# planning and analysis below. best_single runs after pgf in the same process, so that where it
# plans pgf's mixture its runs are reused; one direct seed evens out the two processes' work.
$PGF train "$RECIPE" --out "$OUT/verify" --only pgf --only best_single --only zero_shot --only direct:2 \
  --quiet > "$OUT/train-1.log" 2>&1 &
first=$!
trap 'kill "$first" 2>/dev/null || true' EXIT   # a failed step below stops it too

step "Built-in matrices"
$PGF matrices list
for target in counting jigsaw; do
  step "pgfselect plan --target $target --budget 2k   (published Qwen2.5-VL-7B matrix)"
  $PGF plan --target "$target" --budget 2k --out "$OUT/plan-$target.yaml"
done
step "Two targets, capped sources, on the 32B matrix"
$PGF plan -t counting=0.7 -t jigsaw=0.3 -b 5k --available default=1500 -m published:qwen2.5-vl-32b
step "Analysis of the 3B and 32B matrices (report, heatmaps, transfer graph)"
$PGF analyze --matrix published:qwen2.5-vl-3b --matrix published:qwen2.5-vl-32b --out "$OUT/analysis" --quiet
echo "report: $OUT/analysis/report.md   graph: $OUT/analysis/transfer_graph.html"

step "A measured matrix: tiny Qwen2.5-VL on 13 synthetic tasks with skill cues, 2 seeds"
echo "(measured with: pgfselect measure recipes/measure-synthetic.yaml --out runs/synthetic --executor ray:"
echo " 27 cells, the base and 13 sources x 2 seeds, each scored on all 13 tasks; about 25 minutes on 2 cores."
echo " It describes the tiny base one CPU type builds, 4d531110b18b6a1c: on another, train says so)"
$PGF matrices show "$MATRIX"

step "You have 50 examples of synthetic Functional_Correspondence: plan 950 more from the other tasks (its own row withheld)"
echo "(the demo's target was chosen by a screen with a rule fixed before it ran: benchmarks/results/demo_target_screen.md;"
echo " whether planned mixes beat the target's own examples across targets is the scarce-target study's question)"
$PGF plan --matrix "$MATRIX" --target functional-correspondence --exclude functional-correspondence --budget 950 \
  --out "$OUT/plan-demo.yaml"

step "Train and compare, 3 seeds: the 50 alone (direct, cycled to 1,000) vs the 50 + the planned 950 (pgf) vs the 50 + 950 of a random source"
# The second `train` process (one per core) fills the same folder; it waits for the base the
# first one is building (or has built) rather than building it again.
$PGF train "$RECIPE" --out "$OUT/verify" --only random --only direct:0 --only direct:1 \
  --quiet > "$OUT/train-2.log" 2>&1 || { cat "$OUT/train-2.log"; exit 1; }
wait $first || { cat "$OUT/train-1.log"; exit 1; }
step "Comparison (every strategy, accuracy on the test split, 95% t-intervals over 3 seeds)"
$PGF compare "$OUT/verify" --plot "$OUT/verify/compare.png"
echo
echo "Comparison plot: $OUT/verify/compare.png"
echo "Plan files: $OUT/plan-*.yaml   analysis: $OUT/analysis/report.md   runs: $OUT/verify/runs/"
