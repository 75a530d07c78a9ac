"""The Log RPC (seed 002, docs/rpc.md): ``POST /rpc`` with a frame of commands.

    {"v": 1, "src": "//api.cesanta.com/device_123", "dst": "//api.cesanta.com",
     "cmds": [{"cmd": "/v1/Log.Log", "id": 123, "args": {"msg": "hello world!"}}]}

is answered ``{"v": 1, "src": <dst>, "dst": <src>, "resp": [{"id": 123, "status": 0}]}``.
Each command succeeds or fails alone: a failure is ``{"id", "status", "status_msg"}`` with
an HTTP-like status (400 bad arguments, 403 not allowed, 404 unknown command, 503 the store
is busy or down). A frame that cannot be read at all (not JSON, no ``cmds``, ``v`` not 1) is
a 400 with the native error body; no key is a 401.

Consecutive ``Log.Log`` commands of a frame are committed in one batch; a ``Log.List``
after them sees them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from logcycle.api.auth import Principal
from logcycle.api.events import svc_of
from logcycle.api.http import JSON, is_digits, read_body
from logcycle.errors import BadRequest, LogcycleError
from logcycle.ingest.decode import Prepared
from logcycle.ingest.tasks import EventBatch
from logcycle.query.streams import list_source
from logcycle.service import Service

MAX_COMMANDS = 1000
DEFAULT_LIMIT = 100


class CommandFailed(Exception):
    """One command fails; the frame goes on."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Frame:
    src: str | None
    dst: str | None
    cmds: list[Any]


def parse_frame(body: bytes) -> Frame:
    """The frame, or a 400 (native body) when it cannot be read at all."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the frame is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("the frame must be a JSON object", code="invalid_frame")
    if data.get("v", 1) != 1 or isinstance(data.get("v"), bool):
        raise BadRequest('unsupported frame version: "v" must be 1', code="invalid_frame")
    for key in ("src", "dst"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise BadRequest(f'"{key}" must be a string', code="invalid_frame")
    cmds = data.get("cmds")
    if not isinstance(cmds, list):
        raise BadRequest('the frame needs "cmds", an array of commands', code="invalid_frame")
    if len(cmds) > MAX_COMMANDS:
        raise BadRequest(f"a frame holds at most {MAX_COMMANDS} commands", code="invalid_frame")
    return Frame(data.get("src"), data.get("dst"), cmds)


def _arg(args: dict[str, Any], name: str, types: tuple[type, ...], what: str, *,
         required: bool = False) -> Any:
    value = args.get(name)
    if value is None:
        if required:
            raise CommandFailed(400, f"missing required arg: {name}")
        return None
    if not isinstance(value, types) or isinstance(value, bool):
        raise CommandFailed(400, f"arg {name} must be {what}")
    return value


def _may(principal: Principal, action: str, src: str) -> None:
    if not principal.may(action):
        raise CommandFailed(403, f"this key's scope ({principal.scope}) does not allow {action}")
    prefix = principal.src_prefix
    if prefix is not None and not src.startswith(prefix):
        raise CommandFailed(403, f"this key may only use sources starting with {prefix!r}")


def prepare_log(svc: Service, principal: Principal, frame: Frame,
                args: dict[str, Any]) -> Prepared:
    """Log.Log's event, validated like any ingested general event."""
    if not frame.src:
        raise CommandFailed(400, "Log.Log needs the frame's src: the source of the entry")
    _may(principal, "ingest", frame.src)
    msg = _arg(args, "msg", (str, dict, list), "an object, an array or a string",
               required=True)
    stream = _arg(args, "stream", (str,), "a string") or "console"
    now = svc.clock.now_ms()
    timestamp = _arg(args, "timestamp", (int,), "an integer (ms since the epoch)")
    event = {"kind": "general", "instant": now if timestamp is None else timestamp,
             "message": msg if isinstance(msg, str) else orjson.dumps(msg).decode(),
             "src": frame.src, "stream": stream, "msg": msg}
    try:
        batch = svc.decoder.decode_json(orjson.dumps([event]), now_ms=now)
    except LogcycleError as exc:
        raise CommandFailed(exc.status, exc.message.removeprefix("event 0: ")) from None
    return batch.events[0]


async def run_list(svc: Service, principal: Principal, args: dict[str, Any]) -> Any:
    src = _arg(args, "src", (str,), "a string", required=True)
    _may(principal, "read", src)
    stream = _arg(args, "stream", (str,), "a string")
    limit = _arg(args, "limit", (int,), "an integer")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 0 <= limit <= svc.settings.max_page_size:
        raise CommandFailed(400, f"arg limit must be between 0 and {svc.settings.max_page_size}")
    after = _arg(args, "after", (str, int), "the id of the last entry of the previous page")
    if after is not None and (not is_digits(str(after)) or len(str(after)) > 18):
        raise CommandFailed(400, "arg after must be the id of the last entry of the "
                                 "previous page")
    before = None if after is None else int(after)
    return await svc.read(principal, list_source, src, stream=stream, before=before,
                          limit=limit)


class _Run:
    """Answers a frame's commands in order, committing runs of Log.Log together."""

    def __init__(self, svc: Service, principal: Principal, frame: Frame) -> None:
        self.svc, self.principal, self.frame = svc, principal, frame
        self.resp: list[dict[str, Any]] = []
        self.logs: list[tuple[int, Prepared]] = []  # (index in resp, event) not yet written

    async def flush(self) -> None:
        if not self.logs:
            return
        logs, self.logs = self.logs, []
        try:
            await self.svc.writer.submit(EventBatch([e for _, e in logs], None,
                                                    self.principal.id,
                                                    scope=self.principal.sources))
        except LogcycleError as exc:
            for i, _ in logs:
                self.fail(i, CommandFailed(exc.status, exc.message))

    def fail(self, index: int, exc: CommandFailed) -> None:
        self.resp[index] = {"id": self.resp[index]["id"], "status": exc.status,
                            "status_msg": exc.message}

    async def command(self, cmd: Any) -> None:
        index = len(self.resp)
        self.resp.append({"id": cmd.get("id") if isinstance(cmd, dict) else None, "status": 0})
        try:
            name, args = _command(cmd)
            if name == "Log.Log":
                self.logs.append((index, prepare_log(self.svc, self.principal, self.frame,
                                                     args)))
                return
            await self.flush()
            handler = _HANDLERS.get(name)
            if handler is None:
                raise CommandFailed(404, f"unknown command {name!r}: this server has "
                                         "/v1/Log.Log and /v1/Log.List")
            self.resp[index]["resp"] = await handler(self.svc, self.principal, args)
        except CommandFailed as exc:
            self.fail(index, exc)


def _command(cmd: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
        raise CommandFailed(400, 'a command is an object with "cmd", "id" and "args"')
    args = cmd.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CommandFailed(400, '"args" must be an object')
    return cmd["cmd"].removeprefix("/v1/"), args


_HANDLERS: dict[str, Callable[[Service, Principal, dict[str, Any]], Awaitable[Any]]] = {
    "Log.List": run_list,
}


async def rpc(request: Request) -> Response:
    svc = svc_of(request)
    principal = await svc.auth.identify(request)
    frame = parse_frame(await read_body(request, svc.settings.max_body_bytes))
    run = _Run(svc, principal, frame)
    for cmd in frame.cmds:
        await run.command(cmd)
    await run.flush()
    answer: dict[str, Any] = {"v": 1}
    if frame.dst is not None:
        answer["src"] = frame.dst
    if frame.src is not None:
        answer["dst"] = frame.src
    answer["resp"] = run.resp
    return JSON(answer)


routes = [Route("/rpc", rpc, methods=["POST"])]
