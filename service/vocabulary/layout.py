"""The storage key layout (DESIGN.md §4): the one place that knows where anything lives."""

from __future__ import annotations

from dataclasses import dataclass

TENANTS = "tenants/"
# The object tags that hold an item's label and who set it (the rest of its tags are the user's);
# one tagging write sets both, so the source never disagrees with the label.
LABEL_TAG = "label"
LABEL_SOURCE_TAG = "label-by"


def tenant_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/"


def datasets_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/datasets/"


def dataset_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/"


def dataset_record(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/dataset.json"


def items_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/items/"


def item_prefix(tenant: str, dataset_id: str, item_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/items/{item_id}/"


def item_object(tenant: str, dataset_id: str, item_id: str, filename: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/items/{item_id}/{filename}"


def import_ledger_prefix(tenant: str, dataset_id: str, source_digest: str) -> str:
    """Which objects of one import source became which items, in numbered chunks: a second run
    of the same import skips them, and a run cut short resumes its last chunks."""
    return f"tenants/{tenant}/datasets/{dataset_id}/imports/{source_digest}/"


def import_ledger_chunk(tenant: str, dataset_id: str, source_digest: str, number: int) -> str:
    return import_ledger_prefix(tenant, dataset_id, source_digest) + f"{number:08d}.json"


def item_tombstone(tenant: str, dataset_id: str, item_id: str) -> str:
    """Left by a delete, under the dataset (which takes it along): an object arriving later is discarded."""
    return tombstones_prefix(tenant, dataset_id) + item_id


def tombstones_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/deleted/"


def annotations_record(tenant: str, dataset_id: str, item_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/annotations/{item_id}.json"


def snapshots_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/snapshots/"


def snapshot_prefix(tenant: str, dataset_id: str, snapshot_id: str) -> str:
    """A snapshot's manifest; also the holder name of the object versions it keeps (BlobStore.pin_versions)."""
    return f"tenants/{tenant}/datasets/{dataset_id}/snapshots/{snapshot_id}/"


def snapshot_record(tenant: str, dataset_id: str, snapshot_id: str) -> str:
    """Written last, once every part is: a snapshot without it is unfinished and never listed."""
    return f"tenants/{tenant}/datasets/{dataset_id}/snapshots/{snapshot_id}/snapshot.json"


def snapshot_part(tenant: str, dataset_id: str, snapshot_id: str, number: int) -> str:
    """One part of the manifest: items in id order, one JSON line each, written once."""
    return f"tenants/{tenant}/datasets/{dataset_id}/snapshots/{snapshot_id}/parts/{number:06d}.jsonl"


def thumbnails_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/thumbnails/{dataset_id}/"


def thumbnail(tenant: str, dataset_id: str, item_id: str) -> str:
    return f"tenants/{tenant}/thumbnails/{dataset_id}/{item_id}.webp"


def is_thumbnail(key: str) -> bool:
    """Derived from an item's object and made again by a rebuild: worth no flush to disk of its own."""
    parts = key.split("/", 3)
    return len(parts) == 4 and parts[0] == "tenants" and parts[2] == "thumbnails"


@dataclass(frozen=True)
class ItemKey:
    """Where an item's object lives, parsed back from its key."""

    tenant: str
    dataset_id: str
    item_id: str
    filename: str = ""

    @property
    def object_key(self) -> str:
        return item_object(self.tenant, self.dataset_id, self.item_id, self.filename)


def parse_item(key: str) -> ItemKey | None:
    """The item an object or annotation key belongs to; None for every other key."""
    parts = key.split("/")
    if len(parts) == 7 and parts[0] == "tenants" and parts[2] == "datasets" and parts[4] == "items" and parts[6]:
        return ItemKey(parts[1], parts[3], parts[5], parts[6])
    annotation = len(parts) == 6 and parts[0] == "tenants" and parts[2] == "datasets" and parts[4] == "annotations"
    if annotation and parts[5].endswith(".json"):
        return ItemKey(parts[1], parts[3], parts[5].removesuffix(".json"))
    return None


def name_after(prefix: str, key: str) -> str:
    """The path segment right after `prefix` (`tenants/` + `demo/...` → `demo`)."""
    return key[len(prefix) :].split("/", 1)[0]


def models_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/models/"


def model_prefix(tenant: str, model_id: str) -> str:
    return f"tenants/{tenant}/models/{model_id}/"


def model_file(tenant: str, model_id: str) -> str:
    return f"tenants/{tenant}/models/{model_id}/model.onnx"


def parse_model_file(key: str) -> tuple[str, str] | None:
    """(tenant, model id) of a model file's key; None for every other key."""
    parts = key.split("/")
    if len(parts) == 5 and parts[0] == "tenants" and parts[2] == "models" and parts[4] == "model.onnx":
        return parts[1], parts[3]
    return None


def model_spec(tenant: str, model_id: str) -> str:
    """The model's record: name and owner, plus the input/preprocess/classes spec the engine reads."""
    return f"tenants/{tenant}/models/{model_id}/model.json"


def jobs_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/jobs/"


def job_prefix(tenant: str, job_id: str) -> str:
    """Also the engine's output prefix: parts/, status.json, metrics.json ... live below it."""
    return f"tenants/{tenant}/jobs/{job_id}/"


def job_record(tenant: str, job_id: str) -> str:
    return f"tenants/{tenant}/jobs/{job_id}/job.json"


def job_status(tenant: str, job_id: str) -> str:
    """Written by the engine under its output prefix; its write is the event that a job finished."""
    return f"tenants/{tenant}/jobs/{job_id}/status.json"


def parse_job_status(key: str) -> tuple[str, str] | None:
    """(tenant, job id) of a job status key; None for every other key."""
    parts = key.split("/")
    if len(parts) == 5 and parts[0] == "tenants" and parts[2] == "jobs" and parts[4] == "status.json":
        return parts[1], parts[3]
    return None


def dismissals_prefix(tenant: str, dataset_id: str) -> str:
    return f"tenants/{tenant}/datasets/{dataset_id}/dismissed/"


def dismissal(tenant: str, dataset_id: str, item_id: str) -> str:
    """Present when a person took the item off the likely-mistakes list (who and when inside)."""
    return f"tenants/{tenant}/datasets/{dataset_id}/dismissed/{item_id}.json"


def duplicates_run(tenant: str, dataset_id: str, run_id: str) -> str:
    """A near-duplicate pass over a dataset: its request, status and progress."""
    return f"tenants/{tenant}/datasets/{dataset_id}/duplicates/{run_id}/run.json"


def parse_duplicates_run(key: str) -> tuple[str, str, str] | None:
    """(tenant, dataset id, run id) of a near-duplicate pass's record key; None for every other key."""
    parts = key.split("/")
    if len(parts) == 7 and parts[0] == "tenants" and parts[2] == "datasets" and parts[4] == "duplicates":
        return (parts[1], parts[3], parts[5]) if parts[6] == "run.json" else None
    return None


def duplicates_groups(tenant: str, dataset_id: str, run_id: str) -> str:
    """The pass's result: one group per line, largest first."""
    return f"tenants/{tenant}/datasets/{dataset_id}/duplicates/{run_id}/groups.jsonl"


def bulk_run(tenant: str, dataset_id: str, run_id: str) -> str:
    """A change to every item a query matched (label, tags, delete): its request, status and progress."""
    return f"tenants/{tenant}/datasets/{dataset_id}/bulk/{run_id}/run.json"


def parse_bulk_run(key: str) -> tuple[str, str, str] | None:
    """(tenant, dataset id, run id) of a bulk run's record key; None for every other key."""
    parts = key.split("/")
    if len(parts) == 7 and parts[0] == "tenants" and parts[2] == "datasets" and parts[4] == "bulk":
        return (parts[1], parts[3], parts[5]) if parts[6] == "run.json" else None
    return None


def bulk_run_items(tenant: str, dataset_id: str, run_id: str) -> str:
    """The ids of the items the run's query matched when it was accepted, one per line: all it may change."""
    return f"tenants/{tenant}/datasets/{dataset_id}/bulk/{run_id}/items.txt"


def job_vectors_prefix(tenant: str, job_id: str) -> str:
    """Where the engine writes a job's embeddings, a part beside each part of predictions."""
    return f"tenants/{tenant}/jobs/{job_id}/vectors/"


def job_map(tenant: str, job_id: str) -> str:
    """The 2-D layout of the job's embeddings (item ids and coordinates), made on first request."""
    return f"tenants/{tenant}/jobs/{job_id}/map.npz"


def query_record(tenant: str, query_id: str) -> str:
    """A "find similar" request for an image the user uploads: the model, the dataset, and its state."""
    return f"tenants/{tenant}/queries/{query_id}/query.json"


def query_image_prefix(tenant: str, query_id: str) -> str:
    """The uploaded image, alone under this prefix: the embedding job's items prefix."""
    return f"tenants/{tenant}/queries/{query_id}/image/"


def query_embedding_prefix(tenant: str, query_id: str) -> str:
    """The embedding job's output prefix."""
    return f"tenants/{tenant}/queries/{query_id}/embedding/"


def query_run_claim(tenant: str, query_id: str) -> str:
    """Created once, by a conditional write, by the request that starts the query's embedding."""
    return f"tenants/{tenant}/queries/{query_id}/run.json"


def comparisons_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/comparisons/"


def comparison_record(tenant: str, comparison_id: str) -> str:
    return f"tenants/{tenant}/comparisons/{comparison_id}.json"


def webhooks_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/webhooks/hooks/"


def webhook_record(tenant: str, webhook_id: str) -> str:
    """An endpoint, the events it wants, and the secret its deliveries are signed with."""
    return f"tenants/{tenant}/webhooks/hooks/{webhook_id}.json"


def webhook_deliveries_prefix(tenant: str, webhook_id: str) -> str:
    return f"tenants/{tenant}/webhooks/deliveries/{webhook_id}/"


def webhook_delivery(tenant: str, webhook_id: str, delivery_id: str) -> str:
    """One delivery's log: its event, attempts and last answer (ids sort newest first)."""
    return f"tenants/{tenant}/webhooks/deliveries/{webhook_id}/{delivery_id}.json"


# The ledger: what operators read about tenants (usage, audit, quotas). Outside tenants/, so the
# bucket's item events never fire for it and a tenant's data export never includes it.
LEDGER = "ledger/"


def usage_day_prefix(tenant: str, day: str) -> str:
    """A day's usage shards (`day` is YYYY-MM-DD)."""
    return f"ledger/{tenant}/usage/{day}/"


def usage_shard(tenant: str, hour: str, writer: str) -> str:
    """One writer's (one process's) counters for one hour (`hour` is YYYY-MM-DDTHH)."""
    return f"ledger/{tenant}/usage/{hour[:10]}/{hour[11:13]}-{writer}.json"


def audit_prefix(tenant: str) -> str:
    return f"ledger/{tenant}/audit/"


def audit_day_prefix(tenant: str, day: str) -> str:
    return f"ledger/{tenant}/audit/{day}/"


def audit_part(tenant: str, day: str, name: str) -> str:
    """A part of a day's audit trail; names sort by time, so a listing reads the trail in order."""
    return f"ledger/{tenant}/audit/{day}/{name}.jsonl"


def upload_receipt(tenant: str, dataset_id: str, item_id: str) -> str:
    """Written by an upload's first complete, which alone is metered."""
    return f"ledger/{tenant}/uploads/{dataset_id}/{item_id}"


def job_slot(tenant: str, number: int) -> str:
    """One of the tenant's concurrent-job slots: which job holds it, taken by a conditional write."""
    return f"{LEDGER}{tenant}/job-slots/{number:04d}.json"


def quotas_record(tenant: str) -> str:
    return f"ledger/{tenant}/quotas.json"


# Applications (service accounts): credentials, kept apart from tenants/ and the ledger so that no
# tenant route, export or event ever reaches them.
def applications_prefix(tenant: str) -> str:
    return f"identity/tenants/{tenant}/applications/"


def application_record(tenant: str, account_id: str) -> str:
    return f"identity/tenants/{tenant}/applications/{account_id}.json"


def application_last_used(tenant: str, account_id: str) -> str:
    """Apart from the record: a late `last used` write can never bring a revoked record back."""
    return f"identity/tenants/{tenant}/applications/{account_id}.last-used"


def application_client(client_id: str) -> str:
    """client id → (tenant, account): a token names only its client; Edna binds the tenant."""
    return f"identity/clients/{client_id}.json"


def dataset_deletion(tenant: str, dataset_id: str) -> str:
    """A dataset's deletion: status, progress and the cursor it resumes from (kept once it is done)."""
    return f"tenants/{tenant}/dataset-deletions/{dataset_id}.json"


def parse_dataset_deletion(key: str) -> tuple[str, str] | None:
    """(tenant, dataset id) of a deletion record's key; None for every other key."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "tenants" and parts[2] == "dataset-deletions" and parts[3].endswith(".json"):
        return parts[1], parts[3].removesuffix(".json")
    return None


def deleting_prefix(tenant: str) -> str:
    """Markers of the datasets being deleted, whose items searches leave out until they are gone."""
    return f"tenants/{tenant}/deleting/"


def deleting_marker(tenant: str, dataset_id: str) -> str:
    return deleting_prefix(tenant) + dataset_id
