"""[C1] Smithy RPC v2 CBOR in front of moto.

moto 5.2.5 answers CloudWatch in its JSON 1.0 and query protocols only; a
request in Smithy RPC v2 CBOR (`POST /service/<Service>/operation/<Op>`,
header `smithy-protocol: rpc-v2-cbor`, which aws-sdk-cloudwatch sends) gets no
CBOR back. boto3 1.43 prefers JSON 1.0 for CloudWatch, so it never meets the
gap. This module translates such a request to JSON 1.0 for moto and moto's
answer back to CBOR, shape by shape, with botocore's own CBOR and JSON
(de)serialisers and the service's model: timestamps become CBOR tag 1,
doubles stay doubles, as the Smithy RPC v2 CBOR protocol specifies.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any, Callable

import botocore.session
from botocore.parsers import create_parser
from botocore.serialize import RpcV2CBORSerializer, create_serializer

# The services a test client may speak CBOR to: Smithy service name -> botocore name.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}

_models: dict[str, Any] = {}
_lock = threading.Lock()


def is_cbor_request(environ: dict[str, Any]) -> bool:
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO", "").startswith("/service/")
        and environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor"
    )


def service_model(name: str) -> Any:
    with _lock:
        if name not in _models:
            _models[name] = botocore.session.get_session().get_service_model(name)
        return _models[name]


def encode_error(error_type: str, message: str) -> bytes:
    """A CBOR map {"__type": ..., "message": ...} (text strings only)."""

    def text(value: str) -> bytes:
        data = value.encode("utf-8")
        return head(3, len(data)) + data

    return head(5, 2) + text("__type") + text(error_type) + text("message") + text(message)


def head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([(major << 5) | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([(major << 5) | info]) + length.to_bytes(size, "big")
    raise ValueError("too long")


def respond(start_response: Callable[..., Any], status: str, body: bytes, extra: list[tuple[str, str]]) -> list[bytes]:
    headers = [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(body))),
        *extra,
    ]
    start_response(status, headers)
    return [body]


def handle(environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Any]) -> list[bytes]:
    parts = environ["PATH_INFO"].strip("/").split("/")
    if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation" or parts[1] not in SERVICES:
        body = encode_error("UnknownOperationException", f"no such operation: {environ['PATH_INFO']}")
        return respond(start_response, "404 Not Found", body, [])
    model = service_model(SERVICES[parts[1]])
    try:
        operation = model.operation_model(parts[3])
    except Exception:
        body = encode_error("UnknownOperationException", f"no such operation: {parts[3]}")
        return respond(start_response, "404 Not Found", body, [])
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    params: dict[str, Any] = {}
    if raw and operation.input_shape is not None:
        parsed = create_parser("smithy-rpc-v2-cbor").parse(
            {"body": raw, "headers": {}, "status_code": 200}, operation.input_shape
        )
        params = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    request = create_serializer("json").serialize_to_request(params, operation)
    body = request["body"] if isinstance(request["body"], bytes) else request["body"].encode()

    inner = dict(environ)
    for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "CONTENT_TYPE", "CONTENT_LENGTH"):
        inner.pop(key, None)
    inner["PATH_INFO"] = "/"
    inner["CONTENT_TYPE"] = request["headers"]["Content-Type"]
    inner["CONTENT_LENGTH"] = str(len(body))
    for name, value in request["headers"].items():
        if name.lower() != "content-type":
            inner["HTTP_" + name.upper().replace("-", "_")] = value
    inner["wsgi.input"] = io.BytesIO(body)

    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"] = status
        captured["headers"] = headers
        return lambda data: None

    chunks = app(inner, capture)
    try:
        answer = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    status = captured["status"]
    code = int(status.split(" ", 1)[0])
    headers = {k.lower(): v for k, v in captured["headers"]}
    extra = [(k, v) for k, v in captured["headers"] if k.lower() in ("x-amzn-requestid", "x-amzn-query-error")]
    if code >= 300:
        try:
            doc = json.loads(answer or b"{}")
        except ValueError:
            doc = {}
        error_type = doc.get("__type") or headers.get("x-amzn-errortype") or "InternalFailure"
        message = doc.get("message") or doc.get("Message") or ""
        return respond(start_response, status, encode_error(error_type, message), extra)
    out = bytearray()
    if operation.output_shape is not None:
        parsed = create_parser("json").parse(
            {"body": answer or b"{}", "headers": headers, "status_code": code}, operation.output_shape
        )
        result = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
        RpcV2CBORSerializer()._serialize_data_item(out, result, operation.output_shape)
    else:
        out += head(5, 0)  # an empty map for an operation without output
    return respond(start_response, status, bytes(out), extra)
