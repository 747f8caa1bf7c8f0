"""FHIR Bulk Data export (``$export``) of an organisation: Patient, Device and Observation
resources as NDJSON files, one per type, with the status manifest of the Bulk Data Access
IG (v2.0.0, "Export Manifest").

The export is written at kick-off into a folder of its own under ``data_dir`` (named by a
random job id) and read back by the status and file routes, which answer only a caller of
the organisation that asked. Observations come from ``cloud.fhir.service.search`` page by
page (the same scope, hidden metrics and blood-pressure panels as the search API), limited
to readings measured before the export's ``transactionTime``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.errors import InvalidRequestError, NotFoundError
from cloud.fhir import resources, service
from cloud.store.tenancy import Device, Pairing, Patient

TYPES: Final = ("Patient", "Device", "Observation")
NDJSON: Final = "application/fhir+ndjson"
OUTPUT_FORMATS: Final = frozenset({NDJSON, "application/ndjson", "ndjson"})
PAGE: Final = 1000
"""Observations read per query while writing the file."""
JOB_ID: Final = re.compile(r"^[0-9a-f]{32}$")
MANIFEST: Final = "manifest.json"


@dataclass(frozen=True, slots=True)
class Export:
    job_id: str
    manifest: dict[str, Any]


def exports_dir(data_dir: Path) -> Path:
    return data_dir / "fhir-exports"


def parse_types(value: str | None) -> tuple[str, ...]:
    """The ``_type`` parameter (comma-separated); all supported types when absent."""
    if not value:
        return TYPES
    asked = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in asked if t not in TYPES]
    if unknown or not asked:
        raise InvalidRequestError(
            f"_type {', '.join(unknown) or value!r}: this server exports {', '.join(TYPES)}"
        )
    return asked


def _patients(session: Session, principal: Principal) -> Iterator[dict[str, Any]]:
    stmt = select(Patient).where(Patient.id.in_(visible_patient_ids(principal)))
    for row in session.scalars(stmt.order_by(Patient.id)):
        yield resources.patient(row)


def _devices(session: Session, principal: Principal, now: datetime) -> Iterator[dict[str, Any]]:
    paired = dict(
        session.execute(
            select(Pairing.device_id, Pairing.patient_id).where(
                Pairing.patient_id.in_(visible_patient_ids(principal)),
                Pairing.valid_from <= now,
                or_(Pairing.valid_to.is_(None), Pairing.valid_to > now),
            )
        ).all()
    )
    stmt = select(Device).where(Device.organisation_id == principal.organisation_id)
    for row in session.scalars(stmt.order_by(Device.id)):
        yield resources.device(row, paired.get(row.id))


def _observations(
    session: Session, principal: Principal, now: datetime
) -> Iterator[dict[str, Any]]:
    window = service.Window(since=None, until=now)
    offset = 0
    while True:
        found = service.search(
            session, principal=principal, patient_id=None, metrics=None, window=window,
            count=PAGE, offset=offset,
        )  # fmt: skip
        for r in found.readings:
            yield resources.observation(r, found.components.get(r.measurement_id or "", []))
        offset += len(found.readings)
        if not found.readings or offset >= found.total:
            return


def start(
    session: Session,
    *,
    principal: Principal,
    types: Sequence[str],
    request_url: str,
    root: Path,
    now: datetime,
) -> Export:
    """Write the organisation's resources of ``types`` as NDJSON files; the manifest says
    where each is and how many resources it holds (empty files are left out)."""
    job_id = secrets.token_hex(16)
    folder = root / job_id
    folder.mkdir(parents=True)
    sources = {
        "Patient": lambda: _patients(session, principal),
        "Device": lambda: _devices(session, principal, now),
        "Observation": lambda: _observations(session, principal, now),
    }
    counts: dict[str, int] = {}
    for kind in types:
        count = 0
        with (folder / f"{kind}.ndjson").open("w", encoding="utf-8") as out:
            for resource in sources[kind]():
                out.write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n")
                count += 1
        counts[kind] = count
    manifest = {
        "transactionTime": now.isoformat(),
        "request": request_url,
        "requiresAccessToken": True,
        "output": [{"type": k, "count": n} for k, n in counts.items() if n],
        "error": [],
        "organisation": principal.organisation_id,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return Export(job_id, manifest)


def _folder(root: Path, job_id: str, organisation_id: str) -> tuple[Path, dict[str, Any]]:
    folder = root / job_id
    path = folder / MANIFEST
    if not JOB_ID.fullmatch(job_id) or not path.is_file():
        raise NotFoundError(f"no export {job_id!r}")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("organisation") != organisation_id:
        raise NotFoundError(f"no export {job_id!r}")
    return folder, manifest


def manifest(root: Path, job_id: str, *, organisation_id: str) -> dict[str, Any]:
    """The export's manifest (without the organisation it belongs to)."""
    _, found = _folder(root, job_id, organisation_id)
    return {k: v for k, v in found.items() if k != "organisation"}


def output_file(root: Path, job_id: str, kind: str, *, organisation_id: str) -> tuple[Path, int]:
    """The NDJSON file of one type and how many resources it holds."""
    folder, found = _folder(root, job_id, organisation_id)
    counts = {o["type"]: int(o["count"]) for o in found["output"]}
    if kind not in counts:
        raise NotFoundError(f"export {job_id} has no {kind} file")
    return folder / f"{kind}.ndjson", counts[kind]


def delete(root: Path, job_id: str, *, organisation_id: str) -> None:
    folder, _ = _folder(root, job_id, organisation_id)
    shutil.rmtree(folder)
