"""Load a checkpoint of the original projects into a family's module, or fail in one line.

``torch.load(weights_only=True)`` (no pickled code runs), no unwrapping unless the family
documents it, only the family's documented legacy keys dropped, then ``strict=True``. Every
failure is an ``ExportError`` that names the file and what to do.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from export.errors import ExportError
from export.hashing import sha256 as sha256  # the model source hash in the ONNX metadata
from export.registry import Family, families

_NESTING_KEYS = ("state_dict", "model", "net", "generator", "params", "g_ema")


def read_state_dict(path: str | Path) -> Any:
    """``torch.load`` on CPU with ``weights_only=True``; unreadable files become one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"checkpoint {path} does not exist: pass the .pth/.pt file with --checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only load failed" in str(e).lower():
            raise ExportError(
                f"{path} pickles Python objects besides tensors; only plain state dicts are loaded "
                "(torch.load weights_only=True): re-save it with torch.save(model.state_dict(), path)"
            ) from e
        raise ExportError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?)") from e
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise ExportError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?)") from e


def _few(keys: list[str], n: int = 4) -> str:
    shown = ", ".join(f"'{k}'" for k in keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")


def load_module(family: Family, path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The family's module with the checkpoint's weights, in eval mode, plus provenance facts.

    Returns ``(module, info)`` where info holds ``source`` (file name + sha256), ``dropped``
    (legacy keys removed) and the inferred hyper-parameters a family may report.
    """
    path = Path(path)
    obj = family.unwrap(read_state_dict(path))
    name = family.info.name
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise ExportError(f"{path} holds a {type(obj).__name__}, not a state dict of {name} weights")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        nested = [k for k in _NESTING_KEYS if isinstance(obj.get(k), Mapping)]
        hint = (
            f" (its weights seem nested under '{nested[0]}', which {name} checkpoints never are)"
            if nested
            else ""
        )
        raise ExportError(f"{path} holds no tensors at the top level, so it is not a {name} state dict{hint}")
    state_dict: dict[str, Any] = dict(obj)
    if not family.matches(tensors):
        for other_name, other in families().items():
            if other_name != name and other.matches(tensors):
                raise ExportError(
                    f"{path} looks like a {other_name} checkpoint, not {name}: "
                    f"run `python -m export {other_name} ...`"
                )
    module = family.build(tensors)
    dropped = [k for k in state_dict if family.is_legacy_key(k, module)]
    for k in dropped:
        del state_dict[k]
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s) {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} key(s) {_few(unexpected)}")
        raise ExportError(f"{path} does not fit the {name} layout: {'; '.join(parts)}")
    shape_errors = [
        f"'{k}' {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if isinstance(state_dict[k], torch.Tensor) and state_dict[k].shape != v.shape
    ]
    if shape_errors:
        raise ExportError(
            f"{path} does not fit the {name} layout: shape mismatch {', '.join(shape_errors[:3])}"
        )
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:  # anything the checks above did not foresee
        raise ExportError(f"{path} does not load into {name}: {str(e).splitlines()[0]}") from e
    module.eval()
    info = {"source": f"{path.name} sha256:{sha256(path)}", "dropped": dropped}
    return module, info
