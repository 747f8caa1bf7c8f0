"""Who lives with the gateway: the household's people by first name, for the pairing page
and the CLI ("Who will use this device? Maria · José").

The cloud's config names them when the gateway has one (its patients and first names);
until then the gateway settings' ``[[patients]]`` do. A patient the cloud lists without a
first name is shown by id. Pure: callers load the settings and config.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway import wire


class Named(Protocol):
    @property
    def patient_id(self) -> str: ...

    @property
    def first_name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Person:
    patient_id: str
    first_name: str


def people(configured: Iterable[Named], config: wire.GatewayConfig | None) -> tuple[Person, ...]:
    """The household, in the order the cloud (else the settings) lists it."""
    names = {p.patient_id: p.first_name for p in configured}
    if config is None or not config.patients:
        return tuple(Person(pid, name) for pid, name in names.items())
    names.update(config.first_names)
    return tuple(Person(pid, names.get(pid, pid)) for pid in config.patients)


def find(household: Sequence[Person], text: str) -> Person | None:
    """The person ``text`` names: a patient id, or a first name (any case)."""
    wanted = text.strip()
    for person in household:
        if person.patient_id == wanted:
            return person
    matches = [p for p in household if p.first_name.casefold() == wanted.casefold()]
    return matches[0] if len(matches) == 1 else None


def names(household: Sequence[Person]) -> str:
    """ "Maria · José" (or a hint that nobody is set up yet)."""
    if not household:
        return "nobody yet: add [[patients]] with patient_id and first_name to the gateway config"
    return " · ".join(p.first_name for p in household)


def first_names(household: Sequence[Person], patient_ids: Iterable[str]) -> str:
    """The first names of ``patient_ids`` (ids of people not in the household as they are)."""
    known = {p.patient_id: p.first_name for p in household}
    return ", ".join(known.get(pid, pid) for pid in patient_ids)
