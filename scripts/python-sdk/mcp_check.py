"""An MCP client built on the official Python SDK (`mcp`, pinned in requirements.txt), run by
dialbridge's tests against `/mcp` (Streamable HTTP, with an MCP token) or `dialbridge mcp`
(stdio). It initializes, runs the scenarios named on the command line and prints one JSON
summary as its last line: {"ok": bool, "server": ..., "scenarios": {name: result}}.

Scenarios:
  tools           the tool names and each tool's annotations
  resources       the resource URIs
  list-users      calls list_users {limit: 2}
  send-sms        calls send_sms from --user-id to --to with --text
  invalid-input   calls send_sms with a malformed to_numbers (must be a tool error)
  missing-scope   calls list_calls (must be a tool error)
  workflow        calls run_workflow_<--workflow> with --user-id, --to, --text
  read            reads the resource --uri
  refused         only initializes and lists tools; passes when the server refuses that
"""

import argparse
import asyncio
import json
import sys
import traceback

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def tool_result(result):
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    return {"is_error": bool(result.is_error), "json": json.loads(text) if text else None}


async def scenario(session, name, args):
    if name == "tools":
        tools = (await session.list_tools()).tools
        return {
            t.name: {
                "read_only": t.annotations.read_only_hint if t.annotations else None,
                "destructive": t.annotations.destructive_hint if t.annotations else None,
            }
            for t in tools
        }
    if name == "resources":
        return [str(r.uri) for r in (await session.list_resources()).resources]
    if name == "list-users":
        return tool_result(await session.call_tool("list_users", {"limit": 2}))
    if name == "send-sms":
        arguments = {"user_id": args.user_id, "to_numbers": [args.to], "text": args.text}
        return tool_result(await session.call_tool("send_sms", arguments))
    if name == "invalid-input":
        return tool_result(await session.call_tool("send_sms", {"to_numbers": "+1415"}))
    if name == "missing-scope":
        return tool_result(await session.call_tool("list_calls", {}))
    if name == "workflow":
        arguments = {"user_id": args.user_id, "to": args.to, "text": args.text}
        return tool_result(await session.call_tool(f"run_workflow_{args.workflow}", arguments))
    if name == "read":
        contents = (await session.read_resource(args.uri)).contents
        return json.loads(contents[0].text)
    raise ValueError(f"unknown scenario {name}")


async def run(args, transport):
    results = {}
    async with transport as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            for name in args.scenarios:
                results[name] = await scenario(session, name, args)
    return {"server": init.server_info.name, "scenarios": results}


def leaf(error):
    """The first error inside (nested) exception groups: what actually went wrong."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"


def transport_of(args):
    if args.stdio:
        command, *rest = json.loads(args.stdio)
        return stdio_client(StdioServerParameters(command=command, args=rest))
    client = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {args.token}"}, timeout=httpx2.Timeout(30, read=60)
    )
    return streamable_http_client(args.url, http_client=client)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="the /mcp URL (Streamable HTTP)")
    parser.add_argument("--token", help="the MCP token for --url")
    parser.add_argument("--stdio", help="the server's command line, as a JSON array")
    parser.add_argument("--user-id", default="")
    parser.add_argument("--to", default="")
    parser.add_argument("--text", default="")
    parser.add_argument("--workflow", default="")
    parser.add_argument("--uri", default="")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("scenarios", nargs="+")
    args = parser.parse_args()
    try:
        summary = await asyncio.wait_for(run(args, transport_of(args)), args.timeout)
        ok = "refused" not in args.scenarios
    except Exception as e:  # the summary says what failed; `refused` expects a failure
        traceback.print_exc(file=sys.stderr)
        summary = {"error": leaf(e)}
        ok = "refused" in args.scenarios
    summary["ok"] = ok
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
