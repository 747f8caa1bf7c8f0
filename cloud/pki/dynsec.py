"""Administer a running broker's dynamic-security plugin through its control topic.

The cloud's identity sends ``{"commands": [...]}`` to ``$CONTROL/dynamic-security/v1`` and
reads the answers on ``…/response``; the plugin applies them at once and saves its JSON file.
So a gateway provisioned while the broker runs can connect straight away, and a revoked one
loses every permission (``deleteClient`` also disconnects it) without a broker restart.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.errors import CloudError
from cloud.pki.broker import CONTROL_RESPONSE, CONTROL_TOPIC, gateway_client, gateway_role
from gateway.uplink.client import make_client
from gateway.uplink.errors import UplinkError
from gateway.uplink.settings import MqttSettings

TIMEOUT_S: Final = 10.0
_HARMLESS: Final = ("already exists", "not found")
"""Answers that mean the broker is already in the state asked for."""


class DynsecError(CloudError):
    """The broker could not be reached or refused a dynsec command."""

    status = 502
    code = "broker_admin_failed"


def send(
    mqtt: MqttSettings, commands: list[dict[str, Any]], *, timeout_s: float = TIMEOUT_S
) -> None:
    """Run ``commands`` on the broker as the cloud; raise DynsecError unless all succeed."""
    answered = threading.Event()
    connected = threading.Event()
    responses: list[dict[str, Any]] = []
    refused: list[str] = []
    try:
        client = make_client(mqtt, role="vitalgate-admin")
    except UplinkError as exc:
        raise DynsecError(str(exc)) from exc

    def on_connect(c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None) -> None:
        if rc.is_failure:
            refused.append(str(rc))
            answered.set()
            return
        connected.set()
        c.subscribe(CONTROL_RESPONSE, qos=1)

    def on_subscribe(c: paho.Client, _u: Any, _m: int, codes: list[ReasonCode], _p: Any) -> None:
        if any(code.is_failure for code in codes):
            refused.append(f"subscribe to {CONTROL_RESPONSE} refused: {codes[0]}")
            answered.set()
            return
        c.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)

    def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        responses.extend(json.loads(msg.payload).get("responses", []))
        answered.set()

    def on_connect_fail(_c: paho.Client, _u: Any) -> None:
        refused.append("no connection")  # refused or unreachable: fail now, not at the timeout
        answered.set()

    client.on_connect = on_connect
    client.on_connect_fail = on_connect_fail
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect_async(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            where = f"{mqtt.host}:{mqtt.port}"
            what = "no answer from" if connected.is_set() else "cannot connect to"
            raise DynsecError(f"{what} the broker's dynamic-security plugin at {where}")
    finally:
        client.disconnect()
        client.loop_stop()
    if refused:
        raise DynsecError(f"cannot use the broker at {mqtt.host}:{mqtt.port}: {refused[0]}")
    errors = [
        f"{r.get('command')}: {r['error']}"
        for r in responses
        if r.get("error") and not any(h in str(r["error"]).lower() for h in _HARMLESS)
    ]
    if errors:
        raise DynsecError("the broker refused: " + "; ".join(errors))


def add_gateway(mqtt: MqttSettings, gateway_id: str, *, password: str | None = None) -> None:
    """Give a newly provisioned gateway its role on the running broker (and its password,
    which the plugin hashes, for a gateway that logs in with one)."""
    role = gateway_role(gateway_id, topic_root=mqtt.topic_root)
    client = gateway_client(gateway_id, {"password": password} if password else None)
    send(mqtt, [{"command": "createRole", **role}, {"command": "createClient", **client}])


def remove_gateway(mqtt: MqttSettings, gateway_id: str) -> None:
    """Take a revoked gateway's permissions away now (its connection is closed too)."""
    role = gateway_role(gateway_id, topic_root=mqtt.topic_root)["rolename"]
    send(
        mqtt,
        [
            {"command": "deleteClient", "username": gateway_id},
            {"command": "deleteRole", "rolename": role},
        ],
    )


__all__ = ["DynsecError", "add_gateway", "remove_gateway", "send"]
