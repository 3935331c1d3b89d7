"""Administration: agents (created, changed, disabled, their sessions ended), topics (set,
deleted), the widget's settings and the canned answers.  Shared by the REST API and the
command line's live path."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chatserver.store.config import Canned, WidgetSettings
from chatserver.store.directory import Agent, Role, Topic, parse_skills

if TYPE_CHECKING:
    from chatserver.auth import AgentClaims
    from chatserver.hub.node import Node


class AdminActions:
    def __init__(self, node: Node) -> None:
        self.node = node

    # ---- reads ---------------------------------------------------------------------------
    async def session_agent(self, claims: AgentClaims | None) -> Agent | None:
        """The agent a verified token names, or None when the token no longer holds: the
        agent is gone or disabled, or its sessions were ended (version bumped) since."""
        if claims is None:
            return None
        agent = await self.node.directory.get_agent(claims.agent_id)
        if agent is None or agent.disabled or agent.version != claims.version:
            return None
        return agent

    async def agent(self, agent_id: str) -> Agent | None:
        return await self.node.directory.get_agent(agent_id)

    async def agents(self) -> list[Agent]:
        return await self.node.directory.list_agents()

    async def topics(self) -> list[Topic]:
        return list((await self.node.directory.topics()).values())

    async def queue_summary(self) -> list[dict[str, Any]]:
        node = self.node
        return await node.routing.queue_summary(await node.catalog.topics(), node.now())

    async def visitors_online(self) -> list[dict[str, Any]]:
        """The visitors on the site now (empty with ``VISITOR_TRACKING`` off)."""
        node = self.node
        if not node.settings.visitor_tracking:
            return []
        now = node.now()
        return [v.view(now) for v in await node.onsite.online(now)]

    # ---- changes -------------------------------------------------------------------------

    async def create_agent(
        self,
        agent_id: str,
        *,
        name: str,
        password: str,
        role: Role,
        capacity: int | None,
        skills: Mapping[str, int] | list[str],
    ) -> Agent:
        node = self.node
        return await node.directory.create_agent(
            agent_id,
            name=name or agent_id,
            password_hash=node.credentials.hash_password(password),
            role=role,
            capacity=capacity if capacity is not None else node.settings.default_capacity,
            skills=parse_skills(skills),
            now_ms=node.now(),
        )

    async def update_agent(
        self,
        agent_id: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        capacity: int | None = None,
        skills: Mapping[str, int] | list[str] | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> Agent | None:
        """None when there is no such agent.  A change of credentials closes the agent's
        older sessions; disabling requeues their chats; a change of capacity or skills
        (or enabling) makes routing look again."""
        node = self.node
        before = await node.directory.get_agent(agent_id)
        if before is None:
            return None
        updated = await node.directory.update_agent(
            agent_id,
            name=name,
            role=role,
            capacity=capacity,
            skills=parse_skills(skills) if skills is not None else None,
            password_hash=node.credentials.hash_password(password) if password else None,
            disabled=disabled,
        )
        if updated.version != before.version:
            await node.notifier.agent(agent_id, revoke_below=updated.version)
        if disabled:
            await node.actions.agent_went_offline(agent_id)
        elif capacity is not None or skills is not None or disabled is False:
            await node.agent_presence.set_status(agent_id, "", node.now())
            node.drainer.request()
        return updated

    async def end_sessions(self, agent: Agent) -> None:
        """Log the agent out everywhere (tokens are stateless: the version is bumped)."""
        await self.node.directory.revoke_sessions(agent.id)
        await self.node.notifier.agent(agent.id, revoke_below=agent.version + 1)

    async def set_topic(
        self,
        name: str,
        *,
        required: Mapping[str, int] | list[str],
        optional: Mapping[str, int] | list[str],
        priority: int,
        labels: Mapping[str, str] | None = None,
    ) -> Topic:
        node = self.node
        topic = await node.directory.set_topic(
            name,
            required=parse_skills(required),
            optional=parse_skills(optional),
            priority=priority,
            labels=labels,
        )
        node.catalog.forget_topics()
        node.drainer.request()
        return topic

    async def delete_topic(self, name: str) -> tuple[bool, int]:
        """(deleted, 0), or (False, chats waiting): refused while chats wait in it."""
        removed, waiting = await self.node.directory.delete_topic(name)
        if not waiting:
            self.node.catalog.forget_topics()
        return removed, waiting

    async def bootstrap_admin(self) -> None:
        """On an empty system, create an ``admin`` agent (password ``ADMIN_PASSWORD``) so
        that someone can log in."""
        node = self.node
        password = node.settings.admin_password
        if not password or await node.directory.agent_count():
            return
        with contextlib.suppress(ValueError):  # another process made it meanwhile
            await self.create_agent(
                "admin",
                name="Administrator",
                password=password,
                role=Role.ADMIN,
                capacity=None,
                skills={},
            )

    # ---- the widget and canned answers ---------------------------------------------------
    async def set_widget_settings(self, settings: WidgetSettings) -> None:
        """Store the widget's settings (``ValueError`` when invalid); every process reads
        them again within its cache's lifetime, this one at once."""
        await self.node.config.set_widget(settings)
        self.node.catalog.forget_widget_settings()

    async def set_tag_list(self, tags: list[str]) -> list[str]:
        """Replace the tags agents may use (trimmed, duplicates dropped, order kept)."""
        cleaned = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        await self.node.config.set_tag_list(cleaned)
        self.node.catalog.forget_tag_list()
        return cleaned

    async def canned(self) -> list[dict[str, Any]]:
        return await self.node.config.canned()

    async def put_canned(self, canned_id: str, item: Canned) -> None:
        await self.node.config.put_canned(canned_id, item)

    async def delete_canned(self, canned_id: str) -> bool:
        return await self.node.config.delete_canned(canned_id)
