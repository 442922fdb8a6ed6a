"""A foreign producer for the compression tests: librdkafka (Python's confluent-kafka).

Reads JSON lines from stdin, each {"topic": str, "key": str, "value": str}, and produces
them with compression.type=<codec> and a linger, so records travel in compressed batches
as a production librdkafka producer sends them. Prints the number delivered; exits 1 if
any delivery failed.

    produce.py <bootstrap servers> <none|gzip|snappy|lz4|zstd>  < records.jsonl
"""

import json
import sys

from confluent_kafka import Producer


def main() -> int:
    bootstrap, codec = sys.argv[1], sys.argv[2]
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "linger.ms": 100,
            "batch.num.messages": 1000,
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    failures = []
    delivered = 0

    def on_delivery(error, _message):
        nonlocal delivered
        if error is not None:
            failures.append(str(error))
        else:
            delivered += 1

    for line in sys.stdin:
        if not line.strip():
            continue
        record = json.loads(line)
        while True:
            try:
                producer.produce(
                    record["topic"],
                    key=record["key"].encode(),
                    value=record["value"].encode(),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining > 0:
        failures.append(f"{remaining} records still queued after 60 s")
    print(delivered)
    if failures:
        print(f"produce.py: {len(failures)} failures, first: {failures[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
