"""Edna's Python client: `Edna` (typed API), and the `edna` command line in `edna_client.cli`."""

from edna_client.api import Edna
from edna_client.records import Comparison, Dataset, Item, Job
from edna_client.session import ApiError, EdnaError

__all__ = ["ApiError", "Comparison", "Dataset", "Edna", "EdnaError", "Item", "Job"]
