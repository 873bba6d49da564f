import threading

from tools.harness import until


def health_once(client, condition) -> dict:
    """/health's body once `condition(body)` holds (only a hang runs out of time)."""
    seen: list[dict] = []
    until(lambda: condition(seen.append(client.get("/health").json()) or seen[-1]), "the health wanted")
    return seen[-1]


def test_get_health_reports_the_database_the_listener_and_the_waiters(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["listener"] in ("listening", "reconnecting")  # at start-up it may be connecting
    body = health_once(client, lambda body: body["listener"] == "listening")
    assert body == {"status": "ok", "database": "ok", "listener": "listening", "waiters": 0}


def test_get_health_counts_the_held_requests_and_says_when_the_listener_is_down(client):
    listener = client.app.state.listener
    created = client.post("/api/v1/applications", json={"name": "held"})
    held = threading.Thread(target=lambda: client.get(f"/api/v1/applications/{created.json()['id']}",
                                                      params={"wait": 30},
                                                      headers={"If-None-Match": created.headers["etag"]}))
    held.start()
    try:
        # Listening first: a listener still connecting would say so after this test said it was not.
        health_once(client, lambda body: body["waiters"] == 1 and body["listener"] == "listening")
        listener.listening = False
        assert client.get("/health").json()["listener"] == "reconnecting"
        listener.pooled = True  # given up for good (a pool in transaction mode): not listening, and never again
        assert client.get("/health").json()["listener"] == "disabled"
        listener.pooled = False
        listener.listening = True
    finally:
        client.put(f"/api/v1/applications/{created.json()['id']}", json={"name": "held-changed"})
        held.join(30)
    assert not held.is_alive()
    assert client.get("/health").json()["waiters"] == 0


def test_a_503_says_why_and_this_workers_state_as_the_200_does(client, monkeypatch):
    """While the database does not answer, /health's problem carries the worker's listener and held requests too
    (RFC 9457 extension members): what an operator looks at during an outage."""
    from wire.problems import ServiceUnavailable

    async def down(*args, **kwargs):
        raise ServiceUnavailable("The database is unavailable.")
    health_once(client, lambda body: body["listener"] == "listening")
    monkeypatch.setattr(client.app.state.database, "run", down)
    client.app.state.listener.listening = False  # (as it would be, its connection lost)
    try:
        response = client.get("/health")
    finally:
        client.app.state.listener.listening = True
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"type": "https://config-service.dev/problems/unavailable", "title": "Service Unavailable",
                               "status": 503, "detail": "The database is unavailable.", "instance": "/health",
                               "database": "unavailable", "listener": "reconnecting", "waiters": 0}
