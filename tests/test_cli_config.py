"""The command line does what the console's Administration tab does to canned answers and
widget settings (issue 14): the real command, against a running server's Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from chatserver.client import http
from tests.harness import FAST_SETTINGS, running, scaled


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", *args], env={**os.environ, **env},
        capture_output=True, text=True, timeout=60,
    )


async def _cli(env: dict[str, str], *args: str) -> Any:
    out = await asyncio.to_thread(_run, env, *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def _refused(env: dict[str, str], *args: str) -> str:
    out = await asyncio.to_thread(_run, env, *args)
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    return out.stderr


@pytest.mark.timeout(120)
async def test_canned_answers_from_the_command_line(redis_url: str) -> None:
    async with running(redis_url) as cluster:
        env = {"REDIS_URL": redis_url, "KEY_PREFIX": cluster.prefix, **FAST_SETTINGS}
        base, admin = cluster.urls[0], cluster.admin_token
        greet = await _cli(env, "canned", "add", "greet", "Вітаю! Чим можу допомогти?",
                           "--language", "uk")
        assert greet["id"] and greet["shortcut"] == "greet" and greet["language"] == "uk"
        bye = await _cli(env, "canned", "add", "وداعا", "مع السلامة")
        listed = await _cli(env, "canned", "list")
        status, served = await http("GET", base + "/api/canned", token=admin)
        assert status == 200 and served == listed
        assert {c["id"] for c in listed} == {greet["id"], bye["id"]}

        changed = await _cli(env, "canned", "set", greet["id"], "--text", "Hello!",
                             "--language", "")
        assert changed == {"id": greet["id"], "shortcut": "greet", "text": "Hello!",
                           "language": ""}
        status, served = await http("GET", base + "/api/canned", token=admin)
        assert changed in served

        # what the REST API refuses, the command refuses, with the reason and no traceback
        assert "shortcut" in await _refused(env, "canned", "add", "no spaces", "text")
        assert "text" in await _refused(env, "canned", "add", "blank", "   ")
        assert "no canned answer" in await _refused(env, "canned", "delete", "k-missing")

        assert await _cli(env, "canned", "delete", bye["id"]) == {"deleted": True}
        assert [c["id"] for c in await _cli(env, "canned", "list")] == [greet["id"]]


@pytest.mark.timeout(120)
async def test_widget_settings_from_the_command_line(redis_url: str) -> None:
    async with running(redis_url) as cluster:
        env = {"REDIS_URL": redis_url, "KEY_PREFIX": cluster.prefix, **FAST_SETTINGS}
        base, admin = cluster.urls[0], cluster.admin_token
        shown = await _cli(env, "widget", "show")
        status, served = await http("GET", base + "/api/widget/settings", token=admin)
        assert status == 200 and served == shown

        updated = await _cli(
            env, "widget", "set", "--origin", "https://shop.example", "--language", "uk",
            "--language", "ar", "--default-language", "uk", "--hours", "mon=09:00-17:00",
            "--hours", "sat=10:00-14:00", "--timezone", "Europe/Kyiv",
            "--title", "uk=Напишіть нам", "--offline-message", "ar=نحن مغلقون",
            "--prechat-fields", "name,email", "--required-fields", "email",
            "--color", "#123456",
        )
        assert updated["allowed_origins"] == ["https://shop.example"]
        assert updated["languages"] == ["uk", "ar"] and updated["default_language"] == "uk"
        assert updated["business_hours"] == {"mon": {"open": "09:00", "close": "17:00"},
                                             "sat": {"open": "10:00", "close": "14:00"}}
        assert updated["title"] == {"uk": "Напишіть нам"}
        assert updated["offline_message"] == {"ar": "نحن مغلقون"}
        assert updated["required_fields"] == ["email"] and updated["color"] == "#123456"
        # every process reads the change within a second (its cache's life)
        assert await _settings_become(base, admin, updated)

        # only what is named changes; --json takes the REST body
        again = await _cli(env, "widget", "set", "--json", '{"utc_offset_minutes": 120}',
                           "--title", "en=Chat with us", "--title", "uk=")
        assert again == {**updated, "utc_offset_minutes": 120, "title": {"en": "Chat with us"}}

        # the widget sees it
        assert await _settings_become(base, admin, again)
        config = await asyncio.to_thread(_widget_config, base, "https://shop.example")
        assert config["title"] == {"en": "Chat with us"}
        assert config["prechat_fields"] == ["name", "email"]

        for bad, word in (
            (["--hours", "mon=9-17"], "business_hours"),
            (["--hours", "funday=09:00-10:00"], "business_hours"),
            (["--timezone", "Mars/Olympus"], "timezone"),
            (["--color", "red"], "color"),
            (["--origin", "shop.example"], "origin"),
            (["--prechat-fields", "name,age"], "prechat_fields"),
            (["--json", '{"nonsense": 1}'], "nonsense"),
            (["--json", "[1]"], "JSON object"),
            (["--title", "no-equals-sign"], "LANG=TEXT"),
        ):
            assert word in await _refused(env, "widget", "set", *bad), bad
        assert await _cli(env, "widget", "show") == again

        cleared = await _cli(env, "widget", "set", "--always-open", "--no-origins")
        assert cleared["business_hours"] == {} and cleared["allowed_origins"] == []


async def _settings_become(base: str, token: str, expected: Any) -> bool:
    deadline = time.monotonic() + scaled(5)
    while time.monotonic() < deadline:
        status, served = await http("GET", base + "/api/widget/settings", token=token)
        if status == 200 and served == expected:
            return True
        await asyncio.sleep(0.1)
    return False


def _widget_config(base: str, origin: str) -> Any:
    request = urllib.request.Request(base + "/api/widget/config", headers={"Origin": origin})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


@pytest.mark.timeout(60)
def test_openapi_command_prints_the_served_document_without_a_server() -> None:
    out = _run({"REDIS_URL": "redis://127.0.0.1:1"}, "openapi")  # nothing listens there
    assert out.returncode == 0, out.stderr
    from chatserver.web.openapi import document

    assert json.loads(out.stdout) == json.loads(json.dumps(document()))
    for command in (["canned", "--help"], ["canned", "add", "--help"], ["widget", "--help"],
                    ["widget", "set", "--help"], ["openapi", "--help"]):
        helped = _run({}, *command)
        assert helped.returncode == 0 and "usage: chatserver" in helped.stdout, command


@pytest.mark.timeout(120)
async def test_topic_with_waiting_chats_is_not_deleted_from_the_command_line(
    redis_url: str,
) -> None:
    async with running(redis_url) as cluster:
        env = {"REDIS_URL": redis_url, "KEY_PREFIX": cluster.prefix, **FAST_SETTINGS}
        await cluster.set_topic("legal", required={"law": 5})  # nobody has the skill
        visitor = await cluster.visitor()
        try:
            await visitor.start(topic="legal")
            assert "waiting" in await _refused(env, "topics", "delete", "legal")
        finally:
            await visitor.close()
        _, topics = await http("GET", cluster.urls[0] + "/api/topics",
                               token=cluster.admin_token)
        assert "legal" in [t["name"] for t in topics]


@pytest.mark.timeout(120)
async def test_tag_list_and_topic_labels_from_the_command_line(redis_url: str) -> None:
    async with running(redis_url) as cluster:
        env = {"REDIS_URL": redis_url, "KEY_PREFIX": cluster.prefix, **FAST_SETTINGS,
               "FREE_TAGS": "false"}
        base, admin = cluster.urls[0], cluster.admin_token
        assert await _cli(env, "tags", "list") == {"tags": [], "free": False}
        listed = await _cli(env, "tags", "set", "vip", "Відгук", " vip ")
        assert listed == {"tags": ["vip", "Відгук"], "free": False}
        status, served = await http("GET", base + "/api/tags", token=admin)
        assert status == 200 and served["tags"] == listed["tags"]
        assert "64" in await _refused(env, "tags", "set", "x" * 65)
        assert (await _cli(env, "tags", "list"))["tags"] == ["vip", "Відгук"]

        topic = await _cli(env, "topics", "set", "billing", "--label", "ar=الفواتير",
                           "--label", "uk=Рахунки")
        assert topic["labels"] == {"ar": "الفواتير", "uk": "Рахунки"}
        # a later set keeps the labels not named, and an empty name removes one
        topic = await _cli(env, "topics", "set", "billing", "--priority", "7",
                           "--label", "uk=")
        assert topic["labels"] == {"ar": "الفواتير"} and topic["priority"] == 7
        assert "LANG=NAME" in await _refused(env, "topics", "set", "billing", "--label", "ar")
        assert "labels" in await _refused(env, "topics", "set", "billing", "--label", "A!=x")
        status, config = await http("GET", base + "/api/widget/config")
        assert config["topic_labels"]["billing"] == {"ar": "الفواتير"}
