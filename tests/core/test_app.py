"""The composition root against the PBX simulator: readiness, metrics, one call, a clean stop."""

from pathlib import Path

import httpx
import pytest

from hotline.app import StartupError, build_server
from hotline.runner import seed_demo
from hotline.settings import load_settings
from pbxsim.callers import CallerScript
from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator

ROOT = Path(__file__).resolve().parents[2]


async def _until(cond, timeout: float = 10.0) -> None:
    import asyncio

    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def _settings(tmp_path: Path, port: int, **kw):
    return load_settings(
        data_dir=tmp_path,
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/hotline.db"},
        ami={"host": "127.0.0.1", "port": port, "ping_interval": "1s", "pong_timeout": "1s", "reconnect_initial": "100ms"},
        ivr={"flows_dir": ROOT / "flows", "prompts_dir": ROOT / "flows" / "prompts"},
        **kw,
    )


async def test_server_serves_a_call_and_reports_it(tmp_path):
    sim = PbxSimulator(SimConfig(sounds_dir=ROOT / "flows" / "prompts", speed=20.0, recordings_dir=tmp_path / "rec"))
    await sim.start()
    settings = _settings(tmp_path, sim.ami_port)
    await seed_demo(settings)
    server = await build_server(settings)
    try:
        await server.start(ami_timeout=10)
        transport = httpx.ASGITransport(app=server.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            ready = await http.get("/ready")
            assert ready.status_code == 200, ready.text
            call = await sim.place_call(CallerScript(dnis="12345", caller_num="13812345678", keys=[""], hangup_after=3.0))
            outcome = await call.outcome
            assert outcome.answered and any(c.startswith("STREAM FILE") for c in outcome.agi_commands)
            await _until(lambda: server.model.live_calls == 0)  # the Hangup events have been read
            await server.model.flush()
            await server.journal.flush()
            metrics = (await http.get("/metrics")).text
            assert "hotline_ami_connected 1.0" in metrics
            assert "hotline_ami_events_received_total" in metrics
            assert 'hotline_bus_queue_depth{subscriber="journal"}' in metrics
            # the runtime's pauses: the start-up collection before the freeze was timed as a full one
            assert 'hotline_gc_pause_seconds_count{generation="2"}' in metrics
            full = [ln for ln in metrics.splitlines() if ln.startswith('hotline_gc_pause_seconds_count{generation="2"}')]
            assert float(full[0].split()[-1]) >= 1
            assert "hotline_event_loop_lag_seconds_bucket" in metrics
            assert "hotline_gc_frozen_objects" in metrics
            # the call is in the database with its IVR path
            from sqlalchemy import select

            from hotline.storage.models import Call, IvrEvent

            async with server.db.session() as s:
                row = (await s.scalars(select(Call))).one()
                assert row.caller_number == "13812345678" and row.dnis == "12345" and row.ended_at is not None
                path = (await s.scalars(select(IvrEvent.node_id).where(IvrEvent.call_id == row.id))).all()
                assert "main.welcome" in path
            # Asterisk goes away: readiness says so, by name
            await sim.stop()
            for _ in range(100):
                r = await http.get("/ready")
                if r.status_code == 503:
                    break
                import asyncio

                await asyncio.sleep(0.05)
            assert r.status_code == 503 and "ami" in r.text
    finally:
        await server.stop()
        await sim.stop()


async def test_unreachable_asterisk_is_one_clear_startup_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = _settings(tmp_path, port)
    server = await build_server(settings)
    try:
        with pytest.raises(StartupError, match=rf"cannot reach Asterisk AMI at 127.0.0.1:{port}"):
            await server.start(ami_timeout=0.5)
    finally:
        await server.stop()


async def test_broken_flows_stop_the_start_with_their_location(tmp_path):
    flows = tmp_path / "flows"
    import shutil

    shutil.copytree(ROOT / "flows", flows)
    (flows / "main.yaml").write_text((flows / "main.yaml").read_text(encoding="utf-8").replace("next: hours_check", "next: nowhere", 1), encoding="utf-8")
    settings = _settings(tmp_path, 5038)
    settings = settings.model_copy(update={"ivr": settings.ivr.model_copy(update={"flows_dir": flows})})
    with pytest.raises(StartupError) as exc:
        await build_server(settings)
    assert "main.yaml" in str(exc.value) and "nowhere" in str(exc.value)
