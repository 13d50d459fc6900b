from pathlib import Path

import pytest

from hotline.centre import CentreError, load_centre, parse_centre
from router.repository import load_routing_config

CENTRE = Path(__file__).resolve().parents[2] / "deploy" / "centre.yaml"


async def test_shipped_centre_loads_into_the_router_config(db):
    centre = parse_centre(CENTRE)
    counts = await load_centre(db, centre)
    assert counts["agents"] == len(centre.agents) >= 8
    await load_centre(db, centre)  # idempotent: a second load changes nothing
    async with db.session() as s:
        cfg = await load_routing_config(s)
    by_ext = {a.seat: a for a in cfg.agents}
    assert len(by_ext) == counts["agents"]
    assert by_ext["8005"].skills["enterprise"] == 9 and by_ext["8005"].site_id == "city"
    general = next(q for q in cfg.queues if q.id == "general")
    assert [t.after for t in general.targets] == [0, 20, 45]
    assert general.site_caps == {"east": 4} and general.surge is not None


@pytest.mark.parametrize(
    "text,message",
    [
        ("sites: []\ngroups:\n  - {name: g, site: nowhere}\nagents: []\nqueues: []\n", "groups: Value error, groups[0] (g): unknown site 'nowhere'"),
        ("sites: [{name: s}]\ngroups: [{name: g, site: s}]\nagents:\n  - {extension: '80a', name: x, group: g}\nqueues: []\n", ":4: agents.0.extension: String should match pattern"),
        ("sites: [{name: s}]\ngroups: [{name: g, site: s}]\nagents:\n  - {extension: '8001', name: x, group: g, skills: {general: 11}}\nqueues: []\n", "proficiency of general must be 1..10, not 11"),
        ("sites: [{name: s}\n", ":2:1:"),
        ("sites: []\ngroups: []\nagents: []\nqueues: []\ncolour: red\n", ":5: colour: Extra inputs are not permitted"),
    ],
)
def test_bad_centre_files_name_the_line_and_the_problem(tmp_path, text, message):
    p = tmp_path / "centre.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(CentreError) as exc:
        parse_centre(p)
    assert str(p) in str(exc.value)
    assert message.split("Value error, ")[-1] in str(exc.value)


def test_cli_loads_the_centre_and_refuses_a_broken_file(tmp_path, monkeypatch):
    import asyncio

    from typer.testing import CliRunner

    from hotline.cli import app
    from hotline.storage.db import Database
    from hotline.settings import DatabaseSettings
    from hotline.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    monkeypatch.setenv("HOTLINE_DATABASE__URL", url)

    async def migrate() -> None:
        db = Database(DatabaseSettings(url=url))
        await upgrade(db)
        await db.dispose()

    asyncio.run(migrate())
    ok = CliRunner().invoke(app, ["centre", "load", str(CENTRE)])
    assert ok.exit_code == 0, ok.output
    assert "loaded 3 sites, 5 groups, 8 agents, 8 queues" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: []\ngroups:\n  - {name: g, site: nowhere}\nagents: []\nqueues: []\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["centre", "load", str(bad)])
    assert res.exit_code == 1 and "unknown site 'nowhere'" in res.output
