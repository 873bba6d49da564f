import pytest

import etags
from problems import PreconditionRequired

ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_etag_is_strong_and_names_id_and_version():
    assert etags.make(ID, 3) == f'"{ID}.3"'


@pytest.mark.parametrize(("header", "expected"), [
    (f'"{ID}.3"', True), (f'W/"{ID}.3"', True), (f'"x", "{ID}.3"', True), ("*", True),
    (f'"{ID}.2"', False), ("", False), (None, False),
])
def test_none_match(header, expected):
    assert etags.none_match(header, etags.make(ID, 3)) is expected


def test_if_match_gives_the_accepted_versions_of_this_resource_only():
    assert etags.versions(f'"{ID}.3", "{ID}.5", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7"', ID, required=False) == [3, 5]
    assert etags.versions('"garbage", "", "%s.x", "%s.99999999999"' % (ID, ID), ID, required=False) == []
    assert etags.versions("*", ID, required=True) is None


def test_missing_if_match_is_unconditional_unless_required():
    assert etags.versions(None, ID, required=False) is None
    with pytest.raises(PreconditionRequired):
        etags.versions(None, ID, required=True)
