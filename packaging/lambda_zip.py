"""`make package`: build/edna-lambda.zip, the service's Lambda package, made by Zappa from a slim venv.

The zip holds `service/` and `plugins/edna_engine/` in the checkout's layout (create_app puts the
`plugins/` beside `service/` on sys.path), the service's run-time requirements as manylinux2014
wheels for CPython 3.11, and Zappa's `handler.py` with the few zappa modules it imports. One zip,
three functions: the API (`handler.lambda_handler`, over `service.wsgi.app`), the indexer
(`service.handlers.sqs_s3_events`) and the thumbnailer (`service.handlers.sqs_thumbnails`).

    python3.11 packaging/lambda_zip.py

Zappa packages its working directory and the venv VIRTUAL_ENV names: so the project is staged in
build/lambda/src (only what ships), the wheels go into the slim venv build/lambda/venv, and Zappa
itself runs from its own tool venv build/lambda/zappa-tool, whose build-time dependencies
(troposphere, click, ...) stay out of the zip.
"""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "lambda"
TOOL = BUILD / "zappa-tool"
VENV = BUILD / "venv"
SITE = VENV / "lib" / "python3.11" / "site-packages"
SRC = BUILD / "src"
ZIP = ROOT / "build" / "edna-lambda.zip"

SERVICE_REQUIREMENTS = ROOT / "service" / "requirements.txt"
TOOL_REQUIREMENTS = ROOT / "requirements-package.txt"
STAGE = "production"

# The python3.11 Lambda runtime is Amazon Linux 2 (glibc 2.26). Zappa's own wheel lookup ignores
# glibc levels (and cannot reach its index from here): choose the wheels explicitly.
PLATFORM = [
    "--platform=manylinux2014_x86_64",
    "--implementation=cp",
    "--python-version=3.11",
    "--only-binary=:all:",
]
# The runtime has boto3: leaving it out of the requirements lets pip leave out what only it needs
# (botocore, s3transfer, jmespath) while the resolution still honours its pins (see slim_venv).
RUNTIME_PROVIDED = {"boto3"}
NEVER_IN_ZIP = {"boto3", "botocore", "s3transfer", "jmespath"}
# What the zip's handler.py imports from Zappa's dependencies, besides werkzeug and boto3.
HANDLER_NEEDS = ("zappa", "durationpy")
# Lambda's /var/task is read-only and Zappa stamps every file 1980-01-01: bytecode that checked
# source timestamps would be stale and recompiled at every cold start. The zip never changes.
UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH

SETTINGS = {
    STAGE: {
        "project_name": "edna",
        "app_function": "service.wsgi.app",
        "runtime": "python3.11",
        "log_level": "INFO",  # Zappa's default, DEBUG, logs every event: Authorization headers included
        "debug": False,  # Zappa's default, True, also puts tracebacks into 500 responses
        "use_precompiled_packages": False,  # the slim venv already holds the right wheels
        "slim_handler": False,  # one self-contained zip, no project archive fetched from S3 at cold start
        "exclude": ["zappa_settings.json"],
        # No aws_region: Zappa would bake it into the zip as AWS_REGION, over the function's own.
    }
}


def main() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit("run this with Python 3.11: the zip's bytecode and Zappa's venv layout follow the interpreter")
    started = time.perf_counter()
    BUILD.mkdir(parents=True, exist_ok=True)
    tool_venv()
    slim_venv()
    stage_source()
    package()
    print(f"{ZIP.relative_to(ROOT)}: built in {time.perf_counter() - started:.0f} s")
    for line in summary(ZIP):
        print(line)


def tool_venv() -> None:
    """Zappa and its build-time dependencies, reinstalled only when requirements-package.txt changes."""
    key = digest(TOOL_REQUIREMENTS.read_bytes())
    if stamp(TOOL) == key:
        return
    shutil.rmtree(TOOL, ignore_errors=True)
    run(sys.executable, "-m", "venv", TOOL)
    run(TOOL / "bin" / "python", "-m", "pip", "install", "--quiet", "-r", TOOL_REQUIREMENTS)
    (TOOL / ".stamp").write_text(key)


def slim_venv() -> None:
    """The run-time wheels in the slim venv's site-packages, reinstalled only when an input changed."""
    service = pins(SERVICE_REQUIREMENTS)
    tools = pins(TOOL_REQUIREMENTS)
    handler = {name: tools[name] for name in HANDLER_NEEDS}
    key = digest(json.dumps([service, handler]).encode() + Path(__file__).read_bytes())  # this recipe too
    if stamp(VENV) == key:
        return
    shutil.rmtree(VENV, ignore_errors=True)
    run(sys.executable, "-m", "venv", "--without-pip", VENV)
    pip = [TOOL / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile", *PLATFORM]
    everything = write_requirements(BUILD / "requirements-all.txt", service)
    shipped = write_requirements(
        BUILD / "requirements.txt", {n: v for n, v in service.items() if n not in RUNTIME_PROVIDED}
    )
    # Resolve with boto3 first, so that what the zip shares with it (urllib3, python-dateutil ...)
    # has versions the runtime's botocore accepts; then install without it, under those versions.
    report = BUILD / "resolution.json"
    run(*pip, "--dry-run", "--ignore-installed", "--report", report, "-r", everything)
    resolved = {p["metadata"]["name"]: p["metadata"]["version"] for p in json.loads(report.read_text())["install"]}
    constraints = write_requirements(BUILD / "constraints.txt", resolved)
    run(*pip, "--target", SITE, "-r", shipped, "-c", constraints)
    drop_scripts()
    run(*pip, "--target", SITE, "--no-deps", *(f"{name}=={version}" for name, version in handler.items()))
    drop_scripts()
    leaked = {d.name.split("-")[0].lower() for d in SITE.glob("*.dist-info")} & NEVER_IN_ZIP
    if leaked:
        sys.exit(f"{sorted(leaked)} got into the zip through another requirement: the runtime provides them")
    compile_tree(SITE)
    (VENV / ".stamp").write_text(key)


def drop_scripts() -> None:
    """Console scripts start this machine's python: useless on Lambda, and as their RECORD lines hash
    them, the zip's bytes would depend on where it was built."""
    shutil.rmtree(SITE / "bin")
    for record in SITE.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith("../../bin/")))


def stage_source() -> None:
    """build/lambda/src: service/, plugins/edna_engine/ and the Zappa settings; nothing else ships."""
    shutil.rmtree(SRC, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "requirements*.txt")
    shutil.copytree(ROOT / "service", SRC / "service", ignore=skip)
    shutil.copytree(ROOT / "plugins" / "edna_engine", SRC / "plugins" / "edna_engine", ignore=skip)
    (SRC / "zappa_settings.json").write_text(json.dumps(SETTINGS, indent=2) + "\n")
    compile_tree(SRC)
    # Zappa copies its handler.py to the zip's root: its bytecode, compiled from the same file, goes beside it.
    handler = TOOL / "lib" / "python3.11" / "site-packages" / "zappa" / "handler.py"
    cached = SRC / "__pycache__" / f"handler.{sys.implementation.cache_tag}.pyc"
    py_compile.compile(handler, cached, "/var/task/handler.py", doraise=True, invalidation_mode=UNCHECKED)


def package() -> None:
    """`zappa package` in the staging dir over the slim venv; the zip moves into place when complete."""
    partial = BUILD / ZIP.name
    partial.unlink(missing_ok=True)
    env = {**os.environ, "VIRTUAL_ENV": str(VENV)}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # only for Zappa's boto3 session; not written to the zip
    run(TOOL / "bin" / "zappa", "package", STAGE, "--output", partial, "--disable_progress", cwd=SRC, env=env)
    normalize(partial)
    partial.replace(ZIP)


def normalize(path: Path) -> None:
    """Zappa's zip in a stable form: entries sorted, no package_info.json (a new uuid and build time
    each run). Unchanged inputs give the same bytes, so a deploy publishes no new function version."""
    stable = path.with_suffix(".stable")
    with zipfile.ZipFile(path) as zipped, zipfile.ZipFile(stable, "w", zipfile.ZIP_DEFLATED) as out:
        for info in sorted(zipped.infolist(), key=lambda i: i.filename):
            if info.filename != "package_info.json":
                entry = zipfile.ZipInfo(info.filename)  # dated 1980-01-01, as Zappa dates them
                entry.create_system, entry.external_attr = 3, 0o755 << 16  # Zappa's mode
                out.writestr(entry, zipped.read(info), zipfile.ZIP_DEFLATED)
    stable.replace(path)


def summary(path: Path) -> list[str]:
    """Sizes of the zip, its content, and its biggest top-level entries."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    by_top: dict[str, int] = {}
    for info in infos:
        top = info.filename.split("/", 1)[0]
        by_top[top] = by_top.get(top, 0) + info.file_size
    unzipped = sum(by_top.values())
    biggest = sorted(by_top.items(), key=lambda kv: -kv[1])[:10]
    lines = [f"zipped {mib(path.stat().st_size)}, unzipped {mib(unzipped)} in {len(infos)} files; biggest:"]
    return lines + [f"  {mib(size):>9}  {name}" for name, size in biggest]


def compile_tree(path: Path) -> None:
    """Unchecked-hash bytecode for every module under `path`, naming its source as on Lambda
    (/var/task/...) rather than in this checkout: the zip does not depend on where it was built."""
    flags = ["-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash", "-s", path, "-p", "/var/task"]
    run(sys.executable, "-m", "compileall", *flags, path)


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines (comments dropped), by normalized name."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                sys.exit(f"{path.relative_to(ROOT)}: pin every requirement with ==, not {line!r}")
            out[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    return out


def write_requirements(path: Path, versions: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(versions.items())))
    return path


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stamp(venv: Path) -> str:
    path = venv / ".stamp"
    return path.read_text() if path.is_file() else ""


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def run(*cmd, **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


if __name__ == "__main__":
    main()
