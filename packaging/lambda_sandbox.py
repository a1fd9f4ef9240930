"""The python3.11 Lambda runtime, emulated for the zip: a task dir, a runtime dir and an invoker.

`Invoker` keeps one clean interpreter (`python -I -S`: no site-packages, no PYTHON* variables)
whose sys.path is the unzipped package (Lambda's /var/task, also its working directory), the
boto3 the runtime provides (/var/runtime) and the standard library, as in a Lambda container; the
caller sends it events for a handler named as Lambda names it and gets the handler's return value.
tests/package and benchmarks/lambda_cold_start.py use it; run as a script, this file is the
interpreter's side (standard library only, as nothing else is on its path).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import queue
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

MARK = "@@lambda-result "  # starts the lines that carry results; every other line is the function's output


def unzip(zip_path: Path, task_dir: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task_dir)
    return task_dir


def install_runtime_boto3(runtime_dir: Path, version: str) -> Path:
    """What the python3.11 runtime provides: boto3 and its dependencies (botocore, s3transfer, ...)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(runtime_dir), f"boto3=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"installing boto3=={version} failed:\n{done.stdout}{done.stderr}")
    return runtime_dir


class Invoker:
    """One Lambda container: `invoke(handler, event)` imports the handler's module once, then calls it."""

    def __init__(self, task_dir: Path, runtime_dir: Path, env: dict[str, str]):
        # -B: /var/task is read-only, Python cannot cache bytecode there (the zip ships its own).
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", __file__, str(task_dir), str(runtime_dir)],
            cwd=task_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
        )
        self.output: list[str] = []
        self._results: queue.Queue[dict | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith(MARK):
                self._results.put(json.loads(line[len(MARK) :]))
            else:
                self.output.append(line)
        self._results.put(None)

    def call(self, handler: str, event: dict, timeout: float = 60) -> dict:
        """The handler's result with the time its import and its call took (`import_s`, `call_s`)."""
        self.process.stdin.write(json.dumps({"handler": handler, "event": event}) + "\n")
        self.process.stdin.flush()
        try:
            reply = self._results.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{handler} gave no result in {timeout} s:\n{self.log()}") from None
        if reply is None or "error" in reply:
            raise RuntimeError(f"{handler} failed:\n{(reply or {}).get('error', '')}\n{self.log()}")
        return reply

    def invoke(self, handler: str, event: dict, timeout: float = 60):
        return self.call(handler, event, timeout)["result"]

    def log(self) -> str:
        return "".join(self.output)

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()  # ends the interpreter's loop
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
        self.process.stdout.close()

    def __enter__(self) -> Invoker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Context:
    """The attributes of Lambda's context object that handlers read."""

    function_name = "edna-sandbox"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:edna-sandbox"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/edna-sandbox"
    log_stream_name = "sandbox"

    def __init__(self, request_id: str):
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def serve(task_dir: str, runtime_dir: str) -> None:
    """The interpreter's side: one JSON request a line on stdin, one result line on stdout."""
    sys.path[:0] = [task_dir, runtime_dir]
    for n, line in enumerate(sys.stdin):
        request = json.loads(line)
        module, name = request["handler"].rsplit(".", 1)
        try:
            started = time.perf_counter()
            function = getattr(importlib.import_module(module), name)
            imported = time.perf_counter()
            result = function(request["event"], Context(f"request-{n}"))
            reply = {"result": result, "import_s": imported - started, "call_s": time.perf_counter() - imported}
        except Exception:  # noqa: BLE001 (reported to the caller, who fails the test with it)
            import traceback

            reply = {"error": traceback.format_exc()}
        sys.stdout.write(MARK + json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
