"""bootstrap picks each backend from config, and a missing setting is a clear error, not a crash later."""

import pytest

from service.bootstrap import build_adapters, build_search_index
from service.settings import Config


def test_opensearch_and_elasticsearch_are_selectable(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    base = Config(data_dir=tmp_path, search_url="https://search-x.eu-west-1.es.amazonaws.com")
    assert build_search_index(base.replace(search="opensearch")).name == "opensearch"
    elastic = base.replace(search="elasticsearch", search_url="http://127.0.0.1:9")
    assert build_search_index(elastic).name == "elasticsearch"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"storage": "s3"}, "EDNA_S3_BUCKET"),
        ({"storage": "ftp"}, "EDNA_STORAGE"),
        ({"identity": "cognito"}, "EDNA_COGNITO_ISSUER"),
        ({"identity": "ldap"}, "EDNA_IDENTITY"),
        ({"search": "opensearch"}, "EDNA_SEARCH_URL"),
        ({"search": "solr"}, "EDNA_SEARCH"),
    ],
)
def test_missing_or_unknown_settings_are_named(tmp_path, changes, needle):
    with pytest.raises(ValueError, match=needle):
        build_adapters(Config(data_dir=tmp_path).replace(**changes))
