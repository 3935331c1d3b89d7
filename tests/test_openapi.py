"""The OpenAPI document: it names every REST route, it is served, and a real server keeps to
it under schemathesis for every operation and every role (issue 14)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import urllib.request
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chatserver.web import (
    api,
    config_api,
    docs_api,
    files_api,
    inbox_api,
    notices_api,
    openapi,
    planning_api,
    records_api,
    token_check,
)
from tests.harness import Cluster, active_chat, close_quietly, written_record

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    # the statuses that refuse a request (413: a body over 64 KiB is refused unread)
    "expected-statuses": ["400", "401", "403", "404", "409", "413", "415", "429"],
}}})
EXAMPLES = {
    GenerationMode.POSITIVE: int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6")),
    GenerationMode.NEGATIVE: max(1, int(os.environ.get("SCHEMATHESIS_EXAMPLES", "6")) * 2 // 3),
}
"""Examples per operation, role and mode: bounded (the whole run is about a minute)."""


def test_the_route_table_names_every_rest_route_of_the_app() -> None:
    served = {
        (method, route.path)
        for module in (
            api, config_api, records_api, token_check, docs_api, planning_api, notices_api,
            inbox_api, files_api,
        )
        for route in module.routes
        if route.path.startswith("/api/")
        for method in (route.methods or ()) - {"HEAD"}
    }
    documented = {(op.method, op.path) for op in openapi.OPERATIONS}
    assert served == documented


def test_the_document_is_openapi_3_1_with_its_auth_schemes() -> None:
    doc = openapi.document()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["components"]["securitySchemes"]) == {"session", "bearer", "visitorToken"}
    ops = [op for item in doc["paths"].values() for op in item.values()]
    assert len(ops) == len(openapi.OPERATIONS)
    assert all(op["x-roles"] for op in ops)
    assert all({"200", "201"} & set(op["responses"]) for op in ops)
    # every $ref resolves
    text = json.dumps(doc)
    for name in {part.split('"')[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in doc["components"]["schemas"], name


async def _start(cluster: Cluster) -> tuple[dict[str, dict[str, str]], str, str]:
    """The server with one written record and one offline message, and the credentials of
    each role: name -> headers to send; the record's chat id, the offline message's."""
    await cluster.start()
    supervisor = await cluster.add_agent("sv-1", role="supervisor")
    agent_token = await cluster.add_agent("ag-1", skills={"billing": 5})
    await cluster.set_topic("billing", required={"billing": 1})
    agent = await cluster.agent(agent_token)
    visitor = await cluster.visitor()
    try:
        chat_id = await active_chat(agent, visitor, topic="billing", name="Оксана")
        await visitor.say(chat_id, "Привіт")
        await agent.say(chat_id, "a note", internal=True)
        await agent.request({"type": "close", "chat": chat_id, "outcome": "resolved",
                             "tags": ["vip"]})
        await written_record(cluster, chat_id, within=20)
        # an offline message, for the inbox's answers to carry a real item
        offline = await visitor.request({"type": "offline", "email": "o@example.com",
                                         "text": "Привіт", "topic": "billing"})
        await written_record(cluster, str(offline["chat"]), within=20)
        visitor_token = visitor.token
    finally:
        await close_quietly([agent, visitor])
    assert visitor_token
    roles = {
        "anonymous": {},
        # a visitor's token where an agent session is expected: refused, never a 500
        "visitor": {"Authorization": f"Bearer {visitor_token}"},
        "agent": {"Authorization": f"Bearer {agent_token}"},
        "supervisor": {"Authorization": f"Bearer {supervisor}"},
        "admin": {"Authorization": f"Bearer {cluster.admin_token}"},
        # the console's way: the session cookie, with the product's own Origin (CSRF check)
        "admin (cookie)": {"Cookie": f"lc_session={cluster.admin_token}",
                           "Origin": cluster.urls[0]},
    }
    return roles, chat_id, str(offline["chat"])


def _explicit_cases(schema: Any, chat_id: str, offline_chat: str) -> list[Any]:
    """Requests that random data does not make: the real record, exports and metrics with
    data in them (their answers' schemas are checked against real rows)."""
    ops = {(op.method.upper(), op.path): op
           for op in (r.ok() for r in schema.get_all_operations())}
    return [
        ops["GET", "/api/records/{chat_id}"].Case(path_parameters={"chat_id": chat_id}),
        ops["GET", "/api/records"].Case(query={"limit": "1", "q": "Привіт"}),
        ops["GET", "/api/records/export.{fmt}"].Case(path_parameters={"fmt": "json"}),
        ops["GET", "/api/records/export.{fmt}"].Case(path_parameters={"fmt": "csv"}),
        ops["GET", "/api/metrics"].Case(query={"group": "agent"}),
        ops["GET", "/api/metrics"].Case(query={"group": "hour", "sl_target_s": "30"}),
        ops["GET", "/api/metrics"].Case(),
        ops["GET", "/api/queues"].Case(),
        ops["GET", "/api/inbox"].Case(query={"status": "open", "topic": "billing"}),
        ops["GET", "/api/inbox"].Case(),
        ops["POST", "/api/inbox/{chat_id}/claim"].Case(
            path_parameters={"chat_id": offline_chat}),
    ]


@pytest.mark.timeout(300)  # about 2,000 requests: a minute on a quiet machine, more when busy
def test_schemathesis_every_operation_every_role_no_500_and_conforming(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = Cluster(redis_url, n=1, token_checks_per_minute="100000")
    try:
        roles, chat_id, offline_chat = asyncio.run(_start(cluster))
        base = cluster.urls[0]
        with urllib.request.urlopen(base + "/api/openapi.json") as resp:
            schema = schemathesis.openapi.from_dict(json.load(resp), config=CONFIG)
        operations = [result.ok() for result in schema.get_all_operations()]
        # logging out ends the caller's sessions: last, so the other operations run logged in
        operations.sort(key=lambda op: op.path == "/api/logout")
        figures = {"operations": len(operations), "runs": 0, "calls": 0}
        failures: list[str] = []
        with requests.Session() as session:
            for case in _explicit_cases(schema, chat_id, offline_chat):
                for role, headers in roles.items():
                    figures["calls"] += 1
                    try:
                        case.call_and_validate(base_url=base, session=session,
                                               headers=headers, checks=CHECKS, timeout=10)
                    except (Exception, BaseExceptionGroup) as exc:
                        failures.append(f"{case.operation.method.upper()} "
                                        f"{case.formatted_path} as {role}: {exc}"[:3000])
            for operation in operations:
                for role, headers in roles.items():
                    for mode, examples in EXAMPLES.items():
                        checks = CHECKS + ([negative_data_rejection]
                                           if mode is GenerationMode.NEGATIVE else [])
                        figures["runs"] += 1
                        try:
                            _fuzz(operation, mode, examples, base, session, headers, checks,
                                  figures)
                        except Unsatisfiable:
                            # nothing to make invalid (no parameters and no body)
                            figures["runs"] -= 1
                        except (Exception, BaseExceptionGroup) as exc:
                            failures.append(f"{operation.method.upper()} {operation.path} "
                                            f"as {role} ({mode.value}): {exc}"[:3000])
        with capsys.disabled():
            print(f"\nschemathesis: {figures}, failures: {len(failures)}")
        assert not failures, "\n\n".join(failures)
    finally:
        cluster.stop()


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _fuzz(operation: Any, mode: GenerationMode, examples: int, base: str,
          session: requests.Session, headers: dict[str, str], checks: list[Any],
          figures: dict[str, int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        figures["calls"] += 1
        session.cookies.clear()  # a role's credentials are its headers only
        if case.headers:
            # headers the operation does not name are noise; a made-up Content-Length or
            # a name that is not an HTTP token breaks the request's framing, and the HTTP
            # server (not the API) answers "400 Invalid HTTP request"
            case.headers = {
                k: v for k, v in case.headers.items()
                if k.lower() != "content-length" and _TOKEN.fullmatch(k)
            }
        case.call_and_validate(base_url=base, session=session, headers=headers,
                               checks=checks, timeout=10)

    run()
