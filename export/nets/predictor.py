"""Recurrent frame predictor: a small ConvGRU encoder-decoder that predicts motion and warps.

The ``predict`` stage fills output frames that were not stylized (translate ``every: k``) or never
arrived (live drops). For frame ``t`` it has the last output picture ``image`` (frame ``t-1``,
stylized or itself predicted) and a *motion pair* ``prev`` -> ``cur`` whose motion tells where
things go: the last known raw frame and the current raw frame when the current frame arrived
unstylized (``span`` frames apart, ``lag`` 0), else the two last really stylized frames
(``span`` frames apart, the later one ``lag`` frames before ``t-1``: extrapolation). The
network runs at 1/4 of the picture size:

    avgpool x4 (image, prev, cur), cur - prev, 1/span, lag, Lucas-Kanade flow of the pair
      -> conv 1/4 -> conv s2 1/8 -> conv s2 1/16 -> ConvGRU (state) -> up 1/8 (+skip) -> up 1/4 (+skip)
      -> head: g (pair flow correction), delta (frame flow correction), residual (colour)

``g`` is the backward flow from ``cur`` to ``prev`` (where each pixel of ``cur`` was in ``prev``):
a fixed 3-level Lucas-Kanade estimate plus a learnt correction, trained by the photometric loss
``warp(prev, g) ~ cur``; the flow of the frame to predict is ``f = g / span + delta`` (constant
velocity plus a learnt correction), and the output is the full-resolution ``image`` warped by
the 4x upsampled ``f`` (bilinear, border padding) plus an upsampled colour residual.

The recurrent state (``STATE_CHANNELS`` x H/16 x W/16) is an explicit input and output of the
ONNX model (DESIGN 3.2): the stage carries it between frames. ``PredictorExport`` is the exported
model: it works at 1/4 size only, the stage does the full-size warp with OpenCV (see there).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Network resolution relative to the picture.
SCALE = 4
#: The picture's H and W must be multiples of this (1/4, then two stride-2 convs).
SIZE_MULTIPLE = 16
#: Resolution of the recurrent state relative to the picture.
STATE_SCALE = 16
STATE_CHANNELS = 32
IN_CHANNELS = 3 * 4 + 2 + 2  # image, prev, cur, cur - prev, 1/span, lag, LK flow


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1)


class ConvGRU(nn.Module):
    """A convolutional GRU cell: ``h' = (1 - z) * h + z * tanh(W [x, r * h])``."""

    def __init__(self, in_ch: int, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.gates = nn.Conv2d(in_ch + hidden, 2 * hidden, kernel, padding=kernel // 2)
        self.cand = nn.Conv2d(in_ch + hidden, hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        zr = torch.sigmoid(self.gates(torch.cat([x, h], 1)))
        z, r = zr.chunk(2, 1)
        c = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * c


def base_grid_x(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (x, y) of ``like``'s H x W and the sizes W, H as tensors.

    Built from ``cumsum`` of ones rather than ``arange``/``affine_grid`` so the traced ONNX graph
    keeps H and W dynamic with opset 17.
    """
    ones = torch.ones_like(like[:, :1])
    xs = torch.cumsum(ones, 3) - 0.5
    ys = torch.cumsum(ones, 2) - 0.5
    w = ones.sum(3, keepdim=True)
    h = ones.sum(2, keepdim=True)
    return xs, ys, w, h


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled at ``p + flow(p)`` (backward warp, pixels), bilinear, border padding."""
    xs, ys, w, h = base_grid_x(flow)
    gx = (xs + flow[:, :1]) * (2.0 / w) - 1.0
    gy = (ys + flow[:, 1:2]) * (2.0 / h) - 1.0
    grid = torch.cat([gx, gy], 1).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return x.mean(1, keepdim=True)


def _lk_step(i0: torch.Tensor, i1: torch.Tensor, g: torch.Tensor, window: int, eps: float) -> torch.Tensor:
    """One Lucas-Kanade update of the backward flow ``g`` (``i1(p) ~ i0(p + g)``), dense, windowed."""
    i0w = warp(i0, g)
    gx = (
        F.pad(i0w, (0, 2, 0, 0), mode="replicate")[..., :, 2:]
        - F.pad(i0w, (2, 0, 0, 0), mode="replicate")[..., :, :-2]
    ) * 0.5
    gy = (
        F.pad(i0w, (0, 0, 0, 2), mode="replicate")[..., 2:, :]
        - F.pad(i0w, (0, 0, 2, 0), mode="replicate")[..., :-2, :]
    ) * 0.5
    it = i1 - i0w
    terms = torch.cat([gx * gx, gx * gy, gy * gy, gx * it, gy * it], 1)
    # box mean over the window, separable (same result as the 2-D pool, ~window/2 times cheaper)
    k = window // 2
    s = F.avg_pool2d(terms, (1, window), stride=1, padding=(0, k), count_include_pad=False)
    s = F.avg_pool2d(s, (window, 1), stride=1, padding=(k, 0), count_include_pad=False)
    a, b, c, bx, by = s[:, 0:1] + eps, s[:, 1:2], s[:, 2:3] + eps, s[:, 3:4], s[:, 4:5]
    det = a * c - b * b
    du = (c * bx - b * by) / det
    dv = (a * by - b * bx) / det
    return g + torch.cat([du, dv], 1).clamp(-2.0, 2.0)


def lucas_kanade(prev: torch.Tensor, cur: torch.Tensor, iters: int = 2) -> torch.Tensor:
    """Backward flow from ``cur`` to ``prev`` (pixels of the given resolution), three pyramid levels.

    A fixed (untrained) estimate that the network refines: it makes the untrained model already a
    motion-compensating predictor, so the short CPU training only has to learn corrections,
    extrapolation across drops and the colour residual. Large windows and few iterations suit
    camera-like (smooth) motion best (measured on the sample clips: windows 21/15/11, 2
    iterations, beat small windows or more iterations by 1-2 dB).
    """
    p0, c0 = _gray(prev), _gray(cur)
    p1, c1 = F.avg_pool2d(p0, 2), F.avg_pool2d(c0, 2)
    p2, c2 = F.avg_pool2d(p1, 2), F.avg_pool2d(c1, 2)
    g = torch.zeros_like(torch.cat([p2, p2], 1))
    for level, (i0, i1, window) in enumerate(((p2, c2, 11), (p1, c1, 15), (p0, c0, 21))):
        if level:
            g = F.interpolate(g, scale_factor=2.0, mode="bilinear", align_corners=False) * 2.0
        for _ in range(iters):
            g = _lk_step(i0, i1, g, window, 1e-3)
    return g


class FramePredictor(nn.Module):
    """Pictures as float 0..1 NCHW (full size, multiples of 16); returns a dict (see ``forward``)."""

    def __init__(self, width: int = 16, mid: int = 32, hidden: int = STATE_CHANNELS) -> None:
        super().__init__()
        w = width
        self.hidden = hidden
        self.e0 = nn.Sequential(nn.Conv2d(IN_CHANNELS, w, 3, padding=1), _act())
        self.e1 = nn.Sequential(nn.Conv2d(w, mid, 3, stride=2, padding=1), _act())
        self.e2 = nn.Sequential(nn.Conv2d(mid, mid, 3, stride=2, padding=1), _act())
        self.gru = ConvGRU(mid, hidden)
        self.d1 = nn.Sequential(nn.Conv2d(hidden + mid, mid, 3, padding=1), _act())
        self.d0 = nn.Sequential(nn.Conv2d(mid + w, w, 3, padding=1), _act())
        self.head = nn.Conv2d(w, 7, 3, padding=1)
        with torch.no_grad():  # start as "repeat the last frame": no flow, no residual
            self.head.weight.zero_()
            self.head.bias.zero_()

    def initial_state(self, image: torch.Tensor) -> torch.Tensor:
        n, _, h, w = image.shape
        return image.new_zeros(n, self.hidden, h // STATE_SCALE, w // STATE_SCALE)

    def step_small(
        self,
        image: torch.Tensor,
        prev: torch.Tensor,
        cur: torch.Tensor,
        inv_span: torch.Tensor,
        lag: torch.Tensor,
        state: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """One step on pictures at 1/4 size (float 0..1 NCHW). ``inv_span``/``lag``: float [N].

        Returns, on the 1/4 grid: ``flow`` (the frame's backward flow, full-size pixels), ``g``
        (the pair's flow, full-size pixels), ``residual`` (0..1 units); and ``state``.
        """
        plane = torch.ones_like(image[:, :1])
        g_lk = lucas_kanade(prev, cur).detach()
        x = torch.cat(
            [
                image * 2 - 1,
                prev * 2 - 1,
                cur * 2 - 1,
                (cur - prev) * 4,
                plane * inv_span.view(-1, 1, 1, 1),
                plane * lag.view(-1, 1, 1, 1) * 0.25,
                g_lk * 0.5,
            ],
            1,
        )
        f0 = self.e0(x)
        f1 = self.e1(f0)
        f2 = self.e2(f1)
        h = self.gru(f2, state)
        y = F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
        y = self.d1(torch.cat([y, f1], 1))
        y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
        y = self.d0(torch.cat([y, f0], 1))
        o = self.head(y)
        # flows are predicted in 1/4-resolution pixels; scaled to full-size pixels
        g = (o[:, 0:2] + g_lk) * SCALE
        flow = g * inv_span.view(-1, 1, 1, 1) + o[:, 2:4] * SCALE
        return {"flow": flow, "g": g, "residual": 0.1 * o[:, 4:7], "state": h}

    def forward(
        self,
        image: torch.Tensor,
        prev: torch.Tensor,
        cur: torch.Tensor,
        inv_span: torch.Tensor,
        lag: torch.Tensor,
        state: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """One step on full-size pictures (training): ``step_small`` on their 1/4 averages, then
        ``render``. Returns ``out`` (0..1, unclamped), ``state``, and ``g``/``flow`` upsampled to
        full size."""
        r = self.step_small(*(F.avg_pool2d(t, SCALE) for t in (image, prev, cur)), inv_span, lag, state)
        up = lambda t: F.interpolate(t, scale_factor=float(SCALE), mode="bilinear", align_corners=False)  # noqa: E731
        flow = up(r["flow"])
        return {
            "out": warp(image, flow) + up(r["residual"]),
            "state": r["state"],
            "g": up(r["g"]),
            "flow": flow,
        }


def render(image: torch.Tensor, flow: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """The full-size prediction from the 1/4-grid outputs (what the stage does with OpenCV):
    ``image`` warped by the bilinearly upsampled ``flow`` plus the upsampled ``residual``."""
    up = lambda t: F.interpolate(t, scale_factor=float(SCALE), mode="bilinear", align_corners=False)  # noqa: E731
    return warp(image, up(flow)) + up(residual)


class PredictorExport(nn.Module):
    """The exported model: small uint8 NHWC pictures in, float32 flow/residual/state out.

    Everything the network does happens at 1/4 of the picture size; the only full-size work (the
    bilinear upsampling of the flow and the warp of the last output, ``render``) is done by the
    stage with OpenCV (``cv2.resize`` + ``cv2.remap``), several times faster than ONNX Runtime's
    CPU GridSample at full size. Inputs: ``image`` (the last output), ``prev``, ``cur`` (the motion
    pair), all uint8 [N, H/4, W/4, 3] (area-resized by the stage); ``span`` float32 [N] (frames
    from ``prev`` to ``cur``, >= 1); ``lag`` float32 [N] (frames from ``cur`` to the last output,
    0..8); ``state`` float32 [N, C, H/16, W/16] (zeros at the start). Outputs, on the 1/4 grid:
    ``flow`` float32 [N, 2, H/4, W/4] (backward flow of the frame to predict, in full-size pixels:
    output(p) = image(p + flow(p))), ``residual`` float32 [N, 3, H/4, W/4] (levels 0..255 to
    add), ``state_out`` (the next state, DESIGN 3.2).
    """

    def __init__(self, net: FramePredictor) -> None:
        super().__init__()
        self.net = net

    def forward(
        self,
        image: torch.Tensor,
        prev: torch.Tensor,
        cur: torch.Tensor,
        span: torch.Tensor,
        lag: torch.Tensor,
        state: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        def f(t: torch.Tensor) -> torch.Tensor:
            return t.permute(0, 3, 1, 2).float() * (1.0 / 255.0)

        r = self.net.step_small(f(image), f(prev), f(cur), 1.0 / span.clamp(min=1.0), lag, state)
        return r["flow"], r["residual"] * 255.0, r["state"]
