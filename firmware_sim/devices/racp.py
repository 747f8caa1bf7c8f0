"""The Record Access Control Point over a device's stored records, as glucose meters (GLS
1.0 §3.6) and CGMs (CGMS 1.0.1) run it: report the number, deliver, delete, abort; a request
it cannot parse is answered with the response code a real device indicates. Each device
says how its records are picked (``select``) and sent (``deliver``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from firmware_sim.encoders import encode_racp_response
from gateway.ble.profiles import ProfileError, RacpNumberOfRecords, RacpRequest, RacpResponseCode
from gateway.ble.profiles.racp import OpCode, Operator, ResponseCode, decode_request

R = TypeVar("R")


def select(records: list[R], request: RacpRequest, *, key: Callable[[R], int]) -> list[R]:
    """The records a RACP operator picks (GLS 1.0 §3.6.2), by the 16-bit ``key`` the device
    filters on: a glucose record's sequence number, a CGM record's time offset."""
    bounds = request.sequence_numbers
    op = request.operator
    if op is Operator.ALL_RECORDS:
        return list(records)
    if op is Operator.FIRST_RECORD:
        return records[:1]
    if op is Operator.LAST_RECORD:
        return records[-1:]
    low, high = {
        Operator.LESS_THAN_OR_EQUAL: (0, bounds[0] if bounds else 0),
        Operator.GREATER_THAN_OR_EQUAL: (bounds[0] if bounds else 0, 0xFFFF),
        Operator.WITHIN_RANGE: (bounds[0], bounds[-1]) if bounds else (1, 0),
    }.get(op, (1, 0))
    return [r for r in records if low <= key(r) <= high]


def refusal(data: bytes) -> bytes:
    """The response code a device indicates for a request it cannot parse."""
    op = data[0] if data else 0
    if op not in (1, 2, 3, 4):
        code = ResponseCode.OP_CODE_NOT_SUPPORTED
    elif len(data) < 2 or data[1] not in set(Operator):
        code = ResponseCode.INVALID_OPERATOR
    else:
        code = ResponseCode.INVALID_OPERAND
    return bytes([OpCode.RESPONSE_CODE, Operator.NULL, op, code])


def response(op: OpCode, code: ResponseCode) -> bytes:
    """The RACP response-code indication for ``op``."""
    return encode_racp_response(RacpResponseCode(op, code))


def procedure(
    data: bytes,
    *,
    records: list[R],
    select: Callable[[list[R], RacpRequest], list[R]],
    deliver: Callable[[list[R]], None],
    indicate: Callable[[bytes], object],
) -> list[R]:
    """Run one RACP request over ``records``; returns the records kept (a delete removes the
    ones it picks). ``indicate`` sends on the RACP characteristic."""

    def respond(op: OpCode, code: ResponseCode) -> None:
        indicate(response(op, code))

    try:
        request = decode_request(data)
    except ProfileError:
        indicate(refusal(data))
        return records
    chosen = select(records, request)
    if request.op_code is OpCode.REPORT_NUMBER_OF_RECORDS:
        indicate(encode_racp_response(RacpNumberOfRecords(len(chosen))))
    elif request.op_code is OpCode.ABORT_OPERATION:
        respond(OpCode.ABORT_OPERATION, ResponseCode.SUCCESS)
    elif not chosen:
        respond(request.op_code, ResponseCode.NO_RECORDS_FOUND)
    elif request.op_code is OpCode.DELETE_STORED_RECORDS:
        records = [r for r in records if r not in chosen]
        respond(request.op_code, ResponseCode.SUCCESS)
    else:
        deliver(chosen)
        respond(request.op_code, ResponseCode.SUCCESS)
    return records
