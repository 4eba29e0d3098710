"""Content blocks, tools and images through the client, against the real
gateway binary (simulated backend). The expected answers are the simulated
backend's documented behaviour: ack lines for images and documents, a tool
call when a tool is forced, one sentence per tool result."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from pathlib import Path
from typing import List
import grpc
import pytest

from bedrock_gateway_client import (
    Client,
    Completion,
    ContentBlock,
    Document,
    GatewayError,
    Image,
    Message,
    TextDelta,
    Tool,
    ToolChoice,
    ToolConfig,
    ToolResult,
    ToolUse,
    ToolUseDelta,
    ToolUseStart,
    gateway_pb2,
)
from bedrock_gateway_client.client import _block, _from_block, _message

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TOOL_USE_ID = re.compile(r"tooluse_[A-Za-z0-9]{22}")

GET_WEATHER = Tool(
    name="get_weather",
    description="The current weather in a city.",
    input_schema={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city's name."}},
        "required": ["city"],
    },
)
QUESTION = Message("user", "What is the weather like in Paris right now?")


def tiny_png() -> bytes:
    """A valid 1x1 RGB PNG, built here: signature, IHDR, IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit, truecolour
    pixels = zlib.compress(b"\x00" + b"\x1e\x90\xff")  # filter byte, one RGB pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def ack(what: str, data: bytes) -> str:
    """The simulated backend's line for an image or document: `what` is e.g. `image png`."""
    return f"[{what} {len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:8]}]"


def weather_result(call_id: str) -> Message:
    return Message("user", blocks=[ToolResult(call_id, [{"temperature_c": 21}])])


# --- Tools ------------------------------------------------------------------


def test_a_tool_round_trip(client: Client) -> None:
    config = ToolConfig([GET_WEATHER], ToolChoice("tool", "get_weather"))
    first = client.generate(HAIKU, messages=[QUESTION], tool_config=config)
    assert first.stop_reason == "STOP_REASON_TOOL_USE"
    assert first.raw_stop_reason == "tool_use"
    assert len(first.tool_uses) == 1, first.content
    call = first.tool_uses[0]
    assert call.name == "get_weather"
    assert TOOL_USE_ID.fullmatch(call.id), call.id
    assert isinstance(call.input.get("city"), str) and call.input["city"], call.input
    # A forced call comes without text.
    assert first.content == (call,)
    assert first.text == ""

    second = client.generate(
        HAIKU,
        messages=[QUESTION, Message("assistant", blocks=first.content), weather_result(call.id)],
        tool_config=config,
    )
    assert second.stop_reason == "STOP_REASON_END_TURN"
    assert "get_weather" in second.text and "21" in second.text, second.text
    assert second.content == (second.text,)
    assert second.tool_uses == ()


def test_a_tool_round_trip_streamed(client: Client) -> None:
    config = ToolConfig([GET_WEATHER], ToolChoice("tool", "get_weather"))
    stream = client.stream(HAIKU, messages=[QUESTION], tool_config=config)
    events = list(stream.events())

    assert isinstance(events[-1], Completion), events[-1]
    completion = events[-1]
    assert stream.completion is completion
    assert completion.stop_reason == "STOP_REASON_TOOL_USE"
    assert len(completion.tool_uses) == 1, completion
    call = completion.tool_uses[0]
    assert call.name == "get_weather"
    assert TOOL_USE_ID.fullmatch(call.id), call.id
    assert isinstance(call.input.get("city"), str) and call.input["city"]

    starts = [e for e in events if isinstance(e, ToolUseStart)]
    deltas = [e for e in events if isinstance(e, ToolUseDelta)]
    assert [(s.index, s.id, s.name) for s in starts] == [(0, call.id, "get_weather")]
    assert len(deltas) >= 2, deltas
    assert all(d.index == 0 for d in deltas)
    assert events.index(starts[0]) < events.index(deltas[0])
    assert json.loads("".join(d.input_json for d in deltas)) == call.input
    assert not [e for e in events if isinstance(e, TextDelta)]
    assert stream.text == ""
    # The same call as Generate makes (only the ID is new).
    assert client.generate(HAIKU, messages=[QUESTION], tool_config=config).tool_uses[0].input == call.input

    answer = client.stream(
        HAIKU,
        messages=[QUESTION, Message("assistant", blocks=[call]), weather_result(call.id)],
        tool_config=ToolConfig([GET_WEATHER]),
    )
    text = "".join(answer)  # plain iteration: text chunks only
    assert "get_weather" in text and "21" in text, text
    assert answer.completion is not None
    assert answer.completion.stop_reason == "STOP_REASON_END_TURN"
    assert answer.completion.tool_uses == ()


def test_a_tool_named_in_the_text_is_called_after_a_text_block(client: Client) -> None:
    question = Message("user", "Use get_weather to tell me the weather in Paris.")
    config = ToolConfig([GET_WEATHER])  # AUTO
    result = client.generate(HAIKU, messages=[question], tool_config=config)
    assert result.stop_reason == "STOP_REASON_TOOL_USE"
    assert len(result.content) == 2, result.content
    text, call = result.content
    assert isinstance(text, str) and "get_weather" in text
    assert isinstance(call, ToolUse) and call.name == "get_weather"
    assert result.text == text

    stream = client.stream(HAIKU, messages=[question], tool_config=config)
    events = list(stream.events())
    text_indexes = {e.index for e in events if isinstance(e, TextDelta)}
    starts = [e for e in events if isinstance(e, ToolUseStart)]
    assert text_indexes == {0}
    assert [s.index for s in starts] == [1]
    assert stream.text == text


# --- Images -----------------------------------------------------------------


def test_an_image_is_acknowledged(client: Client) -> None:
    png = tiny_png()
    result = client.generate(
        HAIKU, messages=[Message("user", blocks=[Image("png", png), "What is in this picture?"])]
    )
    assert result.text.startswith(ack("image png", png) + "\n"), result.text
    assert result.stop_reason == "STOP_REASON_END_TURN"


def test_an_image_in_another_format_than_declared_is_refused(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(
            HAIKU, messages=[Message("user", blocks=[Image("jpeg", tiny_png()), "What is in this picture?"])]
        )
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "messages[0].blocks[0].image.data" in [f for f, _ in error.field_violations], error.field_violations


# --- The layer's conversions (no gateway) -----------------------------------


def test_blocks_convert_both_ways() -> None:
    png = tiny_png()
    blocks: List[ContentBlock] = [
        "hello",
        Image("png", png),
        Document("txt", "notes (v2)", b"some notes"),
        ToolUse("tooluse_1", "get_weather", {"city": "Paris", "days": 2, "hourly": [True, None, 1.5]}),
        ToolResult("tooluse_1", ["sunny", {"temperature_c": 21}, Image("png", png)], "success"),
        ToolResult("tooluse_2", [{"ok": False}], "error"),
    ]
    for block in blocks:
        assert _from_block(_block(block)) == block
    wire = _block(ToolUse("t", "f", {"n": 21}))
    assert wire.tool_use.input.fields["n"].number_value == 21.0
    turn: List[ContentBlock] = [Image("png", png), "describe it"]
    message = _message(("user", turn))
    assert message.role == gateway_pb2.ROLE_USER and message.content == ""
    assert [b.WhichOneof("block") for b in message.blocks] == ["image", "text"]
    assert _message(("assistant", "hi")).content == "hi"
    with pytest.raises(ValueError, match="image format"):
        _block(Image("bmp", b"BM"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="blocks"):
        Message("user", [Image("png", png)])  # type: ignore[arg-type]
    # A lone piece is one piece, not a sequence of characters.
    assert ToolResult("t", "sunny").content == ("sunny",)
    with pytest.raises(TypeError, match="content block"):
        _block(42)  # type: ignore[arg-type]


def test_files_are_read_with_their_format(tmp_path: Path) -> None:
    png = tiny_png()
    (tmp_path / "cat.PNG").write_bytes(png)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (tmp_path / "q3_report.final.md").write_text("# Q3")
    assert Image.from_path(tmp_path / "cat.PNG") == Image("png", png)
    assert Image.from_path(tmp_path / "photo.jpg").format == "jpeg"
    doc = Document.from_path(tmp_path / "q3_report.final.md")
    assert (doc.format, doc.name, doc.data) == ("md", "q3-report-final", b"# Q3")
    assert Document.from_path(tmp_path / "q3_report.final.md", name="Q3").name == "Q3"
    with pytest.raises(ValueError, match="format"):
        Image.from_path(tmp_path / "q3_report.final.md")


def test_a_document_is_acknowledged(client: Client) -> None:
    data = b"city,temperature_c\nParis,21\n"
    result = client.generate(
        HAIKU,
        messages=[Message("user", blocks=[Document("csv", "weather", data), "Summarise the table."])],
    )
    assert result.text.startswith(ack('document csv "weather"', data) + "\n"), result.text
