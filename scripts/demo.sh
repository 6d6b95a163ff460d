#!/usr/bin/env bash
# The demo, all on CPU and offline (about 8 minutes on 2 idle cores):
#   1. plans from the built-in (published) matrices, and their analysis;
#   2. a tiny measure -> plan on 4 synthetic tasks (target + 3 sources) with the tiny local Qwen2.5-VL;
#   3. the scarce-target question, train -> compare: 50 target examples alone vs the same 50 plus a
#      planned mix (vs best-single and random mixes, and zero-shot).
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

step "Measure a matrix: tiny Qwen2.5-VL, 4 synthetic tasks with skill cues, 3 sources x 2 seeds (about 4 minutes)"
$PGF measure recipes/measure-demo.yaml --out "$OUT/demo-matrix" --executor ray
$PGF matrices show "$OUT/demo-matrix"
step "You have 50 examples of synthetic Semantic_Correspondence: plan 950 more from the other tasks (its own row withheld)"
$PGF plan --matrix "$OUT/demo-matrix" --target semantic-correspondence --budget 950 --out "$OUT/plan-demo.yaml"

step "Train and compare, 3 seeds: the 50 examples alone (direct, cycled to 1,000) vs the 50 + the planned 950 (pgf) vs the 50 + 950 of a random source"
# Scarce-target mode: every run of a seed has the same 50 target examples; the planned and random
# mixes add 950 examples of other tasks. Runs train from the cached tiny base the matrix was
# measured on, one pass over 1,000 examples, and score on the test split, which nothing above
# chose from. Runs are independent: two `train` processes (one per core) fill the same folder.
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
target: synthetic:Semantic_Correspondence
budget: 1000
scarce_target: 50
matrix: demo-matrix
mixture: pgf
baselines: [best_single, random, direct, zero_shot]
seeds: [0, 1, 2]
training: {method: full, train_vision: true, learning_rate: 0.001, lr_scheduler: cosine, warmup_ratio: 0.05, epochs: 1, batch_size: 8}
evaluation: {split: test, n_items: 256, batch_size: 32, seed: 0}
YAML
$PGF train "$OUT/demo-recipe.yaml" --out "$OUT/verify" --only pgf --only random --only zero_shot > "$OUT/train-1.log" 2>&1 &
$PGF train "$OUT/demo-recipe.yaml" --out "$OUT/verify" --only best_single --only direct > "$OUT/train-2.log" 2>&1
wait $! || { cat "$OUT/train-1.log"; exit 1; }
step "Comparison (every strategy, accuracy on the test split, 95% t-intervals over 3 seeds)"
$PGF compare "$OUT/verify" --plot "$OUT/verify/compare.png"
echo
echo "Comparison plot: $OUT/verify/compare.png"
echo "Plan files: $OUT/plan-*.yaml   analysis: $OUT/analysis/report.md   matrix: $OUT/demo-matrix/matrix.csv"
