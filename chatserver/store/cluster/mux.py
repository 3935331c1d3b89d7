"""``ClusterMux``: each group of ``MuxRedis`` commands sent to the master(s) serving its
keys' slots (see the package's docstring): finding a command's keys, then running a
pipeline, a transaction or a command every master must run, following redirections and
failovers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.exceptions import (
    AskError,
    ClusterDownError,
    CrossSlotTransactionError,
    ExecAbortError,
    MovedError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from chatserver.store.cluster.topology import (
    ATTEMPTS,
    DROPPED,
    RETRYABLE_REPLIES,
    Topology,
    text,
)
from chatserver.store.cluster.urls import Address
from chatserver.store.multiplex import Saturated

_BROADCAST = frozenset({"SCRIPT LOAD", "SCRIPT FLUSH", "FLUSHALL", "FLUSHDB"})
_PUBLISH = frozenset({"PUBLISH", "publish", b"PUBLISH", b"publish"})
_NUMKEYS_AT_2 = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


class ClusterMux(Topology):
    """Routes every group of ``MuxRedis`` to the ``NodeMux`` of the master serving it; see
    the package's docstring.  Counters (``inflight``, ``commands`` ...) are the masters'
    totals."""

    # ---- keys ---------------------------------------------------------------------------
    def _name(self, args: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        first = args[0]
        name = text(first)
        if " " in name:  # "SCRIPT LOAD", as redis-py sends it
            words = name.split()
            return words[0].lower(), (*words, *args[1:])
        return name.lower(), args

    async def _slot(self, args: Sequence[Any]) -> int | None:
        """The slot of a command's (first) key; ``None`` for a keyless command.  A
        command with keys in two slots goes to the first one's master, which refuses it
        with ``CROSSSLOT``."""
        name, args = self._name(args)
        keys: Sequence[Any]
        if name in _NUMKEYS_AT_2:
            keys = args[3 : 3 + int(args[2])] if len(args) > 2 else ()
        elif name in ("xread", "xreadgroup"):
            upper = [text(a).upper() if isinstance(a, (str, bytes)) else "" for a in args]
            if "STREAMS" not in upper:
                return None
            streams = args[upper.index("STREAMS") + 1 :]
            keys = streams[: len(streams) // 2]
        else:
            if not self._specs:
                await self.refresh()
            spec = self._specs.get(name)
            if spec is None:
                return None  # unknown here: the server will say so
            if spec.first == 0 and spec.subcommands and len(args) > 1:
                spec = spec.subcommands.get(f"{name}|{text(args[1]).lower()}", spec)
            if spec.movable:
                keys = await self._getkeys(args)
            elif spec.first <= 0:
                return None
            else:
                last = spec.last if spec.last >= 0 else len(args) + spec.last
                keys = args[spec.first : last + 1 : max(spec.step, 1)]
        if not keys:
            return None
        return self.slot_of(keys[0])

    async def _getkeys(self, args: Sequence[Any]) -> Sequence[Any]:
        address = await self._address(None)
        (reply,) = await self._node(address).send([("COMMAND", "GETKEYS", *args)])
        if isinstance(reply, ResponseError):
            return ()
        if isinstance(reply, RedisError):
            raise reply
        return list(reply)

    # ---- running groups -----------------------------------------------------------------
    async def run(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        if self._closed:
            raise RedisConnectionError("the Redis client is closed")
        commands = [_sharded(args) for args in commands]
        for args in commands:
            self._pack(args)  # bad arguments raise here, before anything is sent
        if len(commands) >= 2 and _is(commands[0], "MULTI") and _is(commands[-1], "EXEC"):
            return await self._transaction(commands)
        if len(commands) == 1 and _broadcast(commands[0]):
            return await self._everywhere(commands[0])
        return await self._pipeline(commands)

    async def _pipeline(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        await self._ready()
        slots = [await self._slot(c) for c in commands]
        results: list[Any] = [None] * len(commands)
        pending = list(range(len(commands)))
        asking: dict[int, Address] = {}
        last: BaseException | None = None
        wait = False
        for attempt in range(ATTEMPTS + 1):
            if wait:
                await self._pause(attempt)
            wait = True
            by_node: dict[Address, list[int]] = {}
            try:
                for i in pending:
                    address = asking.get(i) or await self._address(slots[i])
                    by_node.setdefault(address, []).append(i)
            except DROPPED as exc:  # no node gave a slot map
                last = exc
                continue
            except ClusterDownError as exc:
                last = exc
                await self._refresh_quietly()
                continue
            parts = list(by_node.items())
            outcomes = await asyncio.gather(
                *(self._send_part(address, idxs, commands, asking) for address, idxs in parts),
                return_exceptions=True,
            )
            retry: list[int] = []
            stale = False
            wait = False  # a redirection is followed at once
            for (_address, idxs), outcome in zip(parts, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, Saturated) or not isinstance(outcome, DROPPED):
                        raise outcome
                    last = outcome
                    retry.extend(idxs)
                    stale = wait = True
                    continue
                for i, reply in zip(idxs, outcome, strict=True):
                    asking.pop(i, None)
                    if isinstance(reply, MovedError):
                        self._moved(reply)
                        retry.append(i)
                        last = reply
                    elif isinstance(reply, AskError):
                        asking[i] = (reply.host, reply.port)
                        self.redirections += 1
                        retry.append(i)
                        last = reply
                    elif isinstance(reply, RETRYABLE_REPLIES):
                        stale = stale or isinstance(reply, ClusterDownError)
                        wait = True
                        retry.append(i)
                        last = reply
                    else:
                        results[i] = reply
            if not retry:
                return results
            pending = sorted(retry)
            if stale:
                await self._refresh_quietly()
        return self._give_up(results, pending, last)

    def _give_up(
        self, results: list[Any], pending: list[int], last: BaseException | None
    ) -> list[Any]:
        if isinstance(last, RedisError) and not isinstance(last, DROPPED):
            for i in pending:  # the redirection or refusal is each command's reply
                results[i] = last
            return results
        raise last if last is not None else RedisConnectionError("cluster unreachable")

    async def _send_part(
        self,
        address: Address,
        idxs: Sequence[int],
        commands: Sequence[Sequence[Any]],
        asking: dict[int, Address],
    ) -> list[Any]:
        node = self._node(address)
        asked = [i for i in idxs if i in asking]
        if not asked:
            return await node.send([commands[i] for i in idxs])
        group: list[Sequence[Any]] = []
        for i in idxs:
            if i in asking:
                group.append(("ASKING",))
            group.append(commands[i])
        replies = await node.send(group)
        out: list[Any] = []
        j = 0
        for i in idxs:
            if i in asking:
                j += 1  # the ASKING's +OK
            out.append(replies[j])
            j += 1
        return out

    async def _transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        await self._ready()
        inner = commands[1:-1]
        slots = {s for s in [await self._slot(c) for c in inner] if s is not None}
        if len(slots) > 1:
            raise CrossSlotTransactionError(
                f"a transaction's keys are in {len(slots)} slots; on a cluster they must "
                "share one (a hash tag)"
            )
        slot = next(iter(slots), None)
        last: BaseException | None = None
        for attempt in range(ATTEMPTS + 1):
            if attempt:
                await self._pause(attempt)
            try:
                address = await self._address(slot)
                replies = await self._node(address).send(commands)
            except Saturated:
                raise
            except ClusterDownError as exc:
                last = exc
                await self._refresh_quietly()
                continue
            except DROPPED as exc:
                last = exc
                await self._refresh_quietly()
                continue
            if not isinstance(replies[-1], ExecAbortError) and not (
                isinstance(replies[-1], RedisError) and _redirected(replies)
            ):
                return replies
            moved = next((r for r in replies if isinstance(r, MovedError)), None)
            if moved is not None:
                self._moved(moved)
            elif any(isinstance(r, ClusterDownError) for r in replies):
                await self._refresh_quietly()
            elif not _redirected(replies):
                return replies  # aborted for another reason: the caller's error
            last = next(r for r in replies if isinstance(r, RedisError))
        if last is not None:
            raise last
        raise RedisConnectionError("cluster unreachable")

    async def _everywhere(self, args: Sequence[Any]) -> list[Any]:
        """One command on every master (``SCRIPT LOAD`` ...): the first error reply, else
        the first master's reply.  A master that cannot be reached (killed, its replica
        not yet promoted) makes the map be read again and the command sent again."""
        await self._ready()
        last: BaseException | None = None
        for attempt in range(ATTEMPTS + 1):
            if attempt:
                await self._pause(attempt)
            try:
                if not self._masters:
                    await self.refresh()
                addresses = list(self._masters)
            except DROPPED as exc:
                last = exc
                continue
            outcomes = await asyncio.gather(
                *(self._node(a).send([args]) for a in addresses), return_exceptions=True
            )
            replies: list[list[Any]] = []
            for outcome in outcomes:
                if isinstance(outcome, Saturated) or (
                    isinstance(outcome, BaseException) and not isinstance(outcome, DROPPED)
                ):
                    raise outcome
                if isinstance(outcome, BaseException):
                    last = outcome
                else:
                    replies.append(outcome)
            if len(replies) < len(addresses):
                await self._refresh_quietly()
                continue
            return next((r for r in replies if isinstance(r[0], RedisError)), replies[0])
        assert last is not None
        raise last


def _sharded(args: Sequence[Any]) -> Sequence[Any]:
    """``PUBLISH`` is sent as ``SPUBLISH``: to the master of the channel's slot, for the
    fan-out's ``SSUBSCRIBE`` (``pubsub.py``), instead of to every node of the cluster."""
    if args[0] in _PUBLISH:
        return ("SPUBLISH", *args[1:])
    return args


def _is(args: Sequence[Any], name: str) -> bool:
    return len(args) == 1 and text(args[0]).upper() == name


def _broadcast(args: Sequence[Any]) -> bool:
    name = text(args[0]).upper()
    if " " not in name and len(args) > 1 and name == "SCRIPT":
        name = f"SCRIPT {text(args[1]).upper()}"
    return name in _BROADCAST


def _redirected(replies: Sequence[Any]) -> bool:
    return any(isinstance(r, (AskError, *RETRYABLE_REPLIES)) for r in replies)
