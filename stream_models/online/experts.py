"""The experts a scope's fused forecast mixes, and where each one's forecast comes from.

Every expert forecasts from a scope's first event: until it has a fit of its own
it forecasts with its prior, and the share of events it scored with its own fit
is reported beside its skill.

========================== ================================================== ===============
expert                     forecast                                           prior
========================== ================================================== ===============
omori                      the generic ETAS law (nothing fitted)              (is one)
etas                       the scope's own ETAS fit, refitted as data come    the generic law
river                      River logistic regression on the model inputs      the generic law
lstm                       the scope's fine-tuned LSTM                        the pretrained
baseline_rate              Poisson rate of the last 7 days                    (is one)
baseline_last_shift_energy targets after shifts of similar energy             the rate
baseline_abcd              targets after each state of the a/b/c/d rule       the rate
========================== ================================================== ===============

The learned models correct the generic law's log-odds (River and the LSTM take
it as an offset), so with nothing learned they forecast the law itself.

The mixture's prior (:data:`PRIOR`) is the seismologist's default: the generic
law, with a tenth of the weight on the scope's own ETAS fit and a fiftieth on
each learned model and baseline. The bound against an expert is ``ln(1 / prior)``
nats of time-weighted log loss (of both targets at once) over the whole record:
0.22 against the generic law, 2.3 against the fitted ETAS, 3.9 against each other
model. So the fused
risk starts as the generic law and follows another model only once that model
has beaten it by several nats on the scope's own record: a burst of lucky
hours cannot carry it off, a consistently better model takes over within weeks
of a busy scope's events.
"""

from __future__ import annotations

from stream_models.fusion.counts import FUSED
from stream_models.learners.baselines import BASELINES

EXPERTS = ("omori", "etas", "river", "lstm", *BASELINES)  # what the fused risk mixes
CALIBRATED = "calibrated"  # the fused risk recalibrated on the alert target's own labels
COMPONENTS = (*EXPERTS, FUSED, CALIBRATED)  # what a risk record reports, on the alert target
ANCHOR = "omori"  # the generic ETAS law: every prior leads back to it
PRIOR = {"omori": 0.8, "etas": 0.1, "river": 0.02, "lstm": 0.02,
         **dict.fromkeys(BASELINES, 0.02)}
