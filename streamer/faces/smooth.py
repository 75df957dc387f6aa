"""One-Euro filter (Casiez et al., CHI 2012) for a face track's box and keypoints, as MediaPipe does.

A detector's boxes and keypoints jitter by a few pixels from frame to frame even on a still
face (BlazeFace's eye line swings 2-13 degrees on the carphone clip), so crops shake and a
stylized face flickers. A fixed low-pass would steady them but make a moving face trail behind.
The One-Euro filter adapts: its cut-off frequency grows with the (smoothed) speed of the signal,
``cutoff = min_cutoff + beta * |speed|``, so a still face is filtered hard and a moving one
hardly at all. Speeds are measured in face heights per second (the box height), so the same
parameters hold for a 40 px face and a 400 px one.

One speed for the whole face: the filter of a face track opens with the speed of the *box*
(``lead=4``: the mean speed of its four values), and every value, keypoints included, uses that
cut-off. Keypoints are the noisy part (a few pixels each frame); with a speed of their own, their
noise would read as motion and open their filters, which is exactly the jitter to remove. A face
moves as one body, so the box's speed says how fast its keypoints may move too.

Example::

    f = OneEuro(min_cutoff=0.5, beta=10.0, lead=4)
    steady = f(np.array([x1, y1, x2, y2, *eyes]), dt=1 / 30, scale=y2 - y1)
"""

from __future__ import annotations

import math

import numpy as np

#: Defaults measured on a real face (scikit-image's astronaut, noisy JPEG frames, full-range
#: BlazeFace): standing still, its eye angle moves at most 0.26 degrees between frames (raw: 1.37);
#: moving 3 px a frame, the box trails by 0.6 frames, at 1 px a frame by 1.0 frame (1 px):
#: tests/unit/faces/test_smooth.py. A lower beta steadies more and trails more.
MIN_CUTOFF = 0.5
BETA = 10.0
D_CUTOFF = 1.0


def _alpha(cutoff: float, dt: float) -> float:
    """Smoothing factor of an exponential low-pass with ``cutoff`` Hz for a step of ``dt`` s."""
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


class OneEuro:
    """A One-Euro filter over a vector of values (each value its own filter, one shared clock)."""

    def __init__(
        self,
        *,
        min_cutoff: float = MIN_CUTOFF,
        beta: float = BETA,
        d_cutoff: float = D_CUTOFF,
        lead: int | None = None,
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            got = f"{min_cutoff}, {d_cutoff}, {beta}"
            raise ValueError(f"OneEuro: expected min_cutoff > 0, d_cutoff > 0, beta >= 0, got {got}")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.lead = lead
        """When set, the mean speed of the first ``lead`` values (-1: all) sets one cut-off for all."""
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    def reset(self) -> None:
        self.x = self.dx = None

    def __call__(self, x: np.ndarray, *, dt: float, scale: float = 1.0) -> np.ndarray:
        """The filtered value of ``x`` (float64), ``dt`` seconds after the previous call; ``scale``
        (> 0) is the unit speeds are measured in (the face's height)."""
        x = np.asarray(x, np.float64)
        if self.x is None or self.x.shape != x.shape or dt <= 0:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x.copy()
        assert self.dx is not None
        speed = (x - self.x) / dt / max(scale, 1e-6)
        a_d = _alpha(self.d_cutoff, dt)
        self.dx = a_d * speed + (1.0 - a_d) * self.dx
        if self.lead is None:
            pace: np.ndarray | float = np.abs(self.dx)
        else:  # lead -1: the mean speed of all values
            pace = float(np.abs(self.dx[: self.lead if self.lead > 0 else None]).mean())
        cutoff = self.min_cutoff + self.beta * pace
        a = 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))
        self.x = a * x + (1.0 - a) * self.x
        return self.x.copy()
