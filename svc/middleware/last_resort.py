"""The answer to an unexpected error: a bare 500 problem, when nothing of a response was sent yet; nothing of the
error reaches the client. The error goes on outwards to `RequestLog`, which logs it and stops it."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wire import problems


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception:
            if not started:
                await problems.InternalError().response(scope["path"])(scope, receive, send)
            raise
