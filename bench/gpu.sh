#!/usr/bin/env bash
# All GPU checks of the performance issue in one call of the device tool (an estimated 7 minutes on an
# H200, from the two calls that ran parts of it): our LoRA trainer (layers compiled, the GPU default)
# against TRL's SFTTrainer on a random 1.2B llama at batch 128 and 64, a profile of our steps, ours alone
# at batch 512, and ours uncompiled at 128 (the ablation); `bash bench/gpu.sh b256` runs batch 256 alone.
# TRL pads each batch to its longest item (244 tokens in the demo set), so at 256 it would hold 62k
# tokens of activations, an estimated 140 GiB: ours packs, so it does not.
#
#   run(command="bash bench/gpu.sh", carry=[".whl", ".tok"], timeout_s=480)
#
# The machine has torch, accelerate and an older transformers and peft, and no network. The rest travels as
# wheels in .whl/ (transformers and peft as pinned here, so the GPU runs the code the tests run; trl and
# datasets for the comparison), and the tokenizer (the embedded model's, for its chat template and
# 49152-token vocabulary) in .tok/. Both are git-ignored; `bash bench/gpu.sh prepare` makes them here.
# Results land in $OUT: one JSON per batch size and the whole log.
set -uo pipefail
WHEELS="trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic-core==2.50.5
        annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0
        transformers==5.24.0 peft==0.21.2 regex==2026.11.19"
if [ "${1:-}" = prepare ]; then  # on the development machine, in the repo root, with .venv
  mkdir -p .git/info && for d in /.whl/ /.tok/; do grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude; done
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $WHEELS
  .venv/bin/python - <<'PY'
from transformers import AutoTokenizer
from domalign.models.embedded import embedded_gguf_path
gguf = embedded_gguf_path()
AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(".tok")
PY
  exit
fi
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
python3 -c 'import torch, transformers, peft, trl, datasets, pyarrow; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "trl", trl.__version__, "datasets", datasets.__version__, "pyarrow", pyarrow.__version__)'

trainers=ours,trl  # ours alone if the carried TRL does not import here (its data stack meets the image's)
python3 -c 'import trl, datasets' || { echo "TRL does not import: ours alone"; trainers=ours; }

bench() {  # name, seconds, then bench/train.py options
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  timeout "$limit" python3 bench/train.py --model random-1b --tokenizer .tok --device cuda --out "$OUT/train-$name.json" "$@" \
    2> >(grep -v -e Warning -e warnings.warn -e 'examples/s' -e USDT >&2)
}
check() {  # the checks; `bash bench/gpu.sh b256 b512` runs those two alone
  case $1 in
    b128) bench b128 200 --batch-size 128 --steps 30 --repeats 3 --profile 15 --trainers "$trainers" ;;
    b128-eager) bench b128-eager 90 --batch-size 128 --steps 30 --repeats 2 --trainers ours --compile off ;;
    b64) bench b64 100 --batch-size 64 --steps 30 --repeats 2 --trainers "$trainers" ;;
    b256) bench b256 100 --batch-size 256 --steps 20 --repeats 2 --trainers ours ;;
    b512) bench b512 100 --batch-size 512 --steps 20 --repeats 2 --trainers ours ;;
    *) echo "unknown check $1 (b128, b128-eager, b64, b256, b512)"; return 1 ;;
  esac
}
[ $# -gt 0 ] || set -- b128 b64 b512 b128-eager  # b256 by name: the whole set would pass 8 minutes
for name in "$@"; do check "$name"; done 2>&1 | tee "$OUT/gpu.log"
