"""Likely mistakes: labelled items whose label the models probably got right and the person wrong.

The rank of an item with label y is the normalized margin of confident learning's ranking
(Northcutt et al., 2021): max over classes j != y of p_j(x) - p_y(x), with p the model's
probabilities (top-k; a class outside them counts as 0), averaged over the models when no model
is named. Positive means the model puts another class above the label; the likeliest mistakes
come first. The suggestion is that other class (the mean probability over models without `model`).
A person may dismiss an item: it leaves the list (a record in storage, audited like every write).
"""

from __future__ import annotations

import json

from service.adapters.blobstore import BlobStore
from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord, SearchIndex, parse_position, sort_value
from service.domain.timestamps import now_iso
from service.vocabulary import layout
from service.vocabulary.errors import BadRequest
from service.vocabulary.roles import Principal

SCAN = 200  # records read per index page while skipping dismissed items


def suggestion(record: ItemRecord, model_id: str | None) -> str | None:
    """The class the models would put instead of the label: highest mean probability among the others."""
    predictions = [p for p in record.predictions if model_id is None or p.model_id == model_id]
    totals: dict[str, float] = {}
    for prediction in predictions:
        for name, probability in prediction.probs.items():
            if name != record.label:
                totals[name] = totals.get(name, 0.0) + probability
    return max(totals, key=lambda name: (totals[name], name)) if totals else None


class MistakeFinder:
    def __init__(self, blobs: BlobStore, index: SearchIndex):
        self.blobs = blobs
        self.index = index

    def dismissed(self, tenant: str, dataset_id: str) -> set[str]:
        prefix = layout.dismissals_prefix(tenant, dataset_id)
        return {o.key[len(prefix) :].removesuffix(".json") for o in self.blobs.iter_objects(prefix)}

    def page(
        self, tenant: str, dataset_id: str, model_id: str | None, limit: int, after: str | None
    ) -> tuple[list[tuple[ItemRecord, float, str | None]], str | None]:
        """(record, rank score, suggestion) of the likeliest mistakes after position `after`, and the next position."""
        query = ItemQuery(dataset_id=dataset_id, status=AVAILABLE, model_id=model_id, sort="mistake")
        if after is not None:
            try:
                parse_position(query, after)
            except (ValueError, TypeError):
                raise BadRequest("cursor is malformed; pass next_cursor of this list") from None
        skip = self.dismissed(tenant, dataset_id)
        found: list[tuple[ItemRecord, float, str | None]] = []
        while len(found) <= limit:
            records = self.index.search(tenant, query, SCAN, after)
            for record in records:
                score = sort_value(record, query)
                if score is None or score <= 0:
                    return found[:limit], None  # sorted likeliest first: the rest agree with their labels
                if len(found) == limit:
                    return found, after
                after = json.dumps([score, record.item_id])
                if record.item_id not in skip:
                    found.append((record, score, suggestion(record, model_id)))
            if len(records) < SCAN:
                return found[:limit], None
        return found[:limit], after

    def dismiss(self, principal: Principal, dataset_id: str, record: ItemRecord) -> None:
        body = {"by": principal.user, "at": now_iso(), "label": record.label}
        key = layout.dismissal(principal.tenant, dataset_id, record.item_id)
        self.blobs.put_bytes(key, json.dumps(body).encode(), "application/json")
