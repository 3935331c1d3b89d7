"""Cluster URLs (``redis+cluster://host:port,host:port/db``): which URLs name a cluster,
their seeds, how to make one node's ``redis://`` URL from them, and redis-py's pooled
cluster client for the same URL."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

Address = tuple[str, int]


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


def parse_cluster_url(url: str) -> tuple[list[Address], Callable[[str, int], str]]:
    """The seeds of a ``redis+cluster://`` URL, and how to make one node's ``redis://`` URL
    (same credentials, database and options)."""
    parts = urlsplit(url)
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError(f"not a cluster URL: {url!r} (expected redis+cluster://host:port,...)")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    seeds: list[Address] = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep:
            host, port = item.strip(), "6379"
        host = host.strip("[]")
        if not host:
            raise ValueError(f"a seed without a host in {url!r}")
        seeds.append((host, int(port)))
    if not seeds:
        raise ValueError(f"no seed node in {url!r}")
    prefix = f"{userinfo}@" if userinfo else ""

    def node_url(host: str, port: int) -> str:
        shown = f"[{host}]" if ":" in host else host
        netloc = f"{prefix}{shown}:{port}"
        return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))

    return seeds, node_url


def pooled_cluster(url: str, *, max_connections: int) -> RedisCluster:
    """redis-py's pooled cluster client (``max_connections`` per node), for the blocking
    commands ``connect_pooled`` serves (the records writer's ``XREADGROUP BLOCK``): the
    same seeds, credentials and TLS as the multiplexed client."""
    seeds, node_url = parse_cluster_url(url)
    options = parse_url(node_url(*seeds[0]))
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in seeds],
        username=options.get("username"),
        password=options.get("password"),
        ssl=url.lower().startswith("rediss+"),
        max_connections=max_connections,
        socket_connect_timeout=2,
        socket_keepalive=True,
    )
