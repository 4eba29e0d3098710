import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CacheTtl(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_TTL_UNSPECIFIED: _ClassVar[CacheTtl]
    CACHE_TTL_5_MINUTES: _ClassVar[CacheTtl]
    CACHE_TTL_1_HOUR: _ClassVar[CacheTtl]

class GuardrailTrace(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUARDRAIL_TRACE_UNSPECIFIED: _ClassVar[GuardrailTrace]
    GUARDRAIL_TRACE_DISABLED: _ClassVar[GuardrailTrace]
    GUARDRAIL_TRACE_ENABLED: _ClassVar[GuardrailTrace]
    GUARDRAIL_TRACE_ENABLED_FULL: _ClassVar[GuardrailTrace]

class GuardrailStreamMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUARDRAIL_STREAM_MODE_UNSPECIFIED: _ClassVar[GuardrailStreamMode]
    GUARDRAIL_STREAM_MODE_SYNC: _ClassVar[GuardrailStreamMode]
    GUARDRAIL_STREAM_MODE_ASYNC: _ClassVar[GuardrailStreamMode]

class ServiceTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVICE_TIER_UNSPECIFIED: _ClassVar[ServiceTier]
    SERVICE_TIER_DEFAULT: _ClassVar[ServiceTier]
    SERVICE_TIER_PRIORITY: _ClassVar[ServiceTier]
    SERVICE_TIER_FLEX: _ClassVar[ServiceTier]
    SERVICE_TIER_RESERVED: _ClassVar[ServiceTier]

class Latency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LATENCY_UNSPECIFIED: _ClassVar[Latency]
    LATENCY_STANDARD: _ClassVar[Latency]
    LATENCY_OPTIMIZED: _ClassVar[Latency]

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_GIF: _ClassVar[ImageFormat]
    IMAGE_FORMAT_WEBP: _ClassVar[ImageFormat]

class DocumentFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_FORMAT_UNSPECIFIED: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_PDF: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_CSV: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_DOC: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_DOCX: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_XLS: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_XLSX: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_HTML: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_TXT: _ClassVar[DocumentFormat]
    DOCUMENT_FORMAT_MD: _ClassVar[DocumentFormat]

class ToolResultStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_RESULT_STATUS_UNSPECIFIED: _ClassVar[ToolResultStatus]
    TOOL_RESULT_STATUS_SUCCESS: _ClassVar[ToolResultStatus]
    TOOL_RESULT_STATUS_ERROR: _ClassVar[ToolResultStatus]

class ToolChoiceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_CHOICE_MODE_UNSPECIFIED: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_AUTO: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_ANY: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_TOOL: _ClassVar[ToolChoiceMode]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]

class BedrockApi(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BEDROCK_API_UNSPECIFIED: _ClassVar[BedrockApi]
    BEDROCK_API_CONVERSE: _ClassVar[BedrockApi]
    BEDROCK_API_INVOKE_MODEL: _ClassVar[BedrockApi]

class StopReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOP_REASON_UNSPECIFIED: _ClassVar[StopReason]
    STOP_REASON_END_TURN: _ClassVar[StopReason]
    STOP_REASON_MAX_TOKENS: _ClassVar[StopReason]
    STOP_REASON_STOP_SEQUENCE: _ClassVar[StopReason]
    STOP_REASON_CONTENT_FILTERED: _ClassVar[StopReason]
    STOP_REASON_GUARDRAIL_INTERVENED: _ClassVar[StopReason]
    STOP_REASON_TOOL_USE: _ClassVar[StopReason]
    STOP_REASON_MALFORMED_MODEL_OUTPUT: _ClassVar[StopReason]
    STOP_REASON_MALFORMED_TOOL_USE: _ClassVar[StopReason]
    STOP_REASON_MODEL_CONTEXT_WINDOW_EXCEEDED: _ClassVar[StopReason]
    STOP_REASON_OTHER: _ClassVar[StopReason]
CACHE_TTL_UNSPECIFIED: CacheTtl
CACHE_TTL_5_MINUTES: CacheTtl
CACHE_TTL_1_HOUR: CacheTtl
GUARDRAIL_TRACE_UNSPECIFIED: GuardrailTrace
GUARDRAIL_TRACE_DISABLED: GuardrailTrace
GUARDRAIL_TRACE_ENABLED: GuardrailTrace
GUARDRAIL_TRACE_ENABLED_FULL: GuardrailTrace
GUARDRAIL_STREAM_MODE_UNSPECIFIED: GuardrailStreamMode
GUARDRAIL_STREAM_MODE_SYNC: GuardrailStreamMode
GUARDRAIL_STREAM_MODE_ASYNC: GuardrailStreamMode
SERVICE_TIER_UNSPECIFIED: ServiceTier
SERVICE_TIER_DEFAULT: ServiceTier
SERVICE_TIER_PRIORITY: ServiceTier
SERVICE_TIER_FLEX: ServiceTier
SERVICE_TIER_RESERVED: ServiceTier
LATENCY_UNSPECIFIED: Latency
LATENCY_STANDARD: Latency
LATENCY_OPTIMIZED: Latency
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat
IMAGE_FORMAT_GIF: ImageFormat
IMAGE_FORMAT_WEBP: ImageFormat
DOCUMENT_FORMAT_UNSPECIFIED: DocumentFormat
DOCUMENT_FORMAT_PDF: DocumentFormat
DOCUMENT_FORMAT_CSV: DocumentFormat
DOCUMENT_FORMAT_DOC: DocumentFormat
DOCUMENT_FORMAT_DOCX: DocumentFormat
DOCUMENT_FORMAT_XLS: DocumentFormat
DOCUMENT_FORMAT_XLSX: DocumentFormat
DOCUMENT_FORMAT_HTML: DocumentFormat
DOCUMENT_FORMAT_TXT: DocumentFormat
DOCUMENT_FORMAT_MD: DocumentFormat
TOOL_RESULT_STATUS_UNSPECIFIED: ToolResultStatus
TOOL_RESULT_STATUS_SUCCESS: ToolResultStatus
TOOL_RESULT_STATUS_ERROR: ToolResultStatus
TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode
TOOL_CHOICE_MODE_AUTO: ToolChoiceMode
TOOL_CHOICE_MODE_ANY: ToolChoiceMode
TOOL_CHOICE_MODE_TOOL: ToolChoiceMode
ROLE_UNSPECIFIED: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
BEDROCK_API_UNSPECIFIED: BedrockApi
BEDROCK_API_CONVERSE: BedrockApi
BEDROCK_API_INVOKE_MODEL: BedrockApi
STOP_REASON_UNSPECIFIED: StopReason
STOP_REASON_END_TURN: StopReason
STOP_REASON_MAX_TOKENS: StopReason
STOP_REASON_STOP_SEQUENCE: StopReason
STOP_REASON_CONTENT_FILTERED: StopReason
STOP_REASON_GUARDRAIL_INTERVENED: StopReason
STOP_REASON_TOOL_USE: StopReason
STOP_REASON_MALFORMED_MODEL_OUTPUT: StopReason
STOP_REASON_MALFORMED_TOOL_USE: StopReason
STOP_REASON_MODEL_CONTEXT_WINDOW_EXCEEDED: StopReason
STOP_REASON_OTHER: StopReason

class GenerateRequest(_message.Message):
    __slots__ = ("model_id", "prompt", "messages", "system", "parameters", "additional_model_request_fields", "api", "tool_config", "output_schema", "system_cache_point", "reasoning", "guardrail", "service_tier", "latency", "request_metadata")
    class RequestMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_MODEL_REQUEST_FIELDS_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    TOOL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CACHE_POINT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_METADATA_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    system: str
    parameters: GenerationParameters
    additional_model_request_fields: _struct_pb2.Struct
    api: BedrockApi
    tool_config: ToolConfig
    output_schema: OutputSchema
    system_cache_point: CachePoint
    reasoning: ReasoningConfig
    guardrail: GuardrailConfig
    service_tier: ServiceTier
    latency: Latency
    request_metadata: _containers.ScalarMap[str, str]
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., system: _Optional[str] = ..., parameters: _Optional[_Union[GenerationParameters, _Mapping]] = ..., additional_model_request_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., api: _Optional[_Union[BedrockApi, str]] = ..., tool_config: _Optional[_Union[ToolConfig, _Mapping]] = ..., output_schema: _Optional[_Union[OutputSchema, _Mapping]] = ..., system_cache_point: _Optional[_Union[CachePoint, _Mapping]] = ..., reasoning: _Optional[_Union[ReasoningConfig, _Mapping]] = ..., guardrail: _Optional[_Union[GuardrailConfig, _Mapping]] = ..., service_tier: _Optional[_Union[ServiceTier, str]] = ..., latency: _Optional[_Union[Latency, str]] = ..., request_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GenerateStreamRequest(_message.Message):
    __slots__ = ("model_id", "prompt", "messages", "system", "parameters", "additional_model_request_fields", "api", "tool_config", "output_schema", "system_cache_point", "reasoning", "guardrail", "service_tier", "latency", "request_metadata")
    class RequestMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_MODEL_REQUEST_FIELDS_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    TOOL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CACHE_POINT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_METADATA_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    system: str
    parameters: GenerationParameters
    additional_model_request_fields: _struct_pb2.Struct
    api: BedrockApi
    tool_config: ToolConfig
    output_schema: OutputSchema
    system_cache_point: CachePoint
    reasoning: ReasoningConfig
    guardrail: GuardrailConfig
    service_tier: ServiceTier
    latency: Latency
    request_metadata: _containers.ScalarMap[str, str]
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., system: _Optional[str] = ..., parameters: _Optional[_Union[GenerationParameters, _Mapping]] = ..., additional_model_request_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., api: _Optional[_Union[BedrockApi, str]] = ..., tool_config: _Optional[_Union[ToolConfig, _Mapping]] = ..., output_schema: _Optional[_Union[OutputSchema, _Mapping]] = ..., system_cache_point: _Optional[_Union[CachePoint, _Mapping]] = ..., reasoning: _Optional[_Union[ReasoningConfig, _Mapping]] = ..., guardrail: _Optional[_Union[GuardrailConfig, _Mapping]] = ..., service_tier: _Optional[_Union[ServiceTier, str]] = ..., latency: _Optional[_Union[Latency, str]] = ..., request_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("role", "content", "blocks")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    role: Role
    content: str
    blocks: _containers.RepeatedCompositeFieldContainer[ContentBlock]
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ..., blocks: _Optional[_Iterable[_Union[ContentBlock, _Mapping]]] = ...) -> None: ...

class ContentBlock(_message.Message):
    __slots__ = ("text", "image", "document", "tool_use", "tool_result", "reasoning", "cache_point")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    TOOL_USE_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    CACHE_POINT_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: Image
    document: Document
    tool_use: ToolUse
    tool_result: ToolResult
    reasoning: Reasoning
    cache_point: CachePoint
    def __init__(self, text: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., document: _Optional[_Union[Document, _Mapping]] = ..., tool_use: _Optional[_Union[ToolUse, _Mapping]] = ..., tool_result: _Optional[_Union[ToolResult, _Mapping]] = ..., reasoning: _Optional[_Union[Reasoning, _Mapping]] = ..., cache_point: _Optional[_Union[CachePoint, _Mapping]] = ...) -> None: ...

class Reasoning(_message.Message):
    __slots__ = ("text", "signature", "redacted")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    REDACTED_FIELD_NUMBER: _ClassVar[int]
    text: str
    signature: str
    redacted: bytes
    def __init__(self, text: _Optional[str] = ..., signature: _Optional[str] = ..., redacted: _Optional[bytes] = ...) -> None: ...

class CachePoint(_message.Message):
    __slots__ = ("ttl",)
    TTL_FIELD_NUMBER: _ClassVar[int]
    ttl: CacheTtl
    def __init__(self, ttl: _Optional[_Union[CacheTtl, str]] = ...) -> None: ...

class ReasoningConfig(_message.Message):
    __slots__ = ("budget_tokens",)
    BUDGET_TOKENS_FIELD_NUMBER: _ClassVar[int]
    budget_tokens: int
    def __init__(self, budget_tokens: _Optional[int] = ...) -> None: ...

class GuardrailConfig(_message.Message):
    __slots__ = ("identifier", "version", "trace", "stream_mode")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    STREAM_MODE_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    version: str
    trace: GuardrailTrace
    stream_mode: GuardrailStreamMode
    def __init__(self, identifier: _Optional[str] = ..., version: _Optional[str] = ..., trace: _Optional[_Union[GuardrailTrace, str]] = ..., stream_mode: _Optional[_Union[GuardrailStreamMode, str]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("format", "data")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    format: ImageFormat
    data: bytes
    def __init__(self, format: _Optional[_Union[ImageFormat, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("format", "name", "data")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    format: DocumentFormat
    name: str
    data: bytes
    def __init__(self, format: _Optional[_Union[DocumentFormat, str]] = ..., name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ToolUse(_message.Message):
    __slots__ = ("id", "name", "input")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    input: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., input: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ToolResult(_message.Message):
    __slots__ = ("tool_use_id", "content", "status")
    TOOL_USE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    tool_use_id: str
    content: _containers.RepeatedCompositeFieldContainer[ToolResultContent]
    status: ToolResultStatus
    def __init__(self, tool_use_id: _Optional[str] = ..., content: _Optional[_Iterable[_Union[ToolResultContent, _Mapping]]] = ..., status: _Optional[_Union[ToolResultStatus, str]] = ...) -> None: ...

class ToolResultContent(_message.Message):
    __slots__ = ("text", "json", "image", "document")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    text: str
    json: _struct_pb2.Struct
    image: Image
    document: Document
    def __init__(self, text: _Optional[str] = ..., json: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., document: _Optional[_Union[Document, _Mapping]] = ...) -> None: ...

class ToolConfig(_message.Message):
    __slots__ = ("tools", "tool_choice", "cache_point")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    CACHE_POINT_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    tool_choice: ToolChoice
    cache_point: CachePoint
    def __init__(self, tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ..., tool_choice: _Optional[_Union[ToolChoice, _Mapping]] = ..., cache_point: _Optional[_Union[CachePoint, _Mapping]] = ...) -> None: ...

class Tool(_message.Message):
    __slots__ = ("name", "description", "input_schema")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    input_schema: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., input_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ToolChoice(_message.Message):
    __slots__ = ("mode", "tool_name")
    MODE_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    mode: ToolChoiceMode
    tool_name: str
    def __init__(self, mode: _Optional[_Union[ToolChoiceMode, str]] = ..., tool_name: _Optional[str] = ...) -> None: ...

class OutputSchema(_message.Message):
    __slots__ = ("json_schema", "name", "description")
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    json_schema: _struct_pb2.Struct
    name: str
    description: str
    def __init__(self, json_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GenerationParameters(_message.Message):
    __slots__ = ("temperature", "top_p", "max_tokens", "stop_sequences")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOP_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_p: float
    max_tokens: int
    stop_sequences: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., max_tokens: _Optional[int] = ..., stop_sequences: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("text", "stop_reason", "usage", "invoked_model_id", "backend_latency", "request_id", "backend", "raw_stop_reason", "resolved_model_id", "content", "service_tier", "latency", "guardrail_trace")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    INVOKED_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_LATENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RAW_STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_TRACE_FIELD_NUMBER: _ClassVar[int]
    text: str
    stop_reason: StopReason
    usage: Usage
    invoked_model_id: str
    backend_latency: _duration_pb2.Duration
    request_id: str
    backend: str
    raw_stop_reason: str
    resolved_model_id: str
    content: _containers.RepeatedCompositeFieldContainer[ContentBlock]
    service_tier: ServiceTier
    latency: Latency
    guardrail_trace: _struct_pb2.Struct
    def __init__(self, text: _Optional[str] = ..., stop_reason: _Optional[_Union[StopReason, str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., invoked_model_id: _Optional[str] = ..., backend_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ..., backend: _Optional[str] = ..., raw_stop_reason: _Optional[str] = ..., resolved_model_id: _Optional[str] = ..., content: _Optional[_Iterable[_Union[ContentBlock, _Mapping]]] = ..., service_tier: _Optional[_Union[ServiceTier, str]] = ..., latency: _Optional[_Union[Latency, str]] = ..., guardrail_trace: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GenerateStreamResponse(_message.Message):
    __slots__ = ("delta", "complete", "tool_use_start", "tool_use_delta", "reasoning_delta")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    TOOL_USE_START_FIELD_NUMBER: _ClassVar[int]
    TOOL_USE_DELTA_FIELD_NUMBER: _ClassVar[int]
    REASONING_DELTA_FIELD_NUMBER: _ClassVar[int]
    delta: TextDelta
    complete: GenerationComplete
    tool_use_start: ToolUseStart
    tool_use_delta: ToolUseDelta
    reasoning_delta: ReasoningDelta
    def __init__(self, delta: _Optional[_Union[TextDelta, _Mapping]] = ..., complete: _Optional[_Union[GenerationComplete, _Mapping]] = ..., tool_use_start: _Optional[_Union[ToolUseStart, _Mapping]] = ..., tool_use_delta: _Optional[_Union[ToolUseDelta, _Mapping]] = ..., reasoning_delta: _Optional[_Union[ReasoningDelta, _Mapping]] = ...) -> None: ...

class ReasoningDelta(_message.Message):
    __slots__ = ("index", "text", "signature", "redacted")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    REDACTED_FIELD_NUMBER: _ClassVar[int]
    index: int
    text: str
    signature: str
    redacted: bytes
    def __init__(self, index: _Optional[int] = ..., text: _Optional[str] = ..., signature: _Optional[str] = ..., redacted: _Optional[bytes] = ...) -> None: ...

class TextDelta(_message.Message):
    __slots__ = ("text", "index")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    text: str
    index: int
    def __init__(self, text: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class ToolUseStart(_message.Message):
    __slots__ = ("index", "id", "name")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    name: str
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ToolUseDelta(_message.Message):
    __slots__ = ("index", "input_json")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    index: int
    input_json: str
    def __init__(self, index: _Optional[int] = ..., input_json: _Optional[str] = ...) -> None: ...

class GenerationComplete(_message.Message):
    __slots__ = ("stop_reason", "usage", "invoked_model_id", "backend_latency", "request_id", "backend", "raw_stop_reason", "time_to_first_token", "resolved_model_id", "tool_uses", "service_tier", "latency", "guardrail_trace")
    STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    INVOKED_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_LATENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RAW_STOP_REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_USES_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_TRACE_FIELD_NUMBER: _ClassVar[int]
    stop_reason: StopReason
    usage: Usage
    invoked_model_id: str
    backend_latency: _duration_pb2.Duration
    request_id: str
    backend: str
    raw_stop_reason: str
    time_to_first_token: _duration_pb2.Duration
    resolved_model_id: str
    tool_uses: _containers.RepeatedCompositeFieldContainer[ToolUse]
    service_tier: ServiceTier
    latency: Latency
    guardrail_trace: _struct_pb2.Struct
    def __init__(self, stop_reason: _Optional[_Union[StopReason, str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., invoked_model_id: _Optional[str] = ..., backend_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ..., backend: _Optional[str] = ..., raw_stop_reason: _Optional[str] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., resolved_model_id: _Optional[str] = ..., tool_uses: _Optional[_Iterable[_Union[ToolUse, _Mapping]]] = ..., service_tier: _Optional[_Union[ServiceTier, str]] = ..., latency: _Optional[_Union[Latency, str]] = ..., guardrail_trace: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens", "cache_write_input_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_input_tokens: int
    cache_write_input_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cache_read_input_tokens: _Optional[int] = ..., cache_write_input_tokens: _Optional[int] = ...) -> None: ...

class CountTokensRequest(_message.Message):
    __slots__ = ("model_id", "prompt", "messages", "system", "tool_config")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    TOOL_CONFIG_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    prompt: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    system: str
    tool_config: ToolConfig
    def __init__(self, model_id: _Optional[str] = ..., prompt: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., system: _Optional[str] = ..., tool_config: _Optional[_Union[ToolConfig, _Mapping]] = ...) -> None: ...

class CountTokensResponse(_message.Message):
    __slots__ = ("input_tokens",)
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("provider", "output_modality", "inference_type", "response_streaming_supported", "customization_type")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODALITY_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_STREAMING_SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMIZATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    output_modality: str
    inference_type: str
    response_streaming_supported: bool
    customization_type: str
    def __init__(self, provider: _Optional[str] = ..., output_modality: _Optional[str] = ..., inference_type: _Optional[str] = ..., response_streaming_supported: _Optional[bool] = ..., customization_type: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelSummary]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelSummary, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("model_id",)
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    def __init__(self, model_id: _Optional[str] = ...) -> None: ...

class GetModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: ModelSummary
    def __init__(self, model: _Optional[_Union[ModelSummary, _Mapping]] = ...) -> None: ...

class ModelSummary(_message.Message):
    __slots__ = ("model_id", "model_arn", "model_name", "provider_name", "input_modalities", "output_modalities", "response_streaming_supported", "customizations_supported", "inference_types_supported", "lifecycle_status")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ARN_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_MODALITIES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_MODALITIES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_STREAMING_SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    CUSTOMIZATIONS_SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_TYPES_SUPPORTED_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_STATUS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_arn: str
    model_name: str
    provider_name: str
    input_modalities: _containers.RepeatedScalarFieldContainer[str]
    output_modalities: _containers.RepeatedScalarFieldContainer[str]
    response_streaming_supported: bool
    customizations_supported: _containers.RepeatedScalarFieldContainer[str]
    inference_types_supported: _containers.RepeatedScalarFieldContainer[str]
    lifecycle_status: str
    def __init__(self, model_id: _Optional[str] = ..., model_arn: _Optional[str] = ..., model_name: _Optional[str] = ..., provider_name: _Optional[str] = ..., input_modalities: _Optional[_Iterable[str]] = ..., output_modalities: _Optional[_Iterable[str]] = ..., response_streaming_supported: _Optional[bool] = ..., customizations_supported: _Optional[_Iterable[str]] = ..., inference_types_supported: _Optional[_Iterable[str]] = ..., lifecycle_status: _Optional[str] = ...) -> None: ...
