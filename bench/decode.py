"""The decoder's valid path, this checkout beside another version, in one run.

    .venv/bin/python bench/decode.py [--before SRC] [--rounds 7] [--batch 1000]

Decodes batches of synthetic events (~400 bytes of JSON each; JSON array and NDJSON)
with :class:`logcycle.ingest.decode.BatchDecoder` in a child process per version,
alternating the versions round by round (the machine is shared: interleaving spreads
its noise over both), and prints the median µs per event of each, beside
``orjson.loads`` of the same body (the physical floor of parsing it at all).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import event

CHILD = r"""
import sys, time, json, orjson
from logcycle.ingest.decode import BatchDecoder
array, ndjson, n = sys.stdin.buffer.read().split(b"\0")
n = int(n)
d = BatchDecoder(max_future_ms=172_800_000, max_batch=10_000)
def best(fn, body):
    times = []
    for _ in range(20):
        t = time.perf_counter(); fn(body); times.append(time.perf_counter() - t)
    return min(times) / n * 1e6
out = {"json": best(lambda b: d.decode_json(b, now_ms=2_000_000_000_000), array),
       "ndjson": best(lambda b: d.decode_ndjson(b, now_ms=2_000_000_000_000), ndjson),
       "orjson": best(orjson.loads, array)}
print(json.dumps(out))
"""


def one(src: str | None, payload: bytes) -> dict[str, float]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    r = subprocess.run([sys.executable, "-c", CHILD], input=payload, capture_output=True,
                       env=env, check=True, timeout=300)
    return dict(json.loads(r.stdout))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default=None, help="src directory of the other version")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(1)
    events = [event(rng, i) for i in range(args.batch)]
    array = json.dumps(events).encode()
    ndjson = b"\n".join(json.dumps(e).encode() for e in events)
    payload = b"\0".join([array, ndjson, str(args.batch).encode()])
    versions = {"this checkout": None, **({"before": args.before} if args.before else {})}
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in versions}
    for _ in range(args.rounds):
        for name, src in versions.items():
            runs[name].append(one(src, payload))
    print(f"decode, µs per event (median of {args.rounds} rounds, best of 20 each; "
          f"batches of {args.batch})")
    print("| version | JSON array | NDJSON | orjson.loads of the array (floor) |")
    print("| --- | --- | --- | --- |")
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("json", "ndjson", "orjson")}
        print(f"| {name} | {med['json']:.2f} | {med['ndjson']:.2f} | {med['orjson']:.2f} |")


if __name__ == "__main__":
    main()
