"""The one model loader: a gantool `.safetensors` file -> its header, config and built networks.

Every check that can be made from the header is made before anything is allocated: the kind, the
architecture, the config, and every tensor name and shape against what the config would build
(built on PyTorch's `meta` device, which allocates nothing). A crafted header that asks for a
65536x65536 generator fails here in milliseconds instead of asking for 137 GB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gantool.data.normalization import Normalization
from gantool.errors import BadValue, GantoolError
from gantool.files import modelfile
from gantool.files.modelfile import Header
from gantool.models import registry


@dataclass
class ModelInfo:
    """What a model file is, from its header alone."""

    path: str
    header: Header
    arch: registry.Arch
    config: Any

    @property
    def classes(self) -> list[str]:
        names = self.header.data.get("classes") or []
        n = getattr(self.config, "num_classes", 0) or len(names)
        return [str(c) for c in names] if len(names) == n else [str(i) for i in range(n)]

    @property
    def normalization(self) -> Normalization:
        norm = self.header.data.get("normalization")
        return Normalization.from_dict(norm, self.path) if norm is not None else Normalization()


@dataclass
class LoadedModel(ModelInfo):
    nets: dict = field(default_factory=dict)  # role -> nn.Module, in eval mode, on the device

    def __getitem__(self, role: str):
        return self.nets[role]


def inspect(path, kinds: tuple[str, ...] = ()) -> ModelInfo:
    """Read and check a model file's header; build nothing. `kinds`: what the command accepts."""
    header = modelfile.read_header(path)
    return describe_header(header, kinds)


def describe_header(header: Header, kinds: tuple[str, ...] = ()) -> ModelInfo:
    if kinds:
        modelfile.expect_kind(header, *kinds)
    name = registry.arch_name(header.config, header.kind)
    if name is None:
        raise GantoolError(f"{header.path} names no architecture", "its gantool.config has no 'arch'")
    arch = registry.get(name)
    try:
        config = arch.config.from_dict(header.config)
        config.validate()
    except BadValue as e:
        raise GantoolError(f"{header.path} has an invalid {name} config: {e.field} {e.value!r}: {e.why}") from None
    except (TypeError, ValueError) as e:
        raise GantoolError(f"{header.path} has an invalid {name} config: {e}") from None
    return ModelInfo(header.path, header, arch, config)


def load(path, device="cpu", kinds: tuple[str, ...] = (), roles: tuple[str, ...] | None = None) -> LoadedModel:
    """Rebuild the networks of a model file (those in `roles`, default all) in eval mode on `device`."""
    import torch

    info = inspect(path, kinds)
    header = info.header
    with torch.device("meta"):
        skeleton = info.arch.build(info.config)
    roles = tuple(skeleton) if roles is None else roles
    for role in roles:
        _check_tensors(header, role, skeleton[role].state_dict())
    tensors = modelfile.load_tensors(path, header, "cpu")
    _check_finite(header, tensors, roles)
    built, nets = info.arch.build(info.config), {}
    for role in roles:
        net = built[role]
        try:
            net.load_state_dict(modelfile.split_prefix(tensors, role))
        except (RuntimeError, ValueError) as e:
            raise GantoolError(f"{header.path}: its {role} tensors do not match its config",
                               str(e).splitlines()[0]) from None
        nets[role] = net.to(device).eval()
    return LoadedModel(info.path, header, info.arch, info.config, nets)


def _check_tensors(header: Header, role: str, expected: dict) -> None:
    """The file's `role.*` tensors are exactly those the config builds, with the same shapes."""
    prefix = role + "."
    found = {k[len(prefix):]: t["shape"] for k, t in header.tensors.items() if k.startswith(prefix)}
    want = {k: list(v.shape) for k, v in expected.items()}
    if not found:
        raise GantoolError(f"{header.path} holds no {role}", f"its tensors: {_roles(header)}")
    missing = sorted(set(want) - set(found))
    extra = sorted(set(found) - set(want))
    wrong = sorted(k for k in set(want) & set(found) if want[k] != found[k])
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            detail = f"{prefix}{k} is {tuple(found[k])}, the config builds {tuple(want[k])}"
        elif missing:
            detail = f"{prefix}{missing[0]} is missing" + (f" ({len(missing)} in all)" if len(missing) > 1 else "")
        else:
            detail = f"{prefix}{extra[0]} is not part of the config's network"
        raise GantoolError(f"{header.path}: its tensors do not match its config", detail)


def _check_finite(header: Header, tensors: dict, roles: tuple[str, ...]) -> None:
    """A model whose weights hold NaN or infinities draws or classifies nothing: refused when opened."""
    import torch

    for name, t in tensors.items():
        if name.split(".", 1)[0] in roles and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise GantoolError(f"{header.path}: {name} holds NaN or infinite values",
                               "the model is damaged, or its training diverged")


def _roles(header: Header) -> str:
    return ", ".join(sorted({k.split(".", 1)[0] for k in header.tensors})) or "none"
