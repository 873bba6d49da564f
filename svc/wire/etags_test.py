import pytest

from wire import etags
from wire.etags import Named

ID = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_etag_is_strong_and_names_id_and_version():
    assert etags.make(ID, 3, 1) == f'"{ID}.3"'
    assert etags.of_row({"id": ID, "version": 3, "epoch": 1}) == f'"{ID}.3"'


@pytest.mark.parametrize(("header", "expected"), [
    (f'"{ID}.3"', True), (f'W/"{ID}.3"', True), (f'"x", "{ID}.3"', True), ("*", True),
    (f'"{ID}.2"', False), ("", False), (None, False), ("W/*", False), (f'W/*, "{ID}.3"', True),
])
def test_none_match(header, expected):
    assert etags.none_match(header, etags.make(ID, 3, 1)) is expected


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
    assert etags.UNCONDITIONAL.accepts(7, 1) and not etags.UNCONDITIONAL.refuses(7, 1)
    both = etags.Preconditions(match=[Named(3)], none_match=[Named(4)])
    assert both.accepts(3, 1) and not both.accepts(4, 1) and both.refuses(4, 1) and not both.refuses(3, 1)
    assert etags.Preconditions(none_match=None).refuses(1, 1)
    assert both.params() == {"versions": [3 << 32 | 1], "refused": [4 << 32 | 1]}
    assert etags.Preconditions(None, None).params() == {"versions": None, "refused": None}


# Epochs: the timeline of the primary that wrote a version (primary.py, migration 0020). A failover that lost
# writes gives their version numbers to other content written in a new epoch, so a tag names a version as written:
# its number and its epoch. A version the new primary has keeps its epoch, and its tag.

def test_a_tag_of_epoch_1_keeps_the_form_the_service_always_sent_and_a_later_epoch_is_named():
    assert etags.make(ID, 3, 1) == f'"{ID}.3"'
    assert etags.make(ID, 3, 2) == f'"{ID}.3~2"'
    assert etags.of_row({"id": ID, "version": 3, "epoch": 4294967295}) == f'"{ID}.3~4294967295"'


def test_what_a_tag_names_is_a_version_as_written_in_an_epoch():
    assert etags.named(f'"{ID}.3"', ID) == Named(3, 1)
    assert etags.named(f'"{ID}.3~2"', ID) == Named(3, 2)
    assert etags.named(f'"{ID}.3~4294967295"', ID) == Named(3, 4294967295)
    # Only the exact form the service sends: epoch 1 has no suffix, no leading zeros, no empty or huge epoch.
    for tag in (f'"{ID}.3~1"', f'"{ID}.3~02"', f'"{ID}.3~"', f'"{ID}.3~0"', f'"{ID}.3~4294967296"', f'"{ID}.3~2~2"',
                f'"{ID}.~2"', f'"{ID}.3~x"', f'"{ID}.3~ 2"', f'"{ID}.03~2"'):
        assert etags.named(tag, ID) is None, tag
    for tag in (f'"{ID}.3"', f'"{ID}.3~2"', f'"{ID}.2147483647~4294967295"'):  # what it names makes it again
        found = etags.named(tag, ID)
        assert etags.make(ID, found.version, found.epoch) == tag


def test_the_key_of_a_version_as_written_is_one_for_each_pair():
    # The write's statement compares (version, epoch) as one bigint (`repositories.rows.written_key`).
    pairs = [(1, 1), (1, 2), (2, 1), (2147483647, 4294967295), (3, 4294967295), (4, 0)]
    keys = [etags.key(version, epoch) for version, epoch in pairs]
    assert len(set(keys)) == len(pairs) and max(keys) < 2**63 and Named(3, 2).key() == etags.key(3, 2)


def test_if_match_of_a_version_written_in_another_epoch_accepts_nothing_and_if_none_match_refuses_nothing():
    when = etags.Preconditions(etags.accepted(f'"{ID}.3"', ID), etags.refused(f'"{ID}.5", W/"{ID}.6~2"', ID))
    assert when.accepts(3, 1) and not when.accepts(3, 2)
    assert when.refuses(5, 1) and not when.refuses(5, 2) and when.refuses(6, 2) and not when.refuses(6, 1)
    assert when.params() == {"versions": [etags.key(3, 1)], "refused": [etags.key(5, 1), etags.key(6, 2)]}


def test_if_none_match_on_a_read_never_matches_a_tag_of_another_epoch():
    assert etags.none_match(etags.make(ID, 3, 1), etags.make(ID, 3, 1))
    assert not etags.none_match(etags.make(ID, 3, 1), etags.make(ID, 3, 2))
    assert not etags.none_match(etags.make(ID, 3, 2), etags.make(ID, 3, 3))


def test_a_page_etag_changes_with_the_epoch_an_item_was_written_in_and_with_nothing_else():
    rows = [{"id": ID, "version": 3, "epoch": 1}]
    one, two = etags.of_page(rows, None), etags.of_page([rows[0] | {"epoch": 2}], None)
    assert one != two and etags.of_page([dict(rows[0])], None) == one
    assert etags.of_page(rows, "x") != one and etags.of_page([], None) != one


def test_a_comma_inside_a_quoted_tag_is_part_of_it_not_a_list_separator():
    """RFC 9110 §8.8.3: `etagc` is any visible character but `"`, so `"a,*,b"` is one tag (naming nothing here),
    never the `*` a split at every comma found in it."""
    assert etags.members('"a,*,b"') == ['"a,*,b"']
    assert etags.members(' "x", W/"y,z" ,, "w" ') == ['"x"', 'W/"y,z"', '"w"']
    assert etags.members('"unclosed, *') == ['"unclosed, *']
    assert etags.accepted('"a,*,b"', "X") == [] and etags.accepted('"a,*,b", *', "X") is None
    assert not etags.none_match('"a,*,b"', '"X.1"') and etags.none_match('"a,*,b", "X.1"', '"X.1"')
    assert etags.refused('"a,*,b"', "X") == []
