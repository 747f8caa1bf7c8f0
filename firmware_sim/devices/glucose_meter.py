"""A blood glucose meter: Glucose Service (0x1808) with stored records served over the
Record Access Control Point (0x2A52).

Each finger-stick becomes a record with the next sequence number; the meter keeps its
records until asked. A central subscribes to 0x2A18 (and 0x2A34) notifications and to
0x2A52 indications, then writes a RACP request: the meter notifies the selected records
(each followed by its context) and indicates the outcome, or indicates the record count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from firmware_sim.devices import racp
from firmware_sim.devices.base import HealthDevice
from firmware_sim.encoders import encode_glucose, encode_glucose_context
from firmware_sim.encoders.numbers import u16
from firmware_sim.scenario import FaultKind
from gateway.ble.profiles import (
    DeviceKind,
    GlucoseContext,
    GlucoseMeasurement,
    RacpRequest,
)
from gateway.ble.profiles.glucose import GlucoseType, Meal, SampleLocation
from gateway.wire import Metric

GLUCOSE_SERVICE: Final = 0x1808
GLUCOSE_MEASUREMENT: Final = 0x2A18
GLUCOSE_CONTEXT: Final = 0x2A34
GLUCOSE_FEATURE: Final = 0x2A51
RACP: Final = 0x2A52
FEATURE_BITS: Final = 0x0001 | 0x0002 | 0x0004 | 0x0020 | 0x0400
"""GLS 1.0 §3.2: low battery, sensor malfunction, sample size, result high-low, multiple bond."""
MG_DL_PER_MMOL_L: Final = 18.016

Record = tuple[GlucoseMeasurement, GlucoseContext | None]


def select(records: list[Record], request: RacpRequest) -> list[Record]:
    """The records a RACP operator picks, by sequence number (GLS 1.0 §3.6.2)."""
    return racp.select(records, request, key=lambda r: r[0].sequence_number)


class GlucoseMeter(HealthDevice):
    kind = DeviceKind.GLUCOSE_METER
    services = (GLUCOSE_SERVICE,)
    model_number = "VG-GL1"

    def __init__(self, address: str, *, mmol: bool = False, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.mmol = mmol
        self.records: list[Record] = []
        self.next_sequence = 1
        self.add_characteristic(GLUCOSE_MEASUREMENT, notify=True, readable=False)
        self.add_characteristic(GLUCOSE_CONTEXT, notify=True, readable=False)
        self.add_characteristic(GLUCOSE_FEATURE, value=u16(FEATURE_BITS))
        self.add_characteristic(RACP, indicate=True, readable=False, on_write=self._racp)

    def measure(
        self, at: datetime | None = None, *, meal: Meal | None = None
    ) -> GlucoseMeasurement:
        """A finger-stick now (or at ``at``): stored as the next record, sent only on request."""
        if at is not None:
            self.set_time(at)
        mg_dl = self.patient.sample(Metric.BLOOD_GLUCOSE, self.now)
        if self.mmol:
            # mol/L in 0.1 mmol/L steps; integer division keeps the decimal exact
            concentration = round(mg_dl / MG_DL_PER_MMOL_L * 10) / 10_000
        else:
            concentration = round(mg_dl) / 100_000  # kg/L, 1 mg/dL steps
        low = self.fault(FaultKind.LOW_BATTERY) is not None
        record = GlucoseMeasurement(
            self.next_sequence % 0x10000,
            self.device_stamp(),
            0,
            concentration,
            self.mmol,
            GlucoseType.CAPILLARY_WHOLE_BLOOD,
            SampleLocation.FINGER,
            ("battery_low",) if low else (),
            context_follows=meal is not None,
        )
        context = None if meal is None else GlucoseContext(record.sequence_number, meal=meal)
        self.records.append((record, context))
        self.next_sequence += 1
        return record

    def _racp(self, data: bytes) -> None:
        """Handle a RACP write (GLS 1.0 §3.6); needs the RACP indication enabled, as real
        meters refuse a procedure they cannot report on."""
        if not self.subscribed(RACP):
            return
        self.records = racp.procedure(
            data, records=self.records, select=select, deliver=self._deliver,
            indicate=lambda payload: self.send(RACP, payload),
        )  # fmt: skip

    def _deliver(self, chosen: list[Record]) -> None:
        for record, context in chosen:
            self.send(GLUCOSE_MEASUREMENT, encode_glucose(record))
            if context is not None:
                self.send(GLUCOSE_CONTEXT, encode_glucose_context(context))
