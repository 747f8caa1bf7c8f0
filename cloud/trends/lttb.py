"""Largest-Triangle-Three-Buckets downsampling (Steinarsson 2013, §4.2), keeping extremes.

LTTB keeps the points that shape a line chart: per bucket, the point making the largest
triangle with the point kept before and the mean of the next bucket. A chart of vital
signs must also never hide the worst value, so the series' minimum and maximum are
always kept, in place of the point LTTB chose in their bucket.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def lttb_indices(
    x: NDArray[np.float64], y: NDArray[np.float64], n_out: int, *, keep_extremes: bool = True
) -> NDArray[np.intp]:
    """Indices (ascending) of at most ``n_out`` points of ``(x, y)``; ``x`` ascending.

    First and last points are always kept; with ``keep_extremes`` the minimum and maximum
    of ``y`` too (``n_out`` ≥ 4 then).
    """
    n = len(x)
    if n_out >= n:
        return np.arange(n, dtype=np.intp)
    if n_out < 3:
        raise ValueError("LTTB needs at least 3 output points")
    every = (n - 2) / (n_out - 2)
    # Bucket edges, and each bucket's mean point from cumulative sums (no loop).
    edges = np.minimum(np.floor(np.arange(n_out) * every).astype(np.intp) + 1, n)
    nxt_lo, nxt_hi = edges[1:], np.append(edges[2:], n)
    cx = np.concatenate(([0.0], np.cumsum(x)))
    cy = np.concatenate(([0.0], np.cumsum(y)))
    width = np.maximum(nxt_hi - nxt_lo, 1)
    avg_x = ((cx[nxt_hi] - cx[nxt_lo]) / width).tolist()
    avg_y = ((cy[nxt_hi] - cy[nxt_lo]) / width).tolist()
    xs, ys, lo_edges = x.tolist(), y.tolist(), edges.tolist()
    chosen = np.empty(n_out, dtype=np.intp)
    chosen[0], chosen[-1] = 0, n - 1
    a = 0
    # The choice in one bucket depends on the previous one, so this loop stays; plain floats
    # beat numpy calls on buckets of a few dozen points.
    for i in range(n_out - 2):
        ax, ay = xs[a], ys[a]
        dx, dy = ax - avg_x[i], avg_y[i] - ay
        best, best_area = lo_edges[i], -1.0
        for j in range(lo_edges[i], lo_edges[i + 1]):
            area = abs(dx * (ys[j] - ay) - (ax - xs[j]) * dy)
            if area > best_area:
                best, best_area = j, area
        chosen[i + 1] = a = best
    if keep_extremes:
        _keep(chosen, (int(np.argmin(y)), int(np.argmax(y))), every)
    return np.unique(chosen)


def _keep(chosen: NDArray[np.intp], extremes: tuple[int, ...], every: float) -> None:
    """Put each extreme in place of the point chosen in its bucket (or the nearest free one)."""
    n_out = len(chosen)
    protected = {int(chosen[0]), int(chosen[-1]), *extremes}
    for e in extremes:
        if e in chosen:
            continue
        slot = min(max(math.floor((e - 1) / every) + 1, 1), n_out - 2)
        # The extreme's own bucket, else the nearest bucket whose point is not protected.
        for offset in range(n_out):
            for cand in (slot - offset, slot + offset):
                if 1 <= cand <= n_out - 2 and int(chosen[cand]) not in protected:
                    chosen[cand] = e
                    break
            else:
                continue
            break
