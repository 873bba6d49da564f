"""The ASGI middleware, pure ASGI and one job each. `app.middleware(settings)` stacks them, outermost first, and
says why in that order."""
