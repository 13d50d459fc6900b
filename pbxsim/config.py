"""Typed configuration of the simulated PBX: AMI account, endpoints and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DIALPLAN = Path(__file__).resolve().parent.parent / "deploy" / "asterisk" / "extensions.conf"


@dataclass
class AgentBehaviour:
    """How a seat phone (PJSIP/8xxx) reacts when it is called.

    ``mode``: ``answer`` (after ``answer_after`` s), ``ring`` (rings until the
    caller's timeout), ``busy`` (486 Busy Here) or ``unregistered`` (no contact).
    ``talk_time``: once answered the agent hangs up after this many seconds
    (None = waits for the other side).
    """

    mode: str = "answer"
    answer_after: float = 1.0
    talk_time: float | None = None
    name: str = ""
    speech_wav: Path | None = None  # what the agent "says" (MixMonitor / AudioSocket audio)


@dataclass
class TrunkBehaviour:
    """Outside numbers dialled through the trunk (legacy seats, 110/119/120, call-backs)."""

    mode: str = "answer"  # answer | ring | busy | congestion
    answer_after: float = 2.0
    talk_time: float | None = None


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = ephemeral; see PbxSimulator.ami_port
    username: str = "ivr"
    secret: str = "ivrsecret"
    dialplan_path: Path = DEFAULT_DIALPLAN
    sounds_dir: Path | None = None  # <sounds_dir>/<name>.wav gives a prompt's duration
    default_prompt_seconds: float = 2.0
    recordings_dir: Path = Path("/tmp/pbxsim-recordings")  # RECORD FILE / MixMonitor relative names
    speed: float = 1.0  # 10 = prompts, rings and talk run ten times faster
    agent_range: tuple[int, int] = (8001, 8050)
    agent_default: AgentBehaviour = field(default_factory=AgentBehaviour)
    agents: dict[str, AgentBehaviour] = field(default_factory=dict)  # "8001" -> behaviour
    agent_context: str = "hotline-agent"  # context of the seat endpoints (exten "s" when originated)
    trunk_context: str = "hotline-inbound"
    trunk_default: TrunkBehaviour = field(default_factory=TrunkBehaviour)
    trunk_numbers: dict[str, TrunkBehaviour] = field(default_factory=dict)
    queues: tuple[str, ...] = ("q-general",)  # app_queue queues that exist (static config)
    queue_member_timeout: float = 15.0  # queues.conf timeout: ring each member this long
    queue_retry: float = 5.0  # queues.conf retry
    boot_uptime: int = 0  # seconds reported as Uptime at start
    version: str = "22.10.1"
    login_fail_delay: float = 1.0  # real seconds, never scaled
    device_state_events: bool = True  # DeviceStateChange for PJSIP endpoints, as Asterisk sends them
    rtp_qos_vars: bool = True  # the five RTPAUDIOQOS* VarSets Asterisk sets when a PJSIP call with media ends
    write_buffer_limit: int = 64 * 1024 * 1024  # a manager this far behind is disconnected
