"""The running service's state: config, adapters and the domain services built over them."""

from __future__ import annotations

from dataclasses import dataclass

from service.bootstrap import Adapters
from service.domain.datasets import DatasetCatalog
from service.domain.items import ItemService, UploadLimits
from service.settings import Config


@dataclass
class Edna:
    config: Config
    adapters: Adapters
    datasets: DatasetCatalog
    items: ItemService

    @classmethod
    def build(cls, config: Config, adapters: Adapters) -> Edna:
        limits = UploadLimits(
            multipart_threshold=config.multipart_threshold,
            part_size=config.multipart_part_size,
            max_bytes=config.max_upload_bytes,
            upload_ttl=config.upload_url_ttl_seconds,
            download_ttl=config.download_url_ttl_seconds,
        )
        return cls(
            config=config,
            adapters=adapters,
            datasets=DatasetCatalog(adapters.blobs, adapters.index),
            items=ItemService(adapters.blobs, adapters.index, limits),
        )

    @property
    def blobs(self):
        return self.adapters.blobs
