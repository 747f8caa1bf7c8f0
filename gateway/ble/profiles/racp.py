"""Record Access Control Point 0x2A52 (Glucose Service 1.0 §3.6; GATT Specification
Supplement §3.185): how the gateway asks a glucose meter for its stored records.

Requests (written by the gateway, ``encode_request``): op code u8 | operator u8 | operand.
Responses (indicated by the meter, ``decode_racp``): number of stored records (op code 5,
operator 0, u16 count) or a response code (op code 6, operator 0, request op code u8,
response code u8). ``decode_request`` parses requests, for simulated meters.
An unknown op code is refused (it decides the layout of what follows); a reserved response
code decodes to the plain number, an outcome this version does not know (not a success).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from gateway.ble.profiles.base import Cursor, ProfileError, ProfileReading, known_or_raw, lookup

NAME = "Record Access Control Point (0x2A52)"
FILTER_SEQUENCE_NUMBER: Final = 0x01


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_RECORDS = 4
    NUMBER_OF_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class Operator(IntEnum):
    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL = 2
    GREATER_THAN_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class ResponseCode(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


_OPERAND_COUNT: Final = {
    Operator.LESS_THAN_OR_EQUAL: 1,
    Operator.GREATER_THAN_OR_EQUAL: 1,
    Operator.WITHIN_RANGE: 2,
}
"""Sequence numbers the operand carries after the filter type byte."""

_KNOWN_OPS: Final = frozenset(op.value for op in OpCode)
_REQUEST_OPS: Final = frozenset(
    {OpCode.REPORT_STORED_RECORDS, OpCode.DELETE_STORED_RECORDS, OpCode.REPORT_NUMBER_OF_RECORDS}
)


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request; ``sequence_numbers`` is the operand (one bound, or two for a range)."""

    op_code: OpCode
    operator: Operator
    sequence_numbers: tuple[int, ...] = ()


REPORT_ALL: Final = RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)
NUMBER_OF_RECORDS: Final = RacpRequest(OpCode.REPORT_NUMBER_OF_RECORDS, Operator.ALL_RECORDS)
ABORT: Final = RacpRequest(OpCode.ABORT_OPERATION, Operator.NULL)


def report_from(sequence_number: int) -> RacpRequest:
    """Report stored records with a sequence number ≥ ``sequence_number`` (the catch-up)."""
    return RacpRequest(
        OpCode.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL, (sequence_number,)
    )


def encode_request(request: RacpRequest) -> bytes:
    """The bytes the gateway writes to 0x2A52; ValueError for an inconsistent request."""
    want = _OPERAND_COUNT.get(request.operator, 0)
    if len(request.sequence_numbers) != want:
        raise ValueError(f"{request.operator.name} takes {want} sequence number(s)")
    if request.op_code not in _REQUEST_OPS | {OpCode.ABORT_OPERATION}:
        raise ValueError(f"{request.op_code.name} is not a request")
    if (request.op_code is OpCode.ABORT_OPERATION) != (request.operator is Operator.NULL):
        raise ValueError("abort, and only abort, uses the null operator")
    out = bytes([request.op_code, request.operator])
    if want:
        out += bytes([FILTER_SEQUENCE_NUMBER])
        for number in request.sequence_numbers:
            if not 0 <= number <= 0xFFFF:
                raise ValueError(f"sequence number out of range: {number}")
            out += number.to_bytes(2, "little")
    return out


def decode_request(data: bytes) -> RacpRequest:
    """Parse a request as a meter does; ProfileError for what a meter would refuse."""
    cur = Cursor(NAME, data)
    op = lookup(OpCode, NAME, "op code", cur.u8("op code"))
    operator = lookup(Operator, NAME, "operator", cur.u8("operator"))
    if op not in _REQUEST_OPS | {OpCode.ABORT_OPERATION}:
        raise ProfileError(f"{NAME}: op code {op.name} is not a request")
    if (op is OpCode.ABORT_OPERATION) != (operator is Operator.NULL):
        raise ProfileError(f"{NAME}: operator {operator.name} invalid for {op.name}")
    numbers: list[int] = []
    if operator in _OPERAND_COUNT:
        if cur.u8("filter type") != FILTER_SEQUENCE_NUMBER:
            raise ProfileError(f"{NAME}: only the sequence-number filter is supported")
        numbers = [cur.u16("sequence number") for _ in range(_OPERAND_COUNT[operator])]
    cur.done()
    return RacpRequest(op, operator, tuple(numbers))


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    count: int

    def readings(self) -> list[ProfileReading]:
        return []


@dataclass(frozen=True, slots=True)
class RacpResponseCode:
    request_op_code: OpCode | int
    """The request this answers; a plain number when the meter echoes an unknown op code."""
    response: ResponseCode | int
    """A plain number for a reserved response code: an outcome this version does not know."""

    @property
    def ok(self) -> bool:
        return self.response is ResponseCode.SUCCESS

    def readings(self) -> list[ProfileReading]:
        return []


RacpResponse = RacpNumberOfRecords | RacpResponseCode


def decode_racp(data: bytes) -> RacpResponse:
    """A meter's indication on 0x2A52: a record count or the outcome of a request."""
    cur = Cursor(NAME, data)
    op = lookup(OpCode, NAME, "op code", cur.u8("op code"))
    if cur.u8("operator") != Operator.NULL:
        raise ProfileError(f"{NAME}: a response must use the null operator")
    result: RacpResponse
    if op is OpCode.NUMBER_OF_RECORDS_RESPONSE:
        result = RacpNumberOfRecords(cur.u16("number of records"))
    elif op is OpCode.RESPONSE_CODE:
        raw = cur.u8("request op code")
        # A meter echoes an op code it does not support, so unknown ones stay numbers.
        request: OpCode | int = OpCode(raw) if raw in _KNOWN_OPS else raw
        result = RacpResponseCode(request, known_or_raw(ResponseCode, cur.u8("response code")))
    else:
        raise ProfileError(f"{NAME}: op code {op.name} is a request, not a response")
    cur.done()
    return result
