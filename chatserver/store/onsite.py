"""Visitors on the site (``VISITOR_TRACKING``): each visitor's current visit, the site list
agents read, and invitations to chat.

- ``page``: one page view (one script): the visit is updated or a new one starts, and the
  visitor goes to the top of the site list, which keeps the ``VISITORS_ONLINE_MAX`` most
  recent; a visit expires ``VISIT_IDLE_S`` after its latest page view;
- ``online``: the list, newest first, of the visitors on it who have a live socket (on any
  process: the presence index), with their visit and whether they are in a chat;
- ``invite`` / ``answer``: an agent's invitation (one script: rate, on the site, not in a
  chat) and the visitor's answer to the pending one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from chatserver.settings import Settings
from chatserver.store.codec import integer, text
from chatserver.store.keys import Keys
from chatserver.store.scripts import Scripts

INVITE_WINDOW_MS = 60_000


@dataclass(frozen=True)
class OnSite:
    """One visitor on the site, as agents see them."""

    visitor: str
    name: str
    url: str
    title: str
    lang: str
    first: int
    last: int
    pages: int
    returning: bool
    chat: str
    invite: str
    answer: str

    def view(self, now_ms: int) -> dict[str, Any]:
        return {
            "visitor": self.visitor,
            "name": self.name,
            "url": self.url,
            "title": self.title,
            "lang": self.lang,
            "first_seen": self.first,
            "last_seen": self.last,
            "time_on_site_s": max(0, (now_ms - self.first) // 1000),
            "pages": self.pages,
            "returning": self.returning,
            "in_chat": bool(self.chat),
            "invited": bool(self.invite),
            "answer": self.answer or None,
        }


class OnSiteStore:
    def __init__(self, redis: Redis, keys: Keys, scripts: Scripts, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.idle_ms = int(settings.visit_idle_s * 1000)
        self.max = settings.visitors_online_max
        self.hash_ttl_s = int(settings.visitor_token_ttl_s)
        self.invites_per_minute = settings.invites_per_minute

    async def page(
        self,
        visitor_id: str,
        now_ms: int,
        *,
        url: str,
        title: str,
        lang: str,
        known: bool,
    ) -> tuple[bool, int]:
        """Record a page view: (returning visitor, pages seen this visit)."""
        k = self.keys
        returning, count = await self.scripts.call(
            "visitor_page",
            onsite=k.onsite,
            visit=k.onsite_visit(visitor_id),
            visitor=k.visitor(visitor_id),
            visitor_id=visitor_id,
            now=now_ms,
            url=url,
            title=title,
            lang=lang,
            known="1" if known else "0",
            idle=self.idle_ms,
            hash_ttl=self.hash_ttl_s,
            max=self.max,
        )
        return bool(int(returning)), int(count)

    async def online(self, now_ms: int, limit: int | None = None) -> list[OnSite]:
        """The visitors on the site now (newest page view first)."""
        k = self.keys
        ids = [
            text(v)
            for v in await self.redis.zrevrangebyscore(
                k.onsite, "+inf", now_ms - self.idle_ms, start=0, num=limit or self.max
            )
        ]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for visitor_id in ids:
                pipe.zscore(k.visitor_presence, visitor_id)
                pipe.hmget(
                    k.onsite_visit(visitor_id),
                    "url", "title", "lang", "first", "last", "count", "returning",
                    "invite", "answer",
                )  # fmt: skip
                pipe.hmget(k.visitor(visitor_id), "name", "chat")
            replies = await pipe.execute()
        out: list[OnSite] = []
        for i, visitor_id in enumerate(ids):
            expiry, visit, visitor = replies[3 * i : 3 * i + 3]
            if expiry is None or int(expiry) < now_ms or visit[3] is None:
                continue  # no live socket (left, or their process died), or visit expired
            url, title, lang, first, last, count, returning, invite, answer = visit
            out.append(
                OnSite(
                    visitor=visitor_id,
                    name=text(visitor[0]),
                    url=text(url),
                    title=text(title),
                    lang=text(lang),
                    first=integer(first),
                    last=integer(last),
                    pages=integer(count),
                    returning=text(returning) == "1",
                    chat=text(visitor[1]),
                    invite=text(invite),
                    answer=text(answer),
                )
            )
        return out

    async def invite(self, visitor_id: str, agent_id: str, invite_id: str, now_ms: int) -> str:
        """'ok', 'rate_limited', 'not_on_site' or 'in_chat'."""
        k = self.keys
        return text(
            await self.scripts.call(
                "visitor_invite",
                visit=k.onsite_visit(visitor_id),
                presence=k.visitor_presence,
                visitor=k.visitor(visitor_id),
                rate=k.invite_rate(agent_id, now_ms // INVITE_WINDOW_MS),
                visitor_id=visitor_id,
                now=now_ms,
                invite_id=invite_id,
                agent_id=agent_id,
                per_minute=self.invites_per_minute,
                window=2 * INVITE_WINDOW_MS,
            )
        )

    async def answer(self, visitor_id: str, invite_id: str, accepted: bool) -> str | None:
        """The inviting agent's id, or None when that invitation is not pending."""
        agent = await self.scripts.call(
            "visitor_invite_answer",
            visit=self.keys.onsite_visit(visitor_id),
            invite_id=invite_id,
            answer="accepted" if accepted else "declined",
        )
        return text(agent) if agent else None
