"""The `edna` command line. Exit status 0 only when everything asked for succeeded; errors are one line each."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import requests

from edna_client.api import Edna
from edna_client.labels_csv import import_labels
from edna_client.records import Comparison, Job
from edna_client.session import EdnaError

MAX_LISTED_FAILURES = 20  # a folder of broken files prints this many lines, then a count


def _common(default: object) -> argparse.ArgumentParser:
    """The connection flags, accepted before and after the command (`default` SUPPRESS after it, so a
    subcommand's unset flag never overwrites one given before it)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection (default: the EDNA_* environment variables)")
    group.add_argument("--url", default=default, help="Edna's address (EDNA_URL)")
    group.add_argument("--username", default=default, help="a member's user name (EDNA_USERNAME)")
    group.add_argument("--password", default=default, help="that member's password (EDNA_PASSWORD)")
    group.add_argument("--client-id", default=default, help="a service account's id (EDNA_CLIENT_ID)")
    group.add_argument("--client-secret", default=default, help="its secret (EDNA_CLIENT_SECRET)")
    group.add_argument(
        "--token-url", default=default, help="an OAuth2 token endpoint for service accounts (EDNA_TOKEN_URL)"
    )
    return common


def parser() -> argparse.ArgumentParser:
    common = _common(argparse.SUPPRESS)
    top = argparse.ArgumentParser(prog="edna", description="Edna from the command line.", parents=[_common("")])
    commands = top.add_subparsers(dest="command", required=True)

    datasets = commands.add_parser("datasets", help="datasets").add_subparsers(dest="action", required=True)
    datasets.add_parser("list", parents=[common], help="list datasets (id, items, name)")

    push = commands.add_parser("push", parents=[common], help="upload a folder into a dataset")
    push.add_argument("folder", type=Path)
    push.add_argument("--dataset", required=True, help="id or name (made when missing)")
    push.add_argument("--workers", type=int, default=8, help="parallel uploads (default 8)")

    pull = commands.add_parser("pull", parents=[common], help="download a dataset or snapshot into a folder")
    pull.add_argument("folder", type=Path)
    pull.add_argument("--dataset", required=True, help="id or name")
    pull.add_argument("--snapshot", default="", help="a snapshot id: its frozen items and bytes")
    pull.add_argument("--workers", type=int, default=8, help="parallel downloads (default 8)")

    labels = commands.add_parser("labels", help="labels").add_subparsers(dest="action", required=True)
    labels_import = labels.add_parser("import", parents=[common], help="labels and tags from a CSV")
    labels_import.add_argument("file", type=Path)
    labels_import.add_argument("--dataset", required=True, help="id or name")

    export = commands.add_parser("export", parents=[common], help="a dataset's manifest")
    export.add_argument("--dataset", required=True, help="id or name")
    export.add_argument("--format", required=True, choices=["csv", "jsonl", "coco"])
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")

    jobs = commands.add_parser("jobs", help="inference jobs").add_subparsers(dest="action", required=True)
    job_start = jobs.add_parser("start", parents=[common], help="run a model over a dataset")
    job_start.add_argument("--dataset", required=True, help="id or name")
    job_start.add_argument("--model", required=True, help="id or name")
    job_start.add_argument("--wait", action="store_true", help="until it finishes; fails unless it succeeded")

    comparisons = commands.add_parser("comparisons", help="model comparisons").add_subparsers(
        dest="action", required=True
    )
    comparison_start = comparisons.add_parser("start", parents=[common], help="compare models on a dataset")
    comparison_start.add_argument("--dataset", required=True, help="id or name")
    comparison_start.add_argument("--models", required=True, help="ids or names, comma-separated")
    comparison_start.add_argument("--wait", action="store_true", help="until it finishes; fails unless it succeeded")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        edna = Edna.from_env(
            url=args.url,
            username=args.username,
            password=args.password,
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_url=args.token_url,
        )
        return COMMANDS[(args.command, getattr(args, "action", None))](edna, args)
    except EdnaError as exc:
        return _fail(str(exc))
    except requests.RequestException as exc:
        return _fail(f"cannot reach Edna: {exc}")
    except OSError as exc:
        return _fail(str(exc))


def _fail(message: str) -> int:
    print(f"edna: error: {message}", file=sys.stderr)
    return 1


def _finish(failures: list[str], summary: str) -> int:
    for failure in failures[:MAX_LISTED_FAILURES]:
        print(f"edna: error: {failure}", file=sys.stderr)
    if len(failures) > MAX_LISTED_FAILURES:
        print(f"edna: error: ... and {len(failures) - MAX_LISTED_FAILURES} more", file=sys.stderr)
    print(summary)
    return 1 if failures else 0


def datasets_list(edna: Edna, args) -> int:
    for dataset in edna.datasets():
        print(f"{dataset.id}\t{dataset.item_count if dataset.item_count is not None else ''}\t{dataset.name}")
    return 0


def push(edna: Edna, args) -> int:
    if not args.folder.is_dir():
        raise EdnaError(f"{args.folder} is not a folder")
    report = edna.push(args.folder, args.dataset, args.workers)
    counts = ", ".join(f"{n} {what}" for what, n in report.counts.items())
    return _finish(report.failures, f"{counts}, {len(report.failures)} failed")


def pull(edna: Edna, args) -> int:
    report = edna.pull(args.dataset, args.folder, args.snapshot, args.workers)
    counts = ", ".join(f"{n} {what}" for what, n in report.counts.items())
    return _finish(report.failures, f"{counts}, {len(report.failures)} failed")


def labels_import(edna: Edna, args) -> int:
    report = import_labels(edna.session, edna.dataset(args.dataset).id, args.file)
    return _finish(
        report.failures, f"{report.labelled} labelled, {report.tagged} tagged, {len(report.failures)} failed"
    )


def export(edna: Edna, args) -> int:
    if args.output is None:
        edna.export(args.dataset, args.format, sys.stdout.buffer)
        sys.stdout.flush()
        return 0
    partial = args.output.with_name(f".{args.output.name}.edna-partial")
    try:
        with open(partial, "wb") as out:
            written = edna.export(args.dataset, args.format, out)
        partial.replace(args.output)  # a failed export never leaves a truncated file under the name
    finally:
        partial.unlink(missing_ok=True)
    print(f"{written} bytes written to {args.output}", file=sys.stderr)
    return 0


def _show(state: Job | Comparison) -> None:
    if isinstance(state, Job):
        print(f"job {state.id}: {state.status} {state.done}/{state.total}", file=sys.stderr)
    else:
        print(f"comparison {state.id}: {state.status}", file=sys.stderr)


def _started(edna: Edna, state: Job | Comparison, wait: bool, read) -> int:
    if wait:
        state = edna.wait(read, _show)
    print(json.dumps(state.raw))
    if not wait:
        return 0
    if state.status != "succeeded":
        return _fail(f"{state.id} {state.status}{': ' + state.raw['error'] if state.raw.get('error') else ''}")
    return 0


def jobs_start(edna: Edna, args) -> int:
    job = edna.start_job(args.dataset, args.model)
    return _started(edna, job, args.wait, lambda: edna.job(job.id))


def comparisons_start(edna: Edna, args) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(models) < 2:
        raise EdnaError("--models needs at least two models, comma-separated")
    comparison = edna.start_comparison(args.dataset, models)
    return _started(edna, comparison, args.wait, lambda: edna.comparison(comparison.id))


COMMANDS = {
    ("datasets", "list"): datasets_list,
    ("push", None): push,
    ("pull", None): pull,
    ("labels", "import"): labels_import,
    ("export", None): export,
    ("jobs", "start"): jobs_start,
    ("comparisons", "start"): comparisons_start,
}

if __name__ == "__main__":
    sys.exit(main())
