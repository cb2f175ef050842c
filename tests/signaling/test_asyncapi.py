"""The AsyncAPI document and PROTOCOL.md cover exactly the frames the consumer handles and sends.

``tests/data/asyncapi-3.0.0.json`` is the official AsyncAPI 3.0.0 JSON Schema, vendored unchanged
from the npm package ``@asyncapi/specs`` 6.11.1 (``schemas/3.0.0.json``, the bundled variant with
every definition embedded; sha256 d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626).
Its only outside reference, the JSON Schema draft-07 meta-schema, ships with ``jsonschema``.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings

from signaling import protocol
from signaling.asyncapi import CLIENT_EXAMPLES, ERROR_CODE_DESCRIPTIONS, build_asyncapi
from signaling.consumers import RELAYED_TYPES, ConsultationConsumer
from signaling.server_frames import SERVER_EXAMPLES, SERVER_FRAMES, validate_server_frame

ROOT = Path(settings.BASE_DIR)
SPEC_SCHEMA = ROOT / "tests" / "data" / "asyncapi-3.0.0.json"
PROTOCOL_MD = ROOT / "signaling" / "PROTOCOL.md"
SENDING_SOURCES = [
    ROOT / "signaling" / name for name in ("consumers.py", "sockets.py", "frames.py", "ice.py")
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_asyncapi()


@pytest.fixture(scope="module")
def spec_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SPEC_SCHEMA.read_text())
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _messages(document: dict[str, Any], action: str, channel: str = "consultationRoom") -> set[str]:
    """Frame types of the messages of every ``action`` operation on ``channel``."""
    names = set()
    for operation in document["operations"].values():
        if operation["action"] != action or operation["channel"] != {"$ref": f"#/channels/{channel}"}:
            continue
        for ref in operation["messages"]:
            names.add(_resolve(document, ref["$ref"])["name"])
    return names


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if "$ref" in node and len(node) == 1:
        return _resolve(document, node["$ref"])
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _sent_types_in_source() -> set[str]:
    """Server frame types the consumer code can send: every ``"type": "<name>"`` literal (channel
    layer events such as ``room.relay`` excluded), the ``_presence_frame("<kind>")`` calls, and
    the relayed client frames."""
    types: set[str] = set()
    for path in SENDING_SOURCES:
        source = path.read_text()
        types |= set(re.findall(r'"type":\s*"([a-z_]+)"', source))
        types |= set(re.findall(r'_presence_frame\("([a-z_]+)"\)', source))
    return types | set(RELAYED_TYPES)


# --- (a) client frames ----------------------------------------------------------------------------


def test_every_handler_is_a_documented_client_frame_and_vice_versa(document):
    handlers = {name[3:] for name in dir(ConsultationConsumer) if name.startswith("on_")}
    assert handlers == set(protocol.CLIENT_FRAMES)
    assert _messages(document, "receive") == handlers


# --- (b) server frames ----------------------------------------------------------------------------


def test_every_frame_the_consumer_sends_is_documented_and_vice_versa(document):
    sent = _sent_types_in_source()
    assert "room.relay" not in sent
    assert sent == set(SERVER_FRAMES)
    assert _messages(document, "send") == set(SERVER_FRAMES)


def test_relayed_server_frames_are_exactly_the_relay_handlers():
    relay_handlers = {
        name[3:]
        for name in dir(ConsultationConsumer)
        if name.startswith("on_") and getattr(ConsultationConsumer, name) is ConsultationConsumer._relay
    }
    # media_state has a handler of its own that ends in _relay; read relays by hand.
    assert relay_handlers | {"media_state"} == set(RELAYED_TYPES)
    for frame_type in [*RELAYED_TYPES, "read"]:
        schema = SERVER_FRAMES[frame_type].model_json_schema()
        client = protocol.CLIENT_FRAMES[frame_type].model_json_schema()
        assert set(schema["properties"]) == (set(client["properties"]) - {"id"}) | {"from"}
        assert set(schema["required"]) == set(schema["properties"])


# --- (c) the document -----------------------------------------------------------------------------


def test_document_validates_against_the_official_asyncapi_3_schema(document, spec_validator):
    errors = [f"{list(e.absolute_path)}: {e.message[:300]}" for e in spec_validator.iter_errors(document)]
    assert not errors, "\n".join(errors)


def test_the_validator_is_not_vacuous(document, spec_validator):
    broken = copy.deepcopy(document)
    broken["operations"]["receive_ping"]["action"] = "publish"  # AsyncAPI 2 wording
    assert not spec_validator.is_valid(broken)
    broken = copy.deepcopy(document)
    broken["components"]["messages"]["server_ack"]["payload"]["discriminator"] = {"propertyName": "for"}
    assert not spec_validator.is_valid(broken)
    broken = copy.deepcopy(document)
    del broken["info"]["version"]
    assert not spec_validator.is_valid(broken)


def test_every_reference_resolves_and_operations_use_channel_messages(document):
    for ref in _refs(document):
        _resolve(document, ref)
    assert set(document["channels"]) == {"consultationRoom", "notifications"}
    for name, operation in document["operations"].items():
        channel_name = "notifications" if name.startswith("notify_") else "consultationRoom"
        channel = document["channels"][channel_name]
        channel_refs = {f"#/channels/{channel_name}/messages/{key}" for key in channel["messages"]}
        assert operation["channel"] == {"$ref": f"#/channels/{channel_name}"}, name
        assert operation.get("reply", {}).get("channel", operation["channel"]) == operation["channel"], name
        used = [ref["$ref"] for ref in operation["messages"] + operation.get("reply", {}).get("messages", [])]
        assert set(used) <= channel_refs, name
    payloads = [message["payload"] for message in document["components"]["messages"].values()]
    assert "$defs" not in json.dumps(payloads)


def test_document_shape(document):
    assert document["asyncapi"] == "3.0.0"
    channel = document["channels"]["consultationRoom"]
    assert channel["address"] == "/ws/consultations/{consultationId}/"
    assert set(channel["parameters"]) == {"consultationId"}
    room = {"$ref": "#/channels/consultationRoom"}
    actions = [
        operation["action"] for operation in document["operations"].values() if operation["channel"] == room
    ]
    assert actions.count("receive") == len(protocol.CLIENT_FRAMES)
    assert actions.count("send") == len(SERVER_FRAMES)
    assert "action: receive" in document["info"]["description"]
    schemes = document["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("httpApiKey", "header", "Sec-WebSocket-Protocol"),
        ("httpApiKey", "query", "token"),
    }
    assert document["x-close-codes"] == {str(code): text for code, text in protocol.CLOSE_CODES.items()}
    assert list(document["x-error-codes"]) == protocol.ERROR_CODES
    assert set(ERROR_CODE_DESCRIPTIONS) == set(protocol.ERROR_CODES)
    description = document["info"]["description"]
    for code in [*protocol.CLOSE_CODES, *protocol.ERROR_CODES]:
        assert f"`{code}`" in description
    for message in document["components"]["messages"].values():
        assert all(message[field] for field in ("name", "title", "summary", "payload", "examples"))


def test_every_example_is_a_real_frame(document):
    for frame_type, examples in CLIENT_EXAMPLES.items():
        for example in examples:
            assert protocol.parse_frame(example).type == frame_type
    for frame_type, examples in SERVER_EXAMPLES.items():
        for example in examples:
            assert example["type"] == frame_type
            validate_server_frame(example)
    assert set(CLIENT_EXAMPLES) == set(protocol.CLIENT_FRAMES)
    assert set(SERVER_EXAMPLES) == set(SERVER_FRAMES)
    # And the published payload schemas (plain JSON Schema, not pydantic) accept them too.
    components = document["components"]
    for message in components["messages"].values():
        validator = jsonschema.Draft7Validator({**message["payload"], "components": components})
        for example in message["examples"]:
            assert not list(validator.iter_errors(example["payload"])), example


# --- (d) the endpoint -----------------------------------------------------------------------------


def test_endpoint_serves_the_raw_document(api_client):
    response = api_client.get("/api/asyncapi/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["asyncapi"] == "3.0.0"
    assert "success" not in body  # not wrapped in the API envelope
    assert body["servers"]["telehealth"] == {
        **body["servers"]["telehealth"],
        "host": "testserver",
        "protocol": "ws",
    }


def test_endpoint_over_https_advertises_wss(api_client):
    body = api_client.get("/api/asyncapi/", secure=True).json()
    assert body["servers"]["telehealth"]["protocol"] == "wss"


def test_endpoint_ignores_bad_credentials(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert api_client.get("/api/asyncapi/").status_code == 200


# --- (e) PROTOCOL.md ------------------------------------------------------------------------------


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {heading}' section in PROTOCOL.md"
    return match.group(1)


def _frame_headings(section: str) -> set[str]:
    return set(re.findall(r"^### `([a-z_]+)`", section, re.MULTILINE))


def _json_blocks(section: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]


def test_protocol_md_has_a_heading_for_every_frame_type():
    text = PROTOCOL_MD.read_text()
    assert _frame_headings(_section(text, "Client → server frames")) == set(protocol.CLIENT_FRAMES)
    assert _frame_headings(_section(text, "Server → client frames")) == set(SERVER_FRAMES)
    for code in [*protocol.CLOSE_CODES, *protocol.ERROR_CODES]:
        assert f"`{code}`" in text, code


def test_protocol_md_examples_are_real_frames():
    text = PROTOCOL_MD.read_text()
    client_examples = _json_blocks(_section(text, "Client → server frames"))
    server_examples = _json_blocks(_section(text, "Server → client frames"))
    assert {frame["type"] for frame in client_examples} == set(protocol.CLIENT_FRAMES)
    assert {frame["type"] for frame in server_examples} == set(SERVER_FRAMES)
    for frame in client_examples:
        protocol.parse_frame(frame)
    for frame in server_examples:
        validate_server_frame(frame)
