"""What to do with each kind of device to pair it, in plain words and a picture: shared by
the local pairing page (``gateway.ble.web``) and ``vitalgate-gateway pair``.

The pictures are small inline SVGs (no files to serve): the device's outline, and the
part to press or put on drawn in the accent colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.ble.profiles import DeviceKind

ACCENT: Final = "#b3261e"
INK: Final = "#1f1f1f"


@dataclass(frozen=True, slots=True)
class Guide:
    label: str
    press: str
    """What to press or do so the device shows itself (or sends a reading)."""
    picture: str
    """An inline SVG; the part to press is drawn in ``ACCENT``."""


def _svg(title: str, body: str) -> str:
    return (
        f'<svg viewBox="0 0 120 90" width="180" height="135" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<g fill="none" stroke="{INK}" stroke-width="3">{body}</g></svg>'
    )


def _button(cx: int, cy: int, r: int = 7) -> str:
    return f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{ACCENT}" stroke="{ACCENT}"/>'


GUIDES: Final[dict[DeviceKind, Guide]] = {
    DeviceKind.BP_CUFF: Guide(
        "Blood pressure cuff",
        "Press and hold the Bluetooth button (or START) until the symbol blinks, "
        "or simply take a measurement.",
        _svg(
            "Blood pressure monitor with its start button marked",
            '<rect x="20" y="15" width="80" height="60" rx="8"/>'
            '<rect x="32" y="24" width="56" height="22" rx="3"/>' + _button(60, 60, 8),
        ),
    ),
    DeviceKind.SCALE: Guide(
        "Scale",
        "Step on the scale with bare feet and stand still until the number stops blinking.",
        _svg(
            "Bathroom scale with the two foot places marked",
            '<rect x="15" y="10" width="90" height="70" rx="10"/>'
            '<rect x="45" y="16" width="30" height="12" rx="2"/>'
            f'<ellipse cx="42" cy="55" rx="10" ry="16" fill="{ACCENT}" stroke="{ACCENT}"/>'
            f'<ellipse cx="78" cy="55" rx="10" ry="16" fill="{ACCENT}" stroke="{ACCENT}"/>',
        ),
    ),
    DeviceKind.PULSE_OXIMETER: Guide(
        "Pulse oximeter",
        "Put a finger into the clip, nail up. It switches itself on.",
        _svg(
            "Finger clip oximeter with the finger opening marked",
            '<rect x="20" y="20" width="80" height="50" rx="18"/>'
            f'<rect x="30" y="40" width="60" height="12" rx="6" fill="{ACCENT}" stroke="{ACCENT}"/>',
        ),
    ),
    DeviceKind.THERMOMETER: Guide(
        "Thermometer",
        "Press the power button once, then take your temperature as usual.",
        _svg(
            "Thermometer with its power button marked",
            '<rect x="10" y="35" width="100" height="20" rx="10"/>'
            '<rect x="20" y="39" width="30" height="12" rx="2"/>' + _button(80, 45, 6),
        ),
    ),
    DeviceKind.GLUCOSE_METER: Guide(
        "Glucose meter",
        "Hold the Bluetooth button (often marked with the Bluetooth sign or M) for three "
        "seconds until the symbol blinks.",
        _svg(
            "Glucose meter with its Bluetooth button marked",
            '<rect x="30" y="5" width="60" height="80" rx="10"/>'
            '<rect x="40" y="15" width="40" height="30" rx="3"/>' + _button(60, 65, 8),
        ),
    ),
    DeviceKind.HR_STRAP: Guide(
        "Heart rate strap",
        "Wet the two pads on the inside of the strap and put it on: it wakes up on your skin.",
        _svg(
            "Chest strap with its two pads marked",
            '<path d="M5 45 Q60 20 115 45"/>'
            f'<rect x="30" y="30" width="18" height="14" rx="4" fill="{ACCENT}" stroke="{ACCENT}"/>'
            f'<rect x="72" y="30" width="18" height="14" rx="4" fill="{ACCENT}" stroke="{ACCENT}"/>',
        ),
    ),
    DeviceKind.CGM: Guide(
        "Glucose sensor (CGM)",
        "Put the sensor on as its leaflet shows, then keep it near the gateway. "
        "It needs time to warm up before the first reading.",
        _svg(
            "Round glucose sensor on the arm with its centre marked",
            '<circle cx="60" cy="45" r="32"/>' + _button(60, 45, 10),
        ),
    ),
}

BROADCAST_GUIDE: Final = (
    "A sensor that only broadcasts (BTHome) needs no button: take a measurement next to "
    "the gateway. If it encrypts, type the bind key printed on its box or QR code."
)
