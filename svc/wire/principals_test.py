import pytest
from wire import principals as auth
from wire.principals import Principal

SECRET_W = "w" * 20
SECRET_R = "r" * 20


def test_parse_reads_names_scopes_and_secrets():
    keys = auth.parse(f"ci:rw:{SECRET_W}, dash:ro:{SECRET_R}\n# comment\nops:admin:{SECRET_W}x")
    assert [(k.name, k.scope, k.secret) for k in keys] == [("ci", "rw", SECRET_W.encode()), ("dash", "ro", SECRET_R.encode()),
                                                           ("ops", "admin", (SECRET_W + "x").encode())]
    assert auth.parse("") == ()


def test_secrets_may_contain_colons():
    assert auth.parse("a:rw:" + "x:" * 10)[0].secret == ("x:" * 10).encode()


@pytest.mark.parametrize(("text", "message"), [
    ("ci:root:" + "x" * 20, "scope"),
    ("ci:rw:short", "at least 16"),
    ("bad name:rw:" + "x" * 20, "name"),
    (f"ci:rw:{'x' * 20},ci:ro:{'y' * 20}", "twice"),
    # A secret pasted alone (it reads as a name) or with its scope only: not quoted, and what is wrong said.
    ("x" * 20, "key 1 is not name:scope:secret (it has no colons of the two)"),
    ("rw:" + "x" * 20, "key 1 is not name:scope:secret (it has 1 colon of the two)"),
    (f"ci:rw:{'x' * 20},ops:admin:{'x' * 20}", "keys 'ci' and 'ops' have the same secret"),
])
def test_bad_keys_are_refused_without_showing_the_secret(text, message):
    with pytest.raises(ValueError) as error:
        auth.parse(text)
    assert message in str(error.value) and "x" * 20 not in str(error.value)


def test_keys_never_print_their_secret():
    key = auth.parse(f"ci:rw:{SECRET_W}")[0]
    assert SECRET_W not in repr(key) and SECRET_W not in str(key)


def test_load_reads_a_file_too(tmp_path):
    file = tmp_path / "keys"
    file.write_text(f"dash:ro:{SECRET_R}\n")
    assert [k.name for k in auth.load(f"ci:rw:{SECRET_W}", file)] == ["ci", "dash"]




def test_a_principal_sees_its_scope_only():
    key = Principal("k", frozenset({"read"}), frozenset({"A"}), frozenset({"E"}))
    assert key.sees_application("A") and not key.sees_application("B")
    assert key.sees_environment("E") and key.sees_environment(None) and not key.sees_environment("F")
    blind = Principal("m", frozenset({"manage"}))
    assert not blind.sees_application("A") and not blind.sees_environment(None)
    assert Principal("all", frozenset({"read"})).everywhere and not key.everywhere


def test_covers_is_a_subset_of_actions_applications_and_environments():
    everything = Principal("root", frozenset({"read", "write", "manage"}))
    scoped = Principal("s", frozenset({"read", "manage"}), frozenset({"A", "B"}), None)
    assert everything.covers({"read", "write"}, None, None)
    assert scoped.covers({"read"}, {"A"}, None) and scoped.covers({"read"}, {"A"}, {"E"})
    assert not scoped.covers({"read", "write"}, {"A"}, None)  # an action it lacks
    assert not scoped.covers({"read"}, None, None)  # every application: more than A and B
    assert not scoped.covers({"read"}, {"A", "C"}, None)


def test_rights_are_sorted_and_never_show_the_digest():
    key = Principal("k", frozenset({"write", "read"}), frozenset({"B", "A"}), None, digest=b"secret-digest")
    assert key.rights() == {"name": "k", "actions": ["read", "write"], "applications": ["A", "B"],
                            "environments": None, "expires_at": None}
    assert "secret-digest" not in repr(key)


def test_digest_is_sha256():
    assert auth.digest(b"abc").hex().startswith("ba7816bf")


def test_a_key_that_expires_covers_only_rights_that_expire_no_later():
    from datetime import UTC, datetime, timedelta
    soon = datetime(2027, 1, 1, tzinfo=UTC)
    expiring = Principal("m", frozenset({"read", "manage"}), None, None, expires_at=soon)
    assert expiring.covers({"read"}, None, None, soon) and expiring.covers({"read"}, None, None, soon - timedelta(1))
    assert not expiring.covers({"read"}, None, None, None)  # never expires: beyond it
    assert not expiring.covers({"read"}, None, None, soon + timedelta(seconds=1))
    assert Principal("root", frozenset({"read"})).covers({"read"}, None, None, None)
