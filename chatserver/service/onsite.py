"""Visitors on the site: a visitor's page views, an agent's invitation to chat and the
visitor's answer.  Off unless ``VISITOR_TRACKING``; each action raises ``ProtocolError``
when it is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatserver.clock import new_id
from chatserver.core import onsite
from chatserver.protocol import ErrorCode, Invite, InviteAnswer, PageView, ProtocolError
from chatserver.service.actor import Actor

if TYPE_CHECKING:
    from chatserver.hub.node import Node


class OnSiteActions:
    def __init__(self, node: Node) -> None:
        self.node = node

    def _require_tracking(self) -> None:
        if not self.node.settings.visitor_tracking:
            raise ProtocolError(ErrorCode.TRACKING_OFF, "visitors on the site is off")

    async def page(self, actor: Actor, frame: PageView, *, known: bool) -> None:
        """A page view: the visit and the site list follow."""
        self._require_tracking()
        node = self.node
        await node.onsite.page(
            actor.id,
            node.now(),
            url=onsite.clean(frame.url, onsite.URL_MAX),
            title=onsite.clean(frame.title, onsite.TITLE_MAX),
            lang=onsite.clean_lang(frame.locale),
            known=known,
        )

    async def invite(self, actor: Actor, frame: Invite) -> str:
        """Invite a visitor on the site to chat: the ``invite`` frame reaches their sockets
        on every process (their control channel).  Returns the invitation's id."""
        self._require_tracking()
        node = self.node
        invite_id = new_id("i")
        refusal = onsite.invite_refusal(
            await node.onsite.invite(frame.visitor, actor.id, invite_id, node.now())
        )
        if refusal is not None:
            raise refusal
        await node.notifier.visitor(
            frame.visitor,
            {"type": "invite", "id": invite_id, "agent": actor.name, "text": frame.text},
        )
        return invite_id

    async def answer(self, actor: Actor, frame: InviteAnswer) -> None:
        """Accept or decline the pending invitation; the inviting agent hears of it."""
        node = self.node
        agent_id = await node.onsite.answer(actor.id, frame.invite, frame.accept)
        if agent_id is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such invitation pending")
        await node.notifier.agent(
            agent_id,
            {
                "type": "invite_answer",
                "invite": frame.invite,
                "visitor": actor.id,
                "accepted": frame.accept,
            },
        )
