import pytest

from wire.etags import Named, Preconditions
from wire.problems import EpochChanged, NotFound, PreconditionFailed
from repositories import applications, changes, configurations

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def test_every_write_of_a_configuration_is_numbered_in_its_application_feed(cur):
    app_id = applications.create(cur, name="a", comments=None)["id"]
    other = applications.create(cur, name="b", comments=None)["id"]
    first = configurations.create(cur, application_id=app_id, name="db", comments=None, config={}, actor="ci")
    configurations.create(cur, application_id=other, name="db", comments=None, config={})
    configurations.update(cur, first["id"], name="db2", comments=None, config={"x": 1}, actor="ops")
    configurations.restore(cur, first["id"], 1)
    configurations.delete(cur, first["id"], actor="ci")
    feed = changes.after(cur, app_id, 0, limit=10)
    assert [(c["seq"], c["kind"], c["name"], c["version"], c["by"]) for c in feed] == [
        (1, "created", "db", 1, "ci"), (2, "updated", "db2", 2, "ops"), (3, "restored", "db", 3, None),
        (4, "deleted", "db", 3, "ci")]
    assert [c["seq"] for c in changes.after(cur, app_id, 2, limit=1)] == [3]
    assert [c["seq"] for c in changes.after(cur, other, 0, limit=10)] == [1]


def test_a_refused_write_takes_no_number(cur):
    app_id = applications.create(cur, name="a", comments=None)["id"]
    made = configurations.create(cur, application_id=app_id, name="db", comments=None, config={})
    with pytest.raises(PreconditionFailed):
        configurations.update(cur, made["id"], name="db", comments=None, config={},
                              when=Preconditions(match=[Named(9)]))
    configurations.update(cur, made["id"], name="db", comments=None, config={"y": 1})
    assert [c["seq"] for c in changes.after(cur, app_id, 0, limit=10)] == [1, 2]


def test_a_position_past_the_end_of_the_feed_is_refused_not_answered_empty(cur):
    """A follower given a position past the end (another application's, a restored database's) would skip every
    change up to it without a word: the feed answers 404 naming its end, as a snapshot there does. At the end, it is an empty page."""
    app_id = applications.create(cur, name="a", comments=None)["id"]
    configurations.create(cur, application_id=app_id, name="db", comments=None, config={})
    assert changes.after(cur, app_id, 1, limit=10) == []
    with pytest.raises(NotFound) as refused:
        changes.after(cur, app_id, 2, limit=10)
    assert refused.value.detail == changes.PAST_THE_END.format(1)
    assert refused.value.detail.startswith("The application's change feed ends at position 1:")


def test_an_unknown_application_has_no_feed(cur):
    with pytest.raises(NotFound):
        changes.after(cur, MISSING, 0, limit=10)


def test_a_position_is_refused_exactly_when_its_change_is_not_in_the_feed_as_written_in_its_epoch(cur, timeline):
    app_id = applications.create(cur, name="a", comments=None)["id"]
    for n in range(2):
        configurations.create(cur, application_id=app_id, name=f"c{n}", comments=None, config={})
    rows, epoch = changes.page(cur, app_id, 0, limit=10)
    assert [(c["seq"], c["epoch"]) for c in rows] == [(1, 1), (2, 1)] and epoch == 1  # this server: timeline 1
    assert changes.page(cur, app_id, 2, limit=10, epoch=1) == ([], 1)  # the epoch of the position itself
    assert [c["seq"] for c in changes.after(cur, app_id, 0, limit=10, epoch=7)] == [1, 2]  # 0 starts every feed
    with pytest.raises(EpochChanged) as gone:
        changes.page(cur, app_id, 1, limit=10, epoch=2)
    assert gone.value.status == 410 and "Position 1 of epoch 2" in gone.value.detail and "after=0" in gone.value.detail
    assert "later than the database's (1)" in gone.value.detail  # not a failover: a database it does not follow
    with pytest.raises(EpochChanged) as past:  # in this epoch, never handed out: not blamed on a failover either
        changes.page(cur, app_id, 9, limit=10, epoch=1)
    assert "the feed ends at position 2: the position was never handed out" in past.value.detail
    assert "failover" not in past.value.detail
    with pytest.raises(NotFound):
        changes.page(cur, MISSING, 1, limit=10, epoch=1)

    # A failover lost change 2 and the new primary (epoch 2) numbered another change 2, and a third.
    cur.execute("DELETE FROM changes WHERE application_id = %s AND seq = 2", (app_id,))
    cur.execute("UPDATE applications SET last_change = 1 WHERE id = %s", (app_id,))
    with pytest.raises(EpochChanged):  # lost, not renumbered yet: told, where without its epoch it is past the end
        # (in the epoch it was written in, as after a restore: "never handed out, or restored")
        changes.page(cur, app_id, 2, limit=10, epoch=1)
    timeline(2)  # the new primary's
    with pytest.raises(EpochChanged) as lost:
        changes.page(cur, app_id, 2, limit=10, epoch=1)
    assert "lost that change in a failover" in lost.value.detail
    with pytest.raises(NotFound):
        changes.page(cur, app_id, 2, limit=10)
    for n in (2, 3):
        configurations.create(cur, application_id=app_id, name=f"d{n}", comments=None, config={})
    cur.execute("UPDATE changes SET epoch = 2 WHERE application_id = %s AND seq > 1", (app_id,))
    with pytest.raises(EpochChanged) as lost:  # the follower that read the lost change 2 is told
        changes.page(cur, app_id, 2, limit=10, epoch=1)
    assert "lost that change in a failover" in lost.value.detail
    rows, epoch = changes.page(cur, app_id, 1, limit=10, epoch=1)  # the one at 1 lost nothing: it reads on
    assert [c["seq"] for c in rows] == [2, 3] and epoch == 2
    assert changes.page(cur, app_id, 3, limit=10, epoch=2) == ([], 2)


def test_a_page_never_ends_inside_a_transaction(cur):
    """A change set's or an import's changes are one transaction: a follower applying page by page would otherwise
    show a state that never was (a key without its override). A page stops before a transaction that does not fit,
    and one larger than `limit` that begins the page comes whole."""
    app_id = applications.create(cur, name="a", comments=None)["id"]
    configurations.create(cur, application_id=app_id, name="first", comments=None, config={})  # 1
    cur.execute("BEGIN")
    for n in range(4):  # 2-5, one transaction
        configurations.create(cur, application_id=app_id, name=f"set{n}", comments=None, config={})
    cur.execute("COMMIT")
    configurations.create(cur, application_id=app_id, name="last", comments=None, config={})  # 6

    def seqs(after, limit):
        return [c["seq"] for c in changes.after(cur, app_id, after, limit=limit)]

    assert seqs(0, 2) == [1]  # not 1, 2: it stops before the set
    assert seqs(0, 5) == [1, 2, 3, 4, 5]  # the set fits whole
    assert seqs(1, 2) == [2, 3, 4, 5]  # the set begins the page: whole, past `limit`
    assert seqs(1, 4) == [2, 3, 4, 5] and seqs(1, 5) == [2, 3, 4, 5, 6]
    assert seqs(5, 1) == [6] and seqs(0, 1) == [1]
    assert seqs(2, 1) == [3, 4, 5]  # a follower that read part of it before (a page of an earlier release) goes on
    assert "txid" not in changes.after(cur, app_id, 0, limit=10)[0]


def test_a_transaction_is_one_txid_and_time_following_on_and_a_page_holds_at_most_whole_at_most(cur, monkeypatch):
    """A transaction id can come again (a dump restored into a new cluster starts its counter over): a page taken
    whole by it skipped the changes between (a review: 1-3 and 7 of one id, 4-6 lost). And a transaction larger
    than WHOLE_AT_MOST is split rather than sent whole however large."""
    app_id = applications.create(cur, name="a", comments=None)["id"]
    cur.execute("BEGIN")
    for n in range(3):  # 1-3
        configurations.create(cur, application_id=app_id, name=f"set{n}", comments=None, config={})
    cur.execute("COMMIT")
    for n in range(4):  # 4-7
        configurations.create(cur, application_id=app_id, name=f"one{n}", comments=None, config={})
    cur.execute("UPDATE changes SET txid = (SELECT txid FROM changes WHERE application_id = %s AND seq = 1) "
                "WHERE application_id = %s AND seq = 7", (app_id, app_id))
    assert [c["seq"] for c in changes.after(cur, app_id, 0, limit=2)] == [1, 2, 3]
    cur.execute("UPDATE changes SET txid = (SELECT txid FROM changes WHERE application_id = %s AND seq = 1) "
                "WHERE application_id = %s AND seq = 5", (app_id, app_id))
    assert [c["seq"] for c in changes.after(cur, app_id, 0, limit=2)] == [1, 2, 3]
    assert [c["seq"] for c in changes.after(cur, app_id, 3, limit=1)] == [4]
    monkeypatch.setattr(changes, "WHOLE_AT_MOST", 2)
    assert [c["seq"] for c in changes.after(cur, app_id, 0, limit=1)] == [1, 2]  # split past the bound
