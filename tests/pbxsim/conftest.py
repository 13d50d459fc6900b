from __future__ import annotations

import pytest

from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi


@pytest.fixture
async def sim(tmp_path):
    s = PbxSimulator(SimConfig(port=0, speed=20, recordings_dir=tmp_path / "rec"))
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def ami(sim):
    c = await RawAmi.connect(sim.ami_port)
    resp = await c.login()
    assert resp.name == "Success"
    await c.event("FullyBooted")
    yield c
    await c.close()
