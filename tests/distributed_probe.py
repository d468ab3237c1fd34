"""`gantool` as torchrun starts it (the same argv, the same main), which afterwards saves this
process's weights, optimizer-free, to $GANTOOL_PROBE_DIR/rank-N.safetensors, so that
tests/test_distributed.py can compare what the processes of one run hold. Not a test module."""

import os

from safetensors.torch import save_file

from gantool.cli import run as gantool
from gantool.files.modelfile import with_prefix
from gantool.gan.trainer import GANTrainer

_run = GANTrainer.run


def _probed(self):
    summary = _run(self)
    tensors = {**with_prefix(self.sampling_generator().state_dict(), "generator"),
               **with_prefix(self.D.state_dict(), "discriminator"), "rng.noise": self.noise.get_state()}
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
              os.path.join(os.environ["GANTOOL_PROBE_DIR"], f"rank-{self.world.rank}.safetensors"))
    return summary


GANTrainer.run = _probed
gantool()
