"""What the web app's thumbnail grid does with 100,000 items, against 1,000 measured in the same run.

Prepares a data dir (benchmarks/grid_data.py: one tenant, a dataset of `--items` PNG items and one
of `--baseline` items, each with its object and thumbnail, indexed with upsert_many) and checks it
through a real `python -m service run --no-demo`: a page of 50 items, the dataset's item_count, a
thumbnail URL that answers 200 with image bytes. Then, for each dataset in its own fresh headless
Chromium context (1280x800), it signs in through the UI's form as a user added with
`python -m service users add`, and measures on `#/datasets/<id>`:

- time to first thumbnails: from setting the route until every `.cell img` inside the viewport is
  `complete` with `naturalWidth > 0` (polled in the page every frame); again on a second visit;
- DOM size: `.cell` elements (and all elements) in the DOM, then the most seen during the scroll;
- scroll: `#scroller` moved `--step` px per animation frame for `--scroll-seconds` (or until the
  bottom of a fully loaded list): frame-to-frame intervals (p50/p95/p99, share over 33 ms),
  long tasks, items loaded, `/items?` page requests and thumbnail requests;
- fling: on the second visit, scrollTop set to the bottom every frame for `--fling-seconds`.

Times are printed, never asserted (machines are shared); the last column is the ratio
large/baseline. The server is always stopped; a global `--max-seconds` bounds the run.

    .venv/bin/python benchmarks/grid_100k.py [--items 100000] [--baseline 1000] [--data-dir DIR]

A `--data-dir` that holds datasets of the same sizes from an earlier run is reused as it is.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import requests
from bounds import Deadline
from grid_data import TENANT, check_like_indexer, prepare

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
USER = f"grid-viewer-{secrets.token_hex(3)}"  # a new one per run: a reused data dir keeps the old ones
JANK_MS = 33.0  # about two 60 Hz frames: at least one frame was visibly missed
WAIT_MS = 60_000  # longest wait for a page state

# Every `.cell img` inside both the viewport and the scroller, all decoded: the elapsed ms, else false.
FIRST_THUMBNAILS = """() => {
  const scroller = document.querySelector("#scroller");
  if (!scroller) return false;
  const box = scroller.getBoundingClientRect();
  const top = Math.max(box.top, 0), bottom = Math.min(box.bottom, innerHeight);
  const shown = [...document.querySelectorAll(".cell img")].filter((img) => {
    const r = img.getBoundingClientRect();
    return r.bottom > top && r.top < bottom && r.right > box.left && r.left < box.right;
  });
  if (!shown.length || !shown.every((img) => img.complete && img.naturalWidth > 0)) return false;
  return { ms: performance.now() - window.__gridStart, shown: shown.length };
}"""

START_ROUTE = """(hash) => { window.__gridStart = performance.now(); location.hash = hash; }"""

DOM = """() => ({
  cells: document.querySelectorAll(".cell").length,
  elements: document.getElementsByTagName("*").length,
  count: document.querySelector("#count")?.textContent ?? "",
  heap: performance.memory ? performance.memory.usedJSHeapSize : 0,
})"""

# Scroll by `step` px per frame (or to the bottom every frame when `fling`), recording frame intervals.
SCROLL = """async ({ step, seconds, fling }) => {
  const scroller = document.querySelector("#scroller");
  const loaded = () => Number((document.querySelector("#count")?.textContent ?? "").replace(/[^0-9]/g, "")) || 0;
  const complete = () => !(document.querySelector("#count")?.textContent ?? "+").includes("+");
  const longTasks = [];
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
  observer.observe({ type: "longtask", buffered: false });
  const frames = [];
  let created = 0;
  const count = (m) => m.addedNodes.forEach((n) => (created += n.nodeType === 1));
  const mutations = new MutationObserver((list) => list.forEach(count));
  mutations.observe(document.querySelector("#canvas"), { childList: true });
  let maxCells = 0, last = null, bottomed = false;
  const startLoaded = loaded(), start = performance.now();
  await new Promise((resolve) => {
    function tick(now) {
      if (last !== null) frames.push(now - last);
      last = now;
      maxCells = Math.max(maxCells, document.querySelectorAll(".cell").length);
      const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1;
      if (now - start >= seconds * 1000 || (!fling && atBottom && complete())) {
        bottomed = atBottom && complete();
        resolve();
        return;
      }
      scroller.scrollTop = fling ? scroller.scrollHeight : scroller.scrollTop + step;
      requestAnimationFrame(tick);
    }
    requestAnimationFrame(tick);
  });
  await new Promise((r) => setTimeout(r, 100));  // let the last long task be reported
  observer.disconnect();
  mutations.disconnect();
  return {
    frames, created, maxCells, longTasks, bottomed, seconds: (performance.now() - start) / 1000,
    startLoaded, loaded: loaded(), cells: document.querySelectorAll(".cell").length,
    scrollTop: scroller.scrollTop,
  };
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the server -----------------------------------------------------------------------------------


@contextmanager
def edna_server(data_dir: Path, log_path: Path):
    """`python -m service run --no-demo` on a free port; always stopped, its log tail shown if it died."""
    port = free_port()
    command = [sys.executable, "-m", "service", "run", "--no-demo", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, process, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_up(base_url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(base_url + "/api/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"no /api/health after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def add_user(data_dir: Path, password: str) -> None:
    """The CLI, as an operator adds a user (a viewer: the grid is what a viewer sees)."""
    command = [sys.executable, "-m", "service", "users", "add", USER, "--tenant", TENANT, "--role", "viewer"]
    done = subprocess.run(
        [*command, "--password", password, "--data-dir", str(data_dir)], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"users add failed: {done.stderr.strip()}")


def check_server(base_url: str, password: str, datasets: dict[int, str]) -> None:
    """Through HTTP, as any client: a page of 50, the item_count, and a thumbnail URL that answers."""
    token = requests.post(
        base_url + "/api/auth/token", json={"username": USER, "password": password}, timeout=10
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    for size, dataset_id in datasets.items():
        page = requests.get(f"{base_url}/api/datasets/{dataset_id}/items", headers=auth, timeout=30).json()
        count = requests.get(f"{base_url}/api/datasets/{dataset_id}", headers=auth, timeout=30).json()["item_count"]
        thumb = requests.get(base_url + page["items"][0]["thumbnail_url"], timeout=30)
        problems = []
        if len(page["items"]) != 50 or not page["next_cursor"]:
            problems.append(f"{len(page['items'])} items in the first page (expected 50 and a next_cursor)")
        if count != size:
            problems.append(f"item_count {count}")
        if thumb.status_code != 200 or thumb.headers.get("Content-Type") != "image/webp" or not thumb.content:
            problems.append(f"thumbnail answered {thumb.status_code} {thumb.headers.get('Content-Type')}")
        if problems:
            raise SystemExit(f"dataset of {size:,}: " + "; ".join(problems))
        print(
            f"  server check {size:>7,}: 50 items listed, item_count {count:,}, "
            f"thumbnail 200 image/webp ({len(thumb.content)} bytes)"
        )


# -- the browser ----------------------------------------------------------------------------------


class Watch:
    """What one page asked for, per phase and visit, and what went wrong (console, failures, >= 400)."""

    def __init__(self, page) -> None:
        self.phase, self.visit = "sign-in", 0
        self.requests: list[tuple[str, int, str, str]] = []  # (phase, visit, kind, url)
        self.items_ms: list[tuple[str, float]] = []  # (phase, ms from asking to the last byte)
        self.aborted: dict[str, int] = {}
        self.in_flight = 0
        self.last_activity = time.monotonic()
        self.problems: list[str] = []
        page.on("request", self._request)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught exception: {error}"))

    @staticmethod
    def kind(url: str) -> str:
        return "items" if "/items?" in url else "thumbs" if "/api/blobs/" in url else "other"

    def _request(self, request) -> None:
        self.requests.append((self.phase, self.visit, self.kind(request.url), request.url))
        self.in_flight += 1
        self.last_activity = time.monotonic()

    def _done(self) -> None:
        self.in_flight -= 1
        self.last_activity = time.monotonic()

    def _finished(self, request) -> None:
        self._done()
        if self.kind(request.url) == "items":
            self.items_ms.append((self.phase, request.timing["responseEnd"]))

    def _failed(self, request) -> None:
        self._done()
        if request.failure == "net::ERR_ABORTED":
            kind = self.kind(request.url)
            self.aborted[kind] = self.aborted.get(kind, 0) + 1
        else:
            self.problems.append(f"request failed: {request.url[:100]}: {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.request.method} {response.url[:100]}")

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text[:200]}")

    def count(self, phase: str, kind: str) -> int:
        return sum(1 for p, _, k, _ in self.requests if p == phase and k == kind)

    def page_ms(self, phase: str) -> list[float]:
        return [ms for p, ms in self.items_ms if p == phase]

    def repeated_pages(self) -> int:
        """Item pages asked for again within one visit (the same cursor twice)."""
        pages = [(v, u) for _, v, k, u in self.requests if k == "items"]
        return len(pages) - len(set(pages))

    def settle(self, page, quiet: float = 0.5, limit: float = 20.0) -> None:
        """Wait (bounded) until no request has been open or started for `quiet` s."""
        stop = time.monotonic() + limit
        while time.monotonic() < stop:
            if self.in_flight <= 0 and time.monotonic() - self.last_activity > quiet:
                return
            page.wait_for_timeout(100)


def visit(page, watch: Watch, dataset_id: str) -> dict:
    """Open the grid (timed from setting the route) and wait for the thumbnails in the viewport."""
    watch.visit += 1
    page.evaluate(START_ROUTE, f"#/datasets/{dataset_id}")
    done = page.wait_for_function(FIRST_THUMBNAILS, polling="raf", timeout=WAIT_MS).json_value()
    return {**done, **page.evaluate(DOM)}


def leave(page, watch: Watch) -> None:
    """Back to the datasets list, then quiet, so the next visit starts from an empty grid."""
    page.evaluate("() => { location.hash = '#/datasets'; }")
    page.wait_for_function("() => !document.querySelector('#scroller') && document.querySelector('table')")
    watch.settle(page)


def frame_stats(prefix: str, run: dict) -> dict:
    frames = run["frames"]
    return {
        f"{prefix} seconds": run["seconds"],
        f"{prefix} frames": len(frames),
        f"{prefix} frame p50 ms": statistics.median(frames) if frames else float("nan"),
        f"{prefix} frame p95 ms": percentile(frames, 0.95),
        f"{prefix} frame p99 ms": percentile(frames, 0.99),
        f"{prefix} frame max ms": max(frames, default=float("nan")),
        f"{prefix} janky (>{JANK_MS:.0f} ms) %": 100 * sum(f > JANK_MS for f in frames) / len(frames)
        if frames
        else float("nan"),
        f"{prefix} long tasks": len(run["longTasks"]),
        f"{prefix} long tasks total ms": sum(run["longTasks"]),
        f"{prefix} items loaded during": run["loaded"] - run["startLoaded"],
        f"{prefix} items loaded at end": run["loaded"],
        f"{prefix} max .cell in DOM": run["maxCells"],
        f"{prefix} .cell in DOM at end": run["cells"],
        f"{prefix} .cell elements created": run["created"],
    }


def measure(browser, base_url: str, password: str, dataset_id: str, args, deadline: Deadline) -> tuple[dict, Watch]:
    """One dataset in a fresh context: sign in, first visit, scroll, more visits, fling."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    watch = Watch(page)
    out: dict = {}
    shots = args.screenshots

    def scroll(phase: str, fling: bool) -> None:
        watch.phase = phase
        seconds = args.fling_seconds if fling else args.scroll_seconds
        run = page.evaluate(SCROLL, {"step": 0 if fling else args.step, "seconds": seconds, "fling": fling})
        out.update(frame_stats(f"{phase}:", run))
        if not fling:
            out[f"{phase}: reached the end"] = "yes" if run["bottomed"] else "no"
        out[f"{phase}: items pages requested"] = watch.count(phase, "items")
        out[f"{phase}: thumbnails requested"] = watch.count(phase, "thumbs")
        pages = watch.page_ms(phase)
        out[f"{phase}: items page request ms p50"] = statistics.median(pages) if pages else float("nan")
        out[f"{phase}: items page request ms max"] = max(pages, default=float("nan"))
        dom = page.evaluate(DOM)
        out[f"{phase}: elements in DOM at end"] = dom["elements"]
        out[f"{phase}: JS heap MB at end"] = dom["heap"] / 1e6
        if shots:
            page.screenshot(path=str(shots / f"grid-{dataset_id}-{phase}.png"))

    try:
        page.goto("/")
        page.get_by_label("User name").fill(USER)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.locator(f'a[href="#/datasets/{dataset_id}"]').wait_for(timeout=WAIT_MS)
        watch.settle(page)

        watch.phase = "first"
        first = visit(page, watch, dataset_id)
        out["time to first thumbnails ms"] = first["ms"]
        out["thumbnails in viewport"] = first["shown"]
        out[".cell in DOM at first thumbnails"] = first["cells"]
        out["elements in DOM at first thumbnails"] = first["elements"]
        out["items pages requested (first)"] = watch.count("first", "items")
        out["items page request ms (first)"] = max(watch.page_ms("first"), default=float("nan"))
        if shots:
            page.screenshot(path=str(shots / f"grid-{dataset_id}-first.png"))
        if deadline.passed():
            return out, watch
        scroll("scroll", fling=False)

        again = []
        for _ in range(max(1, args.visits - 1)):
            if deadline.passed():
                return out, watch
            watch.phase = "leave"
            leave(page, watch)
            watch.phase = "again"
            again.append(visit(page, watch, dataset_id)["ms"])
        out[f"time to first thumbnails, next {len(again)} visits, median ms"] = statistics.median(again)
        scroll("fling", fling=True)
        out["items pages requested twice in a visit"] = watch.repeated_pages()
        out["thumbnail requests aborted"] = watch.aborted.get("thumbs", 0)
    finally:
        context.close()
    return out, watch


# -- the report -----------------------------------------------------------------------------------


def show(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or value != value:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def report(results: dict[int, dict], baseline: int, items: int) -> None:
    small, big = results.get(baseline, {}), results.get(items, {})
    print()
    print(f"{'measure':50} {f'{baseline:,} items':>14} {f'{items:,} items':>14} {'ratio':>8}")
    for name in dict.fromkeys([*small, *big]):
        a, b = small.get(name), big.get(name)
        ratio = "-"
        if isinstance(a, int | float) and isinstance(b, int | float) and a:
            ratio = f"{b / a:.2f}x"
        print(f"{name:50} {show(a):>14} {show(b):>14} {ratio:>8}")
    print()
    warm = next((n for n in big if n.startswith("time to first thumbnails, next")), "")
    for name in ("time to first thumbnails ms", warm, "scroll: frame p95 ms", "fling: frame p95 ms"):
        a, b = small.get(name), big.get(name)
        if a and b:
            print(f"ratio {items:,}/{baseline:,}, {name}: {b / a:.2f}x ({b:,.1f} vs {a:,.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items in the large dataset")
    parser.add_argument("--baseline", type=int, default=1_000, help="items in the baseline dataset")
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the prepared data here (default: a temp dir)")
    parser.add_argument("--workers", type=int, default=16, help="threads writing objects while preparing")
    parser.add_argument("--step", type=int, default=600, help="px scrolled per animation frame")
    parser.add_argument("--scroll-seconds", type=float, default=10.0)
    parser.add_argument("--fling-seconds", type=float, default=5.0)
    parser.add_argument("--visits", type=int, default=4, help="visits timed per dataset (the first one cold)")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot per dataset and phase here")
    parser.add_argument("--max-seconds", type=float, default=1500.0, help="stop early (with a warning) past this")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    deadline = Deadline(args.max_seconds)
    with tempfile.TemporaryDirectory(prefix="grid-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        print(f"preparing {data_dir} (tenant {TENANT}):")
        started = time.perf_counter()
        datasets = prepare(data_dir, [args.baseline, args.items], args.workers, deadline)
        for dataset_id in datasets.values():
            check_like_indexer(data_dir, dataset_id, Path(tmp))
        print(f"  preparation took {time.perf_counter() - started:.1f} s; a reindex would write the same records")
        password = secrets.token_urlsafe(12)
        results: dict[int, dict] = {}
        problems: dict[int, list[str]] = {}
        with edna_server(data_dir, Path(tmp) / "server.log") as base_url:
            add_user(data_dir, password)
            check_server(base_url, password, datasets)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=["--enable-precise-memory-info"]
                )
                try:
                    for size, dataset_id in datasets.items():
                        if deadline.passed():
                            break
                        print(f"  measuring the grid of {size:,} items ...", flush=True)
                        results[size], watch = measure(browser, base_url, password, dataset_id, args, deadline)
                        problems[size] = watch.problems
                finally:
                    browser.close()
    report(results, args.baseline, args.items)
    for size, found in problems.items():
        if found:
            print(f"\npage problems with {size:,} items ({len(found)}):")
            for line in list(dict.fromkeys(found))[:15]:
                print(f"  {line}")
    print(
        f"\nreproduce: .venv/bin/python benchmarks/grid_100k.py --items {args.items} --baseline {args.baseline} "
        f"--visits {args.visits} --step {args.step} --scroll-seconds {args.scroll_seconds:g} "
        f"--fling-seconds {args.fling_seconds:g}"
    )


if __name__ == "__main__":
    main()
