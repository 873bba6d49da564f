import asyncio
from types import SimpleNamespace

from deps import get_database


def test_the_database_comes_from_the_app_state():
    marker = object()
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(database=marker)))
    assert asyncio.run(get_database(request)) is marker
