"""The route class every router uses: a JSON request body is parsed by `jsontext.loads`, so its numbers stay exact
and NaN and Infinity are kept to be refused (`bodies.check_storable`), where FastAPI's `json.loads` would round
the one and accept the other."""

from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from wire import jsontext


class _ExactJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = jsontext.loads(await self.body())
        return self._json


class ExactJsonRoute(APIRoute):
    """A route whose JSON body is parsed by `jsontext.loads`: numbers exact, NaN and Infinity kept for refusal."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def exact(request: Request) -> Response:
            return await handler(_ExactJsonRequest(request.scope, request.receive))

        return exact
