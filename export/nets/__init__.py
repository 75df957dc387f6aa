"""Built-in model families; importing this package registers them."""

from export.nets import animegan2, cyclegan, fast_style

__all__ = ["animegan2", "cyclegan", "fast_style"]
