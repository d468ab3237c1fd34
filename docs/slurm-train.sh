#!/bin/bash
# gantool train on several machines under SLURM: one torchrun per machine, one process per GPU.
# Not run by the test suite (it needs a SLURM cluster with GPUs); see README, "Training on several
# GPUs or machines". Submit with `sbatch docs/slurm-train.sh`; adjust the #SBATCH lines to your cluster.
#SBATCH --job-name=gantool-train
#SBATCH --nodes=2                  # machines
#SBATCH --ntasks-per-node=1        # one torchrun per machine; it starts the GPU processes
#SBATCH --gpus-per-node=8          # keep in step with gpus= below
#SBATCH --cpus-per-task=32         # shared by the machine's processes (gantool gives each 32 / 8 threads)
#SBATCH --time=12:00:00
#SBATCH --signal=TERM@120          # SIGTERM 2 minutes before the time limit: every process stops, one checkpoint
#SBATCH --open-mode=append         # a requeued job adds to the same log
#SBATCH --output=%x-%j.log

set -euo pipefail
source .venv/bin/activate

# The first machine of the allocation hosts the rendezvous.
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
gpus=8
out=/shared/runs/cifar10             # a folder every machine can read (rank 0 writes, --resume reads)
resume=()
[ -f "$out/checkpoint.safetensors" ] && resume=(--resume)   # a requeued or resubmitted job continues

# srun starts the torchrun of each machine; torchrun passes SLURM's SIGTERM on to every process.
# --batch-size is the global batch: 1024 over 16 GPUs is 64 per GPU.
srun --kill-on-bad-exit=1 torchrun \
    --nnodes "$SLURM_NNODES" --nproc_per_node "$gpus" \
    --rdzv_backend c10d --rdzv_endpoint "$head:29500" --rdzv_id "$SLURM_JOB_ID" \
    -m gantool --seed 1 train --data cifar10 --data-root /shared/data --batch-size 1024 --epochs 100 \
    --out "$out" "${resume[@]}"
