"""Adapters that turn a foreign wire format into native events (JSON bytes, one per item),
which then take the one write path: ``BatchDecoder.decode_each`` validates each item with
the native limits, and the route submits the valid ones as one ``EventBatch``.

- :mod:`.otlp`: OpenTelemetry logs (OTLP/HTTP, protobuf and JSON)
- :mod:`.sentry`: Sentry SDK events (envelopes and the store endpoint)
"""
