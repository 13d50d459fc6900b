"""Record-replay: the client sends each captured action to a server that answers with
the captured bytes; responses and dispatched events must match the capture."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cti.ami.client import AmiClient
from cti.ami.errors import AmiActionError
from cti.ami.protocol import Message

from .conftest import fast_settings, wait_until
from .tracefixtures import ReplayServer, load, received_files, trace_name

SKIP = {
    "ami/unknown_action",  # malformed requests on purpose: a client never sends them
    "ami/login_bad_secret",  # see test_client.py
    "ami/login_bad_secret/unknown_user",
    "ami/reconnect/1_before_restart",  # see test_client.py
}
SCENARIOS = [trace_name(p) for p in received_files() if trace_name(p) not in SKIP]


def _strip_id(m: Message) -> list[tuple[str, str]]:
    return [(k, v) for k, v in m.headers if k != "ActionID"]


@pytest.mark.parametrize("name", SCENARIOS)
async def test_drive_captured_actions(name: str, servers, clients) -> None:
    trace = load(name)
    msgs = trace.messages()
    by_id: dict[str, Message] = {m.action_id: m for m in msgs if m.kind == "Response" and m.action_id}
    segs = trace.segments()
    rng = random.Random(name)
    srv = ReplayServer([trace], split_rng=rng)
    servers.append(srv)
    port = await srv.listen()
    client = AmiClient(fast_settings(port), rng=random.Random(1))
    clients.append(client)
    seen: list[Message] = []
    client.subscribe(seen.append)
    await client.start()

    list_ids: set[str] = set()
    logoff_seg = len(segs)
    for i, seg in enumerate(segs[1:], start=1):
        cap = seg.action
        assert cap is not None
        action = cap["Action"]
        if action == "Login":
            continue
        if action == "Logoff":
            logoff_seg = i
            break
        aid = cap.get("ActionID")
        if aid is None:
            continue  # captured without ActionID: only matchable by order; our client always sends one
        headers = [(k, v) for k, v in cap.headers if k not in ("Action", "ActionID")]
        expected = by_id[aid]
        is_list = expected.get("EventList") == "start"
        try:
            if is_list:
                list_ids.add(aid)
                items = await client.list_action(action, headers)
                cap_items = [m for m in msgs if m.is_event and m.action_id == aid and m.get("EventList") != "Complete"]
                assert [_strip_id(m) for m in items] == [_strip_id(m) for m in cap_items]
            else:
                resp = await client.action(action, headers)
                assert expected.name != "Error"
                assert _strip_id(resp) == _strip_id(expected)
                assert resp.action_id != aid and resp.action_id.startswith(client.next_action_id().rsplit("-", 1)[0])
        except AmiActionError as exc:
            assert expected.name == "Error", (action, exc)
            assert _strip_id(exc.response) == _strip_id(expected)
            assert exc.message == expected.get("Message")
            assert action in str(exc)

    # every event Asterisk sent before the Logoff reached the subscriber (list items excepted), in order
    want: list[Message] = []
    from cti.ami.protocol import Framer

    f = Framer()
    for seg in segs[:logoff_seg]:
        for m in f.feed(seg.data):
            if m.is_event and not (m.action_id in list_ids):
                want.append(m)
    await wait_until(lambda: len(seen) >= len(want), what=f"{len(want)} events")
    assert Counter(m.name for m in seen[: len(want)]) == Counter(m.name for m in want)
    assert [m.name for m in seen[: len(want)]] == [m.name for m in want]
    st = client.stats
    assert st.dropped == 0 and st.handler_errors == 0 and st.decode_errors == 0 and st.malformed == 0
    assert st.action_timeouts == 0
    await client.stop()
    assert not client.connected
    assert srv.errors == []
