import logging

from db.primary import IDENTITY, Identity, Primary, identity_of


def test_the_newest_timeline_of_a_system_is_the_primary_and_an_older_one_is_refused():
    primary = Primary()
    assert primary.admit(Identity("7", 1)) and primary.generation == 1
    assert primary.admit(Identity("7", 1)) and primary.generation == 1  # the same server: nothing changes
    assert primary.admit(Identity("7", 2)) and primary.generation == 2  # promoted: the new primary
    assert not primary.admit(Identity("7", 1))  # the old one, back read-write beside it
    assert primary.is_current(Identity("7", 2)) and not primary.is_current(Identity("7", 1))
    assert not primary.is_current(None)


def test_a_new_primary_is_logged_once_with_the_epoch_it_ends(caplog):
    """An on-call reads in the log that the primary changed and that every ETag and feed position from before it
    stopped matching (the 412s and 410s that follow are that, not lost data)."""
    primary = Primary()
    with caplog.at_level(logging.WARNING, logger="config_service"):
        primary.admit(Identity("7", 4))  # the first seen: no change to tell
        primary.admit(Identity("7", 4))
        primary.admit(Identity("7", 5))
        primary.admit(Identity("7", 5))
        primary.admit(Identity("7", 4))  # the old one, refused: not a change
    assert [r.getMessage() for r in caplog.records] == [
        "the primary is now system 7 timeline 5 (it was system 7 timeline 4): a new epoch, 5; ETags and feed "
        "positions of epoch 4 hold for what it has, and what it lost matches nothing"]


def test_a_standby_is_never_admitted_and_another_system_replaces_the_primary():
    primary = Primary()
    assert not primary.admit(Identity("7", 0, recovery=True)) and primary.current is None
    assert primary.admit(Identity("7", 3))
    assert primary.admit(Identity("8", 1)) and primary.current == Identity("8", 1)  # another database altogether


def test_the_identity_of_a_real_server(sql):
    sql.execute(IDENTITY)
    identity = identity_of(sql.fetchone())
    assert identity.system.isdigit() and identity.timeline >= 1 and identity.recovery is False
    assert identity_of((identity.system, False, identity.timeline)) == identity
