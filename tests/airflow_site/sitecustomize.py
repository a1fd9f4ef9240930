"""Loaded by the test Airflow's processes (on their PYTHONPATH): the task SDK's JSON requests get a
Content-Type, as Airflow's own later fix does (apache/airflow#63215).

Airflow 3.0.6's task SDK sends JSON bodies without one (apache/airflow#63209), and the FastAPI this
venv holds (cadwyn requires fastapi >= 0.137.1) answers 422 to every task start without it. A team's
Airflow, installed with its constraints file, has the FastAPI it was released with.
"""

from airflow.sdk.api.client import Client

_request = Client.request


def _request_with_content_type(self, *args, **kwargs):
    if kwargs.get("content") is not None:
        kwargs["headers"] = {"content-type": "application/json", **dict(kwargs.get("headers") or {})}
    return _request(self, *args, **kwargs)


Client.request = _request_with_content_type
