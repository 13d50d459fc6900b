"""More AsyncAGI commands, AudioSocket framing against the captured bytes, Local channels."""

from __future__ import annotations

import array
import asyncio
import wave
from pathlib import Path

import pytest

from asr.audiosocket import FrameDecoder, audio_frame, dtmf_frame, encode_frame, uuid_frame
from pbxsim import audio
from pbxsim.callers import CallerScript
from pbxsim.config import SimConfig
from pbxsim.sim import PbxSimulator

from .rawami import RawAmi, decode_agi

AS_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "asterisk" / "audiosocket"


async def _agi_results(ami, ch, cmds):
    for i, c in enumerate(cmds):
        ami.send("AGI", {"Channel": ch, "Command": c, "CommandID": f"m{i}"})
    out = []
    for i in range(len(cmds)):
        out.append(decode_agi((await ami.event("AsyncAGIExec", CommandId=f"m{i}", timeout=20))["Result"]))
    return out


async def test_record_file_writes_caller_speech(sim, ami, tmp_path):
    speech = tmp_path / "speech.wav"
    audio.write_wav(speech, audio.tone(1.5, 300, 8000))
    call = await sim.place_call(CallerScript(speech_wav=speech))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    target = tmp_path / "msg"
    res = await _agi_results(ami, ch, [f"RECORD FILE {target} wav # 10000 0 BEEP s=1", "SAY DIGITS 123 \"\"",
                                       "EXEC Playback beep", "EXEC NoSuchApp x", "ANSWER", "NOOP",
                                       "FOO BAR"])
    assert res[0].startswith("200 result=0 (timeout) endpos=")
    endpos = int(res[0].rsplit("=", 1)[1])
    assert endpos == 20000  # 1.5 s of speech + 1 s of silence (Asterisk rewinds by s - 1 s = 0 here)
    assert res[1:] == ["200 result=0", "200 result=0", "200 result=-2", "200 result=0", "200 result=0",
                       "510 Invalid or unknown command"]
    for _ in range(100):
        if (tmp_path / "msg.wav").exists():
            break
        await asyncio.sleep(0.02)
    w = wave.open(str(tmp_path / "msg.wav"))
    assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
    pcm = array.array("h")
    pcm.frombytes(w.readframes(w.getnframes()))
    assert max(pcm[:8000]) > 4000
    sim.hangup(call)
    await call.wait(5)


async def test_stream_file_escape_digit_and_prompt_length(tmp_path):
    sounds = tmp_path / "sounds"
    audio.write_wav(sounds / "welcome.wav", audio.tone(3.0))
    sim = PbxSimulator(SimConfig(port=0, speed=50, sounds_dir=sounds))
    await sim.start()
    ami = await RawAmi.connect(sim.ami_port)
    await ami.login()
    call = await sim.place_call(CallerScript(keys=["5"], think_time=1.0))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    res = await _agi_results(ami, ch, ['STREAM FILE welcome "0123456789"', 'STREAM FILE welcome ""'])
    assert res[0].startswith("200 result=53 endpos=")
    assert res[1] == "200 result=0 endpos=24000"
    sim.hangup(call)
    await call.wait(5)
    await ami.close()
    await sim.stop()


@pytest.mark.skipif(not AS_CORPUS.exists(), reason="capture corpus not present")
def test_audiosocket_codec_roundtrip_on_captures():
    for scen in ("audiosocket_speech", "audiosocket_dtmf", "audiosocket_caller_hangup"):
        data = (AS_CORPUS / scen / "from_asterisk.bin").read_bytes()
        frames = FrameDecoder().feed(data)
        assert frames[0].kind == 0x01 and len(frames[0].payload) == 16
        rebuilt = b"".join(encode_frame(f.kind, f.payload) for f in frames)
        assert rebuilt == data[: len(rebuilt)]
        assert {len(f.payload) for f in frames if f.kind == 0x10} == {320}
        if scen == "audiosocket_dtmf":
            assert [f.digit for f in frames if f.kind == 0x03] == ["1", "2", "#"]
    first = (AS_CORPUS / "audiosocket_speech" / "from_asterisk.bin").read_bytes()[:19]
    assert uuid_frame("6cad5cf8-20f1-4e01-ad5f-60e6b6e2a6da") == first
    assert audio_frame(b"\0" * 320)[:3] == b"\x10\x01\x40" and dtmf_frame("#") == b"\x03\x00\x01#"


RIG = """
[general]
static = yes
[globals]
[rig-fail]
exten => busy,1,Busy(5)
exten => congestion,1,Congestion(5)
exten => reject,1,Hangup(21)
exten => ringforever,1,Ringing()
 same => n,Wait(120)
[rig-util]
exten => wait,1,Answer()
 same => n,Wait(${IF($["${WAIT_SECS}" = ""]?60:${WAIT_SECS})})
 same => n,Hangup()
"""


async def test_local_originate_reasons(tmp_path):
    dp = tmp_path / "extensions.conf"
    dp.write_text(RIG)
    sim = PbxSimulator(SimConfig(port=0, speed=50, dialplan_path=dp))
    await sim.start()
    ami = await RawAmi.connect(sim.ami_port)
    await ami.login()
    cases = {"Local/busy@rig-fail": "5", "Local/congestion@rig-fail": "8", "Local/reject@rig-fail": "0",
             "Local/ringforever@rig-fail": "3", "Local/99999@rig-fail": "0"}
    ids = {}
    for dial in cases:
        ids[dial] = ami.send("Originate", {"Channel": dial, "Application": "Wait", "Data": "1",
                                           "Timeout": "4000", "Async": "true"})
    for dial, reason in cases.items():
        ev = await ami.event("OriginateResponse", ActionID=ids[dial])
        assert (dial, ev["Response"], ev["Reason"], ev["Channel"]) == (dial, "Failure", reason, dial)
    ok = ami.send("Originate", {"Channel": "Local/wait@rig-util", "Application": "Playback", "Data": "beep",
                                "CallerID": '"AMI test" <5551234>', "Variable": "WAIT_SECS=3", "Async": "true"})
    ev = await ami.event("OriginateResponse", ActionID=ok)
    assert ev["Response"] == "Success" and ev["Channel"].endswith(";1") and ev["Reason"] == "4"
    lb = await ami.event("LocalBridge")
    assert lb["LocalOneChannel"].endswith(";1") and lb["LocalTwoChannel"].endswith(";2")
    await ami.event("Newexten", Channel=ev["Channel"].replace(";1", ";2"), Application="Wait", AppData="3")
    hangup = await ami.event("Hangup", Channel=ev["Channel"].replace(";1", ";2"))
    assert hangup["Cause"] == "16"  # Hangup() with no cause set before: normal clearing
    await ami.close()
    await sim.stop()


async def test_audiosocket_caller_hangup_is_plain_eof(sim, ami, tmp_path):
    speech = tmp_path / "s.wav"
    audio.write_wav(speech, audio.tone(0.5, 400, 9000))
    frames = []
    closed = asyncio.Event()

    async def server(reader, writer):
        dec = FrameDecoder()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                frames.extend(dec.feed(data))
        finally:
            closed.set()

    srv = await asyncio.start_server(server, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    # the caller's own leg runs AudioSocket (Originate to the trunk with an application)
    uid = "0f0e0d0c-0b0a-0908-0706-050403020100"
    sim.config.trunk_numbers["13800000009"] = sim.config.trunk_default
    aid = ami.send("Originate", {"Channel": "PJSIP/trunk/13800000009", "Application": "AudioSocket",
                                 "Data": f"{uid},127.0.0.1:{port}", "Async": "true"})
    ch = (await ami.event("OriginateResponse", ActionID=aid))["Channel"]
    chan = sim.channel(ch)
    chan.audio = audio.AudioSource.from_wav(speech)
    await asyncio.sleep(0.3)
    sim.hangup(ch)
    await asyncio.wait_for(closed.wait(), 10)
    srv.close()
    kinds = [f.kind for f in frames]
    assert kinds[0] == 0x01 and 0x00 not in kinds and set(kinds[1:]) == {0x10}
    loud = [f for f in frames[1:] if max(abs(int.from_bytes(f.payload[i:i + 2], "little", signed=True))
                                         for i in range(0, 320, 2)) > 1000]
    assert loud  # the caller's speech is in the frames


async def test_audiosocket_through_the_shipped_dialplan(sim, ami, tmp_path):
    speech = tmp_path / "s.wav"
    audio.write_wav(speech, audio.tone(1.0, 350, 9000))
    got = []
    done = asyncio.Event()

    async def server(reader, writer):
        dec = FrameDecoder()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                got.extend(dec.feed(data))
                if sum(1 for f in got if f.kind == 0x10) == 30:
                    writer.write(encode_frame(0x00))  # the server ends the session
        except ConnectionResetError:
            pass
        done.set()

    srv = await asyncio.start_server(server, "127.0.0.1", 0)
    sim.pbx.globals["HOTLINE_AUDIOSOCKET"] = f"127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    call = await sim.place_call(CallerScript(speech_wav=speech))
    ch = call.channel.name
    await ami.event("AsyncAGIStart", Channel=ch)
    uid = "fcad5cf8-20f1-4e01-ad5f-60e6b6e2a6da"  # a UUID may start with a letter
    await ami.action("Redirect", {"Channel": ch, "Context": "hotline-asr", "Exten": uid, "Priority": "1"})
    await asyncio.wait_for(done.wait(), 10)
    srv.close()
    assert got[0].kind == 0x01 and str(got[0].uuid) == uid
    assert {len(f.payload) for f in got[1:]} == {320}
    # 0x00 from the server: AudioSocket() returns and the dialplan continues to Hangup()
    await ami.event("Newexten", Channel=ch, Context="hotline-asr", Application="Hangup")
    out = await call.wait(5)
    assert out.hung_up_by == "pbx"
