"""What every process reads often and changes rarely: the topics and the widget settings,
cached for a second, each refreshed by one Redis read however many callers arrive at once.

An admin change made by this process clears its cache at once (``forget_*``); other
processes see it within the second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from chatserver.store.config import ConfigStore, WidgetSettings
from chatserver.store.directory import Directory, Topic

_TTL_S = 1.0


class Flights:
    """Single flight: one read in flight per name, shared by every caller that arrives
    while it runs.  When a cache expires under a burst (thousands of reconnecting
    clients), one Redis read refreshes it instead of one per caller."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[None]] = {}
        self.generation = 0
        """Bumped by ``forget``: a read started before it must not be kept."""

    async def run(self, name: str, read: Callable[[], Coroutine[Any, Any, None]]) -> None:
        flight = self._flights.get(name)
        if flight is None:
            flight = self._flights[name] = asyncio.ensure_future(read())

            def landed(done: asyncio.Future[None]) -> None:
                if self._flights.get(name) is done:
                    del self._flights[name]

            flight.add_done_callback(landed)
        await asyncio.shield(flight)

    def forget(self) -> None:
        # a read in flight may have been answered before the change: the next caller
        # starts a new one, and the old one's answer is not kept
        self.generation += 1
        self._flights.clear()


class Catalog:
    def __init__(self, directory: Directory, config: ConfigStore) -> None:
        self.directory = directory
        self.config = config
        self.flights = Flights()
        self._topics: dict[str, Topic] = {}
        self._topics_at = 0.0
        self._widget = WidgetSettings()
        self._widget_at = 0.0
        self._tags: frozenset[str] = frozenset()
        self._tags_at = 0.0

    async def topics(self) -> dict[str, Topic]:
        if time.monotonic() - self._topics_at > _TTL_S:
            await self.flights.run("topics", self._read_topics)
        return self._topics

    async def _read_topics(self) -> None:
        generation = self.flights.generation
        topics = await self.directory.topics()
        if generation == self.flights.generation:  # not read before a change made here
            self._topics, self._topics_at = topics, time.monotonic()

    async def topic(self, name: str) -> Topic | None:
        """A topic by name; a miss re-reads Redis (another process may have just added it)."""
        found = (await self.topics()).get(name)
        if found is None:
            self.forget_topics()
            found = (await self.topics()).get(name)
        return found

    async def widget_settings(self) -> WidgetSettings:
        """The widget settings (an admin change clears the cache of the process that
        made it)."""
        if time.monotonic() - self._widget_at > _TTL_S:
            await self.flights.run("widget", self._read_widget_settings)
        return self._widget

    async def _read_widget_settings(self) -> None:
        generation = self.flights.generation
        widget = await self.config.widget()
        if generation == self.flights.generation:
            self._widget, self._widget_at = widget, time.monotonic()

    async def tag_list(self) -> frozenset[str]:
        """The tags agents may use (an admin change clears this process's cache)."""
        if time.monotonic() - self._tags_at > _TTL_S:
            await self.flights.run("tags", self._read_tag_list)
        return self._tags

    async def _read_tag_list(self) -> None:
        generation = self.flights.generation
        tags = frozenset(await self.config.tag_list())
        if generation == self.flights.generation:
            self._tags, self._tags_at = tags, time.monotonic()

    def forget_tag_list(self) -> None:
        self._tags_at = 0.0
        self.flights.forget()

    def forget_widget_settings(self) -> None:
        self._widget_at = 0.0
        self.flights.forget()

    def forget_topics(self) -> None:
        self._topics_at = 0.0
        self.flights.forget()
