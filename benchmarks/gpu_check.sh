#!/usr/bin/env bash
# GPU check of the real-model path (issue 17): LoRA bf16 and QLoRA cells on a random-init
# Qwen2.5-VL with the real 3B (default) or 7B sizes: per-cell wall time and peak GPU memory,
# evaluation throughput, two cells back to back (memory released). Under 8 minutes.
# STATUS: UNRUN. No GPU has been lent to this project yet; benchmarks/RESULTS.md says so.
#
# The GPU machine has no registry access and no checkpoints. Its image has Python 3.12 with
# torch (CUDA), transformers, accelerate, peft, tokenizers, pyarrow, pandas, tensorboard, but
# not trl, datasets, bitsandbytes or pydantic. So, in two steps:
#
# 1. Here, with PyPI (about 20 MB; wheels/ is ignored by git):
#        bash benchmarks/gpu_check.sh prepare
#    downloads the missing wheels for cp312 / manylinux x86_64 (plus our pins of transformers
#    and peft) into wheels/gpu/, keeps only bitsandbytes' CUDA 13 kernel (the image's CUDA) so
#    that everything fits the 64 MiB a device call carries, and copies the processor fixture
#    (../shared does not travel) into wheels/gpu/processor/.
# 2. On the GPU machine, from the repository root, carrying wheels/:
#        bash benchmarks/gpu_check.sh run [--size 7b] [more gpu_check.py options]
#    installs the wheels into /tmp/site and runs benchmarks/gpu_check.py; the JSON goes to
#    $OUT/gpu_check.json (or ./gpu_check.json). Record its figures in benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=wheels/gpu

prepare() {
    local py=${PYTHON:-python3}
    mkdir -p "$WHEELS"
    # --no-deps: each package the image lacks is named (see `pip show` there); one version each.
    "$py" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$WHEELS" \
        trl==1.16.0 transformers==5.23.0 peft==0.21.2 datasets==5.2.0 bitsandbytes==0.50.2 \
        dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.3 pydantic_core==2.50.4 annotated-types==0.8.0 \
        typing-inspection==0.4.5
    # bitsandbytes ships kernels for every CUDA and ROCm (125 MB installed): keep CPU + CUDA 13.x.
    local bnb
    bnb=$(ls "$WHEELS"/bitsandbytes-*.whl)
    "$py" - "$bnb" <<'EOF'
import re, sys, zipfile, os
src = sys.argv[1]
tmp = src + ".slim"
keep = re.compile(r"libbitsandbytes_(cpu|cuda13\d)\.so$")
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        if info.filename.endswith(".so") and not keep.search(info.filename):
            continue
        data = zin.read(info.filename)
        if info.filename.endswith("/RECORD"):  # drop the removed files' lines
            data = b"\n".join(l for l in data.split(b"\n")  # no blank line: pip reads each as a row
                              if l and not (b".so," in l and not keep.search(l.split(b",")[0].decode()))) + b"\n"
        zout.writestr(info, data)
os.replace(tmp, src)
EOF
    mkdir -p "$WHEELS/processor"
    cp ../shared/fixtures/qwen2.5-vl-processor/* "$WHEELS/processor/"
    du -sh "$WHEELS"
}

run() {
    local py=${PYTHON:-python3}
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    local out=${OUT:-.}
    timeout 480 "$py" benchmarks/gpu_check.py --files "$WHEELS/processor" --out "$out/gpu_check.json" "$@" \
        2>&1 | tee "$out/gpu_check.log"
}

case "${1:-}" in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    *) echo "usage: bash benchmarks/gpu_check.sh prepare | run [gpu_check.py options]" >&2; exit 2 ;;
esac
