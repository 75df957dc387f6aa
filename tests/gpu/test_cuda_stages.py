"""Stages on CUDA: the predictor's state stays on the device between frames; translate's batch
bins on the GPU; NVDEC/NVENC open where PyAV's FFmpeg has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamer.errors import SinkError
from streamer.frame import Frame
from streamer.io.hwcodec import check_encoder, choose_decoder, open_decoder, probe, status
from streamer.onnx import is_ortvalue
from streamer.stages.base import RunContext
from streamer.stages.predict import Predict
from streamer.stages.translate import Translate
from tests.gpu.device import DEVICE, DRY, FULL, PROVIDER
from tests.helpers_gpu import MODELS, ROOT, photo
from tests.unit.stages.conftest import make_frame, run_stage

needs_nvidia = pytest.mark.skipif(DRY, reason="NVDEC/NVENC need the GPU (dry run on CPU)")


def _frames(n: int = 10) -> list[Frame]:
    base = photo(1, 128, 192, seed=3)[0]
    out = []
    for i in range(n):
        raw = np.ascontiguousarray(np.roll(base, 2 * i, axis=1))
        styled = i % 2 == 0
        out.append(make_frame(i, image=255 - raw if styled else raw, translated=styled))
    return out


def _predict(provider: str) -> tuple[Predict, list[Frame], list[object]]:
    params = Predict.Params(model=str(MODELS / "predictor.onnx"), providers=[provider])
    stage = Predict("fill", params, RunContext(log=lambda _m: None))
    stage.open()
    out, states = [], []
    for f in _frames():
        out.extend(stage.process(f))
        states.append(stage.state)
    return stage, out, states


def test_predictor_state_stays_on_the_device_between_frames() -> None:
    stage, gpu_out, states = _predict(PROVIDER)
    assert stage.model.session.get_providers()[0] == FULL
    assert all(is_ortvalue(s) and s.device_name().lower() == DEVICE for s in states[1:])
    _, cpu_out, _ = _predict("cpu")
    assert sum(bool(f.predicted) for f in gpu_out) >= 4
    for a, b in zip(cpu_out, gpu_out, strict=True):
        assert a.index == b.index
        diff = np.abs(a.image.astype(int) - b.image.astype(int))
        assert diff.mean() < 1.0 and np.mean(diff <= 2) > 0.99  # stated: GPU vs CPU kernels


def test_translate_batch_bins_on_the_device() -> None:
    boxes = [(40, 30, 100, 100), (120, 20, 190, 100), (60, 60, 140, 120)]
    frames = [make_frame(i, image=photo(1, 128, 200, seed=i)[0], faces=boxes[: i % 4]) for i in range(9)]
    params = Translate.Params(
        model=str(MODELS / "face_drawing.onnx"), region="faces", providers=[PROVIDER], batch=4, batch_frames=3
    )
    stage = Translate("style", params, RunContext(log=lambda _m: None))
    stage.open()
    assert stage.model.batch_bins == (1, 2, 4)
    stage.model.shapes_run.clear()
    out, _ = run_stage(stage, frames)
    assert [f.index for f in out] == list(range(9))
    assert {s[0] for s in stage.model.shapes_run} <= {1, 2, 4}


def test_deepfake_batch_frames_on_the_device_sees_only_bins_and_matches_cpu() -> None:
    from streamer.stages.deepfake import Deepfake

    boxes = [(40, 30, 100, 100), (120, 20, 190, 100), (60, 60, 140, 120)]
    frames = [make_frame(i, image=photo(1, 128, 200, seed=i)[0], faces=boxes[: i % 4]) for i in range(9)]

    def run(provider: str, hold: int) -> tuple[list[Frame], set[int]]:
        params = Deepfake.Params(providers=[provider], batch_frames=hold, batch=4, min_face=0)
        stage = Deepfake("fake", params, RunContext(mode="offline", log=lambda _m: None))
        stage.open()
        stage.model.shapes_run.clear()
        out, _ = run_stage(stage, frames)
        return out, {s[0] for s in stage.model.shapes_run}

    gpu, shapes = run(PROVIDER, 3)
    cpu, _ = run("cpu", 1)
    assert [f.index for f in gpu] == list(range(9)) and shapes and shapes <= {1, 2, 4}
    for a, b in zip(cpu, gpu, strict=True):
        for fa, fb in zip(a.faces, b.faces, strict=True):
            assert (fa.fake is None) == (fb.fake is None)
            assert fa.fake is None or abs(fa.fake - fb.fake) < 1e-3


def _no_nvenc_engine() -> str | None:
    """The one-line reason when this GPU has no NVENC engine at all (A100, H100, H200...)."""
    st = status("h264_nvenc", "w")
    return st.why if not st.opens and "has no NVENC encoder" in (st.why or "") else None


@needs_nvidia
def test_hardware_codecs_open_where_built() -> None:
    no_engine = _no_nvenc_engine()
    for st in probe():
        if st.name.endswith("_nvenc") and no_engine:
            assert not st.opens and "has no NVENC encoder" in st.why, st.line()
            continue
        assert st.opens or not st.built, st.line()
    assert choose_decoder("cuvid", "h264") == "h264_cuvid"
    if no_engine:  # one line naming the GPU, never a traceback
        with pytest.raises(SinkError, match="has no NVENC encoder"):
            check_encoder("h264_nvenc")
    else:
        check_encoder("h264_nvenc")


@needs_nvidia
def test_nvenc_encode_and_cuvid_decode_round_trip(tmp_path: Path) -> None:
    import av

    path = tmp_path / "nv.mp4"
    encoder = "libx264" if _no_nvenc_engine() else "h264_nvenc"  # NVDEC is still checked there
    with av.open(str(path), "w") as c:
        s = c.add_stream(encoder, rate=30)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        for i in range(30):
            img = photo(1, 360, 640, seed=i)[0]
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    n = 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        ctx = open_decoder(stream, "h264_cuvid")
        for packet in c.demux(stream):  # the last packet is empty: it drains the decoder
            n += len(ctx.decode(packet))
    assert n == 30


@needs_nvidia
def test_capture_decoder_cuvid_gives_the_frames_of_the_software_decoder() -> None:
    """``capture decoder: cuvid`` (NVDEC): every frame and pts of FFmpeg's software decoder, the
    pictures within rounding (NVDEC hands over NV12, the software decoder planar YUV)."""
    from export.fp16 import psnr
    from streamer.io import SourceSpec
    from tests.unit.io.media import read_capture

    clip = str(ROOT / "samples" / "face_audio.mp4")
    cpu, nv = (
        read_capture(SourceSpec(uri=clip, decoder="cpu")),
        read_capture(SourceSpec(uri=clip, decoder="cuvid")),
    )
    assert nv[1] == cpu[1] and nv[2] == cpu[2] and len(nv[0]) == len(cpu[0]) > 0
    assert min(psnr(a, b) for a, b in zip(cpu[0], nv[0], strict=True)) >= 40.0
