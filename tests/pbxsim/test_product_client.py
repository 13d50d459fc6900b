"""The product's own AMI client and AsyncAGI manager against the simulator (a few end-to-end checks)."""

from __future__ import annotations

import asyncio

import pytest

from pbxsim.callers import CallerScript

cti_client = pytest.importorskip("cti.ami.client")
cti_agi = pytest.importorskip("cti.agi")
settings_mod = pytest.importorskip("hotline.settings")


def _settings(port: int):
    return settings_mod.AmiSettings(host="127.0.0.1", port=port, username="ivr", secret="ivrsecret",
                                    reconnect_initial=0.05, reconnect_max=0.2)


async def test_client_agi_session_and_lists(sim):
    client = cti_client.AmiClient(_settings(sim.ami_port))
    await client.start(timeout=5)
    agi = cti_agi.AgiManager(client)
    results = []
    done = asyncio.Event()

    async def on_session(session):
        try:
            results.append(await session.command("GET DATA welcome 2000 2", timeout=10))
            sim.config.default_prompt_seconds = 600.0  # a prompt far longer than the caller's patience
            results.append(await session.command("STREAM FILE long \"\"", timeout=10))
        except cti_agi.AgiHangup:
            results.append("hangup")
        except asyncio.CancelledError:
            results.append("hangup")  # the manager cancels a session's handler when its channel hangs up
            raise
        finally:
            done.set()

    agi.on_session(on_session)
    call = await sim.place_call(CallerScript(caller_name="张三", keys=["12"], think_time=0.2, hangup_after=4.0))
    await asyncio.wait_for(done.wait(), 10)
    first = results[0]
    assert first.result == "12" and first.code == 200
    assert results[1] == "hangup"
    out = await call.wait(5)
    assert out.hung_up_by == "caller"
    items = await client.list_action("CoreShowChannels", timeout=5)
    assert items == []
    await client.stop()


async def test_client_reconnects_after_restart(sim):
    client = cti_client.AmiClient(_settings(sim.ami_port))
    connects = []

    async def hook(*_a):
        connects.append(1)

    client.on_connect(hook)
    await client.start(timeout=5)
    await sim.restart()
    for _ in range(100):
        if len(connects) >= 2 and client.connected:
            break
        await asyncio.sleep(0.05)
    assert len(connects) >= 2
    pong = await client.action("Ping", timeout=5)
    assert pong.get("Ping") == "Pong"
    await client.stop()
