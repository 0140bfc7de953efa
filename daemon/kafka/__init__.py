"""Kafka plumbing shared by the worker, the replay adapter and the operator feed: the
embedded broker and topic creation (:mod:`~daemon.kafka.broker`), the compatibility layer
for the embedded broker (:mod:`~daemon.kafka.compat`), and direct reads of topics (the
alert feed, the worker's gap re-reads: :mod:`~daemon.kafka.feed`). It imports nothing
else of the daemon, so the replay adapter uses it without the worker."""
