import asyncio
from types import SimpleNamespace

import pytest

from deps import accepted_versions, get_database
from problems import PreconditionRequired


def test_the_database_comes_from_the_app_state():
    marker = object()
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(database=marker)))
    assert asyncio.run(get_database(request)) is marker


def _request(require_if_match: bool) -> SimpleNamespace:
    settings = SimpleNamespace(require_if_match=require_if_match)
    return SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)))


def test_accepted_versions_reads_if_match_for_the_path_id():
    id = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"
    assert asyncio.run(accepted_versions(_request(False), id, f'"{id}.3", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7"')) == [3]
    assert asyncio.run(accepted_versions(_request(True), id, "*")) is None


def test_missing_if_match_is_unconditional_unless_required():
    assert asyncio.run(accepted_versions(_request(False), "01JD3B5ZQ6V2K9X4N8M7P1R0ST", None)) is None
    with pytest.raises(PreconditionRequired):
        asyncio.run(accepted_versions(_request(True), "01JD3B5ZQ6V2K9X4N8M7P1R0ST", None))
