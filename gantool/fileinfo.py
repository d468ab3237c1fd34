"""What a gantool .safetensors file holds, read from its header alone (`gantool info`): the kind,
the architecture in one line (networks through the model registry; svm and stats files by the
modules that write them), the config, data and training sections and the tensors. Builds nothing.

`summary(header)` is the --json object; `rows(summary, config)` the (field, value) rows of the table,
every number formatted without a negative zero."""

from __future__ import annotations

from gantool.errors import GantoolError
from gantool.metrics.report import number

# files that hold no network, each described by the module that writes it (imported only for its kind)
_OWN_KIND = {"svm": "gantool.transfer.svm", "stats": "gantool.metrics.stats"}
COLUMNS = [("field", "field", ""), ("value", "value", "")]


def describe(header) -> tuple[str, dict]:
    """(the architecture line, the config to show): "not buildable here: WHY" for a file this
    gantool cannot rebuild, with the config as the file has it."""
    import importlib

    from gantool.models import loader

    try:
        if header.kind in _OWN_KIND:
            return importlib.import_module(_OWN_KIND[header.kind]).describe_header(header)
        model = loader.describe_header(header)
        return model.arch.describe(model.config), header.config
    except GantoolError as e:  # show what the file says even when this gantool cannot build it
        return f"not buildable here: {e}", header.config


def summary(header) -> dict:
    """Everything the header says, as one JSON-ready object."""
    architecture, _ = describe(header)
    roles = sorted({name.split(".", 1)[0] for name in header.tensors})
    return {"file": header.path, "kind": header.kind, "version": header.version, "architecture": architecture,
            "config": header.config, "data": header.data, "training": header.training,
            "tensors": {"count": header.num_tensors, "bytes": header.num_bytes,
                        "parameters": {role: header.num_params(role + ".") for role in roles}}}


def rows(s: dict, config: dict) -> list[dict]:
    """The table of `summary` (`config`: the config as `describe` shows it)."""
    out = [("kind", f"{s['kind']} (gantool {s['version']})"), ("architecture", s["architecture"])]
    for section, values in (("config", config), ("data", s["data"]), ("training", s["training"])):
        out += [(f"{section}.{k}", _fmt(v)) for k, v in values.items()]
    out += [(f"tensors.{role}", f"{n:,} values") for role, n in s["tensors"]["parameters"].items()]
    out.append(("tensors", f"{s['tensors']['count']} tensors, {number(s['tensors']['bytes'] / 1e6, '.2f')} MB"))
    return [{"field": a, "value": b} for a, b in out]


def _fmt(v) -> str:
    if isinstance(v, float):
        return number(v, ".4g")
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v) if len(v) <= 12 else f"{len(v)} items: {', '.join(map(str, v[:10]))}, ..."
    if isinstance(v, dict):
        return " ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)
