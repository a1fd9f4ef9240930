"""Pre-annotation: a model's prediction accepted as the label, for one item or every item a filter matches."""

from __future__ import annotations

from dataclasses import replace

from service.adapters.searchindex import AVAILABLE, ItemQuery, ItemRecord, SearchIndex
from service.domain import labels
from service.domain.datasets import Dataset
from service.domain.items import check_query
from service.domain.labels import Labeler
from service.domain.rebuild import bounded_map
from service.vocabulary.errors import BadRequest, Conflict, DomainError, NotFound

MAX_ITEM_IDS = 1000
MAX_ACCEPT = 10_000  # per request: a bigger match is accepted by asking again (the count says what is left)
PAGE = 500


class Preannotator:
    def __init__(self, index: SearchIndex, labeler: Labeler):
        self.index = index
        self.labeler = labeler

    def _matching(self, tenant: str, query: ItemQuery, item_ids: list[str] | None):
        """The records to consider: the named items, or every item the query matches, a page at a time."""
        if item_ids is not None:
            for item_id in item_ids:
                record = self.index.get(tenant, query.dataset_id or "", item_id)
                if record is None:
                    raise NotFound(f"item {item_id} not found")
                yield record
            return
        after = None
        while True:
            records = self.index.search(tenant, query, PAGE, after)
            yield from records
            if len(records) < PAGE:
                return
            after = records[-1].item_id

    def accept(
        self,
        tenant: str,
        dataset: Dataset,
        model_id: str,
        query: ItemQuery,
        item_ids: list[str] | None,
        overwrite: bool,
        dry_run: bool,
    ) -> dict:
        """Label with `model_id`'s prediction the available items that match; `{"matched", "labelled"}`.
        Only unlabelled items unless `overwrite`; an item labelled meanwhile by someone else keeps its label."""
        if item_ids is not None and len(item_ids) > MAX_ITEM_IDS:
            raise BadRequest(f"at most {MAX_ITEM_IDS} item_ids per request; use a query for more")
        query = replace(query, dataset_id=dataset.id, model_id=model_id, status=AVAILABLE, sort="id")
        if not overwrite:
            query = replace(query, unlabeled=True)
        check_query(query)
        chosen: list[tuple[ItemRecord, str]] = []
        for record in self._matching(tenant, query, item_ids):
            prediction = record.prediction(model_id)
            if prediction is None or prediction.predicted is None:
                continue  # a named item the model has no prediction for
            if item_ids is not None and not _passes(record, query):
                continue
            chosen.append((record, prediction.predicted))
            if len(chosen) == MAX_ACCEPT:
                break
        if dry_run:
            return {"matched": len(chosen), "labelled": 0}
        source = labels.model(model_id)

        def label(entry: tuple[ItemRecord, str]) -> int:
            record, predicted = entry
            try:
                fresh = not overwrite
                self.labeler.set_label(tenant, dataset, record.item_id, predicted, source, unless_labelled=fresh)
            except (Conflict, NotFound, BadRequest):
                return 0  # labelled, deleted or full of tags meanwhile: that item alone is skipped
            except DomainError:
                raise
            return 1

        return {"matched": len(chosen), "labelled": sum(bounded_map(label, chosen))}


def _passes(record: ItemRecord, query: ItemQuery) -> bool:
    """A named item still has to meet the request's label and score conditions."""
    prediction = record.prediction(query.model_id or "")
    if prediction is None or record.status != AVAILABLE:
        return False
    if query.unlabeled and record.label is not None:
        return False
    score = prediction.score if prediction.score is not None else 0.0
    if query.min_score is not None and score < query.min_score:
        return False
    return query.max_score is None or score <= query.max_score
