"""Record-replay: the client sends each captured action to a server that answers with
the captured bytes; responses and dispatched events must match the capture."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cti.ami.client import AmiClient
from cti.ami.errors import AmiActionError, AmiNotConnected
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


ALL = [trace_name(p) for p in received_files()]


@pytest.mark.parametrize("name", ALL)
async def test_every_capture_streamed_into_the_client(name: str, clients) -> None:
    """The whole capture, in random pieces, after the login: every event reaches a subscriber."""
    import asyncio

    from cti.ami.protocol import Framer

    from .tracefixtures import ASTERISK, canned_response, raw_event_counts

    data = (ASTERISK / name / "received.ami").read_bytes()
    banner, _, body = data.partition(b"\r\n")
    first, _, rest = body.partition(b"\r\n\r\n")
    login_ok = b"Message: Authentication accepted" in first
    rng = random.Random(name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner + b"\r\n")
        req = await reader.readuntil(b"\r\n\r\n")
        aid = [ln for ln in req.split(b"\r\n") if ln.startswith(b"ActionID: ")][0]
        lines = [aid if ln.startswith(b"ActionID: ") else ln for ln in first.split(b"\r\n")]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        if not login_ok:
            writer.close()
            return
        pos = 0
        while pos < len(rest):
            n = rng.choice((1, 5, 100, 1400, 9000, 70000))
            writer.write(rest[pos : pos + n])
            pos += n
            await writer.drain()
        f = Framer(expect_banner=False)
        while True:  # answer the client's Logoff (and anything else) like Asterisk would
            chunk = await reader.read(65536)
            if not chunk:
                return
            for m in f.feed(chunk):
                reply, close = canned_response(m)
                writer.write(reply)
                if close:
                    writer.close()
                    return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    client = AmiClient(fast_settings(server.sockets[0].getsockname()[1]), rng=random.Random(1))
    clients.append(client)
    seen: list[Message] = []
    client.subscribe(seen.append)
    try:
        if not login_ok:
            with pytest.raises(AmiNotConnected):
                await client.start(timeout=0.5)
            assert client.stats.login_failures >= 1
            return
        await client.start()
        # every event before a Shutdown (Asterisk closes right after it; so do we)
        want = raw_event_counts(banner + b"\r\n" + rest.split(b"Event: Shutdown\r\n")[0])
        if b"Event: Shutdown\r\n" in rest:
            want["Shutdown"] = want.get("Shutdown", 0) + 1
        total = sum(want.values())
        await wait_until(lambda: len(seen) >= total, what=f"{total} events")
        assert Counter(m.name for m in seen) == Counter(want)
        st = client.stats
        assert st.decode_errors == 0 and st.malformed == 0 and st.dropped == 0
        names = [m.get("CallerIDName") for m in seen]
        if name == "ami/chinese_callerid":
            assert "张三" in names
    finally:
        await client.stop()
        server.close()
