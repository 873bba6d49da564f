from repositories import api_keys, applications


def test_update_replaces_a_keys_rights_and_records_them_in_the_audit(cur):
    a = applications.create(cur, name="a", comments=None)
    b = applications.create(cur, name="b", comments=None)
    made = api_keys.create(cur, by=None, name="reader", actions=["read"], applications=[a["id"]], environments=None)
    updated = api_keys.update(cur, made["id"], by=None, settings_manager=True, name="reader", actions=["read"],
                              applications=[b["id"]], environments=None)
    assert (updated["applications"], updated["version"]) == ([b["id"]], 2)
    assert api_keys.get(cur, made["id"])["applications"] == [b["id"]]
    ring = {row["id"]: row for row in api_keys.active(cur)}
    assert ring[made["id"]]["applications"] == [b["id"]]
    entries, _ = api_keys.audit(cur, after=0, limit=10)
    assert [entry["action"] for entry in entries if entry["key"]["id"] == made["id"]] == ["created", "updated"]
