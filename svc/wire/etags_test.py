import asyncio

import pytest

from wire import etags
from wire.etags import Named
from wire.epochs import EPOCH

ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_etag_is_strong_and_names_id_and_version():
    assert etags.make(ID, 3) == f'"{ID}.3"'


@pytest.mark.parametrize(("header", "expected"), [
    (f'"{ID}.3"', True), (f'W/"{ID}.3"', True), (f'"x", "{ID}.3"', True), ("*", True),
    (f'"{ID}.2"', False), ("", False), (None, False), ("W/*", False), (f'W/*, "{ID}.3"', True),
])
def test_none_match(header, expected):
    assert etags.none_match(header, etags.make(ID, 3)) is expected


def test_if_match_gives_the_accepted_versions_of_this_resource_only():
    assert etags.accepted(f'"{ID}.3", "{ID}.5", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7"', ID) == [Named(3), Named(5)]
    assert etags.accepted('"garbage", "", "%s.x", "%s.99999999999"' % (ID, ID), ID) == []
    assert etags.accepted("*", ID) is None
    assert etags.accepted(f'"{ID}.1", *', ID) is None


def test_if_match_compares_strongly():
    # RFC 9110 §13.1.1: a weak tag never matches in If-Match; only the exact tag we send does.
    assert etags.accepted(f'W/"{ID}.3"', ID) == []
    assert etags.accepted(f'W/"{ID}.3", "{ID}.4"', ID) == [Named(4)]
    assert etags.accepted(f'"{ID}.03"', ID) == []


@pytest.mark.parametrize("version", ["2147483648", "9999999999", "99999999999999999999999", "0"])
def test_if_match_with_a_version_no_resource_can_have_matches_nothing(version):
    assert etags.accepted(f'"{ID}.{version}"', ID) == []
    assert etags.accepted(f'"{ID}.2147483647"', ID) == [Named(2147483647)]


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
    assert etags.refused(f'"{ID}.3", W/"{ID}.5", "01JD3B5ZQ6V2K9X4N8M7P1R0SV.7", "x", "{ID}.07"', ID) == [Named(3), Named(5)]
    assert etags.refused("*", ID) is None and etags.refused(f'"{ID}.1", *', ID) is None
    assert etags.refused("W/*", ID) == [] and etags.refused(f'W/*, "{ID}.2"', ID) == [Named(2)]  # no weak `*`


def test_preconditions_accept_what_if_match_names_and_refuse_what_if_none_match_names():
    assert etags.UNCONDITIONAL.accepts(7) and not etags.UNCONDITIONAL.refuses(7)
    both = etags.Preconditions(match=[Named(3)], none_match=[Named(4)])
    assert both.accepts(3) and not both.accepts(4) and both.refuses(4) and not both.refuses(3)
    assert etags.Preconditions(none_match=None).refuses(1)
    assert both.params() == {"versions": [3], "refused": [4]}


# Epochs: the timeline of the database a tag was read on (primary.py). A failover that lost writes reuses their
# versions on a new timeline, so a tag of one epoch must match nothing in another.

def test_a_tag_of_epoch_1_keeps_the_form_the_service_always_sent_and_a_later_epoch_is_named():
    assert etags.make(ID, 3, epoch=1) == f'"{ID}.3"'
    assert etags.make(ID, 3, epoch=2) == f'"{ID}.3~2"'
    assert etags.make(ID, 3) == f'"{ID}.3"'  # no unit of work ran here: epoch 1
    token = EPOCH.set(7)
    try:
        assert etags.make(ID, 3) == f'"{ID}.3~7"'  # the data's epoch, as a unit of work sets it
    finally:
        EPOCH.reset(token)


def test_what_a_tag_names_is_a_version_in_an_epoch():
    assert etags.named(f'"{ID}.3"', ID) == Named(3, 1)
    assert etags.named(f'"{ID}.3~2"', ID) == Named(3, 2)
    assert etags.named(f'"{ID}.3~4294967295"', ID) == Named(3, 4294967295)
    # Only the exact form the service sends: epoch 1 has no suffix, no leading zeros, no empty or huge epoch.
    for tag in (f'"{ID}.3~1"', f'"{ID}.3~02"', f'"{ID}.3~"', f'"{ID}.3~0"', f'"{ID}.3~4294967296"', f'"{ID}.3~2~2"',
                f'"{ID}.~2"', f'"{ID}.3~x"', f'"{ID}.3~ 2"', f'"{ID}.03~2"'):
        assert etags.named(tag, ID) is None, tag


def test_a_tag_of_another_epoch_names_no_version():
    assert etags.version(f'"{ID}.3"', ID) == 3
    assert etags.version(f'"{ID}.3~2"', ID) is None
    assert etags.version(f'"{ID}.3~2"', ID, epoch=2) == 3 and etags.version(f'"{ID}.3"', ID, epoch=2) is None
    token = EPOCH.set(2)
    try:
        assert etags.version(f'"{ID}.3~2"', ID) == 3 and etags.version(f'"{ID}.3"', ID) is None
    finally:
        EPOCH.reset(token)


def test_if_match_of_another_epoch_accepts_nothing_and_if_none_match_of_another_epoch_refuses_nothing():
    when = etags.Preconditions(etags.accepted(f'"{ID}.3"', ID), etags.refused(f'"{ID}.5", W/"{ID}.6~2"', ID))
    assert when.accepts(3, epoch=1) and not when.accepts(3, epoch=2)
    assert when.refuses(5, epoch=1) and not when.refuses(5, epoch=2) and when.refuses(6, epoch=2)
    assert when.params(epoch=1) == {"versions": [3], "refused": [5]}
    assert when.params(epoch=2) == {"versions": [], "refused": [6]}  # If-Match names nothing: 412
    assert etags.Preconditions(None, None).params(epoch=2) == {"versions": None, "refused": None}
    token = EPOCH.set(2)  # inside a unit of work on timeline 2
    try:
        assert when.params() == {"versions": [], "refused": [6]} and not when.accepts(3)
    finally:
        EPOCH.reset(token)


def test_if_none_match_on_a_read_never_matches_a_tag_of_another_epoch():
    assert etags.none_match(etags.make(ID, 3, epoch=1), etags.make(ID, 3, epoch=1))
    assert not etags.none_match(etags.make(ID, 3, epoch=1), etags.make(ID, 3, epoch=2))
    assert not etags.none_match(etags.make(ID, 3, epoch=2), etags.make(ID, 3, epoch=3))


def test_a_page_etag_changes_with_the_epoch():
    rows = [{"id": ID, "version": 3}]
    one, two = etags.of_page(rows, None, epoch=1), etags.of_page(rows, None, epoch=2)
    assert one != two and two == one[:-1] + '~2"' and etags.of_page(rows, None) == one
    assert etags.of_page([], None, epoch=2) != etags.of_page([], None, epoch=3)


def test_the_epoch_a_task_sets_is_its_own():
    async def read_on(epoch: int) -> str:
        EPOCH.set(epoch)  # as Database.run does once its unit is done
        await asyncio.sleep(0)
        return etags.make(ID, 1)

    async def both() -> list[str]:
        return await asyncio.gather(read_on(2), read_on(3))

    assert asyncio.run(both()) == [f'"{ID}.1~2"', f'"{ID}.1~3"']
    assert etags.make(ID, 1) == f'"{ID}.1"'
