"""FaceCropModel: an ONNX model fed aligned face crops, the base of the embedder and the deepfake classifier.

Both take one picture input and give one row per face; what differs is the output they read
(``embedding`` or ``fake_prob``, named by :mod:`streamer.model_contract`) and what they make of
it. Everything about the input is shared and lives here:

- the crop: a square ``margin`` around the detector's box, rotated so the eyes are level when the
  face has keypoints (``geometry.aligned_crop`` + ``geometry.eyes_of``), the crop our face
  models are trained on; or, for a model whose metadata says ``alignment: dlib-chip`` (dlib's
  ResNet descriptor), dlib's chip from the face's keypoints (:mod:`streamer.faces.align`);
  ``size`` is the model's fixed input size, else the ``size`` parameter,
  else the metadata's, else 112; ``margin`` the parameter, else the metadata's, else 0.25;
- the tensor: uint8 crops as they are for our models, otherwise the convention resolved by
  :func:`streamer.onnx.preprocess.resolve` from the model's input and the stage's ``input_range``
  or ``mean``/``std``, ``layout`` and ``channel_order``;
- batching: all crops of a frame in one call, in chunks of ``step``, or of the model's fixed batch.

Example::

    model = FaceCropModel("models/deepfake.onnx", output="fake_prob", threads=2, name="fake")
    raw = model.run_crops(model.crops(frame.image, frame.faces))  # one row per face
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamer.faces.align import face_chips
from streamer.frame import Face
from streamer.geometry import aligned_crop, eyes_of
from streamer.model_contract import ModelError
from streamer.onnx import OnnxModel, PreprocessParams, resolve, run_in_bins, square_size

DEFAULT_SIZE = 112
DEFAULT_MARGIN = 0.25
#: Metadata ``alignment`` of models fed dlib's chips (see :mod:`streamer.faces.align`).
ALIGN_DLIB = "dlib-chip"


def face_crops(image: np.ndarray, faces: Sequence[Face], size: int, margin: float) -> np.ndarray:
    """uint8 [N, size, size, 3]: each face's square crop with ``margin`` around its box, rotated
    so the eyes are level when the face has keypoints (what every face model here is fed)."""
    out = np.empty((len(faces), size, size, 3), np.uint8)
    for i, face in enumerate(faces):
        out[i], _ = aligned_crop(image, face.box, size, margin=margin, eyes=eyes_of(face.keypoints))
    return out


class FaceCropModel:
    """An ONNX model fed uint8 RGB face crops (see the module doc); reads output ``output`` if the
    model has one of that name, else its first output."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        output: str,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        params: PreprocessParams | None = None,
        margin: float | None = None,
        name: str = "",
    ) -> None:
        params = params or PreprocessParams()
        self.path = Path(model_path)
        self.name = name
        self.model = OnnxModel(self.path, providers=providers, threads=threads, name=name, kind="any")
        self.meta: dict[str, str] = self.model.metadata
        self.record = self.model.record
        inputs, outputs = self.model.inputs, self.model.outputs
        if len(inputs) != 1:
            raise ModelError(f"{self.path}: expected one image input, got {len(inputs)} inputs")
        self._in = inputs[0]
        self.pre = resolve(self._in, self.record, params, path=self.path, name=name)
        self.output = next((o for o in outputs if o.name == output), outputs[0])
        self.size = square_size(self.pre, self.record, params.size, path=self.path, default=DEFAULT_SIZE)
        record_margin = self.record.margin if self.record is not None else None
        self.margin = float(next(m for m in (margin, record_margin, DEFAULT_MARGIN) if m is not None))
        self.alignment = self.record.alignment if self.record is not None else None
        batch = self._in.shape[0]
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        #: batch sizes the session is fed (1, 2, 4, ...: ``bins_up_to``), crops padded up to one
        #: of them so a changing number of faces does not re-plan anything; () = any size
        self.batch_bins: tuple[int, ...] = ()

    @property
    def uint8(self) -> bool:
        """True when the model takes uint8 crops as they are (ours, and foreign uint8 models)."""
        return not self.pre.normalised

    def describe_input(self) -> str:
        """``112x112 uint8 crops`` or ``64x64 float32 nchw bgr crops, mean ... std ...``."""
        kind = "uint8" if self.uint8 else self.pre.describe()
        return f"{self.size}x{self.size} {kind} crops"

    def crops(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """uint8 [N, size, size, 3]: each face's aligned crop (eyes level when keypoints exist; dlib's
        chip for models aligned like dlib)."""
        if self.alignment == ALIGN_DLIB:
            return face_chips(image, [(f.box, f.keypoints) for f in faces], self.size)
        return face_crops(image, faces, self.size, self.margin)

    def check_crops(self, crops: np.ndarray, who: str) -> None:
        """ValueError unless ``crops`` is uint8 [N, size, size, 3] (``who`` names the caller)."""
        if not (isinstance(crops, np.ndarray) and crops.dtype == np.uint8 and crops.ndim == 4):
            got = f"{crops.dtype} {crops.shape}" if isinstance(crops, np.ndarray) else type(crops).__name__
            raise ValueError(f"{who}: expected uint8 [N, S, S, 3], got {got}")
        if crops.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"{who}: expected crops of {self.size}x{self.size}x3, got {crops.shape[1:]}")

    def run_crops(self, crops: np.ndarray, step: int | None = None) -> np.ndarray:
        """The raw output rows for uint8 RGB crops [N, size, size, 3]: one model call per chunk
        of ``step`` (default all), or of the model's fixed batch, which must divide N."""
        b = self.fixed_batch
        if b is not None and len(crops) % b:
            raise ModelError(f"{self.path}: fixed batch {b} does not divide {len(crops)} faces")
        if b is None and self.batch_bins and len(crops):
            return run_in_bins(crops, self.batch_bins, self._run)
        step = b or step or len(crops)
        parts = [self._run(crops[i : i + step]) for i in range(0, len(crops), max(1, step))]
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)

    def _run(self, crops: np.ndarray) -> np.ndarray:
        x = self.pre.to_input(crops)
        name = self.output.name
        return self.model.run_raw({self._in.name: x}, [name])[name]
