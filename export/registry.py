"""Registry of exportable model families, filled by ``@register_family`` in ``export/nets/``.

Each family says how to rebuild its PyTorch module from a state dict (hyper-parameters are
inferred from tensor shapes, so the user never passes them), which legacy keys the original
project documents as droppable, how to recognise its checkpoints (used to tell a user that a
file belongs to another family), and the facts a runtime stage needs (input range, preferred
size, size multiple, task), which end up in the ONNX metadata (DESIGN 3.2).

Example::

    @register_family("cyclegan", summary="...", input_range="-1..1", preferred_size=256,
                     size_multiple=4)
    class CycleGAN(Family):
        def matches(self, state_dict): ...
        def build(self, state_dict): ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:  # torch is heavy; modules import it lazily
    import torch

INPUT_RANGES = ("-1..1", "0..1", "0..255")


@dataclass(frozen=True)
class FamilyInfo:
    """Static facts about a family, written into the ONNX metadata."""

    name: str
    summary: str
    input_range: str
    preferred_size: int
    size_multiple: int
    task: str = "image-to-image"
    checkpoints: tuple[str, ...] = field(default_factory=tuple)


class Family:
    """Base class of a family: subclasses implement ``matches``, ``build`` and maybe ``legacy_key``.

    ``info`` is set by ``register_family``. Families are stateless; one instance is registered.
    """

    info: ClassVar[FamilyInfo]
    #: Keys matching this pattern are deleted before loading (documented legacy keys only).
    legacy_key_pattern: ClassVar[re.Pattern[str] | None] = None

    def matches(self, state_dict: Mapping[str, Any]) -> bool:
        """Whether ``state_dict`` has the key layout of this family (used for wrong-family errors)."""
        raise NotImplementedError

    def build(self, state_dict: Mapping[str, Any]) -> torch.nn.Module:
        """A freshly initialised module whose hyper-parameters are inferred from ``state_dict``."""
        raise NotImplementedError

    def unwrap(self, obj: Any) -> Any:
        """The state dict inside a loaded checkpoint object; override only where documented."""
        return obj

    def is_legacy_key(self, key: str, module: torch.nn.Module) -> bool:
        """Whether ``key`` is a documented legacy key that ``load_state_dict`` must not see."""
        return self.legacy_key_pattern is not None and self.legacy_key_pattern.search(key) is not None


_FAMILIES: dict[str, Family] = {}
F = TypeVar("F", bound=type[Family])


def register_family(
    name: str,
    *,
    summary: str,
    input_range: str,
    preferred_size: int,
    size_multiple: int,
    task: str = "image-to-image",
    checkpoints: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Class decorator that registers one instance of a ``Family`` subclass under ``name``.

    A duplicate name is an error, as is an unknown input range.
    """
    if input_range not in INPUT_RANGES:
        raise ValueError(f"family '{name}': input_range must be one of {INPUT_RANGES}, got {input_range!r}")
    if size_multiple < 1 or preferred_size % size_multiple:
        raise ValueError(
            f"family '{name}': preferred_size {preferred_size} is not a multiple of {size_multiple}"
        )

    def decorate(cls: F) -> F:
        if name in _FAMILIES:
            raise ValueError(
                f"family '{name}' is registered twice ({type(_FAMILIES[name]).__name__}, {cls.__name__})"
            )
        cls.info = FamilyInfo(name, summary, input_range, preferred_size, size_multiple, task, checkpoints)
        _FAMILIES[name] = cls()
        return cls

    return decorate


def _load_builtin() -> None:
    from export import nets  # noqa: F401  (importing registers the built-in families)


def get_family(name: str) -> Family:
    """The registered family ``name``; raises ``ExportError`` naming the known ones otherwise."""
    _load_builtin()
    if name not in _FAMILIES:
        from export.errors import ExportError

        raise ExportError(f"unknown family '{name}': expected one of {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]


def families() -> dict[str, Family]:
    """All registered families by name, sorted."""
    _load_builtin()
    return dict(sorted(_FAMILIES.items()))
