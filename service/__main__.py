"""python -m service run | users add | seed-demo | reindex | import-prefix | usage | quota"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from pathlib import Path

from service.settings import Config
from service.vocabulary.errors import DomainError

THUMBNAIL_WAIT_SECONDS = 600  # a CLI command waits this long for the thumbnails it queued before it exits


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(data_dir=args.data_dir)


def _serve(app, host: str, port: int):
    """A threaded WSGI server; port 0 picks a free one."""
    from werkzeug.serving import make_server

    return make_server(host, port, app, threaded=True)


def cmd_run(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.workers is not None:
        config = config.replace(web_workers=args.workers)
    if not args.dev:
        from service import server

        return server.serve(config, args.host, args.port, not args.no_demo, _announce)
    from service.app import create_app
    from service.server import start_background

    app = create_app(config)
    httpd = _serve(app, args.host, args.port)
    base_url = f"http://{args.host}:{httpd.server_port}"
    _announce(f"{base_url}  (development server; data in {config.data_dir.resolve()}; Ctrl-C stops)")
    state = app.extensions["edna"]
    start_background(state, base_url, not args.no_demo)
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()
    state.close()
    return 0


def _announce(where: str) -> None:
    print(f"Edna is running on {where}", flush=True)


def cmd_users_add(args: argparse.Namespace) -> int:
    from service.adapters.identity.local import LocalUserStore

    config = _config(args)
    LocalUserStore(config.data_dir / "identity.db").add(
        args.username, args.tenant, args.role, args.password, args.email
    )
    print(f"user {args.username} added to tenant {args.tenant} as {args.role}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from service.app import create_app
    from service.demo import seed

    config = _config(args)
    app = create_app(config)
    server = _serve(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        seed(f"http://127.0.0.1:{server.server_port}", app.extensions["edna"].adapters.users, config.data_dir)
        app.extensions["edna"].wait_for_thumbnails(THUMBNAIL_WAIT_SECONDS)
    finally:
        server.shutdown()
    return 0


def _workbench(args: argparse.Namespace):
    from service.bootstrap import build_adapters
    from service.edna import Edna

    config = _config(args)
    return Edna.build(config, build_adapters(config))


def _finish_thumbnails(state) -> None:
    """Let the local thumbnail workers make what the command queued before the process exits."""
    if not state.wait_for_thumbnails(THUMBNAIL_WAIT_SECONDS):
        print("thumbnails still queued; run reindex again to make them", file=sys.stderr)
    state.close()


def cmd_reindex(args: argparse.Namespace) -> int:
    from service.domain.rebuild import rebuild
    from service.progress import Progress

    state = _workbench(args)
    progress = Progress("reindex")
    totals = rebuild(
        state.indexer, state.adapters.index, args.tenant, progress.step, state.predictions, state.embeddings
    )
    _finish_thumbnails(state)
    progress.done()
    print(
        f"{totals['tenants']} tenant(s), {totals['items']} items indexed,"
        f" {totals['forgotten']} stale entries forgotten, {totals['predictions']} predictions attached,"
        f" {totals['vectors']} embeddings loaded"
    )
    return 0


def cmd_import_prefix(args: argparse.Namespace) -> int:
    from service.domain.imports import import_source, make_previews
    from service.domain.rebuild import child_names
    from service.progress import Progress
    from service.vocabulary import layout

    state = _workbench(args)
    tenants = [args.tenant] if args.tenant else child_names(state.blobs, layout.TENANTS)
    tenant = next((t for t in tenants if state.blobs.head(layout.dataset_record(t, args.dataset))), None)
    if tenant is None:
        raise ValueError(f"no dataset {args.dataset}" + (f" in tenant {args.tenant}" if args.tenant else ""))
    progress = Progress("import")
    totals = import_source(state.indexer, tenant, args.dataset, args.source, progress.step)
    progress.done()
    for reason in totals["skipped"]:
        print(f"skipped {reason}", file=sys.stderr)
    already = f" ({totals['already']} imported before, left as they are)" if totals["already"] else ""
    print(f"{totals['imported']} items imported into dataset {args.dataset} of tenant {tenant}{already}", flush=True)
    if state.config.thumbnail_queue_url:  # the thumbnailer Lambda makes them
        for key in totals["images"]:
            state.indexer.thumbnails.submit(key)
    elif totals["images"]:  # the items are listed already; their previews follow
        previews = Progress("previews")
        make_previews(state.indexer, totals["images"], os.cpu_count() or 1, previews.step)
        previews.done()
    state.close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m service", description="Edna's service and operator commands.")
    sub = root.add_subparsers(dest="command", required=True)

    def with_data_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-dir", type=Path, help="data directory (default: EDNA_DATA_DIR or .edna)")
        return p

    run = with_data_dir(sub.add_parser("run", help="serve the API and web UI"))
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=5000)
    run.add_argument("--no-demo", action="store_true", help="do not seed the demo tenant and dataset")
    run.add_argument("--workers", type=int, help="worker processes (default: EDNA_WEB_WORKERS, else one per core)")
    run.add_argument("--dev", action="store_true", help="Werkzeug's development server, one process (debugging)")
    run.set_defaults(func=cmd_run)

    users = sub.add_parser("users", help="manage local users").add_subparsers(dest="action", required=True)
    add = with_data_dir(users.add_parser("add", help="add a local user"))
    add.add_argument("username")
    add.add_argument("--tenant", required=True)
    add.add_argument("--role", required=True, choices=["viewer", "labeler", "editor", "admin"])
    add.add_argument("--password", required=True)
    add.add_argument("--email", default="")
    add.set_defaults(func=cmd_users_add)

    demo = with_data_dir(sub.add_parser("seed-demo", help="create the demo tenants, users and digits dataset"))
    demo.set_defaults(func=cmd_seed_demo)

    reindex = with_data_dir(sub.add_parser("reindex", help="rebuild the search index from storage alone"))
    reindex.add_argument("--tenant", help="only this tenant (default: every tenant)")
    reindex.set_defaults(func=cmd_reindex)

    imports = with_data_dir(sub.add_parser("import-prefix", help="register objects already in storage as items"))
    imports.add_argument("--dataset", required=True, help="id of the dataset that receives the items")
    imports.add_argument("--tenant", help="the dataset's tenant (default: found from the dataset id)")
    imports.add_argument("source", help="s3://bucket/prefix, or a local file or directory")
    imports.set_defaults(func=cmd_import_prefix)

    usage = with_data_dir(sub.add_parser("usage", help="a tenant's usage over a period (for billing)"))
    usage.add_argument("--tenant", required=True)
    usage.add_argument("--from", dest="start", help="a date or ISO time (default: the 1st of this month)")
    usage.add_argument("--to", dest="end", help="a date or ISO time, exclusive (default: now)")
    usage.add_argument("--csv", action="store_true", help="one CSV header and row, for billing tools")
    usage.set_defaults(func=cmd_usage)

    quota = sub.add_parser("quota", help="a tenant's quotas").add_subparsers(dest="action", required=True)
    show = with_data_dir(quota.add_parser("show", help="the quotas in force for a tenant"))
    show.add_argument("--tenant", required=True)
    show.set_defaults(func=cmd_quota)
    change = with_data_dir(quota.add_parser("set", help="set a tenant's own quotas (the rest keep the defaults)"))
    change.add_argument("--tenant", required=True)
    change.add_argument("--max-items", type=int)
    change.add_argument("--max-bytes", type=int)
    change.add_argument("--max-concurrent-jobs", type=int)
    change.add_argument("--requests-per-minute", type=int)
    change.add_argument("--default", action="append", metavar="NAME", help="back to the default (repeatable)")
    change.set_defaults(func=cmd_quota)
    return root


def _usage_rows(report: dict) -> list[tuple[str, object]]:
    return [
        ("requests", report["requests"]["total"]),
        *((f"requests {c}", report["requests"][c]) for c in ("2xx", "3xx", "4xx", "5xx")),
        ("uploaded items", report["uploads"]["items"]),
        ("uploaded bytes", report["uploads"]["bytes"]),
        ("stored items", report["stored"]["items"]),
        ("stored bytes", report["stored"]["bytes"]),
        ("inference jobs", report["inference"]["jobs"]),
        ("inference items", report["inference"]["items"]),
        ("inference seconds", report["inference"]["seconds"]),
    ]


def cmd_usage(args: argparse.Namespace) -> int:
    import csv

    from service.domain import csv_cells
    from service.domain.usage import period

    state = _workbench(args)
    try:
        start, end = period(args.start, args.end)
        report = state.usage.report(args.tenant, start, end)
    finally:
        state.close()
    rows = _usage_rows(report)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["tenant", "from", "to", *(name.replace(" ", "_") for name, _ in rows)])
        writer.writerow([csv_cells.cell(report["tenant"]), report["from"], report["to"], *(v for _, v in rows)])
        return 0
    print(f"usage of tenant {report['tenant']} from {report['from']} to {report['to']}")
    for name, value in rows:
        print(f"  {name:18} {value:>16,}")
    return 0


def cmd_quota(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    state = _workbench(args)
    try:
        if args.action == "set":
            changes = {name: getattr(args, name) for name in ("max_items", "max_bytes", "max_concurrent_jobs")}
            changes["requests_per_minute"] = args.requests_per_minute
            changes = {k: v for k, v in changes.items() if v is not None}
            changes.update({name: None for name in args.default or []})
            if not changes:
                raise ValueError("name at least one quota to set, or --default NAME to go back to the default")
            quotas = state.quotas.set(args.tenant, changes)
        else:
            quotas = state.quotas.limits(args.tenant)
        overrides = state.quotas.overrides(args.tenant)
    finally:
        state.close()
    print(f"quotas of tenant {args.tenant}")
    for name, value in asdict(quotas).items():
        print(f"  {name:22} {value:>16,}  {'(set for this tenant)' if name in overrides else '(default)'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.umask(0o077)  # every file the server or a command creates in the data dir is the owner's alone
    logging.basicConfig(level=Config.from_env().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (DomainError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
