"""An MCP client built on the official SDK, driven by tests/api/mcp.rs against the example server
(examples/mcp-server) behind scopegate. Prints one JSON object with what it saw.

    python client.py http://127.0.0.1:PORT/mcp
    env: TOKEN_WITHOUT_COURSES, TOKEN_WITH_COURSES, TOKEN_OTHER_AUDIENCE
"""

import json
import os
import sys

import anyio
import httpx2
from mcp import ClientSession, MCPError
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_field_from_www_auth,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import ProtectedResourceMetadata
from mcp_types.version import LATEST_HANDSHAKE_VERSION

TIMEOUT = httpx2.Timeout(20)


def challenge(response: httpx2.Response) -> dict:
    """A 401/403 as the SDK's own WWW-Authenticate helpers read it."""
    return {
        "status": response.status_code,
        "error": extract_field_from_www_auth(response, "error"),
        "scope": extract_scope_from_www_auth(response),
        "resource_metadata": extract_resource_metadata_from_www_auth(response),
    }


async def anonymous(url: str) -> dict:
    """No token: initialize is refused, and the challenge leads to the resource's metadata."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "scopegate-test", "version": "1"},
        },
    }
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        refused = await http.post(
            url, json=initialize, headers={"Accept": "application/json, text/event-stream"}
        )
        seen = challenge(refused)
        candidates = build_protected_resource_metadata_discovery_urls(
            seen["resource_metadata"], url
        )
        fetched = await http.get(candidates[0])
    seen["discovery_url"] = candidates[0]
    seen["metadata_status"] = fetched.status_code
    if fetched.status_code == 200:
        metadata = ProtectedResourceMetadata.model_validate_json(fetched.content)
        seen["metadata"] = {
            "resource": str(metadata.resource),
            "scopes_supported": metadata.scopes_supported,
            "authorization_servers": [str(s) for s in metadata.authorization_servers],
        }
    return seen


async def session(url: str, token: str, tools: list[str]) -> dict:
    """A real SDK session with `token`: initialize, then each tool in turn. The transport turns
    an HTTP error into a JSON-RPC error, so the HTTP answers are recorded on the way in."""
    answers: list[httpx2.Response] = []

    async def record(response: httpx2.Response) -> None:
        if response.request.method == "POST":
            answers.append(response)

    seen: dict = {"calls": {}}
    http = httpx2.AsyncClient(
        timeout=TIMEOUT,
        headers={"Authorization": f"Bearer {token}"},
        event_hooks={"response": [record]},
    )
    async with http, streamable_http_client(url, http_client=http) as (read, write):
        async with ClientSession(read, write) as client:
            with anyio.fail_after(20):
                initialized = await client.initialize()
            seen["server"] = initialized.server_info.name
            for tool in tools:
                answers.clear()
                try:
                    with anyio.fail_after(20):
                        result = await client.call_tool(tool, {})
                except MCPError as refused:
                    call = {"mcp_error": refused.message}
                else:
                    text = [c.text for c in result.content if getattr(c, "type", "") == "text"]
                    call = {"is_error": result.is_error, "text": text}
                call["http"] = challenge(answers[-1]) if answers else None
                seen["calls"][tool] = call
    return seen


async def main() -> None:
    url = sys.argv[1]
    env = os.environ
    out = {"anonymous": await anonymous(url)}
    out["without_courses"] = await session(
        url, env["TOKEN_WITHOUT_COURSES"], ["get_settings", "list_courses"]
    )
    out["with_courses"] = await session(url, env["TOKEN_WITH_COURSES"], ["list_courses"])
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        other = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": f"Bearer {env['TOKEN_OTHER_AUDIENCE']}"},
        )
    out["other_audience"] = challenge(other)
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main)
