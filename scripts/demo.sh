#!/usr/bin/env bash
# The demo, all on CPU and offline (about 6 minutes on 2 idle cores):
#   1. plans from the built-in (published) matrices, and their analysis;
#   2. a tiny measure -> plan on 3 synthetic tasks with the tiny local Qwen2.5-VL;
#   3. train -> compare: the planned mix against direct finetuning, random and uniform mixes.
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
step "Plan for synthetic Spatial_Relation from the tiny matrix (budget 400, the target's own data withheld)"
$PGF plan --matrix "$OUT/tiny-matrix" --target spatial-relation --budget 400 --kappa 0 --saturation 200 \
  --out "$OUT/plan-tiny.yaml" \
  || echo "(no mixture: on this run no source was measured to help Spatial_Relation)"

step "Train and compare: the planned mix vs direct finetuning, random and uniform mixes, 2 seeds"
# The recipe trains from the same cached tiny base as the measurement and scores on the test
# split, which nothing above chose from.
cat > "$OUT/demo-recipe.yaml" <<YAML
pgfselect_recipe: 1
name: demo-tiny
model:
  path: tiny:t128
  cpu_threads: 1
  warmup: {steps: 300, learning_rate: 0.001, batch_size: 8, examples_per_task: 256}
task_options:
  synthetic: {difficulty: 0.0}
target: Spatial_Relation
budget: 400
matrix: tiny-matrix
mixture: pgf
baselines: [direct, random, uniform, zero_shot]
planner: {kappa: 0, saturation: 200}
seeds: [0, 1]
training: {method: lora, rank: 16, alpha: 32, learning_rate: 0.003, lr_scheduler: cosine, epochs: 1, batch_size: 8}
evaluation: {split: test, n_items: 128, batch_size: 32, seed: 0}
YAML
if [ -f "$OUT/plan-tiny.yaml" ]; then
  $PGF train "$OUT/demo-recipe.yaml" --out "$OUT/verify"
  $PGF compare "$OUT/verify"
  echo
  echo "Comparison plot: $OUT/verify/compare.png"
fi
echo "Plan files: $OUT/plan-*.yaml   analysis: $OUT/analysis/report.md"
