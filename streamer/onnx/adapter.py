"""OnnxModel: an :class:`~streamer.onnx.session.OnnxSession` plus the image adapter of image models.

``run`` takes uint8 [N, H, W, 3] RGB and returns the same: H and W are reflect-padded up to the
model's size multiple and the output cropped back; fixed-size foreign models get the input
resized to their size and the output resized back; foreign models' tensors are converted by the
:mod:`streamer.onnx.preprocess` resolver (their ``input_range``/``mean``/``std``, ``layout``,
``channel_order`` come from the stage). Under CUDA the image output stays in a reused device
buffer per input shape (IO binding).

Batch bins: with ``batch_bins`` set (``bins_up_to(8)`` = 1, 2, 4, 8) a call of N images runs
in chunks of the largest bin, each padded with blank images up to the smallest bin that holds
it, and the padding is cut off the outputs. The session then only ever sees a few batch
shapes, whatever the number of faces per frame: CUDA reuses its bound buffers, TensorRT builds
no engine per face count, and nothing is re-planned as faces come and go. Example::

    model = OnnxModel("models/face_drawing.onnx", providers=["cpu"], threads=2, name="style")
    print(model.describe())  # models/face_drawing.onnx on CPUExecutionProvider, 2 threads, ...
    model.warmup()
    out = model.run(images)  # uint8 [N, H, W, 3] in, same shape out
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamer.model_contract import IMAGE_INPUT, IMAGE_OUTPUT, ModelError
from streamer.onnx import providers as _providers
from streamer.onnx.preprocess import ChannelOrder, Layout, Preprocess, PreprocessParams, resolve
from streamer.onnx.session import NP_TYPES, OnnxSession, describe_io


def run_in_bins(x: np.ndarray, bins: Sequence[int], fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` over ``x`` in chunks of the largest of ``bins``, each padded with zeros up to the
    smallest bin that holds it; the padding's rows are cut off the results (see module doc)."""
    top = bins[-1]
    parts = []
    for start in range(0, x.shape[0], top):
        chunk = x[start : start + top]
        n = chunk.shape[0]
        size = next(b for b in bins if b >= n)
        if size > n:
            chunk = np.concatenate([chunk, np.zeros((size - n, *chunk.shape[1:]), chunk.dtype)])
        parts.append(fn(chunk)[:n])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def bins_up_to(batch: int) -> tuple[int, ...]:
    """The batch bins 1, 2, 4, ... up to ``batch`` (``batch`` itself included): 6 -> 1, 2, 4, 6."""
    if batch < 1:
        raise ValueError(f"expected a batch of at least 1, got {batch}")
    bins, b = [], 1
    while b < batch:
        bins.append(b)
        b *= 2
    return (*bins, batch)


class OnnxModel(OnnxSession):
    """An ONNX model opened on explicit providers, with image pre/post-processing.

    ``kind="image"`` (default) requires an image-to-image model and enables ``run``;
    ``kind="any"`` only opens the session, for ``run_raw`` (embeddings, classifiers, ...).
    ``input_range`` (or ``mean``/``std``), ``layout`` and ``channel_order`` are for foreign models.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        name: str = "",
        kind: Literal["image", "any"] = "image",
        input_range: str | None = None,
        layout: Layout | None = None,
        channel_order: ChannelOrder | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        io_binding: bool | None = None,
        batch_bins: Sequence[int] | None = None,
    ) -> None:
        super().__init__(path, providers=providers, threads=threads, name=name, io_binding=io_binding)
        self.kind = kind
        self.batch_bins: tuple[int, ...] = tuple(sorted(set(batch_bins))) if batch_bins else ()
        if self.batch_bins and self.batch_bins[0] < 1:
            raise ValueError(f"batch_bins: expected positive batch sizes, got {list(batch_bins or ())}")
        self._binding: Any = None
        self._bound_out: Any = None  # (input shape, OrtValue) of the image output
        self._out_shapes: dict[tuple[int, ...], tuple[int, ...]] = {}
        params = PreprocessParams.of(
            input_range=input_range, mean=mean, std=std, layout=layout, channel_order=channel_order
        )
        if kind == "image":
            self._setup_image_io(params)
        elif params.given():
            raise ModelError(f"{self.path}: input_range/layout/channel_order apply to image models only")

    def _setup_image_io(self, params: PreprocessParams) -> None:
        if self.record is not None:
            inp = next((a for a in self._inputs if a.name == IMAGE_INPUT), None)
            if inp is None:
                got = describe_io(self._inputs)
                raise ModelError(f"{self.path}: expected input '{IMAGE_INPUT}' uint8 [N, H, W, 3], got {got}")
            out = next((a for a in self._outputs if a.name == IMAGE_OUTPUT), None)
            images = (a for a in self._outputs if a.type == "tensor(uint8)" and len(a.shape) == 4)
            out = out or next(images, None)
            if out is None:
                got = describe_io(self._outputs)
                raise ModelError(f"{self.path}: expected an image output uint8 [N, H, W, 3], got {got}")
        else:  # foreign: the first input and output, converted by the resolver's convention
            inp, out = self._inputs[0], self._outputs[0]
            if len(out.shape) != 4 or out.type not in NP_TYPES:
                got = describe_io(self._outputs)
                raise ModelError(
                    f"{self.path}: expected an image output of rank 4 (uint8 or float), got {got}"
                )
        self.pre: Preprocess = resolve(inp, self.record, params, path=self.path, name=self.name)
        self._in, self._out = inp, out

    @property
    def layout(self) -> Layout:
        """The input tensor's layout (ours: nhwc)."""
        return self.pre.layout

    @property
    def channel_order(self) -> ChannelOrder:
        return self.pre.channel_order

    @property
    def size_multiple(self) -> int:
        return self.record.size_multiple if self.record is not None else 1

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(H, W) when the model only takes one spatial size (some foreign models), else None."""
        return self.pre.fixed_size

    def preferred_size(self, default: int = 256) -> int:
        """The square size to warm up and to crop faces at: fixed, preferred, or ``default``."""
        fixed = self.fixed_size
        if fixed:
            return max(fixed)
        preferred = self.record.preferred_size if self.record is not None else None
        return self.round_size(preferred or default)

    def round_size(self, size: int) -> int:
        """``size`` rounded up to the model's size multiple."""
        m = self.size_multiple
        return max(m, -(-int(size) // m) * m)

    def warmup(self, size: int | tuple[int, int] | None = None) -> None:
        """One run on a blank image (H, W or square ``size``; default the preferred size), so
        the first real frame does not pay for allocations and kernel selection."""
        if self.kind != "image":
            raise ModelError(f"{self.path}: warmup() needs an image model; call run_raw instead")
        if size is None:
            size = self.preferred_size()
        h, w = (size, size) if isinstance(size, int) else size
        self.run(np.zeros((1, int(h), int(w), 3), np.uint8))

    def run(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] RGB in, uint8 [N, H, W, 3] RGB out (scaled if the model upscales).

        H and W are reflect-padded up to the size multiple and cropped back; fixed-size foreign
        models get the input resized to their size and the output resized back.
        """
        if self.kind != "image":
            raise ModelError(f"{self.path}: run() needs an image model; use run_raw")
        if not (
            isinstance(images, np.ndarray)
            and images.dtype == np.uint8
            and images.ndim == 4
            and images.shape[3] == 3
        ):
            got = (
                f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
            )
            raise ValueError(f"OnnxModel.run: expected uint8 array [N, H, W, 3], got {got}")
        n, h, w, _ = images.shape
        fixed = self.fixed_size
        if fixed is not None:
            return self._run_fixed(images, fixed)
        m = self.size_multiple
        ph, pw = -(-h // m) * m - h, -(-w // m) * m - w
        x = images
        if ph or pw:
            mode: Literal["reflect", "edge"] = "reflect" if ph < h and pw < w else "edge"
            x = np.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
        batch = self._in.shape[0]
        if isinstance(batch, int) and batch != n:
            y = np.concatenate([self._infer_image(x[i : i + batch]) for i in range(0, n, batch)])
        elif self.batch_bins:
            y = self._run_binned(x)
        else:
            y = self._infer_image(x)
        if y.shape[0] != n or y.shape[3] != 3:
            raise ModelError(f"{self.path}: expected output [{n}, H, W, 3], got {list(y.shape)}")
        sy, sx = y.shape[1] / x.shape[1], y.shape[2] / x.shape[2]
        oh, ow = round(h * sy), round(w * sx)
        return y[:, :oh, :ow] if (oh, ow) != y.shape[1:3] else y

    def _run_binned(self, x: np.ndarray) -> np.ndarray:
        """``x`` in chunks of the largest bin, each padded with blank images to a bin size."""
        return run_in_bins(x, self.batch_bins, self._infer_image)

    def _run_fixed(self, images: np.ndarray, fixed: tuple[int, int]) -> np.ndarray:
        import cv2

        n, h, w, _ = images.shape
        fh, fw = fixed
        if (h, w) == (fh, fw):
            x = images
        else:
            interp = cv2.INTER_AREA if fh * fw < h * w else cv2.INTER_LINEAR
            x = np.stack([cv2.resize(im, (fw, fh), interpolation=interp) for im in images])
        y = np.concatenate([self._infer_image(x[i : i + 1]) for i in range(n)])
        if y.shape[1:3] == (h, w):
            return y
        interp = cv2.INTER_AREA if h * w < y.shape[1] * y.shape[2] else cv2.INTER_LINEAR
        return np.stack([cv2.resize(im, (w, h), interpolation=interp) for im in y])

    def _infer_image(self, x: np.ndarray) -> np.ndarray:
        """uint8 NHWC RGB → the model's input convention → run → uint8 NHWC RGB."""
        if self.foreign:
            x = self.pre.to_input(x)
        y = self._infer(x)
        if self.foreign:
            y = self.pre.from_output(y)
        if y.dtype != np.uint8 or y.ndim != 4:
            raise ModelError(
                f"{self.path}: expected output uint8 [N, H, W, 3], got {y.dtype} {list(y.shape)}"
            )
        return y

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """Run the image input → image output; on a GPU (or with ``io_binding``) through IO binding
        with reused buffers: one output buffer per input shape, allocated on the second call."""
        self.note_shape(tuple(x.shape))
        if not self.binds:
            return self.session.run([self._out.name], {self._in.name: x})[0]  # type: ignore[no-any-return]
        ort = _providers.ort()
        binding = self._binding = self._binding or self.session.io_binding()
        self.bind_input(binding, self._in.name, x)
        out_shape = self._out_shapes.get(x.shape)
        if out_shape is None:  # first call at this shape: let onnxruntime allocate, note the shape
            binding.bind_output(self._out.name, self.device, 0)
            self.session.run_with_iobinding(binding)
            result = binding.get_outputs()[0]
            self._out_shapes[x.shape] = tuple(result.shape())
            return self.to_numpy(result)
        if self._bound_out is None or self._bound_out[0] != x.shape:
            dtype = NP_TYPES[self._out.type]
            value = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, dtype, self.device, 0)
            self._bound_out = (x.shape, value)
        binding.bind_ortvalue_output(self._out.name, self._bound_out[1])
        self.session.run_with_iobinding(binding)
        return self.to_numpy(self._bound_out[1])
