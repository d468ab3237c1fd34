"""Several processes, one run: `gantool train` under torchrun, with DistributedDataParallel.

No launcher of our own: torchrun (or any launcher that sets its variables, e.g. srun with them
exported) starts N copies of the same command line, and each reads its place from WORLD_SIZE,
RANK, LOCAL_RANK and LOCAL_WORLD_SIZE (`World.from_environ`). With WORLD_SIZE 1 or unset, nothing
here does anything: every method is a no-op, and the trainer runs as one process.

What a run of N processes is (the choice, and why; README "Training on several GPUs or machines"):

- `--batch-size` is the GLOBAL batch, split evenly: each process takes rows
  [rank * B/N, (rank + 1) * B/N) of every global batch of the one seeded permutation per epoch,
  so every process sees its own shard of the data each epoch, and steps, epochs and the data order
  mean the same whatever N is. A batch size N does not divide is refused before anything runs.
- The latents (and WGAN-GP's mixing weights) are drawn for the global batch from the one seeded
  noise generator on every process, which takes its slice: the generator's state stays identical
  everywhere, so the checkpoint is exact and `--resume` with another N continues the same run.
- Gradients are averaged over the processes by DDP (G and D wrapped separately); the loss of a
  process is its shard's mean, so the step is the global batch's. Batch norm normalizes each
  process's shard (DDP's per-forward buffer broadcast is off: D runs on real and fake before one
  backward, and the broadcast would write the running statistics in place between them); the
  running statistics are averaged over the processes before a checkpoint or grid (running
  averages are linear, so averaging now or later gives the same). `--sync-batch-norm` normalizes
  over the global batch instead, as one process would: torch's SyncBatchNorm on CUDA, and on the
  CPU (Gloo; torch's runs on GPUs only) `GlobalBatchNorm2d` below.
- WGAN-GP's penalty and R1 differentiate D's scores (at the interpolates, at the real images) with
  `autograd.grad` on the unwrapped D, per process (the penalty is per sample); its gradient for D's
  weights reaches them in the same backward as the loss, where DDP's hooks average it with the
  rest. Under --sync-batch-norm that double backward runs through the global statistics' sum.
- Rank 0 decides (the seed, the saved spec on --resume, the run folder) and broadcasts; only rank
  0 writes files and prints. A failure rank 0 finds is broadcast, so no process waits for ever;
  the others end with the same status and print nothing (`Reported`).
- A stop (Ctrl-C, SIGTERM: torchrun passes it on to every process; or a signal to one process)
  is agreed at every loss reading and epoch end (`agree`), so all processes stop after the same
  step and rank 0 writes the one checkpoint.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from gantool.device import available_cores
from gantool.errors import BadValue, ExitStatus, GantoolError, UsageError, flag
from gantool.signals import StopFlag, Terminated

VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


class Reported(GantoolError):
    """A failure another process of the run reports: end with its status, print nothing."""

    shown_elsewhere = True

    def __init__(self, status: int):
        super().__init__("another process of the run failed")
        self.exit_status = ExitStatus(status) if status in iter(ExitStatus) else ExitStatus.ERROR


@dataclass
class World:
    """This process's place in the run: `size` processes, this one `rank`, `local_rank` on its
    machine among `local_size`; `comm_device` holds the tensors it exchanges (set by `join`)."""

    size: int = 1
    rank: int = 0
    local_rank: int = 0
    local_size: int = 1
    comm_device: torch.device = torch.device("cpu")

    @classmethod
    def from_environ(cls, environ=os.environ) -> "World":
        if not environ.get("WORLD_SIZE"):
            return cls()
        values = {}
        for name in VARIABLES:
            raw = environ.get(name, "1" if name == "LOCAL_WORLD_SIZE" else "")
            try:
                values[name] = int(raw)
            except ValueError:
                raise GantoolError(f"{name}={raw!r}: not a whole number",
                                   "start gantool with torchrun, which sets WORLD_SIZE, RANK and LOCAL_RANK") from None
        size, rank, local, local_size = (values[n] for n in VARIABLES)
        if not (size >= 1 and 0 <= rank < size and 0 <= local < max(local_size, 1)):
            raise GantoolError(f"WORLD_SIZE={size}, RANK={rank}, LOCAL_RANK={local}, LOCAL_WORLD_SIZE={local_size} "
                               "do not fit together", "start gantool with torchrun")
        return cls(size, rank, local, max(local_size, 1))

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    # ---- before the processes meet: every process checks alone, and finds the same -------------
    def threads(self, explicit: int | None) -> int:
        """Torch's CPU threads: --threads when given, else this machine's cores shared by its processes."""
        return explicit or max(1, available_cores() // self.local_size)

    def device(self, resolved: torch.device, asked: str | None) -> torch.device:
        """The device of this process: cuda:LOCAL_RANK for cuda/auto on a GPU machine, else the CPU."""
        if not self.distributed:
            return resolved
        if resolved.type == "mps":
            raise self.agreed(GantoolError(f"{flag('device')} mps: PyTorch has no distributed backend for MPS",
                                           f"use {flag('device')} cpu"))
        if resolved.type != "cuda":
            return resolved
        if (asked or "auto").strip().lower() not in ("auto", "cuda"):
            raise self.agreed(BadValue("device", asked, "under torchrun each process takes the GPU of its LOCAL_RANK",
                                       f"use {flag('device')} cuda (or auto), and CUDA_VISIBLE_DEVICES to choose the GPUs"))
        if self.local_rank >= torch.cuda.device_count():
            raise GantoolError(f"LOCAL_RANK {self.local_rank}, but this machine has {torch.cuda.device_count()} "
                               "CUDA device(s)", "start at most one process per GPU (torchrun's nproc_per_node)")
        return torch.device("cuda", self.local_rank)

    def check_batch(self, batch_size: int, resumed: bool = False) -> None:
        if batch_size % self.size and resumed:
            raise UsageError(f"this run's global batch, {flag('batch_size')} {batch_size}, cannot be split evenly over "
                               f"{self.size} processes", "resume it with a number of processes that divides it")
        if batch_size % self.size:
            raise BadValue("batch_size", batch_size, f"is the global batch, split evenly over the {self.size} "
                           f"processes of this run: it must be a multiple of {self.size}, e.g. {{batch_size}} "
                           f"{max(self.size, batch_size - batch_size % self.size)}")

    # ---- the process group ------------------------------------------------------------------------
    @contextmanager
    def session(self):
        """Leave the process group on the way out (errors included) if `join` entered it."""
        try:
            yield self
        finally:
            if self.distributed and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()

    def join(self, device: torch.device) -> None:
        """Meet the other processes: NCCL between GPUs, Gloo between CPUs."""
        if not self.distributed or torch.distributed.is_initialized():
            return
        self.comm_device = device
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.distributed.init_process_group("nccl", device_id=device)
        else:
            torch.distributed.init_process_group("gloo")

    def agreed(self, error: BaseException) -> BaseException:
        """An error every process meets alike (an option, a stop, non-finite losses): rank 0 says it."""
        if self.distributed and not self.main and isinstance(error, GantoolError):
            error.shown_elsewhere = True
        return error

    def on_main(self, fn: Callable[[], tuple[object, dict]]) -> tuple[object, dict]:
        """`fn()` on rank 0: (a JSON value, {name: tensor on the device}), handed to every process;
        a failure of rank 0 ends every process with its status (no pickle travels)."""
        if not self.distributed:
            return fn()
        if self.main:
            try:
                value, tensors = fn()
            except BaseException as e:
                self._send_json({"error": _status(e)})
                raise
            self._send_json({"value": value, "tensors": [[k, str(v.dtype).removeprefix("torch."), list(v.shape)]
                                                         for k, v in tensors.items()]})
            for v in tensors.values():
                torch.distributed.broadcast(v.contiguous(), 0)
            return value, tensors
        header = self._send_json(None)
        if "error" in header:
            raise Reported(header["error"])
        tensors = {k: torch.empty(shape, dtype=getattr(torch, dtype), device=self.comm_device)
                   for k, dtype, shape in header["tensors"]}
        for v in tensors.values():
            torch.distributed.broadcast(v, 0)
        return header["value"], tensors

    def all_ok(self, fn: Callable[[], object]) -> object:
        """`fn()` on every process; if any fails, all stop: the first failing process says why."""
        if not self.distributed:
            return fn()
        error, result = None, None
        try:
            result = fn()
        except BaseException as e:
            error = e
        statuses = [torch.zeros(1, dtype=torch.int64, device=self.comm_device) for _ in range(self.size)]
        mine = torch.tensor([_status(error) if error is not None else 0], dtype=torch.int64, device=self.comm_device)
        torch.distributed.all_gather(statuses, mine)
        failed = [int(s) for s in statuses]
        first = next((r for r, s in enumerate(failed) if s), None)
        if first is None:
            return result
        if error is None:
            raise Reported(failed[first])
        if first != self.rank and isinstance(error, GantoolError):
            error.shown_elsewhere = True
        raise error

    def _send_json(self, value) -> dict:
        dev = self.comm_device
        data = json.dumps(value).encode() if self.main else b""
        n = torch.tensor([len(data)], dtype=torch.int64, device=dev)
        torch.distributed.broadcast(n, 0)
        buf = (torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev) if self.main
               else torch.empty(int(n), dtype=torch.uint8, device=dev))
        torch.distributed.broadcast(buf, 0)
        return json.loads(bytes(buf.cpu().tolist()))

    # ---- training -----------------------------------------------------------------------------------
    def shard(self, *tensors):
        """This process's rows of global-batch tensors (None stays None)."""
        if not self.distributed:
            return tensors
        return tuple(None if t is None else t.tensor_split(self.size)[self.rank] for t in tensors)

    def sync_batch_norm(self, module: nn.Module, device: torch.device) -> nn.Module:
        """Batch norm over the global batch: torch's SyncBatchNorm on CUDA, GlobalBatchNorm2d elsewhere."""
        if not self.distributed:
            return module
        if device.type == "cuda":
            return nn.SyncBatchNorm.convert_sync_batchnorm(module)
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm2d:
                setattr(module, name, GlobalBatchNorm2d.like(child))
            else:
                self.sync_batch_norm(child, device)
        return module

    def wrap(self, module: nn.Module) -> nn.Module:
        """DDP around one network (G and D each their own), without the per-forward buffer broadcast."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        dev = self.comm_device
        ids = [dev.index] if dev.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, output_device=ids[0] if ids else None,
                                       forward_sync_buffers=False)

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def average_buffers(self, *modules: nn.Module | None) -> None:
        """Average the floating-point buffers (batch norm's running statistics) over the processes."""
        if not self.distributed:
            return
        for module in modules:
            for b in (module.buffers() if module is not None else ()):
                if b.is_floating_point():
                    torch.distributed.all_reduce(b)
                    b.div_(self.size)

    def agree(self, stop, stats: torch.Tensor, save: bool) -> bool:
        """One all-reduce at a loss reading or an epoch end: `stats` becomes the mean over the
        processes, a stop asked on any process is asked on all (`stop.sync`), and a checkpoint due
        on any clock is due on all. Returns whether to save."""
        if not self.distributed:
            return save
        import signal

        flags = [stop.flag.signal == signal.SIGINT, stop.flag.signal == signal.SIGTERM, save]
        both = torch.cat([stats, torch.tensor(flags, dtype=stats.dtype, device=stats.device)])
        torch.distributed.all_reduce(both)
        stats.copy_(both[: stats.numel()] / self.size)
        sigint, sigterm, saves = (bool(v) for v in both[stats.numel():].tolist())
        stop.sync(signal.SIGTERM if sigterm else signal.SIGINT if sigint else None)
        return saves

    def stop_flag(self, flag: StopFlag) -> StopFlag:
        """The stop flag the trainer reads: the flag itself, or under torchrun its agreed view."""
        return AgreedStop(flag) if self.distributed else flag


class AgreedStop(StopFlag):
    """A StopFlag as every process agrees on it: `requested` changes only at `World.agree`, so all
    stop after the same step. Signals still land on the local `flag` (a second one stops at once)."""

    def __init__(self, flag: StopFlag):
        super().__init__()
        self.flag = flag

    def sync(self, signum: int | None) -> None:
        self.signal = self.signal or signum

    def set(self, *args) -> None:
        self.flag.set(*args)

    def critical(self):
        return self.flag.critical()


def _status(error: BaseException | None) -> int:
    if isinstance(error, GantoolError):
        return int(error.exit_status)
    if isinstance(error, KeyboardInterrupt):
        return int(ExitStatus.INTERRUPTED)
    if isinstance(error, Terminated):
        return int(ExitStatus.TERMINATED)
    return int(ExitStatus.ERROR)


class _SumOverProcesses(torch.autograd.Function):
    """all_reduce(SUM) whose backward is all_reduce(SUM) of the gradient (every process's loss
    depends on every process's input through the sum), itself through this Function, so that a
    double backward (R1's gradient of D's scores, under --sync-batch-norm) sums over the processes too."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        torch.distributed.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return _SumOverProcesses.apply(grad)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, over Gloo (torch's
    SyncBatchNorm runs on GPUs only): one all-reduce of the per-channel sums, count and sums of
    squares per forward. Same parameters, buffers and eval behaviour as BatchNorm2d."""

    @classmethod
    def like(cls, bn: nn.BatchNorm2d) -> "GlobalBatchNorm2d":
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats,
                  device=bn.running_mean.device if bn.running_mean is not None else None)
        new.load_state_dict(bn.state_dict())
        if bn.affine:
            new.weight, new.bias = bn.weight, bn.bias  # the same parameters (an optimizer may hold them)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.distributed.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        xf = x.float()
        local = torch.cat([xf.sum((0, 2, 3)), xf.square().sum((0, 2, 3)), xf.new_full((1,), x.numel() // c)])
        total = _SumOverProcesses.apply(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean.square()).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean, m)
                self.running_var.lerp_(var * n / (n - 1).clamp_min(1), m)
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.affine:
            scale, shift = scale * self.weight, shift * self.weight + self.bias
        return (xf * scale[None, :, None, None] + shift[None, :, None, None]).to(x.dtype)
