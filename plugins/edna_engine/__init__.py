"""Edna's streamed batch-inference engine: pure Python, numpy, Pillow and onnxruntime; no Airflow, no service."""

import os

# onnxruntime 1.29 and later sends usage telemetry to Microsoft from Linux too, and keeps a device id and an
# event cache under ~/.cache/Microsoft: Edna runs people's models over their data and reports nothing anywhere.
# onnxruntime reads the switch once, when it is first imported, so it is set here, before any module of the
# engine imports it (a value the operator set stays).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
