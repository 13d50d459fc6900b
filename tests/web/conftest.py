"""The real server under uvicorn on a loopback port, and headless Chromium to drive its pages.

``live_server`` builds the app as the composition root does (create_app with
the page router and, when their packages provide them, the IVR and router
HTTP routers) on a temporary SQLite database holding three users, and serves
it from a private event loop in a background thread. ``server.call(coro)``
runs a coroutine on that loop, so tests can drive services the app uses.

``page`` is a fresh browser context and page; JavaScript errors on the page
fail the test.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from tests.conftest import make_settings

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

USERS = {
    "admin": ("admin", "admin-password-1"),
    "supervisor": ("supervisor", "supervisor-password-1"),
    "agent": ("agent", "agent-password-1"),
}


@dataclass
class LiveServer:
    base_url: str
    app: Any
    services: Any
    loop: asyncio.AbstractEventLoop
    flows_dir: Path
    server: Any
    extras: dict[str, Any] = field(default_factory=dict)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_soon(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run a plain function on the server's event loop (where the services live)."""

        async def run() -> T:
            return fn()

        return self.call(run(), timeout)

    def url(self, path: str) -> str:
        return self.base_url + path

    def drop_websockets(self) -> int:
        """Cut every open WebSocket connection abruptly, as a network failure would."""

        def cut() -> int:
            cut = 0
            for conn in list(self.server.server_state.connections):
                if "WebSocket" in type(conn).__name__ and conn.transport is not None:
                    conn.transport.abort()
                    cut += 1
            return cut

        return self.call_soon(cut)


@functools.cache
def _password_hash(password: str) -> str:
    """Hashed once per test run: argon2 is slow on purpose."""
    from hotline.security import hash_password

    return hash_password(password)


async def _seed_users(services: Any) -> None:
    """Three users; the agent works at seat 1."""
    from hotline.storage.models import User
    from tests.web import wiring

    await wiring.seed(services)
    async with services.db.session() as session:
        for role, (username, password) in USERS.items():
            session.add(
                User(
                    username=username, display_name=f"{username} 用户", role=role,
                    password_hash=_password_hash(password), agent_id=1 if role == "agent" else None,
                )
            )
        await session.commit()


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    from hotline.api.app import AppServices, create_app
    from hotline.storage import models  # noqa: F401 - registers the tables
    from hotline.storage.db import Database
    from hotline.web import pages
    from tests.web import wiring

    flows_dir = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows_dir)
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/hotline.db",
        ivr={"flows_dir": str(flows_dir), "prompts_dir": str(flows_dir / "prompts")},
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="live-server", daemon=True)
    thread.start()

    def on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    async def make_db() -> Database:
        return Database(settings.database)

    db = on_loop(make_db())
    sock = _free_socket()
    server_task = None
    server = None
    extras: dict[str, Any] = {}
    try:
        on_loop(db.create_all())
        services = AppServices(settings=settings, db=db)
        on_loop(_seed_users(services))

        async def build() -> tuple[Any, dict[str, Any]]:
            routers, built = wiring.build(services, flows_dir)
            return create_app(services, routers=[pages.router, *routers]), built

        app, extras = on_loop(build())
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
        server = uvicorn.Server(config)
        server_task = asyncio.run_coroutine_threadsafe(server.serve(sockets=[sock]), loop)

        async def started() -> None:
            while not server.started:
                if server_task.done():
                    server_task.result()
                    raise RuntimeError("the server stopped while starting")
                await asyncio.sleep(0.02)

        on_loop(started())
        port = sock.getsockname()[1]
        live = LiveServer(f"http://127.0.0.1:{port}", app, services, loop, flows_dir, server, extras)
        on_loop(wiring.start(extras))
        yield live
    finally:
        if server is not None and server_task is not None:
            server.should_exit = True
            server_task.result(30)
        try:
            on_loop(wiring.stop(extras))
        finally:
            on_loop(db.dispose())
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            sock.close()


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    context.set_default_timeout(10_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield p
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def login(page: Any, server: LiveServer, role: str = "admin", next_path: str = "/") -> None:
    """Log in through the login page and wait until ``next_path`` has loaded."""
    username, password = USERS[role]
    page.goto(server.url("/login?next=" + next_path))
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(server.url(next_path) + "*")
