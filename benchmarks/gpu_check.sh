#!/usr/bin/env bash
# The GPU check: every figure a lent GPU can give that a CPU cannot, in one command (under 8
# minutes on one GPU). Run it from the repository root in the project's virtual environment:
#
#   benchmarks/gpu_check.sh              # on a machine with a CUDA GPU
#   benchmarks/gpu_check.sh --dry-run    # on a CPU: every step starts, at tiny sizes (a test)
#
# It prints: the device; SCAC and the ResNet-101 baseline at the paper's size (ResNeXt-101
# 32x8d + FPN, 416 px) training images/s in fp32 and in bf16 with channels-last, with SCAC's
# step per part; study_speed.py with the paper's extractor (the frozen-feature cache); a
# one-process torchrun run of `bench train` on NCCL; and the synthetic context_ratio study's
# wall time from an empty cache (benchmarks/main_job.py). Everything it runs is in this
# repository; nothing is downloaded (random weights at the paper's size).
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
if [ "${1:-}" = "--dry-run" ]; then
  dry=1
fi
py=${PYTHON:-python}
tmp=$(mktemp -d /tmp/gpu-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

step() {  # step TITLE COMMAND...: a header, the command, its wall time
  echo
  echo "== $1"
  shift
  local start=$SECONDS
  "$@"
  echo "-- $((SECONDS - start)) s"
}

if [ $dry = 1 ]; then
  device=cpu
  sizes=(--steps 1 --warmup 0 --batch 2)
  speed=(--smoke --arms 1)
  train=(synth --set data.synth.train=8 --set data.synth.val=4 --set model.weights=none
         --set model.detector_weights=none --set train.phases.0.epochs=1)
  study=(--smoke)
  # the paper's extractor at a size a CPU steps through in seconds
  paper=(--set model.backbone=resnext101_32x8d --set model.fpn_channels=32
         --set data.image_size=64 --set data.synth.canvas=64 --set model.weights=none
         --set model.detector_weights=none)
else
  device=cuda
  sizes=(--steps 20 --warmup 3)
  speed=(--arms 3)
  train=(synth --set model.weights=none --set model.detector_weights=none)
  study=()
  paper=(--set model.backbone=resnext101_32x8d --set model.fpn_channels=256
         --set model.weights=none --set model.detector_weights=none)
fi

step "device" "$py" -c "
import torch
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f'{p.name}, {p.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, '
          f'cuDNN {torch.backends.cudnn.version()}, torch {torch.__version__}')
else:
    print(f'no CUDA device (dry run on the CPU), torch {torch.__version__}')
"
step "paper size, fp32: SCAC and the ResNet-101 baseline, images/s and SCAC's step per part" \
  "$py" benchmarks/train_throughput.py --preset paper --data random --device $device \
  --amp none "${sizes[@]}"
step "paper size, bf16 + channels-last" \
  "$py" benchmarks/train_throughput.py --preset paper --data random --device $device \
  --amp bf16 --channels-last "${sizes[@]}"
step "study_speed.py with the paper's extractor: the frozen phase with and without the cache" \
  "$py" benchmarks/study_speed.py --device $device "${speed[@]}" "${paper[@]}"
step "torchrun, one process on NCCL (gloo on the CPU): bench train" \
  env BENCH_STORE="$tmp/ddp.sqlite" SCAC_CACHE="$tmp/cache" \
  "$py" -m torch.distributed.run --standalone --nproc-per-node 1 -m bench.cli.main \
  train "${train[@]}" --device $device
step "the synthetic context_ratio study from an empty cache (goal on one GPU: under 2 minutes)" \
  "$py" benchmarks/main_job.py --keep "$tmp/main-job" "${study[@]}"
