"""Adapters from the log shippers' formats to native events: Elasticsearch bulk
(:mod:`.es_bulk`), Loki push (:mod:`.loki`), Seq CLEF (:mod:`.clef`) and syslog
(:mod:`.syslog`). Each is a pure translation: it turns a request body (or a syslog line)
into native ``general`` events as JSON bytes, one item per foreign record, or an error text
for a record it cannot read. The routes then validate the items one by one
(``BatchDecoder.decode_each``) and hand the valid ones to the same writer as
``POST /api/v1/events``: one write path, one set of limits, one auth.
"""
