#!/usr/bin/env bash
# All GPU checks of the performance issue in one call of the device tool (about 4 minutes on an H200):
# our LoRA trainer against TRL's SFTTrainer on a random 1.2B llama, at batch 64 and 128. Larger batches
# do not fit: the demo set's longest items (244 tokens) pad a batch of 256 to 62k tokens, an estimated
# 150-200 GB of activations without gradient checkpointing.
#
#   run(command="bash bench/gpu.sh", carry=[".whl", ".tok"], timeout_s=480)
#
# The machine has torch, transformers, peft and accelerate but not trl, datasets or pydantic, and no
# network: those travel as wheels in .whl/, and the tokenizer (the embedded model's, for its chat template
# and 49152-token vocabulary) in .tok/. Both are git-ignored; `bash bench/gpu.sh prepare` makes them here.
# Results land in $OUT.
set -uo pipefail
WHEELS="trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic-core==2.50.5
        annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0"
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

bench() {  # name, then bench/train.py options
  local name=$1; shift
  echo "== $name: $*"
  timeout 140 python3 bench/train.py --model random-1b --tokenizer .tok --device cuda --out "$OUT/train-$name.json" "$@" \
    2> >(grep -v -e Warning -e warnings.warn -e 'examples/s' >&2) | tee "$OUT/train-$name.log"
}
# If ours fails on bf16 base weights, measure both on fp32 weights (bf16 autocast all the same).
bench b64 --batch-size 64 --steps 30 --repeats 3 || bench b64-fp32-weights --weights fp32 --batch-size 64 --steps 30 --repeats 3
bench b128 --batch-size 128 --steps 30 --repeats 3
