"""S3Storage against a moto server over HTTP, and a whole job streamed from and to it."""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from edna_engine import pipeline
from edna_engine.params import JobParams
from edna_engine.storage import S3Storage, Storage

from tests.engine.digits import DIGITS_SPEC, digit_items, digits_model


@pytest.fixture
def s3(moto_endpoint, s3_bucket, monkeypatch):
    """An S3Storage built the way the DAG builds it: boto3 finds the endpoint in AWS_ENDPOINT_URL_S3."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    client = boto3.client("s3", endpoint_url=moto_endpoint, config=Config(signature_version="s3v4"))
    return S3Storage(s3_bucket), client, s3_bucket


def test_s3_storage_follows_the_protocol(s3):
    storage, client, bucket = s3
    assert isinstance(storage, Storage)
    for name in ("a/1", "a/2", "a/3", "a/4", "a/5", "b/1"):
        storage.put(name, name.encode())
    client.put_object_tagging(Bucket=bucket, Key="a/2", Tagging={"TagSet": [{"Key": "label", "Value": "cat"}]})
    keys, token = storage.list_page("a/", limit=2)
    assert keys == ["a/1", "a/2"] and token
    keys, token = storage.list_page("a/", token=token, limit=2)
    assert keys == ["a/3", "a/4"] and token
    assert storage.list_page("a/", token=token, limit=2) == (["a/5"], None)
    assert storage.list_page("a/", start_after="a/3") == (["a/4", "a/5"], None)
    assert storage.list_page("c/") == ([], None)
    assert storage.get("a/3") == b"a/3"
    assert storage.exists("a/1") and not storage.exists("a/9")
    assert storage.label("a/2") == "cat" and storage.label("a/1") is None


def test_a_job_streams_from_s3_and_resumes(s3):
    storage, client, bucket = s3
    for key, data, label in digit_items(90, "t/datasets/d/items/"):
        client.put_object(Bucket=bucket, Key=key, Body=data, Tagging=f"label={label}")
    client.put_object(Bucket=bucket, Key="t/models/m/model.onnx", Body=digits_model("forest"))
    client.put_object(Bucket=bucket, Key="t/models/m/model.json", Body=json.dumps(DIGITS_SPEC).encode())
    params = JobParams.from_dict(
        {
            "job_id": "j",
            "items_prefix": "t/datasets/d/items/",
            "model_key": "t/models/m/model.onnx",
            "output_prefix": "t/jobs/j/",
            "batch_size": 8,
            "shards": 2,
        }
    )
    assert pipeline.plan(storage, params) == [0, 1]

    class Crash(Exception):
        pass

    class CrashOnThirdPart:
        """S3 until the third part's PUT, which never happens."""

        def __init__(self):
            self.parts = 0

        def put(self, key, data):
            self.parts += "/parts/" in key
            if self.parts == 3:
                raise Crash(key)
            storage.put(key, data)

        def __getattr__(self, name):
            return getattr(storage, name)

    with pytest.raises(Crash):
        pipeline.infer_shard(CrashOnThirdPart(), params, 0)
    done = []
    pipeline.infer_shard(storage, params, 0, on_progress=done.append)
    assert done[0] == 16  # resumed after the two parts written before the crash
    pipeline.infer_shard(storage, params, 1)
    pipeline.evaluate(storage, params)
    status = pipeline.finalize(storage, params)

    assert status["status"] == "succeeded" and status["progress"] == {"done": 90, "total": 90}
    assert status["metrics"]["evaluated"] == 90 and status["metrics"]["accuracy"] > 0.9
    listed = client.list_objects_v2(Bucket=bucket, Prefix="t/jobs/j/")["Contents"]
    names = {o["Key"].removeprefix("t/jobs/j/").split("/")[0] for o in listed}
    assert names == {"plan.json", "status.json", "metrics.json", "progress", "shards", "parts"}
    predictions, position = [], None
    while True:
        page, position = pipeline.predictions_page(storage, "t/jobs/j/", position, 25)
        predictions.extend(page)
        if position is None:
            break
    assert len(predictions) == 90 and max(Counter(p["key"] for p in predictions).values()) == 1
    assert all(p["label"] in DIGITS_SPEC["class_names"] for p in predictions)  # labels came from the tags
    assert pipeline.read_status(storage, "t/jobs/j/")["status"] == "succeeded"
