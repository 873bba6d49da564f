import pytest

from tools.linearizability import Answer, EffectiveHistory, Op, misanswered, stale_reads, version_of


def test_a_read_older_than_a_write_acknowledged_before_it_began_is_stale():
    ops = [Op("write", "k", 0.0, 1.0, 2), Op("read", "k", 1.5, 1.6, 1)]
    assert stale_reads(ops) == [(ops[1], 2)]


def test_reads_overlapping_a_write_may_see_either_version():
    ops = [Op("write", "k", 1.0, 2.0, 2), Op("read", "k", 1.5, 1.6, 1), Op("read", "k", 1.5, 1.6, 2),
           Op("read", "k", 0.0, 3.0, 1), Op("read", "k", 2.5, 2.6, 2), Op("read", "k", 2.0, 2.1, 1)]
    assert stale_reads(ops) == []


def test_the_newest_acknowledged_version_counts_whatever_order_writes_ended_in():
    ops = [Op("write", "k", 0.0, 2.0, 3), Op("write", "k", 0.0, 1.0, 2), Op("write", "j", 0.0, 1.0, 9),
           Op("read", "k", 2.5, 2.6, 2), Op("read", "k", 1.5, 1.6, 2), Op("read", "j", 1.5, 1.6, 8)]
    assert stale_reads(ops) == [(ops[3], 3), (ops[5], 9)]


def test_answers_that_contradict_a_revocation_are_those_after_its_acknowledgment_or_before_it_began():
    # The revocation began at 2.0 and was acknowledged at 3.0.
    fine = [Answer(0.0, 1.9, 200), Answer(1.0, 2.5, 401), Answer(2.1, 2.9, 200), Answer(2.9, 4.0, 200),
            Answer(3.1, 3.2, 401)]
    late = Answer(3.1, 3.3, 200)  # began after the acknowledgment, still allowed
    early = Answer(0.0, 1.5, 401)  # ended before the revocation began, already refused
    other = Answer(2.5, 2.6, 500)
    assert misanswered(fine + [late, early, other], 2.0, 3.0, before=200, after=401) == [late, early, other]


def test_version_of_an_etag():
    assert version_of('"01JD3B5ZQ6V2K9X4N8M7P1R0ST.12"') == 12
    assert version_of('"01JD3B5ZQ6V2K9X4N8M7P1R0ST.12~3"') == 12


def test_an_effective_view_says_the_number_of_each_layer_and_of_the_parent():
    history = EffectiveHistory("http://127.0.0.1:1", {"C": "c0"}, prefix="p-",
                               environments={"root": "R", "left": "L", "right": "G", "leaf": "F"})
    provenance = [{"environment_id": e} for e in (None, "R", "G", "F")]
    view = {"configuration_id": "C", "environment": "p-3", "provenance": provenance,
            "config": {"config": 4, "root": 2, "right": 7, "leaf": 1}}
    assert history.numbers(view) == {"C:config": 4, "C:root": 2, "C:right": 7, "C:leaf": 1, "parent": 3}
    torn = view | {"environment": "p-4"}  # after write 4 the leaf's parent is left, not right
    with pytest.raises(AssertionError, match="disagree"):
        history.numbers(torn)
