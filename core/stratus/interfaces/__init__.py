"""The app served over protocols besides its REST API, each optional and imported only where served.

- `stratus.interfaces.mcp`: the app's agents, teams and workflows as MCP tools at `/mcp` (`App(mcp=True)`,
  extra `stratus[mcp]`).
- `stratus.interfaces.a2a`: each agent over A2A, with its agent card (`App(a2a=True)`, extra `stratus[a2a]`).
- `stratus.interfaces.agui`: each agent over AG-UI's event protocol (`App(agui=True)`, extra `stratus[agui]`).

Each module has `install(api, app)`, which `stratus.api.create_app` calls: it adds the protocol's routes to the
FastAPI application and returns an async context manager its lifespan must enter, or None. The caller's identity
comes from the same authentication as the REST API's (the middleware runs before every route).
"""
