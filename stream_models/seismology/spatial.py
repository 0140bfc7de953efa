"""Where aftershocks fall: an isotropic power law in distance whose scale grows with the parent.

Ogata (1998)'s space-time ETAS spreads the aftershocks of an event of size m
around its epicentre with the density

    f(r | m) = (q - 1) / (pi s(m)^2) * (1 + r^2 / s(m)^2)^(-q),
    s(m)^2 = d^2 10^(gamma (m - m_ref)),

a power law in distance (tails heavier than a Gaussian: triggering reaches past
the rupture) whose scale follows the parent's rupture. Magnitudes are counted
from energy as in :mod:`stream_models.seismology.etas` (log10 E = 1.5 M + 4.8),
relative to a 10^4 J event. The density integrates to 1 over the plane; the mass
within a radius has a closed form, which the hazard grid uses to keep each
event's update to the cells that hold nearly all of it.

The generic kernel (before a fit) is scaled for mining tremors: rupture length
grows as M0^(1/3) (Kanamori & Anderson 1975), so s^2 grows tenfold a magnitude
(gamma = 1); a 10^4 J tremor (M ~ -0.5) ruptures metres, and GITS locates events
to about ten metres, so its aftershock cloud is taken as s = 30 m, with q = 1.5
(Ogata 1998's estimates lie between 1.3 and 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stream_models.seismology.bvalue import MAG_PER_LOG_E
from stream_models.seismology.etas import LOG_E_REF

GENERIC_D_M = 30.0  # s of a 10^4 J event's aftershocks, m
GENERIC_Q = 1.5
GENERIC_GAMMA = 1.0  # s^2 grows 10^gamma per magnitude unit


@dataclass(frozen=True)
class SpatialKernel:
    """The spatial part of space-time ETAS.

    >>> k = SpatialKernel(30.0, 1.5, 1.0)
    >>> round(k.mass_within(30.0, 4.0), 3), round(k.radius(0.5, 4.0), 1)
    (0.293, 52.0)
    >>> round(k.scale_m(5.5) / k.scale_m(4.0), 4)    # a magnitude larger: sqrt(10) wider
    3.1623
    """

    d_m: float = GENERIC_D_M
    q: float = GENERIC_Q
    gamma: float = GENERIC_GAMMA
    fitted: bool = False

    def scale2(self, log_e: float | np.ndarray) -> np.ndarray:
        """s(m)^2 in m^2 for events of energy 10^log_e J."""
        return self.d_m**2 * 10 ** (self.gamma * (np.asarray(log_e, float) - LOG_E_REF)
                                    / MAG_PER_LOG_E)

    def scale_m(self, log_e: float) -> float:
        return float(math.sqrt(self.scale2(log_e)))

    def density(self, r2: np.ndarray, log_e: float | np.ndarray) -> np.ndarray:
        """Aftershocks per m^2 (of one) at squared distance ``r2`` from the parent."""
        s2 = self.scale2(log_e)
        return (self.q - 1) / (math.pi * s2) * (1 + np.asarray(r2) / s2) ** (-self.q)

    def mass_within(self, r: float, log_e: float) -> float:
        """The share of the parent's aftershocks within distance ``r``."""
        return float(1 - (1 + r**2 / float(self.scale2(log_e))) ** (1 - self.q))

    def radius(self, share: float, log_e: float) -> float:
        """The distance within which ``share`` of the aftershocks fall."""
        return math.sqrt(float(self.scale2(log_e)) * ((1 - share) ** (1 / (1 - self.q)) - 1))

    def sample(self, rng: np.random.Generator, log_e: np.ndarray) -> tuple[np.ndarray,
                                                                        np.ndarray]:
        """Offsets (dx, dy) of aftershocks of parents of these sizes (inverse CDF)."""
        u = rng.random(np.shape(log_e))
        r = np.sqrt(self.scale2(log_e) * (u ** (1 / (1 - self.q)) - 1))
        theta = rng.uniform(0, 2 * math.pi, np.shape(log_e))
        return r * np.cos(theta), r * np.sin(theta)

    def to_json(self) -> dict[str, float | bool]:
        return {"d_m": self.d_m, "q": self.q, "gamma": self.gamma, "fitted": self.fitted}

    @classmethod
    def from_json(cls, data: dict[str, float | bool]) -> SpatialKernel:
        return cls(float(data["d_m"]), float(data["q"]), float(data["gamma"]),
                   bool(data.get("fitted", False)))


def generic_kernel(scale_m: float = GENERIC_D_M) -> SpatialKernel:
    """The kernel nothing was fitted for; ``scale_m`` the aftershock scale of a 10^4 J event
    (a setting: tens of metres in a mine; a regional catalog's location errors are km)."""
    return SpatialKernel(scale_m, GENERIC_Q, GENERIC_GAMMA)
