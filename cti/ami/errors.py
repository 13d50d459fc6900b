"""Errors raised by the AMI client.

Every error names the action it concerns so a log line alone says what failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from cti.ami.protocol import Message


class AmiError(Exception):
    """Base class of every AMI client error."""


class AmiNotConnected(AmiError):
    """The link to Asterisk is down (or was lost while the action was pending)."""


class AmiTimeout(AmiError, TimeoutError):
    """No response arrived within the action's timeout."""

    def __init__(self, action: str, action_id: str, timeout: float) -> None:
        super().__init__(f"AMI action {action} (ActionID {action_id}) got no response within {timeout:g}s")
        self.action = action
        self.action_id = action_id
        self.timeout = timeout


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; ``.response`` is the whole message."""

    def __init__(self, action: str, response: "Message") -> None:
        self.action = action
        self.response = response
        self.message = response.get("Message") or ""
        super().__init__(f"AMI action {action} failed: {self.message or response.name}")


class AmiAuthError(AmiError):
    """Login was refused (wrong user name or secret, or the peer's ACL)."""
