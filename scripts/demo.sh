#!/usr/bin/env bash
# The demo, all on CPU and offline (about 8 minutes on 2 idle cores):
#   1. plans from the built-in (published) matrices, and their analysis;
#   2. a tiny measure -> plan on 4 synthetic tasks (target + 3 sources) with the tiny local Qwen2.5-VL;
#   3. train -> compare: the planned mix against random, uniform and best-single mixes and direct finetuning.
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

step "Measure a matrix: tiny Qwen2.5-VL, 4 synthetic tasks with skill cues, 3 sources x 2 seeds (about 3 minutes)"
$PGF measure recipes/measure-demo.yaml --out "$OUT/demo-matrix" --executor ray
$PGF matrices show "$OUT/demo-matrix"
step "Plan 1k examples for synthetic Object_Localization from that matrix (the target's own data withheld)"
$PGF plan --matrix "$OUT/demo-matrix" --target object-localization --budget 1k --out "$OUT/plan-demo.yaml"

step "Train and compare: the planned mix vs random, uniform and best-single mixes and direct finetuning, 3 seeds"
# The recipe trains from the same cached tiny base as the measurement, one pass over 1k examples
# per run, and scores on the test split, which nothing above chose from. Runs are independent:
# two `train` processes (one per core) fill the same folder.
cat > "$OUT/demo-recipe.yaml" <<YAML
pgfselect_recipe: 1
name: demo
model:
  path: tiny:t128
  cpu_threads: 1
  initializer_range: 0.1
  warmup: {steps: 800, learning_rate: 0.001, batch_size: 8, examples_per_task: 256}
task_options:
  synthetic: {difficulty: 0.0, skill_cues: 0.6}
target: synthetic:Object_Localization
budget: 1000
matrix: demo-matrix
mixture: pgf
baselines: [random, uniform, best_single, direct, zero_shot]
seeds: [0, 1, 2]
training: {method: full, learning_rate: 0.001, lr_scheduler: cosine, warmup_ratio: 0.05, epochs: 1, batch_size: 8}
evaluation: {split: test, n_items: 256, batch_size: 32, seed: 0}
YAML
$PGF train "$OUT/demo-recipe.yaml" --out "$OUT/verify" --only pgf --only random --only zero_shot > "$OUT/train-1.log" 2>&1 &
$PGF train "$OUT/demo-recipe.yaml" --out "$OUT/verify" --only uniform --only best_single --only direct
wait $! || { cat "$OUT/train-1.log"; exit 1; }
$PGF compare "$OUT/verify" --plot "$OUT/verify/compare.png"
echo
echo "Comparison plot: $OUT/verify/compare.png"
echo "Plan files: $OUT/plan-*.yaml   analysis: $OUT/analysis/report.md   matrix: $OUT/demo-matrix/matrix.csv"
