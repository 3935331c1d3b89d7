"""The ``chatserver`` command: ``serve``, ``worker`` and the administration commands.

Its help (``chatserver --help``, ``chatserver COMMAND --help``) is written for a terminal:
plain text, one description per command (``DESCRIPTION`` and ``EPILOG`` below).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chatserver import cli_config, gc_tuning
from chatserver.settings import Settings, SettingsError

log = logging.getLogger("chatserver")

DESCRIPTION = """\
Real-time live-chat server with skill-and-load agent routing.

Run "chatserver serve" to start a hub process (several may share one Redis), and the other
commands to manage agents and topics in the running system."""

EPILOG = """\
Settings come from environment variables (PORT, REDIS_URL, DATABASE_URL, SECRET_KEY, ...);
every one is listed in docs/configuration.md.  "chatserver COMMAND --help" describes one
command."""


def _run(coro: Awaitable[Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


# ---- serve / worker ---------------------------------------------------------------------
def serve(settings: Settings) -> None:
    import uvicorn

    from chatserver.web.app import create_app

    if not settings.admin_password:
        settings = settings.with_(admin_password=secrets.token_urlsafe(12))
        generated = True
    else:
        generated = False
    app = create_app(settings)
    node = app.state.node
    gc_tuning.tune()

    class Server(uvicorn.Server):
        drain_until: float | None = None
        """SIGTERM came: not ready any more, and the process exits at this time."""
        drain_told = False

        def handle_exit(self, sig: int, frame: Any) -> None:
            # SIGTERM: /readyz fails at once, and the process keeps serving for
            # SHUTDOWN_DRAIN_S so that a load balancer sends no new client here before
            # the sockets close.  (A signal handler: only flags here, see on_tick.)
            if (
                sig == signal.SIGTERM
                and settings.shutdown_drain_s > 0
                and self.drain_until is None
                and not self.should_exit
            ):
                node.draining = True
                self.drain_until = time.monotonic() + settings.shutdown_drain_s
                self._captured_signals.append(sig)  # exit by the signal, as uvicorn does
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.drain_until is not None and not self.should_exit:
                if not self.drain_told:
                    self.drain_told = True
                    log.info(
                        "SIGTERM: not ready any more (/readyz 503); closing in %.1f s",
                        settings.shutdown_drain_s,
                    )
                if time.monotonic() >= self.drain_until:
                    self.should_exit = True
            return await super().on_tick(counter)

        async def shutdown(self, sockets: Any = None) -> None:
            node.draining = True
            # close our sockets with 1001 first so clients reconnect to another process
            for conns in [*node.registry.agents.values(), *node.registry.visitors.values()]:
                for conn in list(conns):
                    conn.close(1001, "server shutting down")
            await asyncio.sleep(0.1)
            await super().shutdown(sockets)

    from chatserver.web.http_protocol import GuardedHttpProtocol, configure

    configure(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        backlog=settings.listen_backlog,
        loop="uvloop",
        http=GuardedHttpProtocol,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        ws_per_message_deflate=False,
        lifespan="on",
        # chatserver's own logging (telemetry/logs.py) formats and filters uvicorn's events
        log_config=None,
        log_level=None,
        timeout_graceful_shutdown=5,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )
    server = Server(config)

    async def main() -> None:
        async def announce() -> None:
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
                await asyncio.sleep(0.05)
            password = "the ADMIN_PASSWORD setting"
            if generated:
                password = (
                    "set earlier (change it with: chatserver agents set admin --password ...)"
                )
                agent = await node.directory.get_agent("admin")
                if agent is not None and node.credentials.verify_password(
                    agent.password_hash, settings.admin_password
                ):
                    password = settings.admin_password
            announce_start(settings, password)

        task = asyncio.create_task(announce())
        await server.serve()
        task.cancel()

    _run(main())


def announce_start(settings: Settings, password: str) -> None:
    """The end of the start-up output: where to go, and how to log in."""
    base = settings.base_url
    fields = {
        "url": base,
        "demo": f"{base}/demo/",
        "console": f"{base}/console/",
        "admin_password": password,
    }
    if settings.log_format == "json":
        log.info("chatserver serving on %s", base, extra={"fields": fields})
        return
    print(
        f"chatserver serving on {base}\n"
        f"  demo shop:      {fields['demo']}\n"
        f"  agent console:  {fields['console']}  (log in as admin)\n"
        f"  admin password: {password}",
        flush=True,
    )


def worker(settings: Settings) -> None:
    from chatserver.hub.node import Node

    async def main() -> None:
        node = Node(settings.with_(background_jobs=True))
        gc_tuning.tune()
        await node.start()
        exporter = None
        if settings.worker_metrics_port:
            # the worker's own figures (timers' offer outcomes, CRM deliveries, memory):
            # prometheus-client's small HTTP server, on HOST (loopback by default)
            from prometheus_client import start_http_server

            exporter, _ = start_http_server(settings.worker_metrics_port, addr=settings.host)
            log.info(
                "worker metrics on http://%s:%d/metrics",
                settings.host,
                settings.worker_metrics_port,
            )
        if settings.log_format == "json":
            log.info("chatserver worker running")
        else:
            print("chatserver worker running", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if exporter is not None:
            exporter.shutdown()
            exporter.server_close()
        await node.stop()

    _run(main())


# ---- admin ------------------------------------------------------------------------------
def admin(settings: Settings, action: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run an admin action against the live system; bad input exits with its reason."""
    from chatserver.hub.node import Node
    from chatserver.store.directory import DirectoryError
    from chatserver.web.api import ApiError

    async def main() -> Any:
        node = Node(settings)
        await node.start(serve=False)
        try:
            result = await action(node)
            await node.publisher.queues(b"drain")
            return result
        finally:
            await node.stop()

    try:
        return _run(main())
    except (DirectoryError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except ApiError as exc:
        raise SystemExit(f"error: {exc.message}") from None


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def agents_command(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.store.directory import Role, parse_skills
    from chatserver.web.api import apply_agent_patch
    from chatserver.web.models import AgentPatch

    async def action(node: Any) -> Any:
        d = node.directory
        if args.action == "list":
            return [a.public() for a in await d.list_agents()]
        if args.action == "add":
            if not args.password or len(args.password) < 8:
                raise SystemExit("a password of at least 8 characters is required")
            agent = await d.create_agent(
                args.id,
                name=args.name or args.id,
                password_hash=node.credentials.hash_password(args.password),
                role=Role(args.role or "agent"),
                capacity=args.capacity if args.capacity is not None else settings.default_capacity,
                skills=parse_skills(args.skill or []),
                now_ms=node.now(),
            )
            return agent.public()
        if args.action == "set" and args.password is not None and len(args.password) < 8:
            raise SystemExit("a password of at least 8 characters is required")
        patch = AgentPatch(
            name=args.name if args.action == "set" else None,
            password=args.password if args.action == "set" else None,
            role=args.role if args.action == "set" else None,
            capacity=args.capacity if args.action == "set" else None,
            skills=(
                {}
                if args.action == "set" and args.no_skills
                else parse_skills(args.skill)
                if args.action == "set" and args.skill
                else None
            ),
            disabled={"disable": True, "enable": False}.get(args.action),
        )
        return (await apply_agent_patch(node, args.id, patch)).public()

    _print(admin(settings, action))
    return 0


def topic_labels(current: dict[str, str], options: list[str]) -> dict[str, str]:
    """``current`` with each ``--label LANG=NAME`` applied (checked as the REST API does)."""
    import msgspec

    from chatserver.web.models import TopicBody

    labels = dict(current)
    for option in options:
        lang, sep, name = option.partition("=")
        if not sep or not lang:
            raise SystemExit(f"error: --label: expected LANG=NAME, got {option!r}")
        labels[lang] = name.strip()
    labels = {k: v for k, v in labels.items() if v}
    try:
        return dict(msgspec.convert({"labels": labels}, TopicBody).labels)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"error: --label: {exc}") from None


def topics_command(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.store.directory import parse_skills, validate_topic_name

    async def action(node: Any) -> Any:
        d = node.directory
        if args.action == "list":
            return [t.public() for t in (await d.topics()).values()]
        if args.action == "delete":
            # as DELETE /api/topics/{name}: the router only looks at existing topics' queues
            name = validate_topic_name(args.name)
            removed, waiting = await node.admin.delete_topic(name)
            if waiting:
                raise SystemExit(f"error: {waiting} chats are waiting in this topic's queue")
            return {"deleted": removed}
        existing = (await d.topics()).get(args.name)
        priority = args.priority
        if priority is None:
            priority = existing.priority if existing else 5
        labels = topic_labels(dict(existing.labels) if existing else {}, args.label or [])
        topic = await d.set_topic(
            args.name,
            required=parse_skills(args.required or []),
            optional=parse_skills(args.optional or []),
            priority=priority,
            labels=labels,
        )
        return topic.public()

    _print(admin(settings, action))
    return 0


def skills_command(settings: Settings, args: argparse.Namespace) -> int:
    async def action(node: Any) -> Any:
        table: dict[str, list[str]] = {}
        for agent in await node.directory.list_agents():
            for skill, level in agent.skills.items():
                table.setdefault(skill, []).append(f"{agent.id}:{level}" if level else agent.id)
        return {k: sorted(v) for k, v in sorted(table.items())}

    _print(admin(settings, action))
    return 0


def parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="chatserver", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=description, epilog=EPILOG, formatter_class=fmt
        )

    s = command(
        "serve",
        "run a hub process (the web server)",
        "Run a hub process: the web server with the WebSocket endpoints, the REST API,\n"
        "the widget, the agent console and the demo shop.  Several may run against one\n"
        "Redis.  With no REDIS_URL it starts the embedded Valkey server under DATA_DIR.\n"
        "On SIGTERM it stops being ready (/readyz) for SHUTDOWN_DRAIN_S, then exits.",
    )
    s.add_argument("--host", help="address to listen on (default: the HOST setting)")
    s.add_argument("--port", type=int, help="port to listen on (default: the PORT setting)")
    command(
        "worker",
        "run background jobs only (timers, sweeper, records writer)",
        "Run the background jobs without a web server: timers (offer timeouts, queue\n"
        "timeouts, idle chats), the presence sweeper, the interaction records writer and\n"
        "the CRM hand-off.  Use it with BACKGROUND_JOBS=false on the web processes.",
    )

    a = command(
        "agents",
        "add, list, change, disable or enable agents",
        "Manage agents.\n\n"
        "  chatserver agents add ID --password P [--name N] [--role R] [--capacity C]\n"
        "                           [--skill S[:L]]...\n"
        "  chatserver agents list\n"
        "  chatserver agents set ID [--name N] [--role R] [--capacity C]\n"
        "                           [--skill S[:L]]... [--no-skills] [--password P]\n"
        "  chatserver agents disable ID\n"
        "  chatserver agents enable ID",
    )
    a.add_argument("action", choices=["add", "list", "set", "disable", "enable"], help="what to do")
    a.add_argument("id", nargs="?", help="the agent's login id (all but list)")
    a.add_argument("--name", help="display name shown to visitors")
    a.add_argument("--password", help="at least 8 characters (add: required)")
    a.add_argument("--role", choices=["agent", "supervisor", "admin"], help="default: agent")
    a.add_argument("--capacity", type=int, help="chats at once (default: DEFAULT_CAPACITY)")
    a.add_argument("--skill", action="append", help="skill or skill:level (1-10); repeat")
    a.add_argument("--no-skills", action="store_true", help="set: remove every skill")

    t = command(
        "topics",
        "define, list or delete topics (what a chat needs)",
        "Manage topics: the queues visitors choose from, with the skills an agent\n"
        "needs to take their chats.\n\n"
        "  chatserver topics set NAME [--required S[:L]]... [--optional S[:L]]...\n"
        "                             [--priority N] [--label LANG=NAME]...\n"
        "  chatserver topics list\n"
        "  chatserver topics delete NAME",
    )
    t.add_argument("action", choices=["set", "list", "delete"], help="what to do")
    t.add_argument("name", nargs="?", help="the topic's name (set, delete)")
    t.add_argument("--required", action="append", help="skill or skill:min-level; repeat")
    t.add_argument("--optional", action="append", help="dropped after RELAX_AFTER_S")
    t.add_argument("--priority", type=int, help="0-9, higher first (default 5, or unchanged)")
    t.add_argument(
        "--label",
        action="append",
        metavar="LANG=NAME",
        help="the name visitors read in LANG (an empty NAME removes it); repeat",
    )

    command(
        "skills",
        "list skills and who holds them",
        "List every skill with the agents holding it (agent:level).",
    )
    cli_config.add_parsers(sub)
    from chatserver.planning.command import add_parser as add_plan_parser

    add_plan_parser(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    from chatserver.telemetry import logs

    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings)
    except SettingsError as exc:
        sys.exit(f"configuration error: {exc}")
    if args.command == "serve":
        if args.host:
            settings = settings.with_(host=args.host)
        if args.port is not None:
            settings = settings.with_(port=args.port)
        serve(settings)
    elif args.command == "worker":
        worker(settings)
    elif args.command == "agents":
        if args.action != "list" and not args.id:
            sys.exit("an agent id is required")
        sys.exit(agents_command(settings, args))
    elif args.command == "topics":
        if args.action != "list" and not args.name:
            sys.exit("a topic name is required")
        sys.exit(topics_command(settings, args))
    elif args.command == "skills":
        sys.exit(skills_command(settings, args))
    elif args.command == "plan":
        from chatserver.planning import command as plan_command

        try:
            sys.exit(plan_command.run(settings, args))
        except (ValueError, OSError) as exc:
            sys.exit(f"error: {exc}")
    elif hasattr(args, "run"):  # canned, widget, openapi (chatserver.cli_config)
        action = args.run(settings, args)
        if action is not None:
            _print(admin(settings, action))
