"""Ending a gateway's identity: the one procedure ``vitalgate-cloud gateway revoke`` and the
web app's gateway page both follow.

First the database (ingest refuses a revoked gateway's messages at once), then its
credential: the broker password is forgotten, or the certificate goes on the CRL. The broker
itself is told by the caller (``dynsec``), which knows how to report a broker it cannot reach.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from cloud.errors import NotFoundError
from cloud.pki import passwords
from cloud.pki.authority import Authority
from cloud.store.models import GatewayRecord


def mark_revoked(
    session: Session, *, gateway_id: str, organisation_id: str | None, now: datetime
) -> bool:
    """Mark the gateway revoked; False if it already was. With ``organisation_id``, a
    gateway of another organisation is "not found", like one that does not exist."""
    gateway = session.get(GatewayRecord, gateway_id)
    if gateway is None or (
        organisation_id is not None and gateway.organisation_id != organisation_id
    ):
        raise NotFoundError(f"no gateway {gateway_id!r}")
    if gateway.revoked_at is not None:
        return False
    gateway.revoked_at = now
    return True


def withdraw_credential(pki_root: Path, gateway_id: str, *, now: datetime) -> str:
    """Forget the gateway's broker password, or put its certificate on the CRL; says which."""
    if passwords.forget(pki_root, gateway_id):
        return "its password is forgotten"
    serial = Authority.load(pki_root).revoke_gateway(gateway_id, now=now)
    return f"certificate serial {serial:x} is on the CRL"
