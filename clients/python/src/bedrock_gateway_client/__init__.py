"""Python client for bedrock-gateway (gRPC contract ``bedrock.gateway.v1``).

>>> from bedrock_gateway_client import Client
>>> with Client("127.0.0.1:50051") as client:           # doctest: +SKIP
...     print(client.generate("amazon.titan-text-express-v1", prompt="Hi").text)

The generated stubs are in :mod:`bedrock_gateway_client._proto` (``gateway_pb2``
and ``gateway_pb2_grpc``) for callers who want the raw messages.
"""

from .client import (
    DEFAULT_TARGET,
    CachePoint,
    Client,
    Completion,
    ContentBlock,
    Document,
    ErrorInfo,
    GatewayError,
    GenerateResult,
    GuardrailConfig,
    Image,
    Message,
    ModelSummary,
    OutputSchema,
    Reasoning,
    ReasoningConfig,
    ReasoningDelta,
    ResourceInfo,
    Stream,
    StreamEvent,
    TextDelta,
    Tool,
    ToolChoice,
    ToolConfig,
    ToolResult,
    ToolResultContent,
    ToolUse,
    ToolUseDelta,
    ToolUseStart,
    Usage,
)
from ._proto import gateway_pb2, gateway_pb2_grpc

SERVICE_NAME = "bedrock.gateway.v1.TextGenerationService"

__all__ = [
    "DEFAULT_TARGET",
    "SERVICE_NAME",
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
    "gateway_pb2",
    "gateway_pb2_grpc",
]
