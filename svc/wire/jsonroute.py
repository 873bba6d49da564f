"""The route class every router uses: a JSON request body is parsed by `jsontext.loads`, so its numbers stay exact
and NaN and Infinity are kept to be refused (`bodies.check_storable`), where FastAPI's `json.loads` would round
the one and accept the other. And a body must be sent as it is: the service decodes no `Content-Encoding` (RFC 9110
§8.4: 415, whose `Accept-Encoding` names the one it takes), where FastAPI would take gzip's bytes for the JSON."""

from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from wire import jsontext
from wire.headers import is_json
from wire.problems import BadRequest, UnsupportedMediaType


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
        required = self.body_field.required

        async def exact(request: Request) -> Response:
            if not is_unencoded(",".join(request.headers.getlist("content-encoding"))):
                raise UnsupportedMediaType("The request body must be sent as it is: the service decodes no "
                                           "Content-Encoding.", headers={"Accept-Encoding": "identity"})
            exact_request = _ExactJsonRequest(request.scope, request.receive)
            if required and is_json(request.headers.get("content-type")) and not (await exact_request.body()).strip():
                # No JSON text at all (RFC 8259 §2: a value is required), which FastAPI reads as a body missing: 422
                # "Field required" at the root. It is a body that cannot be read, as any other not JSON.
                raise BadRequest("The request body is empty: it must be a JSON object.")
            return await handler(exact_request)

        return exact


def is_unencoded(content_encoding: str) -> bool:
    """Whether a request's Content-Encoding (its lines joined by commas) says the body is sent as it is: none, or
    only `identity`."""
    return all(coding.strip().lower() in ("", "identity") for coding in content_encoding.split(","))
