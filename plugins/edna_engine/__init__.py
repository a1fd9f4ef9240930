"""Edna's streamed batch-inference engine: pure Python, numpy, Pillow and onnxruntime; no Airflow, no service."""
