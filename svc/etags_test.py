import pytest

import etags

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
    assert etags.accepted(f'"{ID}.3", "{ID}.5", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7"', ID) == [3, 5]
    assert etags.accepted('"garbage", "", "%s.x", "%s.99999999999"' % (ID, ID), ID) == []
    assert etags.accepted("*", ID) is None
    assert etags.accepted(f'"{ID}.1", *', ID) is None


def test_if_match_compares_strongly():
    # RFC 9110 §13.1.1: a weak tag never matches in If-Match; only the exact tag we send does.
    assert etags.accepted(f'W/"{ID}.3"', ID) == []
    assert etags.accepted(f'W/"{ID}.3", "{ID}.4"', ID) == [4]
    assert etags.accepted(f'"{ID}.03"', ID) == []


@pytest.mark.parametrize("version", ["2147483648", "9999999999", "99999999999999999999999", "0"])
def test_if_match_with_a_version_no_resource_can_have_matches_nothing(version):
    assert etags.accepted(f'"{ID}.{version}"', ID) == []
    assert etags.accepted(f'"{ID}.2147483647"', ID) == [2147483647]


def test_missing_if_match_accepts_any_version():
    assert etags.accepted(None, ID) is None


def test_a_header_of_several_lines_is_one_list_in_their_order():
    scope = {"headers": [(b"if-match", b'"a"'), (b"x", b"y"), (b"if-match", b'"b", "c"'), (b"if-none-match", b"*")]}
    assert etags.header(scope, b"if-match") == '"a", "b", "c"'
    assert etags.header(scope, b"if-none-match") == "*"
    assert etags.header(scope, b"authorization") is None
    assert etags.header({"headers": [(b"if-match", "\u00e9".encode("latin-1"))]}, b"if-match") == "\u00e9"


def test_if_none_match_on_a_write_refuses_the_versions_it_names_weakly_and_star_refuses_all():
    assert etags.refused(None, ID) == []
    assert etags.refused(f'"{ID}.3", W/"{ID}.5", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7", "x", "{ID}.07"', ID) == [3, 5]
    assert etags.refused("*", ID) is None and etags.refused(f'"{ID}.1", *', ID) is None


def test_preconditions_accept_what_if_match_names_and_refuse_what_if_none_match_names():
    assert etags.UNCONDITIONAL.accepts(7) and not etags.UNCONDITIONAL.refuses(7)
    both = etags.Preconditions(match=[3], none_match=[4])
    assert both.accepts(3) and not both.accepts(4) and both.refuses(4) and not both.refuses(3)
    assert etags.Preconditions(none_match=None).refuses(1)
    assert both.params() == {"versions": [3], "refused": [4]}
