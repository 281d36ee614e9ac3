"""A Loopwise-style MCP server whose HTTP auth is delegated to scopegate.

The MCP SDK serves the protocol (streamable HTTP at /mcp); `ScopegateAuth`, an ASGI middleware
in front of it, asks scopegate's forward-auth endpoint about every request: a `tools/call` needs
the tool's operation, anything else an active token for this resource. The one open path is
this resource's RFC 9728 metadata, proxied from scopegate, where MCP clients look for it.

    python server.py --scopegate http://127.0.0.1:8081 --tenant school --port 8000
"""

import argparse
import json
import os
from urllib.parse import urlsplit

import httpx2
import uvicorn
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("loopwise-example", log_level="WARNING")


# Stubs: the tool names are the `loopwise` preset's operations; scopegate decides who may call
# them, so the tools themselves check nothing.
@mcp.tool()
def get_settings() -> str:
    """The school's settings (school:read or appearance:read)."""
    return "settings: name=Example School, theme=light"


@mcp.tool()
def list_courses() -> str:
    """The school's courses (courses:read)."""
    return "courses: Algebra I, Biology"


@mcp.tool()
def update_settings(name: str) -> str:
    """Renames the school (school:write or appearance:write)."""
    return f"settings updated: name={name}"


MAX_BODY = 1024 * 1024


class ScopegateAuth:
    """Lets a request reach `app` only when scopegate allows it; else answers with scopegate's
    status, `WWW-Authenticate` and JSON body unchanged."""

    def __init__(self, app, scopegate: str, tenant: str, resource: str):
        self.app, self.scopegate, self.tenant, self.resource = app, scopegate, tenant, resource
        path = urlsplit(resource).path.rstrip("/")
        self.metadata_path = "/.well-known/oauth-protected-resource" + path
        self.http = httpx2.AsyncClient(timeout=10)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == self.metadata_path and scope["method"] == "GET":
            url = f"{self.scopegate}/t/{self.tenant}{self.metadata_path}"
            answer = await self.http.get(url)
            return await respond(send, answer.status_code, answer.content)
        # Everything else, /mcp above all, is scopegate's to allow.
        body = await read_body(receive)
        if body is None:
            return await respond(send, 413, b'{"error":"request body too large"}')
        try:
            operations = tool_names(json.loads(body)) if body else [None]
        except (ValueError, LookupError, AttributeError, TypeError):
            # What we cannot read we cannot authorize: the SDK never sees it.
            return await respond(send, 400, b'{"error":"the body is not JSON-RPC"}')

        headers = {}
        for name, value in scope["headers"]:
            if name == b"authorization":
                headers["Authorization"] = value.decode("latin-1")
        for operation in operations:
            # All in the query: scopegate reads its X-Scopegate-* headers only when the query
            # names none of the route's settings.
            params = {"tenant": self.tenant, "resource": self.resource}
            if operation is not None:
                params["operation"] = operation
            verdict = await self.http.get(
                f"{self.scopegate}/v1/authorize", params=params, headers=headers
            )
            if verdict.status_code != 200:
                challenge = verdict.headers.get("www-authenticate")
                return await respond(send, verdict.status_code, verdict.content, challenge)
        await self.app(scope, replay(body, receive), send)


def tool_names(message) -> list:
    """The operations a JSON-RPC message (or batch) needs: each `tools/call`'s tool name, or
    `None` (an active token) when it calls no tool."""
    messages = message if isinstance(message, list) else [message]
    names = [m["params"]["name"] for m in messages if m.get("method") == "tools/call"]
    if not all(isinstance(n, str) for n in names):
        raise TypeError("tool name")
    return names or [None]


async def read_body(receive):
    """The whole request body, or `None` past `MAX_BODY`."""
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > MAX_BODY:
            return None
    return body


def replay(body, receive):
    """A `receive` that hands the app the body already read, then the client's own events."""
    sent = False

    async def again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def respond(send, status, body, challenge=None):
    headers = [(b"content-type", b"application/json")]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scopegate", default=env("SCOPEGATE_HTTP", "http://127.0.0.1:8081"),
                        help="scopegate's HTTP door (env SCOPEGATE_HTTP)")
    parser.add_argument("--tenant", default=env("SCOPEGATE_TENANT", "school"),
                        help="the scopegate tenant (env SCOPEGATE_TENANT)")
    parser.add_argument("--host", default=env("MCP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("MCP_PORT", "8000")))
    parser.add_argument("--resource", default=env("MCP_RESOURCE"),
                        help="this server's resource URI as registered on the tenant "
                             "(env MCP_RESOURCE; default http://HOST:PORT/mcp)")
    args = parser.parse_args()
    resource = args.resource or f"http://{args.host}:{args.port}/mcp"
    app = ScopegateAuth(mcp.streamable_http_app(host=args.host), args.scopegate.rstrip("/"),
                        args.tenant, resource)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
