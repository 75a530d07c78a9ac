"""An over-limit body from a client that sends all of it before it reads (urllib, with
``Connection: close``) gets the 413, not a reset (issue 16)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import ADMIN, ServerProcess

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("chunked", [False, True])
def test_a_9_mb_post_from_urllib_gets_the_413(server_factory: Any, chunked: bool) -> None:
    s: ServerProcess = server_factory().start()
    body = b"[" + b" " * (9 * 1024 * 1024) + b"]"
    data: Any = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) if chunked \
        else body
    for _ in range(3):
        # S310: the URL is our own server's http://127.0.0.1 URL, not user input.
        req = urllib.request.Request(s.url + "/api/v1/events", data=data, method="POST",  # noqa: S310
                                     headers={"Authorization": ADMIN,
                                              "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)  # noqa: S310
        assert err.value.code == 413
        assert b"8388608" in err.value.read()
        if chunked:
            data = iter([body[i:i + 65536] for i in range(0, len(body), 65536)])
