import asyncio

from middleware.head import HeadAsGet


def exchange(method: str) -> tuple[str, list[dict]]:
    """The method the app behind `HeadAsGet` saw, and the messages the client got."""
    seen = []
    sent = []

    async def app(scope, receive, send):
        seen.append(scope["method"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message):
        sent.append(message)

    asyncio.run(HeadAsGet(app)({"type": "http", "method": method, "path": "/x", "headers": []}, None, send))
    return seen[0], sent


def test_head_is_answered_as_get_without_the_body():
    method, (start, body) = exchange("HEAD")
    assert method == "GET" and start["headers"] == [(b"content-length", b"2")] and body["body"] == b""


def test_other_methods_pass_untouched():
    for sent_as in ("GET", "POST"):
        method, (_, body) = exchange(sent_as)
        assert method == sent_as and body["body"] == b"{}"
