"""A reader for dlib's serialisation format, enough to load ``dlib_face_recognition_resnet_model_v1.dat``.

dlib writes a network with ``serialize(net, out)`` as a recursion through its template layers
(``dlib/dnn/core.h``): every ``add_layer`` writes its version, then its whole subnetwork, then
its own layer details, then a few training-time flags and tensors; tag and skip layers write
only a version and their subnetwork; the loss layer writes its version and details first. So the
file holds the outer layers' versions first, then the input layer, then the layer details from
the input outwards. dlib's files do not describe their own structure (a tag layer is one integer),
so the reader walks a *spec*: the network's layers listed from the loss inwards, as the C++ type
spells them. Primitives follow ``dlib/serialize.h``:

- integers: one control byte (low nibble: byte count 1-8, bit 0x80: negative), then that many
  little-endian magnitude bytes;
- floats: ``mantissa`` (int64) and ``exponent`` (int16) as integers, value ``mantissa * 2**exponent``;
- bools: the character ``'1'`` or ``'0'``; strings: a length, then the bytes;
- tensors (``resizable_tensor``, version 2): num_samples, k, nr, nc, then float32 little-endian;
  alias tensors (version 1): the four sizes only (the view's shape; the data is in ``params``).

Every failure is a one-line :class:`~export.errors.ExportError` that names the file, what was
expected and where; a file must be consumed exactly (trailing bytes mean it is not this network).

Example::

    layers = read_network(Path("dlib_face_recognition_resnet_model_v1.dat"), DLIB_RESNET_SPEC)
    layers[0]  # Layer(kind="input_rgb_image_sized", values={"mean": (122.78, 117.0, 104.3)})
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from export.errors import ExportError

_TAG = "tag"
_SKIP = "skip"


class DlibFormatError(ExportError):
    """The bytes are not what dlib's format (or the expected network) says should be there."""


@dataclass
class Layer:
    """One computational layer read from the file, in input-to-output order."""

    kind: str
    """dlib's layer name without the trailing underscore: con, affine, relu, max_pool, avg_pool,
    add_prev, fc, input_rgb_image_sized."""
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)


class Reader:
    """dlib's primitives over an in-memory byte string (see the module doc)."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"{self.name}: {what} at byte {self.pos} (damaged, or not this dlib network)")

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends early (needed {n} more bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise self.fail(f"expected an integer, got control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:  # dlib's codes for inf, -inf, nan
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"expected a bool ('0' or '1'), got {ch!r}")
        return ch == b"1"

    def string(self) -> str:
        n = self.int()
        if n < 0 or n > 256:
            raise self.fail(f"expected a short string, got length {n}")
        return self._take(n).decode("latin-1")

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.int()
        if v not in allowed:
            raise self.fail(f"{what}: expected version {' or '.join(map(str, allowed))}, got {v}")
        return v

    def tensor(self) -> np.ndarray:
        self.version((2,), "tensor")
        shape = tuple(self.int() for _ in range(4))
        if any(s < 0 for s in shape) or int(np.prod(shape)) > 1 << 28:
            raise self.fail(f"tensor of impossible shape {shape}")
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, "<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, ...]:
        self.version((1,), "alias_tensor")
        return tuple(self.int() for _ in range(4))


# ---------------------------------------------------------------------------------------- layer details


def _details(r: Reader, kind: str) -> Layer:
    """The details of one layer of ``kind`` (dlib's ``deserialize(<kind>_&)``)."""
    tag = r.string()
    if kind == "con":
        if tag not in ("con_4", "con_5", "con_6"):
            raise r.fail(f"expected a con_ layer, got {tag!r}")
        params = r.tensor()
        filters = r.int()
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        fshape, bshape = r.alias(), r.alias()
        for _ in range(4):
            r.float()  # learning-rate and weight-decay multipliers
        use_bias = r.bool() if tag in ("con_5", "con_6") else True
        if tag == "con_6":
            r.bool()
        flat = params.reshape(-1)
        nw = int(np.prod(fshape))
        weight = flat[:nw].reshape(fshape)
        bias = flat[nw : nw + int(np.prod(bshape))] if use_bias else np.zeros(filters, np.float32)
        if weight.shape[0] != filters or bias.size != filters:
            raise r.fail(f"con_ with {filters} filters holds weights {weight.shape} and {bias.size} biases")
        values = {"kernel": (nr, nc), "stride": (sy, sx), "padding": (py, px)}
        return Layer("con", {"weight": weight, "bias": bias.copy()}, values)
    if kind == "affine":
        if tag not in ("affine_", "affine_2"):
            raise r.fail(f"expected an affine_ layer, got {tag!r}")
        params = r.tensor().reshape(-1)
        gshape, _ = r.alias(), r.alias()
        mode = r.int()
        if tag == "affine_2":
            r.bool()
        n = int(np.prod(gshape))
        return Layer("affine", {"gamma": params[:n].copy(), "beta": params[n : 2 * n].copy()}, {"mode": mode})
    if kind == "relu":
        if tag == "relu_2":
            r.bool()
        elif tag != "relu_":
            raise r.fail(f"expected a relu_ layer, got {tag!r}")
        return Layer("relu")
    if kind in ("max_pool", "avg_pool"):
        if tag != f"{kind}_2":
            raise r.fail(f"expected a {kind}_ layer, got {tag!r}")
        nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
        return Layer(kind, values={"kernel": (nr, nc), "stride": (sy, sx), "padding": (py, px)})
    if kind == "add_prev":
        if tag != "add_prev_":
            raise r.fail(f"expected an add_prev_ layer, got {tag!r}")
        return Layer("add_prev")
    if kind == "fc":
        if tag not in ("fc_2", "fc_3"):
            raise r.fail(f"expected an fc_ layer, got {tag!r}")
        outputs, inputs = r.int(), r.int()
        params = r.tensor().reshape(-1)
        wshape, _ = r.alias(), r.alias()
        bias_mode = r.int()
        for _ in range(4):
            r.float()
        if tag == "fc_3":
            r.bool()
        nw = int(np.prod(wshape))
        weight = params[:nw].reshape(inputs, outputs)  # dlib: out = in x W
        return Layer("fc", {"weight": weight.T.copy()}, {"bias_mode": bias_mode})
    raise r.fail(f"unknown layer kind {kind!r} in the spec")


def _input_layer(r: Reader, kind: str) -> Layer:
    tag = r.string()
    if tag != kind:
        raise r.fail(f"expected input layer {kind!r}, got {tag!r}")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    return Layer("input_rgb_image_sized", values={"mean": mean, "size": size})


def _network(r: Reader, spec: list[str], i: int, out: list[Layer]) -> None:
    """Read spec[i:] (outermost first) as dlib's add_layer / add_tag_layer / add_skip_layer nest."""
    kind = spec[i]
    if kind in (_TAG, _SKIP):
        r.version((1,), f"add_{kind}_layer")
        _network(r, spec, i + 1, out)
        return
    if i + 2 == len(spec):  # an add_layer sitting directly on the input layer
        v = r.version((2, 3), "add_layer (on the input)")
        out.append(_input_layer(r, spec[i + 1]))
        out.append(_details(r, kind))
        r.bool(), r.bool(), r.bool()
        r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, grad_final
        if v >= 3:
            r.int()  # sample expansion factor
        return
    v = r.version((1, 2), "add_layer")
    _network(r, spec, i + 1, out)
    out.append(_details(r, kind))
    r.bool(), r.bool(), r.bool()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if v == 2:
        r.tensor()  # params_grad


def read_network(path: Path, spec: list[str], *, loss: str = "loss_metric") -> list[Layer]:
    """The layers of a dlib network file, input first; ``spec`` lists the layers from the loss
    inwards (``tag``/``skip`` for dlib's tag and skip layers, the input layer last)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"checkpoint {path} does not exist: pass dlib's .dat file with --checkpoint")
    data = path.read_bytes()
    if data[:3] == b"BZh":
        raise ExportError(f"{path} is bzip2-compressed: decompress it first (bunzip2 {path.name})")
    r = Reader(data, str(path))
    try:
        r.version((1,), "add_loss_layer")
        tag = r.string()
        if tag == f"{loss}_2":
            r.float(), r.float()  # margin, distance threshold
        elif tag != f"{loss}_":
            raise r.fail(f"expected a {loss} network, got loss {tag!r}")
        layers: list[Layer] = []
        _network(r, spec, 0, layers)
    except (struct.error, UnicodeDecodeError, ValueError, OverflowError) as e:
        raise r.fail(f"unreadable ({type(e).__name__})") from None
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} bytes left after the network")
    return layers
