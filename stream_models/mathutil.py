"""Log-odds and their inverse, with one clipping rule for every model and metric.

Probabilities of rare targets live near 0, where a raw ``log(p / (1 - p))``
overflows for p = 0; every caller clips at the same :data:`P_CLIP`, so a
probability means the same log-odds in fusion, metrics and the LSTM.
"""

from __future__ import annotations

import math

P_CLIP = 1e-9  # probabilities are clipped to [P_CLIP, 1 - P_CLIP] before taking log-odds


def logit(p: float) -> float:
    """Log-odds of ``p``, clipped.

    >>> round(logit(0.5), 6), round(logit(0.0), 2)
    (0.0, -20.72)
    """
    p = min(max(p, P_CLIP), 1 - P_CLIP)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    """Inverse of :func:`logit`, stable for large ``|z|``.

    >>> sigmoid(0.0), round(sigmoid(logit(0.2)), 12)
    (0.5, 0.2)
    """
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)
