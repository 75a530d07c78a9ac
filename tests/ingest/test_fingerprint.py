"""The fingerprint rule (ingest/fingerprint.py, docs/errors.md): occurrences of one bug
share a fingerprint whatever varies (numbers, ids, quoted values, URLs' variable parts,
line numbers, install paths, bundle hashes); different bugs do not."""

from __future__ import annotations

from logcycle.ingest.fingerprint import fingerprint, mask_message, parse_trace

PY = """Traceback (most recent call last):
  File "{root}/shop/views.py", line {a}, in checkout
    order = place(cart)
  File "{root}/shop/orders.py", line {b}, in place
    total = price(item)
  File "{root}/shop/pricing.py", line 12, in price
    return int(item["price"])
ValueError: invalid literal for int() with base 10: '{value}'
"""

JAVA = """java.lang.IllegalStateException: order {n} is closed
\tat com.shop.orders.OrderService.place(OrderService.java:{line})
\tat com.shop.web.CheckoutController.post(CheckoutController.java:88)
\tat jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
Caused by: java.sql.SQLException: closed
\tat org.h2.Driver.connect(Driver.java:59)
"""

DOTNET = """System.InvalidOperationException: Sequence contains no elements
   at System.Linq.ThrowHelper.ThrowNoElementsException()
   at Shop.Orders.OrderService.Place(Int32 id) in {root}\\Orders\\OrderService.cs:line {line}
   at Shop.Web.CheckoutController.Post(Cart cart) in {root}\\Web\\CheckoutController.cs:line 31
"""

NODE = """TypeError: Cannot read properties of undefined (reading 'id')
    at place (/srv/{root}/src/orders.js:{line}:17)
    at async checkout (/srv/{root}/src/routes/checkout.js:12:5)
    at /srv/{root}/node_modules/express/lib/router/layer.js:95:5
"""

BROWSER = """place@https://shop.example.com/static/app.{hash}.js:{line}:33
checkout@https://shop.example.com/static/app.{hash}.js:2:1100
"""


def test_masks_what_varies_in_messages() -> None:
    assert mask_message("user 42 not found") == "user <n> not found"
    assert mask_message("key 'abc-1' and \"x y\" missing") == "key <str> and <str> missing"
    assert mask_message("id 3f2b6c1e-0d4b-4c8a-9f1e-2a6b8c0d1e2f gone") == "id <uuid> gone"
    assert mask_message("at 0x7ffd1c and deadbeef42") == "at <hex> and <hex>"
    assert mask_message("mail to bob@example.com bounced") == "mail to <email> bounced"
    assert mask_message("GET https://api.example.com/v1/users/42/orders?page=3 failed") == \
        "GET https://api.example.com/v1/users/<*>/orders?<*> failed"
    assert mask_message("took 1.5 s  (limit 1,000)") == "took <n> s (limit <n>)"
    assert mask_message("Error404 in utf8 codec") == "Error404 in utf8 codec"  # part of a word


def test_python_trace() -> None:
    t = parse_trace(PY.format(root="/srv/app", a=10, b=20, value="x"))
    assert t.type == "ValueError"
    assert t.frames == ("shop/pricing.py:price", "shop/orders.py:place", "shop/views.py:checkout")
    one = fingerprint("shop", "bad price", PY.format(root="/srv/app", a=10, b=20, value="x"))
    other_deploy = PY.format(root="/opt/v2/app", a=11, b=25, value="12,5")
    assert fingerprint("shop", "bad price", other_deploy) == one
    renamed = PY.format(root="/srv/app", a=10, b=20, value="x").replace("in place", "in put")
    assert fingerprint("shop", "bad price", renamed) != one
    assert fingerprint("shop", "bad price", None) != one  # a trace tells more than a message


def test_java_trace_stops_at_caused_by() -> None:
    t = parse_trace(JAVA.format(n=1, line=42))
    assert t.type == "java.lang.IllegalStateException"
    assert t.frames == ("com.shop.orders.OrderService:place",
                        "com.shop.web.CheckoutController:post",
                        "jdk.internal.reflect.NativeMethodAccessorImpl:invoke0")
    assert fingerprint("shop", "closed", JAVA.format(n=1, line=42)) == \
        fingerprint("shop", "closed", JAVA.format(n=77, line=43))


def test_dotnet_trace() -> None:
    t = parse_trace(DOTNET.format(root="C:\\build\\1", line=40))
    assert t.type == "System.InvalidOperationException"
    assert t.frames == ("System.Linq.ThrowHelper:ThrowNoElementsException",
                        "Orders/OrderService.cs:Place", "Web/CheckoutController.cs:Post")
    assert fingerprint("shop", "x", DOTNET.format(root="C:\\build\\1", line=40)) == \
        fingerprint("shop", "x", DOTNET.format(root="D:\\agent\\_work\\7", line=41))


def test_javascript_traces() -> None:
    t = parse_trace(NODE.format(root="v1", line=3))
    assert t.type == "TypeError"
    assert t.frames == ("src/orders.js:place", "routes/checkout.js:checkout",
                        "router/layer.js:<anonymous>")
    assert fingerprint("web", "m", NODE.format(root="v1", line=3)) == \
        fingerprint("web", "m", NODE.format(root="v1", line=9))
    b = parse_trace(BROWSER.format(hash="3f9a1c2b", line=1))
    assert b.frames == ("static/app.js:place", "static/app.js:checkout")
    assert fingerprint("web", "m", BROWSER.format(hash="3f9a1c2b", line=1)) == \
        fingerprint("web", "m", BROWSER.format(hash="77aa00ff", line=1))


def test_type_from_message_and_module() -> None:
    a = fingerprint("shop", "KeyError: 'sku-1'", None)
    assert a == fingerprint("shop", "KeyError: 'sku-2'", None)
    assert a != fingerprint("shop", "IndexError: 'sku-1'", None)
    assert a != fingerprint("billing", "KeyError: 'sku-1'", None)
    assert parse_trace("no trace here\njust text").frames == ()


def test_long_messages_are_cut_and_hostile_ones_are_fast() -> None:
    base = "x" * 1000
    assert fingerprint("m", base + "a", None) == fingerprint("m", base + "b", None)
    hostile = "a" * 60_000 + "@" + "." * 5000
    assert len(fingerprint("m", hostile, hostile)) == 16
