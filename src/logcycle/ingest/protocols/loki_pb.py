"""Loki's ``PushRequest`` (``pkg/push/push.proto``, package ``logproto``), built from a
descriptor at import: no generated code, no protoc at build time. ``Timestamp`` is
wire-identical to ``google.protobuf.Timestamp`` (seconds = 1, nanos = 2).

    req = PushRequest.FromString(data)
    for stream in req.streams:
        stream.labels, [(e.timestamp.seconds, e.line) for e in stream.entries]
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
# (message, [(field, number, type, repeated, message type)])
_MESSAGES: list[tuple[str, list[tuple[str, int, int, bool, str]]]] = [
    ("Timestamp", [("seconds", 1, _F.TYPE_INT64, False, ""),
                   ("nanos", 2, _F.TYPE_INT32, False, "")]),
    ("LabelPairAdapter", [("name", 1, _F.TYPE_STRING, False, ""),
                          ("value", 2, _F.TYPE_STRING, False, "")]),
    ("EntryAdapter", [("timestamp", 1, _F.TYPE_MESSAGE, False, "Timestamp"),
                      ("line", 2, _F.TYPE_STRING, False, ""),
                      ("structuredMetadata", 3, _F.TYPE_MESSAGE, True, "LabelPairAdapter")]),
    ("StreamAdapter", [("labels", 1, _F.TYPE_STRING, False, ""),
                       ("entries", 2, _F.TYPE_MESSAGE, True, "EntryAdapter"),
                       ("hash", 3, _F.TYPE_UINT64, False, "")]),
    ("PushRequest", [("streams", 1, _F.TYPE_MESSAGE, True, "StreamAdapter")]),
]


def _file() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="logcycle/loki_push.proto",
                                             package="logproto", syntax="proto3")
    for name, fields in _MESSAGES:
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=ftype,
                              label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
            if type_name:
                f.type_name = f".logproto.{type_name}"
    return fdp


# A pool of our own: no clash with another library's copy of the same names.
_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
PushRequest: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(
    "logproto.PushRequest"))
