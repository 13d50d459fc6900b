"""The framer/parser on every captured byte stream, split at random read boundaries."""

from __future__ import annotations

import random

import pytest

from cti.ami.protocol import Framer, Message, ProtocolError, encode_action, parse_block

from .tracefixtures import count_events, load, raw_event_counts, received_files, trace_name

FILES = received_files()


def test_corpus_is_there() -> None:
    names = {trace_name(p) for p in FILES}
    # 24 AMI scenarios + extra connections + 6 AudioSocket scenarios' AMI
    assert len(FILES) >= 30
    assert {"ami/bulk_events", "ami/chinese_callerid", "ami/reconnect/1_before_restart",
            "ami/login_bad_secret/observer", "audiosocket/audiosocket_dtmf/ami"} <= names


def split_feed(data: bytes, rng: random.Random, framer: Framer | None = None) -> list[Message]:
    framer = framer or Framer()
    out: list[Message] = []
    pos = 0
    while pos < len(data):
        n = rng.choice((1, 2, 3, 5, 64, 700, 4096, 65536))
        out.extend(framer.feed(data[pos : pos + n]))
        pos += n
    assert framer.pending == 0
    return out


@pytest.mark.parametrize("path", FILES, ids=[trace_name(p) for p in FILES])
def test_replay_every_capture_random_splits(path) -> None:
    data = path.read_bytes()
    whole = Framer().feed(data)
    # independent count straight from the bytes
    assert count_events(whole) == raw_event_counts(data)
    assert all(m.kind in ("Event", "Response") for m in whole)
    assert not any(m.decode_error for m in whole)
    # byte-exact round trip: banner + every message re-encoded
    banner = data.split(b"\r\n", 1)[0] + b"\r\n"
    assert banner.startswith(b"Asterisk Call Manager/")
    assert banner + b"".join(m.encode() for m in whole) == data
    for seed in range(3):
        rng = random.Random(f"{path}-{seed}")
        parts = split_feed(data, rng)
        assert [m.headers for m in parts] == [m.headers for m in whole]


def test_chinese_callerid_raw_utf8_even_split_inside_a_character() -> None:
    t = load("ami/chinese_callerid")
    data = t.received
    i = data.index("张三".encode())
    f = Framer()
    msgs = f.feed(data[: i + 1]) + f.feed(data[i + 1 : i + 4]) + f.feed(data[i + 4 :])
    names = [m.get("CallerIDName") for m in msgs if m.name == "Newchannel"]
    assert "张三" in names
    getvar = [m for m in msgs if m.kind == "Response" and m.get("Variable") == "CALLERID(all)"]
    assert getvar and getvar[0].get("Value") == '"李四" <13800138000>'
    assert not any(m.decode_error for m in msgs)


def test_empty_last_header_and_repeated_output() -> None:
    msgs = load("ami/command_output").messages()
    queue_show = [m for m in msgs if m.kind == "Response" and m.get_all("Output") and m.headers[-1] == ("Output", "")]
    assert queue_show, "`Output: ` as the last header must be kept"
    longest = max((m for m in msgs if m.kind == "Response"), key=lambda m: len(m.get_all("Output")))
    assert len(longest.get_all("Output")) > 5
    assert longest.fields["Output"] == longest.get_all("Output")[0]


def test_repeated_variable_in_status_items() -> None:
    msgs = load("ami/core_show_channels_status").messages()
    status = [m for m in msgs if m.name == "Status" and len(m.get_all("Variable")) > 1]
    assert status
    assert status[0].headers[-1][0] == "ActionID"


def test_action_id_echo_and_eventlist() -> None:
    t = load("ami/core_show_channels_status")
    msgs = t.messages()
    sent = {m.get("ActionID"): m.get("Action") for m in t.sent_actions()}
    responses = [m for m in msgs if m.kind == "Response"]
    assert all(r.headers[1][0] == "ActionID" and r.action_id in sent for r in responses)
    starts = [r for r in responses if r.get("EventList") == "start"]
    completes = [m for m in msgs if m.get("EventList") == "Complete"]
    assert starts and {r.action_id for r in starts} == {c.action_id for c in completes}
    for c in completes:
        items = [m for m in msgs if m.is_event and m.action_id == c.action_id and m is not c]
        assert int(c["ListItems"]) == len(items)


def test_percent_encoded_env_and_result_are_left_for_agi_layer() -> None:
    msgs = load("ami/asyncagi_timeout").messages()
    results = [m["Result"] for m in msgs if m.name == "AsyncAGIExec"]
    assert "200%20result%3D%20(timeout)%0A" in results
    assert "200%20result%3D42%20(timeout)%0A" in results
    env = [m["Env"] for m in msgs if m.name == "AsyncAGIStart"][0]
    assert env.startswith("agi_request%3A%20async%0A")


def test_garbage_malformed_oversized_and_bare_lf() -> None:
    f = Framer(max_message=1000)
    out = f.feed(b"Asterisk Call Manager/11.0.0\r\n")
    out += f.feed(b"garbage line without colon\r\n\r\n")
    out += f.feed(b"X" * 5000)  # oversized, no terminator yet
    assert f.pending <= 1000
    out += f.feed(b"Y" * 5000 + b"\r\n\r\nEvent: Ok\r\nA: 1\r\n\r\n")
    out += f.feed(b"Event: Lf\nKey: v\n\r\n\r\n")
    names = [m.name for m in out]
    assert names == ["", "Ok", "Lf"]
    assert out[0].kind == "" and out[0].headers == [("", "garbage line without colon")]
    assert out[2]["Key"] == "v"
    assert f.stats.oversized == 1 and f.stats.malformed == 1


def test_invalid_utf8_is_escaped_not_dropped() -> None:
    m = parse_block(b"Event: X\r\nName: \xe5\xbc\r\nOther: \xe4\xb8\x89")
    assert m.decode_error and m["Name"] == "\\xe5\\xbc" and m["Other"] == "三"


def test_parse_fast_and_slow_paths_agree_on_fuzz() -> None:
    rng = random.Random(7)
    alphabet = [b"a", b":", b" ", b"\r\n", b"\n", b"Event", b"Response", b": ", "张".encode(), b"Key"]
    for _ in range(5000):
        block = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        m = parse_block(block)
        # reference: the documented rule, line by line
        text = block.decode("utf-8")
        lines = text.replace("\r\n", "\n").split("\n") if "\n" in text.replace("\r\n", "") else text.split("\r\n")
        ref = []
        for line in lines:
            if ": " in line:
                ref.append(tuple(line.split(": ", 1)))
            elif ":" in line:
                ref.append(tuple(line.split(":", 1)))
            elif line:
                ref.append(("", line))
        assert m.headers == ref, block
        # and the framer's inlined fast path agrees with parse_block
        f = Framer(expect_banner=False)
        framed = block + b"\r\n\r\n"
        via = f.feed(framed) if block.strip(b"\r\n") and framed.find(b"\r\n\r\n") == len(block) else []
        if via:
            assert len(via) == 1 and via[0].headers == m.headers and via[0].kind == m.kind, block


def test_encode_action_order_and_injection() -> None:
    data = encode_action("Originate", {"Channel": "Local/1@x", "Variable": ["A=1", "B=张"], "Async": True}, "id-1")
    assert data == "Action: Originate\r\nActionID: id-1\r\nChannel: Local/1@x\r\nVariable: A=1\r\nVariable: B=张\r\nAsync: true\r\n\r\n".encode()
    with pytest.raises(ProtocolError):
        encode_action("Setvar", {"Value": "x\r\nAction: Hangup"}, "id-2")
