#!/usr/bin/env bash
# The demo: plans on the built-in (published) matrices. Later stages are added as they land.
set -euo pipefail
OUT=${1:-demo-out}
PGF=.venv/bin/pgfselect
mkdir -p "$OUT"
echo "== Built-in matrices"
$PGF matrices list
for target in counting jigsaw object-localization; do
  echo
  echo "== pgfselect plan --target $target --budget 2k  (published Qwen2.5-VL-7B matrix)"
  $PGF plan --target "$target" --budget 2k --out "$OUT/plan-$target.yaml"
done
echo
echo "== Two targets, capped sources, on the 32B matrix"
$PGF plan -t counting=0.7 -t jigsaw=0.3 -b 5k --available default=1500 -m published:qwen2.5-vl-32b
echo
echo "Plan files: $OUT/plan-*.yaml"
