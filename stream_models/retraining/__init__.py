"""Retraining: the I/O wing of the models.

It runs what :class:`~stream_models.online.schedule.Job` asks (ETAS refits with
scipy and numba, LSTM fine-tuning with torch), in-line or in a separate process
at a lower priority (:mod:`stream_models.retraining.pool`), and keeps the files
that outlive a scope's state: the base LSTM that ships with the package
(:mod:`stream_models.retraining.registry`), the decisions log, and the command
that pretrains the base (:mod:`stream_models.retraining.pretrain`). The online
packages never import it; they hand it jobs and take its results.
"""
