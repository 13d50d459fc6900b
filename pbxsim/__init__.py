"""PBX simulator: an asyncio server that speaks AMI and AudioSocket the way Asterisk 22 does."""

from .callers import CallerScript, CallOutcome, SimCall
from .config import AgentBehaviour, SimConfig, TrunkBehaviour
from .sim import PbxSimulator, SimMetrics

__all__ = ["PbxSimulator", "SimConfig", "AgentBehaviour", "TrunkBehaviour", "CallerScript", "SimCall",
           "CallOutcome", "SimMetrics"]
