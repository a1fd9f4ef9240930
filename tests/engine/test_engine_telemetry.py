"""onnxruntime reports nothing from a process that runs Edna's engine, without anyone having to ask.

Left alone, onnxruntime 1.32 writes a device id and an event cache under ~/.cache/Microsoft when its first
session starts, for the telemetry it uploads; it stays quiet where it sees a CI system's variables. So the
engine runs here in a fresh interpreter with those variables removed and HOME pointing at an empty directory.
"""

import os
import subprocess
import sys
from pathlib import Path

from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[2]
# The variables by which onnxruntime recognises a CI machine (and then sends nothing): read from its library.
CI_VARIABLES = (
    *("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID"),
    *("BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER"),
)


def relu_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


RUN_A_MODEL = """
import os, sys
import numpy as np
from edna_engine.model import new_session
session = new_session(open(sys.argv[1], "rb").read())
session.run(None, {session.get_inputs()[0].name: np.zeros((1, 4), dtype=np.float32)})
print(os.environ.get("ORT_DISABLE_TELEMETRY", ""))
"""


def test_the_engine_turns_onnxruntime_telemetry_off(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    model = tmp_path / "model.onnx"
    model.write_bytes(relu_model())
    env = {k: v for k, v in os.environ.items() if k not in (*CI_VARIABLES, "ORT_DISABLE_TELEMETRY")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT / "plugins"))
    done = subprocess.run(
        [sys.executable, "-c", RUN_A_MODEL, str(model)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert list(home.rglob("*")) == []  # without the switch: .cache/Microsoft/DeveloperTools/.onnxruntime/deviceid
    assert "telemetry" not in done.stderr
    assert done.stdout.strip() == "1"
