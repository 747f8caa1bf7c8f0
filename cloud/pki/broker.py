"""The broker's configuration: a Mosquitto file and its dynamic-security (dynsec) ACLs.

Why dynsec and not ``acl_file`` (measured on Mosquitto 2.0.11): the plain ACL file accepts
every SUBSCRIBE, even ``#`` or the ingest's ``$share/…`` group, and only filters messages at
delivery; a gateway that joined the ingest share was handed real batches that were then
dropped, so another gateway's readings were lost. The dynsec plugin checks subscriptions
(``subscribeLiteral``) and refuses one outside a client's roles in the SUBACK.

Mosquitto 2.0's dynsec has no ``%u``/``%c`` substitution in ACL topics (added in 2.1), so
each gateway gets a role of its own, ``gateway:<id>``. The database is the source of truth:
``broker config`` writes a role for every provisioned, unrevoked gateway, and ``gateway
provision`` / ``revoke`` apply the same change to a running broker through the plugin's
control topic (``cloud.pki.dynsec``), as the cloud's identity.
"""

from __future__ import annotations

import glob
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cloud.pki.authority import CLOUD_IDENTITY, PkiError, PkiPaths, write_private
from gateway import wire

DYNSEC_PLUGIN: Final = "mosquitto_dynamic_security.so"
_PLUGIN_GLOBS: Final = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/usr/lib/*/mosquitto/mosquitto_dynamic_security.so",
)
CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE: Final = f"{CONTROL_TOPIC}/response"
CLOUD_ROLE: Final = "vitalgate-cloud"
GATEWAY_ROLE_PREFIX: Final = "gateway:"
DEFAULT_PORT: Final = 8883
DEFAULT_CLOUD_PORT: Final = 8884


def find_plugin() -> str:
    """The dynsec plugin's path on this machine (Debian's when none is found)."""
    for pattern in _PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return f"/usr/lib/x86_64-linux-gnu/{DYNSEC_PLUGIN}"


def _acl(acltype: str, topic: str, *, allow: bool = True) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": allow}


def gateway_role(gateway_id: str, *, topic_root: str = wire.DEFAULT_TOPIC_ROOT) -> dict[str, Any]:
    """A gateway publishes only its uplink leaves and subscribes only to its downlink ones."""
    topics = wire.Topics(gateway_id, topic_root)
    acls = [_acl("publishClientSend", topics.leaf(leaf)) for leaf in wire.UPLINK_LEAVES]
    for leaf in wire.DOWNLINK_LEAVES:
        acls.append(_acl("subscribeLiteral", topics.leaf(leaf)))
        acls.append(_acl("publishClientReceive", topics.leaf(leaf)))
    return {"rolename": f"{GATEWAY_ROLE_PREFIX}{gateway_id}", "acls": acls}


def cloud_role(*, group: str, topic_root: str = wire.DEFAULT_TOPIC_ROOT) -> dict[str, Any]:
    """The cloud alone joins the ingest share, publishes downlink leaves and runs dynsec."""
    acls: list[dict[str, Any]] = []
    for leaf in wire.UPLINK_LEAVES:
        every = wire.uplink_filter(leaf, topic_root)
        acls.append(_acl("subscribeLiteral", f"$share/{group}/{every}"))
        acls.append(_acl("publishClientReceive", every))
    for leaf in wire.DOWNLINK_LEAVES:
        acls.append(_acl("publishClientSend", wire.uplink_filter(leaf, topic_root)))
    acls += [
        _acl("publishClientSend", CONTROL_TOPIC),
        _acl("subscribeLiteral", CONTROL_RESPONSE),
        _acl("publishClientReceive", CONTROL_RESPONSE),
    ]
    return {"rolename": CLOUD_ROLE, "acls": acls}


def gateway_client(gateway_id: str, login: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dynsec client of a gateway; ``login``: its password (plaintext for a live
    ``createClient``, or the stored hash fields for the JSON); none for a certificate."""
    return {
        "username": gateway_id,
        "textname": "VitalGate gateway",
        "roles": [{"rolename": f"{GATEWAY_ROLE_PREFIX}{gateway_id}"}],
        **(login or {}),
    }


def dynsec_config(
    gateway_ids: list[str],
    *,
    group: str,
    topic_root: str = wire.DEFAULT_TOPIC_ROOT,
    logins: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The plugin's JSON: deny by default, the cloud's role, and one role per gateway.

    Certificate clients have no password: with ``use_identity_as_username`` the CN is the
    username, and the TLS handshake has already proved it. ``logins`` holds the password
    hashes of the gateways that log in with a password instead.
    """
    logins = logins or {}
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [
            {
                "username": CLOUD_IDENTITY,
                "textname": "VitalGate cloud",
                "roles": [{"rolename": CLOUD_ROLE}],
            },
            *(gateway_client(g, logins.get(g)) for g in gateway_ids),
        ],
        "groups": [],
        "roles": [
            cloud_role(group=group, topic_root=topic_root),
            *(gateway_role(g, topic_root=topic_root) for g in gateway_ids),
        ],
    }


@dataclass(frozen=True)
class BrokerFiles:
    conf: Path
    dynsec: Path


def _listener_lines(
    out: Path, pki: PkiPaths, *, port: int, bind: str | None, cloud: bool
) -> list[str]:
    lines = [
        f"listener {port}" + (f" {bind}" if bind else ""),
        "protocol mqtt",
        f"certfile {out / 'broker.pem'}",
        f"keyfile {out / 'broker.key'}",
        "tls_version tlsv1.2",
        "require_certificate true",
        "use_identity_as_username true",
    ]
    if cloud:
        return [
            *lines,
            "# Only certificates of the cloud CA: no gateway certificate passes the handshake here.",
            f"cafile {out / 'cloud-ca.pem'}",
        ]
    return [
        *lines,
        f"cafile {out / 'ca.pem'}",
        "# The client id is the certificate's CN: a gateway cannot take over another client's",
        "# session (measured on 2.0.11: with free client ids, a gateway certificate connecting",
        "# as the ingest worker's id closed its connection and inherited its $share session).",
        "use_username_as_clientid true",
        "# Revoked gateways: `vitalgate-cloud gateway revoke` rewrites this file; reload the",
        "# broker (SIGHUP) to apply it. A broker on another host needs a copy first.",
        f"crlfile {pki.crl}",
    ]


def _password_lines(out: Path, *, port: int, bind: str | None) -> list[str]:
    return [
        "# Gateways provisioned with --auth password: TLS without a client certificate; the",
        "# dynamic-security plugin checks the username (the gateway id) and password, and the",
        "# same roles apply.",
        f"listener {port}" + (f" {bind}" if bind else ""),
        "protocol mqtt",
        f"certfile {out / 'broker.pem'}",
        f"keyfile {out / 'broker.key'}",
        "tls_version tlsv1.2",
        "use_username_as_clientid true",
        "",
    ]


def write_broker_config(
    out: Path,
    pki: PkiPaths,
    *,
    base_conf: str,
    gateway_ids: list[str],
    group: str,
    topic_root: str = wire.DEFAULT_TOPIC_ROOT,
    port: int = DEFAULT_PORT,
    bind: str | None = None,
    cloud_port: int = DEFAULT_CLOUD_PORT,
    cloud_bind: str | None = "127.0.0.1",
    password_port: int | None = None,
    logins: dict[str, dict[str, Any]] | None = None,
    plugin: str | None = None,
) -> BrokerFiles:
    """Write ``mosquitto.conf``, ``dynamic-security.json`` and the broker's TLS files to ``out``."""
    pki.require()
    if "\n" in str(out) or " " in str(out.resolve()):
        raise PkiError(f"{out}: Mosquitto cannot read paths with spaces; choose another folder")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pki.ca_cert, out / "ca.pem")
    shutil.copyfile(pki.cloud_ca_cert, out / "cloud-ca.pem")
    shutil.copyfile(pki.broker_cert, out / "broker.pem")
    write_private(out / "broker.key", pki.broker_key.read_bytes())
    dynsec = out / "dynamic-security.json"
    body = dynsec_config(gateway_ids, group=group, topic_root=topic_root, logins=logins)
    write_private(dynsec, (json.dumps(body, indent=2) + "\n").encode())
    lines = [
        "# Generated by `vitalgate-cloud broker config`; regenerate rather than edit.",
        "# Queueing, persistence and limits: the shipped deploy/mosquitto/vitalgate.conf.",
        base_conf.rstrip(),
        "",
        "# ---- identity and authorisation (docs/architecture.md, trusted data path) ----",
        f"persistence_location {out}/",
        "allow_anonymous false",
        "# broker.key and dynamic-security.json are 0600: give them to the broker's user",
        "# (chown mosquitto); the plugin rewrites its JSON on every live change.",
        "# Dynamic security: the roles of the cloud and of each gateway; SUBSCRIBE outside a",
        "# role is refused in the SUBACK (plain acl_file would accept it and drop at delivery).",
        f"plugin {plugin or find_plugin()}",
        f"plugin_opt_config_file {dynsec}",
        "",
        "# Gateways: mutual TLS with certificates of the gateway CA.",
        *_listener_lines(out, pki, port=port, bind=bind, cloud=False),
        "",
        "# The cloud's processes (ingest, downlink, provisioning): each picks its own client id",
        "# (<role>-<host>-<pid>), so this listener cannot force it to the CN.",
        *_listener_lines(out, pki, port=cloud_port, bind=cloud_bind, cloud=True),
        "",
        *(_password_lines(out, port=password_port, bind=bind) if password_port else []),
    ]
    conf = out / "mosquitto.conf"
    conf.write_text("\n".join(lines))
    return BrokerFiles(conf=conf, dynsec=dynsec)
