from repositories import configurations
from tools import inmemory
from tools.harness import CONFIGS


def test_a_put_written_in_memory_answers_as_the_database_would_and_writes_nothing(
        client, application, configuration, database_url, sql, monkeypatch):
    owner = application()
    kept = configuration(owner["id"], config={"a": 1})
    other = configuration(owner["id"], name="other", config={"a": 1})
    real = client.put(f"{CONFIGS}/{other['id']}", json={"name": "other", "config": {"a": 2}},
                      headers={"If-Match": f'"{other["id"]}.1"'})
    assert real.status_code == 200, real.text

    monkeypatch.setattr(configurations, "update_now", inmemory.update_now_from(inmemory.known(database_url)))
    memory = client.put(f"{CONFIGS}/{kept['id']}", json={"name": "database", "config": {"a": 2}},
                        headers={"If-Match": f'"{kept["id"]}.1"'})
    assert memory.status_code == 200, memory.text
    # The answer the database's write gives, in shape and in what it says: the next version, the configuration's
    # application and creation time, what was sent.
    assert list(memory.json()) == list(real.json())
    expected = {key: value for key, value in kept.items() if key != "updated_at"} | {"config": {"a": 2}, "version": 2}
    assert {key: value for key, value in memory.json().items() if key != "updated_at"} == expected
    assert memory.headers["etag"] == f'"{kept["id"]}.2"'
    # Nothing written.
    sql.execute("""SELECT version, config = '{"a": 1}'::jsonb AS unchanged FROM configurations WHERE id = %s""",
                (kept["id"],))
    assert sql.fetchone() == {"version": 1, "unchanged": True}
