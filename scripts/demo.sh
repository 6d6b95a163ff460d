#!/usr/bin/env bash
# The demo, all on CPU and offline (about 8 minutes on 2 cores):
#   1. plans from the built-in (published) matrices, and their analysis;
#   2. a tiny measure -> plan on 3 synthetic tasks with the tiny local Qwen2.5-VL;
#   3. train -> compare: a planned mix against direct finetuning, random and uniform mixes.
set -euo pipefail
OUT=${1:-demo-out}
PGF=.venv/bin/pgfselect
mkdir -p "$OUT"
export PGFSELECT_CACHE_DIR="$OUT/cache"   # tiny bases built once, reused by measure and train

step() { printf '\n== %s\n' "$*"; }

step "Built-in matrices"
$PGF matrices list
for target in counting jigsaw object-localization; do
  step "pgfselect plan --target $target --budget 2k   (published Qwen2.5-VL-7B matrix)"
  $PGF plan --target "$target" --budget 2k --out "$OUT/plan-$target.yaml"
done
step "Two targets, capped sources, on the 32B matrix"
$PGF plan -t counting=0.7 -t jigsaw=0.3 -b 5k --available default=1500 -m published:qwen2.5-vl-32b
step "Analysis of the 3B and 32B matrices (report, heatmaps, transfer graph)"
$PGF analyze --matrix published:qwen2.5-vl-3b --matrix published:qwen2.5-vl-32b --out "$OUT/analysis" --quiet
echo "report: $OUT/analysis/report.md   graph: $OUT/analysis/transfer_graph.html"

step "Measure a tiny matrix: tiny Qwen2.5-VL, 3 synthetic tasks, 1 seed (about 2 minutes)"
$PGF measure recipes/measure-tiny.yaml --out "$OUT/tiny-matrix"
$PGF matrices show "$OUT/tiny-matrix"
step "Plan for synthetic Counting from the tiny matrix"
# A 1.5 M-parameter random-init model shows little transfer, so the guard may refuse every source:
# that refusal is the correct answer for such a matrix (see benchmarks/RESULTS.md, measure).
$PGF plan --matrix "$OUT/tiny-matrix" --target counting --budget 400 --kappa 0 \
  || echo "(no mixture: on this tiny model no source is expected to help Counting)"

step "Train and compare (recipes/verify-tiny.yaml: pgf vs direct, random, uniform, 2 seeds; about 5 minutes)"
$PGF train recipes/verify-tiny.yaml --out "$OUT/verify"
$PGF compare "$OUT/verify"
echo
echo "Plan files: $OUT/plan-*.yaml"
echo "Comparison plot: $OUT/verify/compare.png   analysis: $OUT/analysis/report.md"
