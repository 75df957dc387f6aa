"""PyTorch model families and their export to the ONNX contract of DESIGN 3.2 (``python -m export``).

Public API::

    from export import export_model, families, get_family, load_module, ExportError
    export_model("cyclegan", "latest_net_G.pth", "horse2zebra.onnx")

Importing this package is cheap; torch is imported by the functions that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from export.errors import ExportError
from export.registry import Family, FamilyInfo, families, get_family, register_family

if TYPE_CHECKING:
    from export.checkpoint import load_module
    from export.exporter import ExportResult, export_model

__all__ = [
    "ExportError",
    "ExportResult",
    "Family",
    "FamilyInfo",
    "export_model",
    "families",
    "get_family",
    "load_module",
    "register_family",
]


def __getattr__(name: str) -> Any:
    if name in ("export_model", "ExportResult"):
        from export import exporter

        return getattr(exporter, name)
    if name == "load_module":
        from export.checkpoint import load_module

        return load_module
    raise AttributeError(f"module 'export' has no attribute {name!r}")
