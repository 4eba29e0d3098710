"""A thin, typed layer over the generated stubs of ``bedrock.gateway.v1``.

Every call returns plain dataclasses instead of protobuf messages, and every
failure is raised as :class:`GatewayError`, which carries the gRPC code and the
google.rpc error details the gateway attaches (BadRequest field violations,
ErrorInfo, RetryInfo, ResourceInfo).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
    cast,
)

import grpc
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from ._proto import gateway_pb2 as pb
from ._proto import gateway_pb2_grpc as pb_grpc

__all__ = [
    "DEFAULT_TARGET",
    "CachePoint",
    "Client",
    "Completion",
    "ContentBlock",
    "Document",
    "ErrorInfo",
    "GatewayError",
    "GenerateResult",
    "GuardrailConfig",
    "Image",
    "Message",
    "ModelSummary",
    "OutputSchema",
    "Reasoning",
    "ReasoningConfig",
    "ReasoningDelta",
    "ResourceInfo",
    "Stream",
    "StreamEvent",
    "TextDelta",
    "Tool",
    "ToolChoice",
    "ToolConfig",
    "ToolResult",
    "ToolResultContent",
    "ToolUse",
    "ToolUseDelta",
    "ToolUseStart",
    "Usage",
]

#: Where ``bedrock-gateway`` listens by default.
DEFAULT_TARGET = "127.0.0.1:50051"

Role = Literal["user", "assistant"]
Api = Literal["converse", "invoke_model"]
Metadata = Sequence[Tuple[str, str]]

_ROLES = {"user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT}
_APIS = {"converse": pb.BEDROCK_API_CONVERSE, "invoke_model": pb.BEDROCK_API_INVOKE_MODEL}


ImageFormat = Literal["png", "jpeg", "gif", "webp"]
DocumentFormat = Literal["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]
ToolChoiceMode = Literal["auto", "any", "tool"]
ToolResultStatus = Literal["success", "error"]
CacheTtl = Literal["5m", "1h"]
GuardrailTrace = Literal["disabled", "enabled", "enabled_full"]
GuardrailStreamMode = Literal["sync", "async"]
ServiceTier = Literal["default", "priority", "flex", "reserved"]
Latency = Literal["standard", "optimized"]

_IMAGE_FORMATS: Dict[str, Any] = {
    "png": pb.IMAGE_FORMAT_PNG,
    "jpeg": pb.IMAGE_FORMAT_JPEG,
    "gif": pb.IMAGE_FORMAT_GIF,
    "webp": pb.IMAGE_FORMAT_WEBP,
}
_DOCUMENT_FORMATS: Dict[str, Any] = {
    "pdf": pb.DOCUMENT_FORMAT_PDF,
    "csv": pb.DOCUMENT_FORMAT_CSV,
    "doc": pb.DOCUMENT_FORMAT_DOC,
    "docx": pb.DOCUMENT_FORMAT_DOCX,
    "xls": pb.DOCUMENT_FORMAT_XLS,
    "xlsx": pb.DOCUMENT_FORMAT_XLSX,
    "html": pb.DOCUMENT_FORMAT_HTML,
    "txt": pb.DOCUMENT_FORMAT_TXT,
    "md": pb.DOCUMENT_FORMAT_MD,
}
_TOOL_CHOICE_MODES: Dict[str, Any] = {
    "auto": pb.TOOL_CHOICE_MODE_AUTO,
    "any": pb.TOOL_CHOICE_MODE_ANY,
    "tool": pb.TOOL_CHOICE_MODE_TOOL,
}
_TOOL_RESULT_STATUSES: Dict[str, Any] = {
    "success": pb.TOOL_RESULT_STATUS_SUCCESS,
    "error": pb.TOOL_RESULT_STATUS_ERROR,
}
_CACHE_TTLS: Dict[str, Any] = {"5m": pb.CACHE_TTL_5_MINUTES, "1h": pb.CACHE_TTL_1_HOUR}
_GUARDRAIL_TRACES: Dict[str, Any] = {
    "disabled": pb.GUARDRAIL_TRACE_DISABLED,
    "enabled": pb.GUARDRAIL_TRACE_ENABLED,
    "enabled_full": pb.GUARDRAIL_TRACE_ENABLED_FULL,
}
_GUARDRAIL_STREAM_MODES: Dict[str, Any] = {
    "sync": pb.GUARDRAIL_STREAM_MODE_SYNC,
    "async": pb.GUARDRAIL_STREAM_MODE_ASYNC,
}
_SERVICE_TIERS: Dict[str, Any] = {
    "default": pb.SERVICE_TIER_DEFAULT,
    "priority": pb.SERVICE_TIER_PRIORITY,
    "flex": pb.SERVICE_TIER_FLEX,
    "reserved": pb.SERVICE_TIER_RESERVED,
}
_LATENCIES: Dict[str, Any] = {"standard": pb.LATENCY_STANDARD, "optimized": pb.LATENCY_OPTIMIZED}
# File suffixes that name a format other than their own spelling.
_SUFFIX_ALIASES = {"jpg": "jpeg", "htm": "html", "markdown": "md", "text": "txt"}
# What Bedrock takes in a document name: letters, digits, single spaces,
# hyphens, parentheses and square brackets.
_NOT_IN_A_DOCUMENT_NAME = re.compile(r"[^A-Za-z0-9 ()\[\]-]+")


def _format_of(path: Path, formats: Mapping[str, Any], kind: str) -> str:
    suffix = path.suffix.lower().lstrip(".")
    name = _SUFFIX_ALIASES.get(suffix, suffix)
    if name not in formats:
        raise ValueError(
            f"cannot tell the {kind} format of {path.name!r}; pass format= (one of {', '.join(formats)})"
        )
    return name


@dataclass(frozen=True)
class Image:
    """An image sent inline (``Image`` in the proto), in a user turn.

    ``format`` is ``"png"``, ``"jpeg"``, ``"gif"`` or ``"webp"``; ``data`` the
    file's bytes, which must start with that format's signature (the gateway
    checks it).
    """

    format: ImageFormat
    data: bytes

    @classmethod
    def from_path(cls, path: Union[str, os.PathLike[str]], *, format: Optional[ImageFormat] = None) -> Image:
        """Reads an image file; ``format`` defaults to the file's suffix."""
        p = Path(path)
        fmt = format or cast(ImageFormat, _format_of(p, _IMAGE_FORMATS, "image"))
        return cls(fmt, p.read_bytes())


@dataclass(frozen=True)
class Document:
    """A document sent inline (``Document`` in the proto), in a user turn.

    ``format`` is ``"pdf"``, ``"csv"``, ``"doc"``, ``"docx"``, ``"xls"``,
    ``"xlsx"``, ``"html"``, ``"txt"`` or ``"md"``. ``name`` is 1 to 200
    letters, digits, single spaces, ``-``, ``(``, ``)``, ``[`` and ``]``.
    """

    format: DocumentFormat
    name: str
    data: bytes

    @classmethod
    def from_path(
        cls,
        path: Union[str, os.PathLike[str]],
        *,
        name: Optional[str] = None,
        format: Optional[DocumentFormat] = None,
    ) -> Document:
        """Reads a document file. ``format`` defaults to the file's suffix;
        ``name`` to the file's stem with every run of characters a document
        name may not hold replaced by one ``-`` (and cut to 200 characters).
        """
        p = Path(path)
        fmt = format or cast(DocumentFormat, _format_of(p, _DOCUMENT_FORMATS, "document"))
        if name is None:
            name = " ".join(_NOT_IN_A_DOCUMENT_NAME.sub("-", p.stem).split())[:200] or "document"
        return cls(fmt, name, p.read_bytes())


@dataclass(frozen=True)
class ToolUse:
    """A tool call the model made (``ToolUse`` in the proto).

    ``input`` is the call's arguments as JSON-like Python values (dicts,
    lists, str, float/int, bool, None); a JSON number without a fractional
    part comes back as an ``int``. Send it back unchanged, in the assistant
    turn, when continuing the conversation.
    """

    id: str
    name: str
    input: Dict[str, Any] = field(default_factory=dict)


#: One piece of a tool's result: text (``str``), a JSON object (a mapping),
#: an :class:`Image` or a :class:`Document`.
ToolResultContent = Union[str, Mapping[str, Any], Image, Document]


@dataclass(frozen=True)
class ToolResult:
    """The result of one tool call (``ToolResult`` in the proto), in a user turn.

    ``content`` is a sequence of pieces: ``str`` for text, a mapping for a
    JSON object, :class:`Image`, :class:`Document` (a lone piece is taken as
    a sequence of one). ``status`` is ``"success"``, ``"error"`` or None
    (unsaid).
    """

    tool_use_id: str
    content: Sequence[ToolResultContent]
    status: Optional[ToolResultStatus] = None

    def __post_init__(self) -> None:
        content: Any = self.content
        if isinstance(content, (str, Mapping, Image, Document)):
            content = (content,)
        object.__setattr__(self, "content", tuple(content))


@dataclass(frozen=True)
class Reasoning:
    """A piece of the model's reasoning (``Reasoning`` in the proto): ``text``
    with its ``signature``, or ``redacted`` bytes the provider encrypted.

    An answer's reasoning blocks come first in its content; replay them
    unchanged in the assistant turn (Bedrock checks the signature, and with
    tools the reasoning must be replayed).
    """

    text: str = ""
    signature: str = ""
    redacted: bytes = b""


@dataclass(frozen=True)
class CachePoint:
    """A prompt-cache point (``CachePoint`` in the proto): everything before
    it (tools, system prompt, turns) is cached. ``ttl`` is ``"5m"``, ``"1h"``
    (models that offer it) or None (Bedrock's default, 5 minutes). As a
    block, it follows at least one other block of its turn."""

    ttl: Optional[CacheTtl] = None


#: One block of a turn or of an answer (``ContentBlock`` in the proto): text
#: (``str``), :class:`Image`, :class:`Document`, :class:`ToolUse`,
#: :class:`ToolResult`, :class:`Reasoning` or :class:`CachePoint`.
ContentBlock = Union[str, Image, Document, ToolUse, ToolResult, Reasoning, CachePoint]


@dataclass(frozen=True)
class Tool:
    """A tool the model may call (``Tool`` in the proto).

    ``input_schema`` is a JSON Schema object (``{"type": "object", ...}``)
    for the tool's input; ``description`` tells the model when to use it.
    """

    name: str
    input_schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True)
class ToolChoice:
    """Which tool the model must call (``ToolChoice`` in the proto).

    ``mode`` is ``"auto"`` (the model decides), ``"any"`` (some tool) or
    ``"tool"`` (the tool named ``tool_name``).
    """

    mode: ToolChoiceMode = "auto"
    tool_name: str = ""


@dataclass(frozen=True)
class ToolConfig:
    """The tools a model may call (``ToolConfig`` in the proto); ``tool_choice``
    None means AUTO; ``cache_point`` puts a prompt-cache point after the tools."""

    tools: Sequence[Tool]
    tool_choice: Optional[ToolChoice] = None
    cache_point: Optional[CachePoint] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tools", tuple(self.tools))


@dataclass(frozen=True)
class OutputSchema:
    """A JSON Schema the answer's text must follow (``OutputSchema`` in the proto)."""

    json_schema: Mapping[str, Any]
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class ReasoningConfig:
    """Extended thinking (``ReasoningConfig`` in the proto): the model may
    spend up to ``budget_tokens`` (at least 1024, below ``max_tokens``)
    reasoning before it answers."""

    budget_tokens: int


@dataclass(frozen=True)
class GuardrailConfig:
    """A Bedrock guardrail to apply (``GuardrailConfig`` in the proto).

    ``trace``: ``"enabled"``, ``"enabled_full"``, ``"disabled"`` or None
    (disabled); the trace comes back as ``guardrail_trace``. ``stream_mode``
    (streams only): ``"sync"``, ``"async"`` or None (sync).
    """

    identifier: str
    version: str
    trace: Optional[GuardrailTrace] = None
    stream_mode: Optional[GuardrailStreamMode] = None


@dataclass(frozen=True)
class Message:
    """One conversation turn: ``role`` is ``"user"`` or ``"assistant"``.

    Set exactly one of ``content`` (the turn's text) and ``blocks`` (its
    content blocks: ``str`` text, :class:`Image`, :class:`Document`,
    :class:`ToolUse`, :class:`ToolResult`), as in the proto's ``Message``.
    ``Message("user", "Hi")`` is a text turn;
    ``Message("assistant", blocks=result.content)`` replays an answer.
    """

    role: Role
    content: str = ""
    blocks: Sequence[ContentBlock] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            raise TypeError("Message.content is the turn's text; pass content blocks as blocks=[...]")
        if isinstance(self.blocks, str):
            raise TypeError("Message.blocks is a sequence of blocks; pass text as content= or blocks=[text]")
        object.__setattr__(self, "blocks", tuple(self.blocks))


#: A turn: a :class:`Message`, or ``(role, text)`` or ``(role, [blocks])``.
MessageLike = Union[Message, Tuple[str, str], Tuple[str, Sequence[ContentBlock]]]


@dataclass(frozen=True)
class Usage:
    """Tokens counted for one call. The three input counts are disjoint:
    ``input_tokens`` excludes the tokens read from or written to the prompt
    cache, and ``total_tokens`` = input + cache read + cache write + output."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


@dataclass(frozen=True)
class GenerateResult:
    """A whole completion, as ``Generate`` returns it.

    ``stop_reason`` is the StopReason enum's name, e.g. ``"STOP_REASON_MAX_TOKENS"``;
    ``raw_stop_reason`` is the backend's own reason string.
    """

    text: str
    stop_reason: str
    raw_stop_reason: str
    usage: Usage
    invoked_model_id: str
    request_id: str
    backend: str
    backend_latency: Optional[timedelta]
    #: The foundation model that served the call (the model behind an
    #: inference profile or application profile ARN).
    resolved_model_id: str = ""
    #: The answer block by block: :class:`Reasoning` first (with reasoning),
    #: ``str`` text blocks and :class:`ToolUse` calls. Replay it as
    #: ``Message("assistant", blocks=result.content)``.
    content: Tuple[ContentBlock, ...] = ()
    #: The service tier served (``"default"``, ``"priority"``, ``"flex"``,
    #: ``"reserved"``), or None when not reported.
    service_tier: Optional[str] = None
    #: The latency mode served (``"standard"``, ``"optimized"``), or None.
    latency: Optional[str] = None
    #: The guardrail's trace (Bedrock's JSON shape), when asked for.
    guardrail_trace: Optional[Dict[str, Any]] = None

    @property
    def tool_uses(self) -> Tuple[ToolUse, ...]:
        """The tool calls in :attr:`content`, in order (stop reason ``STOP_REASON_TOOL_USE``)."""
        return tuple(b for b in self.content if isinstance(b, ToolUse))

    @property
    def reasoning(self) -> Tuple[Reasoning, ...]:
        """The reasoning blocks in :attr:`content`, in order."""
        return tuple(b for b in self.content if isinstance(b, Reasoning))


@dataclass(frozen=True)
class Completion:
    """The final event of a stream: everything but the text."""

    stop_reason: str
    raw_stop_reason: str
    usage: Usage
    invoked_model_id: str
    request_id: str
    backend: str
    backend_latency: Optional[timedelta]
    time_to_first_token: Optional[timedelta]
    #: The foundation model that served the call.
    resolved_model_id: str = ""
    #: Every tool call of the answer, in order, its input fragments joined
    #: and parsed.
    tool_uses: Tuple[ToolUse, ...] = ()
    #: The service tier served, or None when not reported.
    service_tier: Optional[str] = None
    #: The latency mode served, or None when not reported.
    latency: Optional[str] = None
    #: The guardrail's trace (Bedrock's JSON shape), when asked for.
    guardrail_trace: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class TextDelta:
    """A stream event: the next piece of text of content block ``index``."""

    text: str
    index: int = 0


@dataclass(frozen=True)
class ToolUseStart:
    """A stream event: a tool call starts, as content block ``index``."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolUseDelta:
    """A stream event: the next fragment of the input JSON of the tool call at ``index``."""

    index: int
    input_json: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A stream event: the next piece of the reasoning block at ``index``.

    Each sets one of ``text`` (more reasoning), ``signature`` (the block's
    signature, often alone in its own delta) and ``redacted`` (opaque bytes).
    :attr:`Stream.content` joins them into :class:`Reasoning` blocks.
    """

    index: int
    text: str = ""
    signature: str = ""
    redacted: bytes = b""


#: What :meth:`Stream.events` yields; :class:`Completion` comes last.
StreamEvent = Union[TextDelta, ToolUseStart, ToolUseDelta, ReasoningDelta, Completion]


@dataclass(frozen=True)
class ModelSummary:
    """A foundation model as Bedrock describes it."""

    model_id: str
    model_arn: str
    model_name: str
    provider_name: str
    input_modalities: Tuple[str, ...]
    output_modalities: Tuple[str, ...]
    response_streaming_supported: Optional[bool]
    customizations_supported: Tuple[str, ...]
    inference_types_supported: Tuple[str, ...]
    lifecycle_status: str


@dataclass(frozen=True)
class ErrorInfo:
    """google.rpc.ErrorInfo: ``reason`` is Bedrock's error type for upstream errors."""

    reason: str
    domain: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceInfo:
    """google.rpc.ResourceInfo: the resource an error is about (NOT_FOUND)."""

    resource_type: str
    resource_name: str
    owner: str
    description: str


class GatewayError(Exception):
    """A call failed: the gRPC status and its google.rpc details.

    Attributes:
        code: the gRPC status code.
        message: the status message.
        field_violations: ``(field, description)`` for each rule an invalid
            request broke (google.rpc.BadRequest), in the gateway's order.
        error_info: google.rpc.ErrorInfo, when attached.
        retry_delay: google.rpc.RetryInfo's delay, when attached (throttling,
            unavailability).
        resource_info: google.rpc.ResourceInfo, when attached.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        field_violations: Sequence[Tuple[str, str]] = (),
        error_info: Optional[ErrorInfo] = None,
        retry_delay: Optional[timedelta] = None,
        resource_info: Optional[ResourceInfo] = None,
    ) -> None:
        self.code = code
        self.message = message
        self.field_violations: list[Tuple[str, str]] = list(field_violations)
        self.error_info = error_info
        self.retry_delay = retry_delay
        self.resource_info = resource_info
        super().__init__(self._describe())

    def _describe(self) -> str:
        return f"{self.code.name}: {self.message}"

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> GatewayError:
        """Decodes a grpc.RpcError (a failed call) with grpcio-status."""
        if not isinstance(error, grpc.Call):
            return cls(grpc.StatusCode.UNKNOWN, str(error))
        code: grpc.StatusCode = error.code()
        message: str = error.details() or ""
        violations: list[Tuple[str, str]] = []
        error_info: Optional[ErrorInfo] = None
        retry_delay: Optional[timedelta] = None
        resource_info: Optional[ResourceInfo] = None
        for detail in _status_details(error):
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                violations.extend((v.field, v.description) for v in bad_request.field_violations)
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                error_info = ErrorInfo(str(info.reason), str(info.domain), dict(info.metadata))
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_delay = _timedelta(retry.retry_delay)
            elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
                resource = error_details_pb2.ResourceInfo()
                detail.Unpack(resource)
                resource_info = ResourceInfo(
                    str(resource.resource_type),
                    str(resource.resource_name),
                    str(resource.owner),
                    str(resource.description),
                )
        return cls(
            code,
            message,
            field_violations=violations,
            error_info=error_info,
            retry_delay=retry_delay,
            resource_info=resource_info,
        )


def _status_details(call: grpc.Call) -> list[any_pb2.Any]:
    """The google.rpc.Status details from the `grpc-status-details-bin` trailer."""
    try:
        status = rpc_status.from_call(call)
    except ValueError:  # the trailer disagrees with the call's own status
        return []
    if status is None:
        return []
    return list(status.details)


def _timedelta(duration: duration_pb2.Duration) -> timedelta:
    return timedelta(seconds=duration.seconds, microseconds=duration.nanos // 1000)


def _optional_timedelta(message: Any, name: str) -> Optional[timedelta]:
    return _timedelta(getattr(message, name)) if message.HasField(name) else None


def _usage(usage: pb.Usage) -> Usage:
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        cache_write_input_tokens=usage.cache_write_input_tokens,
    )


def _model(model: pb.ModelSummary) -> ModelSummary:
    return ModelSummary(
        model_id=model.model_id,
        model_arn=model.model_arn,
        model_name=model.model_name,
        provider_name=model.provider_name,
        input_modalities=tuple(model.input_modalities),
        output_modalities=tuple(model.output_modalities),
        response_streaming_supported=(
            model.response_streaming_supported
            if model.HasField("response_streaming_supported")
            else None
        ),
        customizations_supported=tuple(model.customizations_supported),
        inference_types_supported=tuple(model.inference_types_supported),
        lifecycle_status=model.lifecycle_status,
    )


def _json_like(value: Any) -> Any:
    """Mappings and sequences as the dicts and lists Struct.update takes."""
    if isinstance(value, Mapping):
        return {str(k): _json_like(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_like(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} into a google.protobuf.Struct")


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object (a mapping), got {type(value).__name__}")
    struct = struct_pb2.Struct()
    struct.update(_json_like(value))
    return struct


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _from_struct(value.struct_value)
    if kind == "list_value":
        return [_from_value(v) for v in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _from_struct(struct: struct_pb2.Struct) -> Dict[str, Any]:
    return {key: _from_value(value) for key, value in struct.fields.items()}


def _choice(table: Mapping[str, Any], value: str, what: str) -> Any:
    if value not in table:
        raise ValueError(f"{what} must be one of {', '.join(repr(k) for k in table)}, got {value!r}")
    return table[value]


def _enum_short_name(name: str, prefix: str) -> str:
    return name[len(prefix):].lower() if name.startswith(prefix) else name.lower()


def _image(image: Image) -> pb.Image:
    return pb.Image(format=_choice(_IMAGE_FORMATS, image.format, "image format"), data=bytes(image.data))


def _document(document: Document) -> pb.Document:
    return pb.Document(
        format=_choice(_DOCUMENT_FORMATS, document.format, "document format"),
        name=document.name,
        data=bytes(document.data),
    )


def _tool_result_content(piece: ToolResultContent) -> pb.ToolResultContent:
    if isinstance(piece, str):
        return pb.ToolResultContent(text=piece)
    if isinstance(piece, Image):
        return pb.ToolResultContent(image=_image(piece))
    if isinstance(piece, Document):
        return pb.ToolResultContent(document=_document(piece))
    if isinstance(piece, Mapping):
        return pb.ToolResultContent(json=_struct(piece))
    raise TypeError(
        f"a tool result piece is a str, a mapping (JSON), an Image or a Document, not {type(piece).__name__}"
    )


def _block(block: ContentBlock) -> pb.ContentBlock:
    if isinstance(block, str):
        return pb.ContentBlock(text=block)
    if isinstance(block, Image):
        return pb.ContentBlock(image=_image(block))
    if isinstance(block, Document):
        return pb.ContentBlock(document=_document(block))
    if isinstance(block, ToolUse):
        return pb.ContentBlock(
            tool_use=pb.ToolUse(id=block.id, name=block.name, input=_struct(block.input))
        )
    if isinstance(block, ToolResult):
        result = pb.ToolResult(
            tool_use_id=block.tool_use_id,
            content=[_tool_result_content(p) for p in block.content],
        )
        if block.status is not None:
            result.status = _choice(_TOOL_RESULT_STATUSES, block.status, "tool result status")
        return pb.ContentBlock(tool_result=result)
    if isinstance(block, Reasoning):
        return pb.ContentBlock(
            reasoning=pb.Reasoning(
                text=block.text, signature=block.signature, redacted=bytes(block.redacted)
            )
        )
    if isinstance(block, CachePoint):
        return pb.ContentBlock(cache_point=_cache_point(block))
    raise TypeError(
        "a content block is a str, an Image, a Document, a ToolUse, a ToolResult, "
        f"a Reasoning or a CachePoint, not {type(block).__name__}"
    )


def _cache_point(point: CachePoint) -> pb.CachePoint:
    if not isinstance(point, CachePoint):
        raise TypeError(f"a cache point is a CachePoint, not {type(point).__name__}")
    if point.ttl is None:
        return pb.CachePoint()
    return pb.CachePoint(ttl=_choice(_CACHE_TTLS, point.ttl, "cache TTL"))


def _served(value: int, enum: Any, prefix: str) -> Optional[str]:
    """A served tier or latency mode's short name; None when unspecified."""
    if value == 0:
        return None
    try:
        return _enum_short_name(enum.Name(value), prefix)
    except ValueError:  # a value newer than these stubs
        return str(value)


def _guardrail_trace(message: Any) -> Optional[Dict[str, Any]]:
    return _from_struct(message.guardrail_trace) if message.HasField("guardrail_trace") else None


def _from_image(image: pb.Image) -> Image:
    name = _enum_short_name(pb.ImageFormat.Name(image.format), "IMAGE_FORMAT_")
    return Image(cast(ImageFormat, name), bytes(image.data))


def _from_document(document: pb.Document) -> Document:
    name = _enum_short_name(pb.DocumentFormat.Name(document.format), "DOCUMENT_FORMAT_")
    return Document(cast(DocumentFormat, name), document.name, bytes(document.data))


def _from_tool_use(tool_use: pb.ToolUse) -> ToolUse:
    return ToolUse(id=tool_use.id, name=tool_use.name, input=_from_struct(tool_use.input))


def _from_block(block: pb.ContentBlock) -> Optional[ContentBlock]:
    """A response block as the layer's types; None for a kind these stubs do not know."""
    kind = block.WhichOneof("block")
    if kind == "text":
        return block.text
    if kind == "tool_use":
        return _from_tool_use(block.tool_use)
    if kind == "image":
        return _from_image(block.image)
    if kind == "document":
        return _from_document(block.document)
    if kind == "tool_result":
        pieces: List[ToolResultContent] = []
        for piece in block.tool_result.content:
            which = piece.WhichOneof("content")
            if which == "text":
                pieces.append(piece.text)
            elif which == "json":
                pieces.append(_from_struct(piece.json))
            elif which == "image":
                pieces.append(_from_image(piece.image))
            elif which == "document":
                pieces.append(_from_document(piece.document))
        status_name = pb.ToolResultStatus.Name(block.tool_result.status)
        status = (
            None
            if block.tool_result.status == pb.TOOL_RESULT_STATUS_UNSPECIFIED
            else cast(ToolResultStatus, _enum_short_name(status_name, "TOOL_RESULT_STATUS_"))
        )
        return ToolResult(block.tool_result.tool_use_id, pieces, status)
    if kind == "reasoning":
        r = block.reasoning
        return Reasoning(text=r.text, signature=r.signature, redacted=bytes(r.redacted))
    if kind == "cache_point":
        ttl = None if block.cache_point.ttl == pb.CACHE_TTL_UNSPECIFIED else (
            "1h" if block.cache_point.ttl == pb.CACHE_TTL_1_HOUR else "5m"
        )
        return CachePoint(cast(Optional[CacheTtl], ttl))
    return None


def _tool_config(config: ToolConfig) -> pb.ToolConfig:
    if not isinstance(config, ToolConfig):
        raise TypeError(f"tool_config must be a ToolConfig, not {type(config).__name__}")
    message = pb.ToolConfig(
        tools=[
            pb.Tool(name=t.name, description=t.description, input_schema=_struct(t.input_schema))
            for t in config.tools
        ]
    )
    if config.tool_choice is not None:
        message.tool_choice.CopyFrom(
            pb.ToolChoice(
                mode=_choice(_TOOL_CHOICE_MODES, config.tool_choice.mode, "tool choice mode"),
                tool_name=config.tool_choice.tool_name,
            )
        )
    if config.cache_point is not None:
        message.cache_point.CopyFrom(_cache_point(config.cache_point))
    return message


def _guardrail(config: GuardrailConfig, stream: bool) -> pb.GuardrailConfig:
    if not isinstance(config, GuardrailConfig):
        raise TypeError(f"guardrail must be a GuardrailConfig, not {type(config).__name__}")
    message = pb.GuardrailConfig(identifier=config.identifier, version=config.version)
    if config.trace is not None:
        message.trace = _choice(_GUARDRAIL_TRACES, config.trace, "guardrail trace")
    if config.stream_mode is not None:
        if not stream:
            raise ValueError("GuardrailConfig.stream_mode is for stream() only")
        message.stream_mode = _choice(_GUARDRAIL_STREAM_MODES, config.stream_mode, "guardrail stream mode")
    return message


def _output_schema(schema: OutputSchema) -> pb.OutputSchema:
    if not isinstance(schema, OutputSchema):
        raise TypeError(f"output_schema must be an OutputSchema, not {type(schema).__name__}")
    return pb.OutputSchema(
        json_schema=_struct(schema.json_schema), name=schema.name, description=schema.description
    )


def _message(turn: MessageLike) -> pb.Message:
    role: str
    blocks: Sequence[ContentBlock]
    if isinstance(turn, Message):
        role, content, blocks = turn.role, turn.content, turn.blocks
    else:
        role, body = turn
        if isinstance(body, str):
            content, blocks = body, ()
        else:
            content, blocks = "", tuple(body)
    if role not in _ROLES:
        raise ValueError(f"message role must be 'user' or 'assistant', got {role!r}")
    return pb.Message(role=_ROLES[role], content=content, blocks=[_block(b) for b in blocks])


def _completion(c: pb.GenerationComplete) -> Completion:
    return Completion(
        stop_reason=pb.StopReason.Name(c.stop_reason),
        raw_stop_reason=c.raw_stop_reason,
        usage=_usage(c.usage),
        invoked_model_id=c.invoked_model_id,
        request_id=c.request_id,
        backend=c.backend,
        backend_latency=_optional_timedelta(c, "backend_latency"),
        time_to_first_token=_optional_timedelta(c, "time_to_first_token"),
        resolved_model_id=c.resolved_model_id,
        tool_uses=tuple(_from_tool_use(t) for t in c.tool_uses),
        service_tier=_served(c.service_tier, pb.ServiceTier, "SERVICE_TIER_"),
        latency=_served(c.latency, pb.Latency, "LATENCY_"),
        guardrail_trace=_guardrail_trace(c),
    )


class Stream(Iterator[str]):
    """A streamed completion: iterate it for text chunks (``str``).

    After the last chunk, :attr:`completion` holds the final event (stop
    reason, usage, tool calls, ...) and :attr:`content` the answer's blocks
    (reasoning with its signature, text, tool calls) to replay in the next
    turn. :meth:`events` yields every event instead (:class:`TextDelta`,
    :class:`ReasoningDelta`, :class:`ToolUseStart`, :class:`ToolUseDelta`,
    then :class:`Completion`); both read the same call, so a stream is read once
    either way. :meth:`cancel` stops the call (and generation upstream) at
    once; iteration then simply ends. Any other failure is raised from
    iteration as :class:`GatewayError`; the chunks already received stay
    valid (see :attr:`text`). Use it as a context manager to cancel a stream
    left unfinished.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._chunks: list[str] = []
        # The answer's blocks by index, as the deltas build them: a list of
        # text pieces, [text pieces, signature pieces, redacted bytes], or
        # a ToolUseStart.
        self._blocks: Dict[int, Any] = {}
        self._completion: Optional[Completion] = None
        self._cancelled = False
        self._done = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        while True:
            event = self._next_event()
            if isinstance(event, TextDelta):
                return event.text

    def events(self) -> Iterator[StreamEvent]:
        """Every event of the stream, in order: text deltas, tool-call starts
        and input fragments, and the :class:`Completion` last."""
        while True:
            try:
                event = self._next_event()
            except StopIteration:
                return
            yield event

    def _next_event(self) -> StreamEvent:
        while True:
            if self._done:
                raise StopIteration
            try:
                event: pb.GenerateStreamResponse = next(self._call)
            except StopIteration:
                self._done = True
                raise
            except grpc.RpcError as error:
                self._done = True
                if self._cancelled and isinstance(error, grpc.Call):
                    if error.code() == grpc.StatusCode.CANCELLED:
                        raise StopIteration from None
                raise GatewayError.from_rpc_error(error) from None
            kind = event.WhichOneof("event")
            if kind == "delta":
                self._chunks.append(event.delta.text)
                self._blocks.setdefault(event.delta.index, []).append(event.delta.text)
                return TextDelta(event.delta.text, event.delta.index)
            if kind == "reasoning_delta":
                r = event.reasoning_delta
                block = self._blocks.setdefault(r.index, ([], [], bytearray()))
                block[0].append(r.text)
                block[1].append(r.signature)
                block[2].extend(r.redacted)
                return ReasoningDelta(
                    index=r.index, text=r.text, signature=r.signature, redacted=bytes(r.redacted)
                )
            if kind == "tool_use_start":
                s = event.tool_use_start
                start = ToolUseStart(index=s.index, id=s.id, name=s.name)
                self._blocks[s.index] = start
                return start
            if kind == "tool_use_delta":
                d = event.tool_use_delta
                return ToolUseDelta(index=d.index, input_json=d.input_json)
            if kind == "complete":
                self._completion = _completion(event.complete)
                return self._completion
            # An event kind these stubs do not know: skipped.

    @property
    def completion(self) -> Optional[Completion]:
        """The final event, once the stream has been read to its end; else None."""
        return self._completion

    @property
    def text(self) -> str:
        """Every chunk received so far, concatenated."""
        return "".join(self._chunks)

    @property
    def content(self) -> Tuple[ContentBlock, ...]:
        """The answer so far as content blocks, in index order: each
        :class:`Reasoning` with its text joined and its signature (which may
        have come alone, in its own delta) or redacted bytes, ``str`` text
        blocks, and :class:`ToolUse` calls (parsed from the completion once it
        has come). Replay it as ``Message("assistant", blocks=stream.content)``.
        """
        calls = {t.id: t for t in (self._completion.tool_uses if self._completion else ())}
        out: List[ContentBlock] = []
        for index in sorted(self._blocks):
            block = self._blocks[index]
            if isinstance(block, ToolUseStart):
                out.append(calls.get(block.id, ToolUse(block.id, block.name)))
            elif isinstance(block, tuple):
                out.append(Reasoning("".join(block[0]), "".join(block[1]), bytes(block[2])))
            elif "".join(block):
                out.append("".join(block))
        return tuple(out)

    @property
    def reasoning(self) -> Tuple[Reasoning, ...]:
        """The reasoning blocks of :attr:`content`."""
        return tuple(b for b in self.content if isinstance(b, Reasoning))

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Cancels the call; the gateway stops generating at once."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._done:
            self.cancel()


class Client:
    """A client of one bedrock-gateway.

    ``Client(target="127.0.0.1:50051")`` opens an insecure channel; pass
    ``credentials`` for TLS, or a ready ``channel``. Use it as a context
    manager, or call :meth:`close`. ``timeout`` arguments are seconds and
    become the call's gRPC deadline.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        credentials: Optional[grpc.ChannelCredentials] = None,
        options: Optional[Sequence[Tuple[str, Any]]] = None,
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        if channel is None:
            opts = list(options or [])
            if credentials is None:
                channel = grpc.insecure_channel(target, options=opts)
            else:
                channel = grpc.secure_channel(target, credentials, options=opts)
        self._channel: grpc.Channel = channel
        self._stub: Any = pb_grpc.TextGenerationServiceStub(channel)
        self._health: Any = health_pb2_grpc.HealthStub(channel)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    @staticmethod
    def _request_fields(
        model_id: str,
        prompt: str,
        messages: Optional[Sequence[MessageLike]],
        system: str,
        temperature: Optional[float],
        top_p: Optional[float],
        max_tokens: Optional[int],
        stop_sequences: Optional[Sequence[str]],
        additional_model_request_fields: Optional[Mapping[str, Any]],
        api: Optional[Api],
        tool_config: Optional[ToolConfig],
        output_schema: Optional[OutputSchema],
        system_cache_point: Optional[CachePoint] = None,
        reasoning: Optional[ReasoningConfig] = None,
        guardrail: Optional[GuardrailConfig] = None,
        service_tier: Optional[ServiceTier] = None,
        latency: Optional[Latency] = None,
        request_metadata: Optional[Mapping[str, str]] = None,
        stream: bool = False,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"model_id": model_id, "prompt": prompt, "system": system}
        if messages:
            fields["messages"] = [_message(m) for m in messages]
        parameters = pb.GenerationParameters()
        if temperature is not None:
            parameters.temperature = temperature
        if top_p is not None:
            parameters.top_p = top_p
        if max_tokens is not None:
            parameters.max_tokens = max_tokens
        if stop_sequences:
            parameters.stop_sequences.extend(stop_sequences)
        if parameters.ListFields():
            fields["parameters"] = parameters
        if additional_model_request_fields is not None:
            extra = struct_pb2.Struct()
            extra.update(dict(additional_model_request_fields))
            fields["additional_model_request_fields"] = extra
        if api is not None:
            if api not in _APIS:
                raise ValueError(f"api must be 'converse' or 'invoke_model', got {api!r}")
            fields["api"] = _APIS[api]
        if tool_config is not None:
            fields["tool_config"] = _tool_config(tool_config)
        if output_schema is not None:
            fields["output_schema"] = _output_schema(output_schema)
        if system_cache_point is not None:
            fields["system_cache_point"] = _cache_point(system_cache_point)
        if reasoning is not None:
            if not isinstance(reasoning, ReasoningConfig):
                raise TypeError(f"reasoning must be a ReasoningConfig, not {type(reasoning).__name__}")
            fields["reasoning"] = pb.ReasoningConfig(budget_tokens=reasoning.budget_tokens)
        if guardrail is not None:
            fields["guardrail"] = _guardrail(guardrail, stream)
        if service_tier is not None:
            fields["service_tier"] = _choice(_SERVICE_TIERS, service_tier, "service tier")
        if latency is not None:
            fields["latency"] = _choice(_LATENCIES, latency, "latency")
        if request_metadata:
            fields["request_metadata"] = dict(request_metadata)
        return fields

    def generate(
        self,
        model_id: str,
        *,
        prompt: str = "",
        messages: Optional[Sequence[MessageLike]] = None,
        system: str = "",
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        max_tokens: Optional[int] = None,
        stop_sequences: Optional[Sequence[str]] = None,
        additional_model_request_fields: Optional[Mapping[str, Any]] = None,
        api: Optional[Api] = None,
        tool_config: Optional[ToolConfig] = None,
        output_schema: Optional[OutputSchema] = None,
        system_cache_point: Optional[CachePoint] = None,
        reasoning: Optional[ReasoningConfig] = None,
        guardrail: Optional[GuardrailConfig] = None,
        service_tier: Optional[ServiceTier] = None,
        latency: Optional[Latency] = None,
        request_metadata: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        metadata: Optional[Metadata] = None,
    ) -> GenerateResult:
        """Generates a whole completion (``Generate``).

        Set exactly one of ``prompt`` and ``messages``. Parameters left as
        None take the model's defaults. ``tool_config`` offers the model tools
        (the answer may then be a call: :attr:`GenerateResult.tool_uses`);
        ``output_schema`` makes the answer's text JSON following a schema.
        Images and documents go in a user turn's blocks:
        ``messages=[Message("user", blocks=[Image.from_path("cat.png"), "What is this?"])]``.

        ``reasoning=ReasoningConfig(1024)`` lets the model reason first (its
        :class:`Reasoning` blocks lead :attr:`GenerateResult.content`);
        ``system_cache_point=CachePoint()`` caches the tools and system prompt
        (``ToolConfig(cache_point=...)`` and :class:`CachePoint` blocks add
        more points); ``guardrail`` applies a Bedrock guardrail;
        ``service_tier`` and ``latency`` ask for a tier and latency mode (the
        served ones come back); ``request_metadata`` tags the call in
        Bedrock's invocation logs. ``metadata`` is gRPC request metadata
        (headers) for the gateway.
        """
        request = pb.GenerateRequest(
            **self._request_fields(
                model_id, prompt, messages, system, temperature, top_p, max_tokens,
                stop_sequences, additional_model_request_fields, api, tool_config, output_schema,
                system_cache_point, reasoning, guardrail, service_tier, latency, request_metadata,
            )
        )
        try:
            response: pb.GenerateResponse = self._stub.Generate(
                request, timeout=timeout, metadata=metadata
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return GenerateResult(
            text=response.text,
            stop_reason=pb.StopReason.Name(response.stop_reason),
            raw_stop_reason=response.raw_stop_reason,
            usage=_usage(response.usage),
            invoked_model_id=response.invoked_model_id,
            request_id=response.request_id,
            backend=response.backend,
            backend_latency=_optional_timedelta(response, "backend_latency"),
            resolved_model_id=response.resolved_model_id,
            content=tuple(b for b in map(_from_block, response.content) if b is not None),
            service_tier=_served(response.service_tier, pb.ServiceTier, "SERVICE_TIER_"),
            latency=_served(response.latency, pb.Latency, "LATENCY_"),
            guardrail_trace=_guardrail_trace(response),
        )

    def stream(
        self,
        model_id: str,
        *,
        prompt: str = "",
        messages: Optional[Sequence[MessageLike]] = None,
        system: str = "",
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        max_tokens: Optional[int] = None,
        stop_sequences: Optional[Sequence[str]] = None,
        additional_model_request_fields: Optional[Mapping[str, Any]] = None,
        api: Optional[Api] = None,
        tool_config: Optional[ToolConfig] = None,
        output_schema: Optional[OutputSchema] = None,
        system_cache_point: Optional[CachePoint] = None,
        reasoning: Optional[ReasoningConfig] = None,
        guardrail: Optional[GuardrailConfig] = None,
        service_tier: Optional[ServiceTier] = None,
        latency: Optional[Latency] = None,
        request_metadata: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        metadata: Optional[Metadata] = None,
    ) -> Stream:
        """Streams a completion (``GenerateStream``): a :class:`Stream` of text chunks.

        Takes the same arguments as :meth:`generate` (a ``guardrail`` may
        also set ``stream_mode``). Errors, invalid requests included, are
        raised while iterating. Tool calls and reasoning arrive as events
        (:meth:`Stream.events`); the calls come whole in the completion's
        ``tool_uses``, and :attr:`Stream.content` assembles the answer.
        """
        request = pb.GenerateStreamRequest(
            **self._request_fields(
                model_id, prompt, messages, system, temperature, top_p, max_tokens,
                stop_sequences, additional_model_request_fields, api, tool_config, output_schema,
                system_cache_point, reasoning, guardrail, service_tier, latency, request_metadata,
                stream=True,
            )
        )
        return Stream(self._stub.GenerateStream(request, timeout=timeout, metadata=metadata))

    def count_tokens(
        self,
        model_id: str,
        *,
        prompt: str = "",
        messages: Optional[Sequence[MessageLike]] = None,
        system: str = "",
        tool_config: Optional[ToolConfig] = None,
        timeout: Optional[float] = None,
        metadata: Optional[Metadata] = None,
    ) -> int:
        """The input tokens a :meth:`generate` call with the same input would
        be charged (``CountTokens``): its ``input_tokens`` +
        ``cache_read_input_tokens`` + ``cache_write_input_tokens``. A model
        without token counting raises GatewayError with FAILED_PRECONDITION.
        """
        fields: dict[str, Any] = {"model_id": model_id, "prompt": prompt, "system": system}
        if messages:
            fields["messages"] = [_message(m) for m in messages]
        if tool_config is not None:
            fields["tool_config"] = _tool_config(tool_config)
        try:
            response: pb.CountTokensResponse = self._stub.CountTokens(
                pb.CountTokensRequest(**fields), timeout=timeout, metadata=metadata
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return int(response.input_tokens)

    def list_models(
        self,
        *,
        provider: str = "",
        output_modality: str = "",
        inference_type: str = "",
        streaming: Optional[bool] = None,
        customization_type: str = "",
        timeout: Optional[float] = None,
    ) -> list[ModelSummary]:
        """Lists the foundation models (``ListModels``); empty filters match all."""
        request = pb.ListModelsRequest(
            provider=provider,
            output_modality=output_modality,
            inference_type=inference_type,
            customization_type=customization_type,
        )
        if streaming is not None:
            request.response_streaming_supported = streaming
        try:
            response: pb.ListModelsResponse = self._stub.ListModels(request, timeout=timeout)
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return [_model(m) for m in response.models]

    def get_model(self, model_id: str, *, timeout: Optional[float] = None) -> ModelSummary:
        """One model's details (``GetModel``); NOT_FOUND raises GatewayError."""
        try:
            response: pb.GetModelResponse = self._stub.GetModel(
                pb.GetModelRequest(model_id=model_id), timeout=timeout
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        return _model(response.model)

    def health(self, service: str = "", *, timeout: Optional[float] = None) -> str:
        """grpc.health.v1 Check: ``"SERVING"``, ``"NOT_SERVING"``, ...

        ``""`` is the process's liveness;
        ``"bedrock.gateway.v1.TextGenerationService"`` is its readiness.
        """
        try:
            response: Any = self._health.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            raise GatewayError.from_rpc_error(error) from None
        name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        return name
