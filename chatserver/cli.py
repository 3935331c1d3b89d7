"""The ``chatserver`` command.

::

    chatserver serve [--host H] [--port P]      the hub (several may run at once)
    chatserver worker                           background jobs only (timers, sweeper)
    chatserver agents add ID --password P [--name N] [--role R] [--capacity C] [--skill S[:L]]...
    chatserver agents list
    chatserver agents set ID [--name N] [--role R] [--capacity C] [--skill S[:L]]... [--password P]
    chatserver agents disable ID | enable ID
    chatserver topics set NAME [--required S[:L]]... [--optional S[:L]]... [--priority N]
    chatserver topics list | delete NAME
    chatserver skills                           every skill with the agents holding it
    chatserver canned list | add SHORTCUT TEXT [--language L] | set ID [...] | delete ID
    chatserver widget show | set [--origin URL]... [--hours DAY=HH:MM-HH:MM]... [...]
    chatserver openapi                          the REST API's OpenAPI document
    chatserver plan [--hours H] [--service-level P] [--within S] [--max-abandon P] ...
                                                agents needed per hour (docs/planning.md)

Settings come from the environment (docs/configuration.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from chatserver import cli_config
from chatserver.settings import Settings, SettingsError


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

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # close our sockets with 1001 first so clients reconnect to another process
            for conns in [*node.agents.values(), *node.visitors.values()]:
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
        loop="uvloop",
        http=GuardedHttpProtocol,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=5,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
    )
    server = Server(config)

    async def main() -> None:
        async def announce() -> None:
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
                await asyncio.sleep(0.05)
            print(f"chatserver serving on {settings.base_url}", flush=True)
            if generated:
                agent = await node.directory.get_agent("admin")
                if agent is not None and node.credentials.verify_password(
                    agent.password_hash, settings.admin_password
                ):
                    print(
                        f"created agent 'admin' with password {settings.admin_password} "
                        "(change it with: chatserver agents set admin --password ...)",
                        flush=True,
                    )

        task = asyncio.create_task(announce())
        await server.serve()
        task.cancel()

    _run(main())


def worker(settings: Settings) -> None:
    from chatserver.hub.node import Node

    async def main() -> None:
        node = Node(settings.with_(background_jobs=True))
        await node.start()
        print("chatserver worker running", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
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
            await node.redis.publish(node.keys.queue_channel, b"drain")
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
                args.id, name=args.name or args.id,
                password_hash=node.credentials.hash_password(args.password),
                role=Role(args.role or "agent"),
                capacity=args.capacity if args.capacity is not None else settings.default_capacity,
                skills=parse_skills(args.skill or []), now_ms=node.now(),
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
                {} if args.action == "set" and args.no_skills
                else parse_skills(args.skill) if args.action == "set" and args.skill
                else None
            ),
            disabled={"disable": True, "enable": False}.get(args.action),
        )
        return (await apply_agent_patch(node, args.id, patch)).public()

    _print(admin(settings, action))
    return 0


def topics_command(settings: Settings, args: argparse.Namespace) -> int:
    from chatserver.store.directory import parse_skills, validate_topic_name

    async def action(node: Any) -> Any:
        d = node.directory
        if args.action == "list":
            return [t.public() for t in (await d.topics()).values()]
        if args.action == "delete":
            # as DELETE /api/topics/{name}: the router only looks at existing topics' queues
            name = validate_topic_name(args.name)
            waiting = int(await node.redis.zcard(node.keys.queue(name)))
            if waiting:
                raise SystemExit(f"error: {waiting} chats are waiting in this topic's queue")
            return {"deleted": await d.delete_topic(name)}
        existing = (await d.topics()).get(args.name)
        priority = args.priority
        if priority is None:
            priority = existing.priority if existing else 5
        topic = await d.set_topic(
            args.name, required=parse_skills(args.required or []),
            optional=parse_skills(args.optional or []), priority=priority,
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
    p = argparse.ArgumentParser(prog="chatserver", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run a hub process")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    sub.add_parser("worker", help="run background jobs only")

    a = sub.add_parser("agents", help="manage agents")
    a.add_argument("action", choices=["add", "list", "set", "disable", "enable"])
    a.add_argument("id", nargs="?")
    a.add_argument("--name")
    a.add_argument("--password")
    a.add_argument("--role", choices=["agent", "supervisor", "admin"])
    a.add_argument("--capacity", type=int)
    a.add_argument("--skill", action="append", help="skill or skill:level (1-10); repeat")

    t = sub.add_parser("topics", help="manage topics (what a chat needs)")
    t.add_argument("action", choices=["set", "list", "delete"])
    t.add_argument("name", nargs="?")
    t.add_argument("--required", action="append", help="skill or skill:min-level; repeat")
    t.add_argument("--optional", action="append", help="dropped after RELAX_AFTER_S")
    t.add_argument("--priority", type=int, help="0-9, higher first (default 5, or unchanged)")

    sub.add_parser("skills", help="list skills and who holds them")
    cli_config.add_parsers(sub)
    from chatserver.planning.command import add_parser as add_plan_parser

    add_plan_parser(sub)
    a.add_argument("--no-skills", action="store_true", help="set: remove every skill")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
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
