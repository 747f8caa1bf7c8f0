"""Request and response models of patients, care teams, devices, pairings and gateways."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.params import UtcTime
from gateway.wire import Identifier

Name = Annotated[str, Field(min_length=1, max_length=200)]
ProgramId = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PatientBase(BaseModel):
    display_name: Name
    program_id: ProgramId | None = None


class PatientCreate(PatientBase, _In):
    id: Identifier
    """The id the patient's gateway puts in each reading."""


class PatientPublic(PatientBase, _Out):
    id: str
    organisation_id: str
    created_at: datetime


class PatientTags(_In):
    """The patient's whole set of tags (replaces the one before)."""

    tags: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=12)]


class CareTeamMemberCreate(_In):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    team_role: Annotated[str, Field(min_length=1, max_length=64)] = "member"


class CareTeamMemberPublic(_Out):
    patient_id: str
    user_id: int
    team_role: str
    added_at: datetime


class DeviceBase(BaseModel):
    kind: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]
    """``hr_strap``, ``bp_cuff``, ``scale``, ``oximeter``, ``thermometer``, ``glucose_meter``…"""
    address: Annotated[str, Field(pattern=r"^[0-9A-Fa-f:]{1,64}$")] | None = None
    gateway_id: Identifier | None = None


class DeviceCreate(DeviceBase, _In):
    id: Identifier


class DevicePublic(DeviceBase, _Out):
    id: str
    organisation_id: str
    created_at: datetime


class PairingCreate(_In):
    device_id: Identifier
    patient_id: Identifier
    valid_from: UtcTime
    valid_to: UtcTime | None = None


class PairingEnd(_In):
    valid_to: UtcTime


class PairingPublic(_Out):
    id: int
    organisation_id: str
    device_id: str
    patient_id: str
    valid_from: datetime
    valid_to: datetime | None
    created_at: datetime


class GatewayCreate(_In):
    id: Identifier


class GatewayPublic(_Out):
    id: str
    organisation_id: str | None
    state: str
    """``online``, ``offline`` (its last will fired) or ``provisioned`` (never heard from)."""
    last_seen: datetime | None
    status: dict[str, Any]
    config_version: int | None = None
    """The newest config the cloud issued to it (retained on its ``…/config``)."""
    applied_config_version: int | None = None
    """The config version the gateway says it runs (its status): equal once it applied ours."""
