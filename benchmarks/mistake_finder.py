"""The mistake finder on the demo: how many of the planted wrong labels the first 100 of the review list hold.

Starts a real `python -m service run` with the demo (digits with `service.demo.planted_mistakes()`,
two models whose jobs start at seed time), waits for both jobs' predictions, then reads
`GET /api/datasets/{d}/mistakes` (every model, then each model alone). The baseline, from the same
run, is the labelled items in a random order: the share of planted labels its first 100 hold.

    .venv/bin/python benchmarks/mistake_finder.py [--top 100] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from item_requests import start_server

from service.client import EdnaClient
from service.demo import DATASET, planted_mistakes


def ready(client: EdnaClient, deadline: float) -> dict:
    """The demo dataset once every demo model's predictions cover all of its items."""
    while time.monotonic() < deadline:
        dataset = next((d for d in client.pages("/api/datasets") if d["name"] == DATASET), None)
        if dataset:
            dataset = client.call("GET", f"/api/datasets/{dataset['id']}")
            covered = [p for p in dataset["predictions"] if p["items"] == dataset["item_count"]]
            if dataset["item_count"] and len(covered) >= 2:
                return dataset
        time.sleep(1)
    raise SystemExit("the demo's jobs did not finish in time")


def share(ids: list[str], planted: set[str]) -> float:
    return len(planted & set(ids)) / len(planted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edna-mistakes-") as tmp:
        data_dir = Path(tmp)
        proc, base = start_server(data_dir, demo=True)
        try:
            deadline = time.monotonic() + args.timeout
            while not (data_dir / "demo-credentials.json").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            client = EdnaClient(base)
            client.login("alice", json.loads((data_dir / "demo-credentials.json").read_text())["alice"])
            dataset = ready(client, deadline)
            items = list(client.pages(f"/api/datasets/{dataset['id']}/items", limit=1000))
            by_name = {i["filename"]: i["id"] for i in items}
            planted = {by_name[name] for name in planted_mistakes()}
            path = f"/api/datasets/{dataset['id']}/mistakes"
            started = time.perf_counter()
            ranked = [r["item_id"] for r in client.call("GET", path, params={"limit": args.top})["items"]]
            seconds = time.perf_counter() - started
            shuffled = [i["id"] for i in items if i["label"] is not None]
            random.Random(args.seed).shuffle(shuffled)
            baseline = share(shuffled[: args.top], planted)
            found = share(ranked, planted)
            print(f"planted wrong labels: {len(planted)} of {len(items)} digits")
            print(f"first {args.top} of the review list (every model): {found:.1%} found in {seconds * 1000:.0f} ms")
            for model in dataset["predictions"]:
                alone = client.call("GET", path, params={"limit": args.top, "model": model["model_id"]})["items"]
                print(f"  {model['model_name']} alone: {share([r['item_id'] for r in alone], planted):.1%}")
            print(f"random order of the labelled items (baseline): {baseline:.1%}")
            print(f"ratio: {found / baseline:.1f}x the baseline" if baseline else "ratio: baseline found none")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
