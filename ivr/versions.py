"""Flow versions: validate, publish atomically, roll back, diff; drafts; dry runs.

Published versions live in the ``flow_versions`` table (one active version per
flow). Publishing validates the new text together with every other live flow
and the catalogues first; a flow that fails never replaces the live one. The
database row and the audit entry are committed first, then the live
:class:`~ivr.bundle.FlowRegistry` is swapped in one assignment: new calls
take the new version at once (no restart), calls in progress keep theirs.
A flow has at most one draft (``<drafts_dir>/<name>.yaml``); publishing or
rolling back the flow removes it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.api.audit import audit
from hotline.storage.models import FlowVersion
from ivr.bundle import FlowBundle, FlowRegistry, build_bundle
from ivr.loader import FlowError
from ivr.ports import Clock, SystemClock
from ivr.schema import NAME_RE
from ivr.simulate import SimulationResult, simulate
from ivr.validate import CATALOG_FILES, Catalog

log = logging.getLogger(__name__)
_NAME = re.compile(NAME_RE)


class FlowServiceError(Exception):
    pass


class FlowNotFound(FlowServiceError, LookupError):
    pass


class PublishRejected(FlowServiceError):
    """The flow did not validate; nothing was changed."""

    def __init__(self, errors: list[FlowError]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


@dataclass(frozen=True)
class VersionInfo:
    flow_name: str
    version: int
    sha256: str
    published_by: str
    published_at: Any
    is_active: bool
    comment: str | None

    @classmethod
    def of(cls, row: FlowVersion) -> "VersionInfo":
        return cls(row.flow_name, row.version, row.sha256, row.published_by, row.published_at, row.is_active,
                   row.comment)


def check_name(name: str) -> None:
    if not _NAME.match(name) or f"{name}.yaml" in CATALOG_FILES:
        raise FlowNotFound(f"not a flow name: {name!r}")


class FlowService:
    """Use cases behind ``hotline flow`` and /api/flows. One per server (composition root)."""

    def __init__(self, registry: FlowRegistry, catalog: Catalog, drafts_dir: Path, clock: Clock | None = None) -> None:
        self.registry = registry
        self.catalog = catalog
        self.drafts_dir = drafts_dir
        self.clock = clock or SystemClock()
        self._lock = asyncio.Lock()  # one publish/rollback at a time

    # ------------------------------------------------------------------ live state
    def live_texts(self) -> dict[str, str]:
        return {n: f.text for n, f in self.registry.current.flows.items()}

    def live_versions(self) -> dict[str, int | None]:
        return {n: f.version for n, f in self.registry.current.flows.items()}

    async def load_active(self, session: AsyncSession) -> FlowBundle:
        """At start-up: the active published versions replace the files they came from."""
        rows = (await session.execute(select(FlowVersion).where(FlowVersion.is_active.is_(True)))).scalars().all()
        texts = self.live_texts()
        versions = self.live_versions()
        for r in rows:
            texts[r.flow_name] = r.yaml_text
            versions[r.flow_name] = r.version
        bundle, errors = await asyncio.to_thread(build_bundle, texts, self.catalog, versions)
        if bundle is None:
            for e in errors:
                log.error("published flow no longer validates: %s", e)
            raise PublishRejected(errors)
        self.registry.swap(bundle)
        return bundle

    # ------------------------------------------------------------------ reading
    async def versions(self, session: AsyncSession, name: str) -> list[VersionInfo]:
        check_name(name)
        rows = (await session.execute(
            select(FlowVersion).where(FlowVersion.flow_name == name).order_by(FlowVersion.version.desc())
        )).scalars().all()
        return [VersionInfo.of(r) for r in rows]

    async def text(self, session: AsyncSession, name: str, which: str | int | None = None) -> str:
        """``which``: a version number, ``live`` (default) or ``draft``."""
        check_name(name)
        if which is None or which == "live":
            f = self.registry.current.flows.get(name)
            if f is None:
                raise FlowNotFound(f"no flow {name!r}")
            return f.text
        if which == "draft":
            d = await self.get_draft(name)
            if d is None:
                raise FlowNotFound(f"no draft of {name!r}")
            return d
        try:
            v = int(which)
        except (TypeError, ValueError):
            raise FlowNotFound(f"not a version: {which!r} (a number, live or draft)") from None
        row = await self._row(session, name, v)
        return row.yaml_text

    async def _row(self, session: AsyncSession, name: str, version: int) -> FlowVersion:
        row = (await session.execute(
            select(FlowVersion).where(FlowVersion.flow_name == name, FlowVersion.version == version)
        )).scalar_one_or_none()
        if row is None:
            raise FlowNotFound(f"flow {name!r} has no version {version}")
        return row

    async def diff(self, session: AsyncSession, name: str, a: str | int, b: str | int) -> str:
        ta = await self.text(session, name, a)
        tb = await self.text(session, name, b)
        return "".join(difflib.unified_diff(ta.splitlines(keepends=True), tb.splitlines(keepends=True),
                                            fromfile=f"{name}.yaml@{a}", tofile=f"{name}.yaml@{b}"))

    # ------------------------------------------------------------------ drafts and validation
    def _draft_path(self, name: str) -> Path:
        check_name(name)
        return self.drafts_dir / f"{name}.yaml"

    async def get_draft(self, name: str) -> str | None:
        p = self._draft_path(name)

        def read() -> str | None:
            try:
                return p.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None

        return await asyncio.to_thread(read)

    async def save_draft(self, name: str, text: str) -> list[FlowError]:
        """Keep the text as the flow's draft (even if invalid); return its errors."""
        p = self._draft_path(name)

        def write() -> None:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(p)

        await asyncio.to_thread(write)
        return await self.validate(name, text)

    async def discard_draft(self, name: str) -> bool:
        """Remove the flow's draft; False if it had none."""
        p = self._draft_path(name)

        def remove() -> bool:
            try:
                p.unlink()
            except FileNotFoundError:
                return False
            return True

        return await asyncio.to_thread(remove)

    async def validate(self, name: str, text: str) -> list[FlowError]:
        """Errors of ``text`` as flow ``name`` among the live flows (empty: it would publish)."""
        check_name(name)
        texts = self.live_texts()
        texts[name] = text
        # parsing and checking every flow is CPU work: off the event loop
        _, errors = await asyncio.to_thread(build_bundle, texts, self.catalog, self.live_versions(),
                                            {name: f"{name}.yaml"})
        return errors

    # ------------------------------------------------------------------ dry runs
    async def simulate(self, name: str, text: str | None = None, *, dnis: str = "12345",
                       keys: list[str] | None = None, say: list[str] | None = None, at: dt.datetime | None = None,
                       caller: str = "13800138000", queue: list[str] | None = None,
                       transfer: list[str] | None = None) -> SimulationResult:
        """One call through the live flows, or through them with ``text`` as flow ``name`` (unsaved editor text).

        Nothing is dialled or queued: the queue and transfers are stand-ins with the outcomes given.
        A naive ``at`` is the centre's local time; without it the call is placed now. A flow that no
        hotline enters but the dialplan re-enters (the survey) is run as that re-entry.
        """
        check_name(name)
        if text is None:
            bundle = self.registry.current
            if name not in bundle.flows:
                raise FlowNotFound(f"no flow {name!r}")
        else:
            texts = self.live_texts()
            texts[name] = text
            versions = self.live_versions()
            versions[name] = None  # unsaved text has no version
            # parsing and checking every flow is CPU work: off the event loop
            candidate, errors = await asyncio.to_thread(build_bundle, texts, self.catalog, versions,
                                                        {name: f"{name}.yaml"})
            if candidate is None:
                raise PublishRejected(errors)
            bundle = candidate
        if at is None:
            at = self.clock.now()
        elif at.tzinfo is None:
            at = at.replace(tzinfo=bundle.catalog.calendar.tz)
        hotlines = bundle.catalog.hotlines
        context, extension = "hotline-inbound", None
        if all(h.flow != name for h in hotlines.by_number.values()):
            extension = next((ext for ext, flow in hotlines.reentry.items() if flow == name), None)
            if extension is not None:
                context = "hotline-ivr"
        return await simulate(bundle, dnis=dnis, keys=keys, say=say, caller=caller, at=at, queue=queue,
                              transfer=transfer, context=context, extension=extension)

    # ------------------------------------------------------------------ publishing
    async def publish(self, session: AsyncSession, name: str, text: str, actor: str,
                      comment: str | None = None) -> VersionInfo:
        check_name(name)
        async with self._lock:
            current = (await session.execute(
                select(func.max(FlowVersion.version)).where(FlowVersion.flow_name == name)
            )).scalar()
            version = (current or 0) + 1
            bundle = await self._candidate(name, text, version)
            row = FlowVersion(flow_name=name, version=version, yaml_text=text, sha256=bundle.flows[name].sha256,
                              published_by=actor, published_at=self.clock.now(), is_active=True, comment=comment)
            previous = self.registry.current.version_of(name)
            await session.execute(update(FlowVersion).where(FlowVersion.flow_name == name).values(is_active=False))
            session.add(row)
            await audit(session, actor, "flow.publish", name,
                        {"version": version, "previous": previous, "sha256": row.sha256, "comment": comment})
            await session.commit()
            self.registry.swap(bundle)
            await self.discard_draft(name)  # the draft is either live now or superseded
            log.info("flow %s version %d published by %s", name, version, actor)
            return VersionInfo.of(row)

    async def rollback(self, session: AsyncSession, name: str, version: int, actor: str,
                       comment: str | None = None) -> VersionInfo:
        check_name(name)
        async with self._lock:
            row = await self._row(session, name, version)
            bundle = await self._candidate(name, row.yaml_text, version)
            previous = self.registry.current.version_of(name)
            await session.execute(update(FlowVersion).where(FlowVersion.flow_name == name).values(is_active=False))
            row.is_active = True
            await audit(session, actor, "flow.rollback", name,
                        {"version": version, "previous": previous, "sha256": row.sha256, "comment": comment})
            await session.commit()
            self.registry.swap(bundle)
            await self.discard_draft(name)
            log.info("flow %s rolled back to version %d by %s", name, version, actor)
            return VersionInfo.of(row)

    async def _candidate(self, name: str, text: str, version: int) -> FlowBundle:
        texts = self.live_texts()
        texts[name] = text
        versions = self.live_versions()
        versions[name] = version
        bundle, errors = await asyncio.to_thread(build_bundle, texts, self.catalog, versions, {name: f"{name}.yaml"})
        if bundle is None:
            raise PublishRejected(errors)
        return bundle
