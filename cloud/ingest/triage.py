"""Which readings of a batch go to the record, and which to quarantine (with the reason).

Pure policy over the batch's ``Bindings`` (``cloud.ingest.authorise``): a reading is stored
only if its gateway is registered and not revoked, and its device was paired to the patient
it names, in the gateway's organisation, at the time it was taken; and only if its time
stamp is neither far in the future nor far in the past. Everything else is quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from cloud.ingest.authorise import Bindings, Window, unknown_patients

MAX_FUTURE: Final = timedelta(minutes=10)
"""Clock skew tolerated between a gateway and the cloud."""
MAX_PAST: Final = timedelta(days=400)
"""A device memory download may hold months of records; more than this is a broken clock."""


@dataclass
class Triage:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)


def triage(
    session: Session, rows: Sequence[dict[str, Any]], *, now: datetime, enforce: bool = True
) -> Triage:
    """Split reading rows into those to store and those to quarantine.

    ``enforce=False`` skips the binding checks (time stamps are still judged): only the
    ``ingest_secure`` benchmark's baseline uses it, to measure what the checks cost.
    """
    result = Triage()
    if not rows:
        return result
    bindings = Bindings.load(
        session,
        gateway_ids={r["gateway_id"] for r in rows},
        device_ids={r["device_id"] for r in rows} if enforce else (),
    )
    refused: list[tuple[dict[str, Any], str]] = []
    earliest, latest = now - MAX_PAST, now + MAX_FUTURE
    # The windows that vouch for each (gateway, device, patient) of the batch, found once: a
    # batch names a handful, so a reading costs a dict look-up and a window check.
    vouching: dict[tuple[str, str, str], tuple[Window, ...]] = {}
    for row in rows:
        ts = row["ts"]
        if not earliest <= ts <= latest:
            refused.append((row, _time_refusal(ts, now=now)))
            continue
        if enforce:
            subject = (row["gateway_id"], row["device_id"], row["patient_id"])
            windows = vouching.get(subject)
            if windows is None:
                windows = vouching[subject] = bindings.vouching(*subject)
            if not any(w.covers(ts) for w in windows):
                reason = bindings.refusal(
                    subject[0], device_id=subject[1], patient_id=subject[2], ts=ts
                )
                refused.append((row, reason or "not vouched for"))
                continue
        result.accepted.append(row)
    if refused:
        _explain_unknown_patients(session, bindings, refused)
    for row, reason in refused:
        org = bindings.organisation_of(row["gateway_id"])
        result.quarantined.append({**row, "reason": reason, "organisation_id": org})
    return result


def _time_refusal(ts: datetime, *, now: datetime) -> str:
    if ts > now + MAX_FUTURE:
        return f"time stamp {ts.isoformat()} is in the future: check the gateway's clock"
    return f"time stamp {ts.isoformat()} is more than {MAX_PAST.days} days old"


def _explain_unknown_patients(
    session: Session, bindings: Bindings, refused: list[tuple[dict[str, Any], str]]
) -> None:
    """A device paired to someone else, named with a patient the organisation does not have,
    says so (one query per organisation, only when something was refused); the reason never
    says whose patient it is."""
    by_org: dict[str | None, set[str]] = {}
    for row, _ in refused:
        by_org.setdefault(bindings.organisation_of(row["gateway_id"]), set()).add(row["patient_id"])
    unknown = {
        (org, p)
        for org, ids in by_org.items()
        if org is not None
        for p in unknown_patients(session, org, ids)
    }
    for i, (row, reason) in enumerate(refused):
        org = bindings.organisation_of(row["gateway_id"])
        if (org, row["patient_id"]) in unknown and "paired to another patient" in reason:
            refused[i] = (
                row,
                f"patient {row['patient_id']} is not registered in this organisation",
            )
