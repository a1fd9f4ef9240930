"""The Lambda zip (`make package`): what it holds, and its two handlers run as the python3.11 runtime runs them.

The zip is built once per session. Its handlers run in a clean interpreter whose path is only the
unzipped zip and a boto3 installed apart (what the runtime provides), configured for AWS through
`EDNA_*` variables: S3 and Cognito on the test's moto server, the embedded search index under a
temporary directory (/tmp is all a Lambda may write).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import s3_client
from lambda_events import EventQueue, UserPool, body_of, http_api, object_keys, rest_api
from PIL import Image

from service.client import EdnaClient
from service.vocabulary import layout

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    # By path: the repository's packaging/ folder must not shadow the `packaging` library on sys.path.
    spec = importlib.util.spec_from_file_location(f"edna_{name}", ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load("lambda_zip")
sandbox = load("lambda_sandbox")
Invoker = sandbox.Invoker

MiB = 2**20
RUNTIME_GLIBC = (2, 26)  # Amazon Linux 2, under the python3.11 runtime
API = "handler.lambda_handler"
INDEXER = "service.handlers.sqs_s3_events"
# In the runtime, not in the zip; and Zappa's build-time dependencies, which nothing imports at run time.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath"}
BUILD_ONLY = {"troposphere", "cfn_flip", "hjson", "placebo", "toml", "tqdm", "slugify", "argcomplete", "yaml", "pip"}


def run_build() -> str:
    """`make package`'s script (incremental: pip runs only when requirements changed); its report."""
    done = subprocess.run([sys.executable, build.__file__], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def lambda_zip() -> Path:
    print(run_build())  # sizes and the biggest packages, with pytest -s
    return build.ZIP


@pytest.fixture(scope="session")
def names(lambda_zip: Path) -> list[str]:
    with zipfile.ZipFile(lambda_zip) as zf:
        return zf.namelist()


@pytest.fixture(scope="session")
def task_dir(lambda_zip: Path, tmp_path_factory) -> Path:
    return sandbox.unzip(lambda_zip, tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory) -> Path:
    version = build.pins(build.SERVICE_REQUIREMENTS)["boto3"]
    return sandbox.install_runtime_boto3(tmp_path_factory.mktemp("runtime"), version)


def top_level(names: list[str]) -> set[str]:
    return {n.split("/", 1)[0].split("-", 1)[0].removesuffix(".py").lower() for n in names}


# --- what the zip holds -------------------------------------------------------------------------


def test_the_zip_fits_within_lambdas_limits(lambda_zip: Path):
    with zipfile.ZipFile(lambda_zip) as zf:
        unzipped = sum(i.file_size for i in zf.infolist())
    zipped = lambda_zip.stat().st_size
    print(f"zipped {zipped / MiB:.1f} MiB, unzipped {unzipped / MiB:.1f} MiB")
    assert zipped <= 50 * MiB
    assert unzipped <= 250 * MiB


def test_no_shared_object_needs_a_newer_glibc_than_the_runtimes(task_dir: Path):
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils) is needed to read the symbol versions"
    shared = [p for p in task_dir.rglob("*.so*") if p.is_file()]
    assert any(p.name.startswith("_rust") for p in shared)  # cryptography's: the one that broke before
    too_new = {}
    for path in shared:
        symbols = subprocess.run([objdump, "-T", path], capture_output=True, text=True, check=True).stdout
        versions = {tuple(map(int, v)) for v in re.findall(r"GLIBC_(\d+)\.(\d+)", symbols)}
        if versions and max(versions) > RUNTIME_GLIBC:
            too_new[str(path.relative_to(task_dir))] = max(versions)
    assert too_new == {}


def test_zappa_settings_log_at_info_and_carry_no_region(names: list[str], lambda_zip: Path):
    with zipfile.ZipFile(lambda_zip) as zf:
        tree = ast.parse(zf.read("zappa_settings.py"))
    settings = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}
    assert settings["LOG_LEVEL"] == "INFO"  # DEBUG would log every event, Authorization header included
    assert settings["DEBUG"] is False  # True puts tracebacks into 500 responses
    assert (settings["APP_MODULE"], settings["APP_FUNCTION"]) == ("service.wsgi", "app")
    assert settings["ENVIRONMENT_VARIABLES"] == {}  # an AWS_REGION here would override the function's
    assert "handler.py" in names


def test_runtime_and_build_time_packages_are_left_out(names: list[str]):
    tops = top_level(names)
    assert tops & RUNTIME_PROVIDED == set()
    assert tops & BUILD_ONLY == set()
    assert {"zappa", "durationpy", "werkzeug", "flask", "cryptography", "pil"} <= tops


def test_only_the_service_and_the_engine_ship_from_the_repo(names: list[str]):
    repo = {p.name.lower().removesuffix(".py") for p in ROOT.iterdir()} - {"packaging"}  # a library's name too
    assert top_level(names) & repo == {"service", "plugins"}
    assert {f"packaging/{p.name}" for p in (ROOT / "packaging").iterdir()} & set(names) == set()
    assert {n.split("/")[1] for n in names if n.startswith("plugins/")} == {"__init__.py", "edna_engine"}
    assert not [n for n in names if n.startswith("service/") and not n.endswith((".py", ".pyc"))]


def test_every_module_ships_bytecode_that_is_used_as_is(lambda_zip: Path, names: list[str]):
    """Unchecked-hash .pyc: /var/task is read-only and Zappa dates every file 1980, so bytecode that
    checked timestamps would be recompiled at every cold start."""
    present = set(names)
    sources = [n for n in names if n.endswith(".py") and "/__pycache__/" not in f"/{n}"]
    generated = {"zappa_settings.py"}  # written by Zappa into the zip after compiling
    missing = []
    with zipfile.ZipFile(lambda_zip) as zf:
        for source in sources:
            folder, _, file = source.rpartition("/")
            pyc = f"{folder}/__pycache__/{file[:-3]}.cpython-311.pyc".lstrip("/")
            if pyc not in present:
                if source not in generated and zf.getinfo(source).file_size:
                    missing.append(source)
                continue
            flags = int.from_bytes(zf.read(pyc)[4:8], "little")
            assert flags == 0b01, f"{pyc}: not unchecked-hash bytecode"
    assert missing == []
    assert len(sources) > 500


def test_an_unchanged_checkout_builds_the_same_bytes(lambda_zip: Path):
    """The stack publishes a new function version whenever the zip's bytes change."""
    before = hashlib.sha256(lambda_zip.read_bytes()).hexdigest()
    run_build()
    assert hashlib.sha256(lambda_zip.read_bytes()).hexdigest() == before


# --- the two handlers, run as the runtime runs them ------------------------------------------------


@pytest.fixture(scope="module")
def pool(moto_endpoint: str) -> UserPool:
    return UserPool(moto_endpoint, {"ann": ("acme", ("admin",)), "vic": ("acme", ("viewer",))})


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:
    name = f"edna-lambda-{uuid.uuid4().hex[:12]}"
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def lambda_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lambda-tmp")


@pytest.fixture(scope="module")
def lambda_env(pool: UserPool, bucket: str, moto_endpoint: str, lambda_tmp: Path) -> dict[str, str]:
    """A function's environment: the runtime's variables and the stack's `EDNA_*`, nothing from this process."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": str(lambda_tmp),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": "edna-sandbox",
        "EDNA_STORAGE": "s3",
        "EDNA_S3_BUCKET": bucket,
        "EDNA_S3_ENDPOINT_URL": moto_endpoint,
        "EDNA_SEARCH": "sqlite",
        "EDNA_JOBS": "local",
        "EDNA_DATA_DIR": str(lambda_tmp / "edna"),
        **pool.env(),
    }


def tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*")}


@pytest.fixture(scope="module")
def untouched(task_dir: Path) -> dict[str, tuple[int, int]]:
    """The unzipped package before any function ran in it."""
    return tree(task_dir)


@pytest.fixture(scope="module")
def api(untouched, task_dir: Path, runtime_dir: Path, lambda_env: dict[str, str]) -> Iterator[Invoker]:
    with Invoker(task_dir, runtime_dir, lambda_env) as invoker:
        yield invoker


@pytest.fixture(scope="module")
def indexer(untouched, task_dir: Path, runtime_dir: Path, lambda_env: dict[str, str]) -> Iterator[Invoker]:
    """The indexer function: the same zip and environment, its own container."""
    with Invoker(task_dir, runtime_dir, lambda_env) as invoker:
        yield invoker


@pytest.fixture(scope="module")
def events(bucket: str, moto_endpoint: str) -> Iterator[EventQueue]:
    queue = EventQueue(moto_endpoint, bucket, layout.TENANTS)
    yield queue
    queue.close()


def test_health_answers_http_api_and_rest_api_events(api: Invoker):
    for event in (http_api("GET", "/api/health"), rest_api("GET", "/api/health")):
        response = api.invoke(API, event)
        assert response["statusCode"] == 200, response
        health = body_of(response)
        assert health["status"] == "ok"
        assert health["adapters"] == {"storage": "s3", "search": "sqlite", "identity": "cognito", "jobs": "local"}


def test_me_answers_with_a_cognito_id_token_and_401_without(api: Invoker, pool: UserPool):
    token = pool.id_token("ann")
    for event in (http_api("GET", "/api/me", token), rest_api("GET", "/api/me", token)):
        response = api.invoke(API, event)
        assert response["statusCode"] == 200, response
        assert body_of(response) == {"user": "ann", "tenant": "acme", "roles": ["admin"]}

    response = api.invoke(API, http_api("GET", "/api/me"))
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")
    assert api.invoke(API, http_api("GET", "/api/me", token[:-4] + "AAAA"))["statusCode"] == 401
    assert token not in api.log()  # at INFO, Zappa logs requests without their headers


def test_an_upload_becomes_available_through_the_indexer_function(
    api: Invoker, indexer: Invoker, events: EventQueue, pool: UserPool, bucket: str, moto_endpoint: str
):
    token = pool.id_token("ann")
    created = api.invoke(API, http_api("POST", "/api/datasets", token, {"name": "lambda", "label_classes": ["cat"]}))
    assert created["statusCode"] == 201, created
    dataset_id = body_of(created)["id"]
    image = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(image, format="PNG")
    body = {"filename": "cat.png", "content_type": "image/png", "size": len(image.getvalue())}
    ticket = api.invoke(API, http_api("POST", f"/api/datasets/{dataset_id}/items", token, body))
    assert ticket["statusCode"] == 201, ticket
    item_id = body_of(ticket)["item"]["id"]
    EdnaClient("http://unused.invalid").transfer(body_of(ticket)["upload"], image.getvalue(), "image/png")

    records = events.drain()
    assert layout.item_object("acme", dataset_id, item_id, "cat.png") in object_keys(records)
    assert indexer.invoke(INDEXER, {"Records": records}) == {"batchItemFailures": []}

    item = body_of(api.invoke(API, http_api("GET", f"/api/datasets/{dataset_id}/items/{item_id}", token)))
    assert item["status"] == "available" and item["size"] == len(image.getvalue())
    assert (item["preview"]["width"], item["preview"]["height"]) == (40, 30)
    thumbnail = layout.thumbnail("acme", dataset_id, item_id)
    assert s3_client(moto_endpoint).head_object(Bucket=bucket, Key=thumbnail)["ContentType"] == "image/webp"
    assert token not in indexer.log() + api.log()


def test_the_functions_wrote_only_under_tmp(api: Invoker, indexer: Invoker, task_dir: Path, untouched, lambda_tmp):
    assert api.invoke(API, http_api("GET", "/api/health"))["statusCode"] == 200
    assert tree(task_dir) == untouched  # /var/task is read-only on Lambda
    assert (lambda_tmp / "edna" / "index.db").is_file()
