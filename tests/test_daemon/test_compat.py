"""The Tansu quirk the compatibility layer exists for, and the layer's answer."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from kafka import KafkaProducer

from daemon.kafka.broker import EmbeddedBroker
from daemon.kafka.compat import is_embedded_cluster, log_end_offsets

pytestmark = pytest.mark.integration


def test_list_offsets_stops_at_the_last_batch_but_the_layer_finds_the_log_end(
    broker: EmbeddedBroker,
) -> None:
    topic = "t.compat.batches"
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
    for batch in range(3):  # three batches of ten records
        for i in range(10):
            producer.send(topic, value=b"%d" % (batch * 10 + i), partition=0)
        producer.flush()
    producer.close()
    tp = TopicPartition(topic, 0)

    async def ends() -> tuple[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        try:
            listed = (await consumer.end_offsets([tp]))[tp]
        finally:
            await consumer.stop()
        true = (await log_end_offsets({"bootstrap_servers": broker.bootstrap}, [tp]))[tp]
        return listed, true

    listed, true = asyncio.run(ends())
    assert true == 30
    assert listed < true  # Tansu: first offset of the last batch + 1 (21), not the log end
    assert is_embedded_cluster(broker.cluster_id)
