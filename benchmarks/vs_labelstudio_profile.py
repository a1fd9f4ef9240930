"""Where Edna's time goes on the side-by-side's weakest rows: register, list all by 100, set a label.

In one process, on the embedded adapters, with the app the server runs (create_app over the same
config) driven through Flask's test client, so per request it counts everything but the socket
and the HTTP parsing of the WSGI server (compare with benchmarks/vs_labelstudio.py's figures over
HTTP for that share). Each step runs twice: once plain, for the ms per request without the
profiler's overhead, then under cProfile for the shares. The register step calls the same
`import_source` as `python -m service import-prefix` (cProfile sees its indexing; the hard links
are made on the placing thread beside it); the thumbnails the command makes next are timed apart.

    .venv/bin/python benchmarks/vs_labelstudio_profile.py [--items 1000] [--top 18]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vs_labelstudio import BUILD, ROOT, WORDS, make_images

from service import create_app
from service.adapters.identity.local import LocalUserStore
from service.domain import imports
from service.settings import Config

TENANT, USER, PASSWORD = "vsprof", "vsprof-editor", "profile-password-1"


def timed(label: str, count: int, work, top: int) -> None:
    """`work()` plain, then under cProfile; prints ms per unit and the heaviest functions per unit."""
    started = time.perf_counter()
    work()
    plain = (time.perf_counter() - started) * 1000 / count
    profile = cProfile.Profile()
    profile.enable()
    work()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = stats.total_tt * 1000 / count
    print(f"\n== {label}: {plain:.2f} ms per unit plain, {total:.2f} ms under cProfile ({count} units)")
    print(f"{'cumulative ms/unit':>18} {'own ms/unit':>11} {'calls/unit':>10}  function")
    for order, field in (("cumulative", 3), ("own", 2)):  # where the time is spent, then who spends it
        print(f"-- by {order} time")
        rows = sorted(stats.stats.items(), key=lambda kv, f=field: kv[1][f], reverse=True)
        shown = 0
        for (filename, line, name), (_, calls, own, cumulative, _) in rows:
            if "cProfile" in filename or name.startswith("<") or "site-packages/werkzeug/test" in filename:
                continue
            where = filename.removeprefix(f"{ROOT}/").split("site-packages/")[-1]
            per_unit = f"{cumulative * 1000 / count:>18.3f} {own * 1000 / count:>11.3f} {calls / count:>10.1f}"
            print(f"{per_unit}  {where}:{line} {name}")
            shown += 1
            if shown >= top:
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000)
    parser.add_argument("--label-calls", type=int, default=200)
    parser.add_argument("--top", type=int, default=18, help="functions shown per step")
    args = parser.parse_args()
    images = BUILD / "vs-labelstudio-images" / str(args.items)
    make_images(images, args.items)
    with tempfile.TemporaryDirectory(dir=BUILD) as data_dir:
        config = Config.from_env(data_dir=Path(data_dir))
        LocalUserStore(config.data_dir / "identity.db").add(USER, TENANT, "editor", PASSWORD, "")
        app = create_app(config)
        state = app.extensions["edna"]
        client = app.test_client()
        token = client.post("/api/auth/token", json={"username": USER, "password": PASSWORD}).json["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        images_made: list[str] = []

        def register() -> None:  # into a dataset of its own each time: a second import of one imports nothing
            into = client.post("/api/datasets", json={"name": f"profile {len(images_made)}"}, headers=headers)
            images_made.extend(imports.import_source(state.indexer, TENANT, into.json["id"], str(images))["images"])

        timed("register one object (import_source)", args.items, register, args.top)
        started = time.perf_counter()
        imports.make_previews(state.indexer, images_made, 2, lambda n: None)
        print(f"\nthumbnails of both imports: {time.perf_counter() - started:.2f} s on 2 threads")
        dataset = client.post("/api/datasets", json={"name": "listed", "label_classes": WORDS}, headers=headers)
        dataset = dataset.json["id"]
        imports.import_source(state.indexer, TENANT, dataset, str(images))

        items = f"/api/datasets/{dataset}/items"

        def list_all() -> None:
            cursor = None
            while True:
                page = client.get(items, query_string={"limit": 100} | ({"cursor": cursor} if cursor else {}),
                                  headers=headers).json  # fmt: skip
                cursor = page["next_cursor"]
                if not cursor:
                    return

        pages = -(-args.items // 100)
        list_all()
        timed("list a page of 100", pages, list_all, args.top)

        first = client.get(items, query_string={"limit": 1000}, headers=headers).json["items"]
        rng = random.Random(7)
        pairs = [(rng.choice(first)["id"], rng.choice(WORDS)) for _ in range(args.label_calls)]

        def label_all() -> None:
            for item_id, word in pairs:
                answer = client.put(f"{items}/{item_id}/label", json={"label": word}, headers=headers)
                assert answer.status_code == 200, answer.json

        timed("set a label (PUT .../label)", len(pairs), label_all, args.top)
        health = lambda: [client.get("/api/health") for _ in range(200)]  # noqa: E731
        timed("baseline: GET /api/health (no token, no storage)", 200, health, 6)
        state.close()


if __name__ == "__main__":
    main()
