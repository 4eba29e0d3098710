"""A thin, typed layer over the generated stubs of ``bedrock.gateway.v1``.

Every call returns plain dataclasses instead of protobuf messages, and every
failure is raised as :class:`GatewayError`, which carries the gRPC code and the
google.rpc error details the gateway attaches (BadRequest field violations,
ErrorInfo, RetryInfo, ResourceInfo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, Iterator, Literal, Mapping, Optional, Sequence, Tuple, Type, Union

import grpc
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from ._proto import gateway_pb2 as pb
from ._proto import gateway_pb2_grpc as pb_grpc

__all__ = [
    "DEFAULT_TARGET",
    "Client",
    "Completion",
    "ErrorInfo",
    "GatewayError",
    "GenerateResult",
    "Message",
    "ModelSummary",
    "ResourceInfo",
    "Stream",
    "Usage",
]

#: Where ``bedrock-gateway`` listens by default.
DEFAULT_TARGET = "127.0.0.1:50051"

Role = Literal["user", "assistant"]
Api = Literal["converse", "invoke_model"]
Metadata = Sequence[Tuple[str, str]]

_ROLES = {"user": pb.ROLE_USER, "assistant": pb.ROLE_ASSISTANT}
_APIS = {"converse": pb.BEDROCK_API_CONVERSE, "invoke_model": pb.BEDROCK_API_INVOKE_MODEL}


@dataclass(frozen=True)
class Message:
    """One conversation turn: ``role`` is ``"user"`` or ``"assistant"``."""

    role: Role
    content: str


MessageLike = Union[Message, Tuple[str, str]]


@dataclass(frozen=True)
class Usage:
    """Tokens counted for one call."""

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


def _message(turn: MessageLike) -> pb.Message:
    role, content = (turn.role, turn.content) if isinstance(turn, Message) else turn
    if role not in _ROLES:
        raise ValueError(f"message role must be 'user' or 'assistant', got {role!r}")
    return pb.Message(role=_ROLES[role], content=content)


class Stream(Iterator[str]):
    """A streamed completion: iterate it for text chunks (``str``).

    After the last chunk, :attr:`completion` holds the final event (stop
    reason, usage, ...). :meth:`cancel` stops the call (and generation
    upstream) at once; iteration then simply ends. Any other failure is raised
    from iteration as :class:`GatewayError`; the chunks already received stay
    valid (see :attr:`text`). Use it as a context manager to cancel a stream
    left unfinished.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._chunks: list[str] = []
        self._completion: Optional[Completion] = None
        self._cancelled = False
        self._done = False

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
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
                return event.delta.text
            if kind == "complete":
                c = event.complete
                self._completion = Completion(
                    stop_reason=pb.StopReason.Name(c.stop_reason),
                    raw_stop_reason=c.raw_stop_reason,
                    usage=_usage(c.usage),
                    invoked_model_id=c.invoked_model_id,
                    request_id=c.request_id,
                    backend=c.backend,
                    backend_latency=_optional_timedelta(c, "backend_latency"),
                    time_to_first_token=_optional_timedelta(c, "time_to_first_token"),
                    resolved_model_id=c.resolved_model_id,
                )

    @property
    def completion(self) -> Optional[Completion]:
        """The final event, once the stream has been read to its end; else None."""
        return self._completion

    @property
    def text(self) -> str:
        """Every chunk received so far, concatenated."""
        return "".join(self._chunks)

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
        timeout: Optional[float] = None,
        metadata: Optional[Metadata] = None,
    ) -> GenerateResult:
        """Generates a whole completion (``Generate``).

        Set exactly one of ``prompt`` and ``messages``. Parameters left as
        None take the model's defaults.
        """
        request = pb.GenerateRequest(
            **self._request_fields(
                model_id, prompt, messages, system, temperature, top_p, max_tokens,
                stop_sequences, additional_model_request_fields, api,
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
        timeout: Optional[float] = None,
        metadata: Optional[Metadata] = None,
    ) -> Stream:
        """Streams a completion (``GenerateStream``): a :class:`Stream` of text chunks.

        Takes the same arguments as :meth:`generate`. Errors, invalid
        requests included, are raised while iterating.
        """
        request = pb.GenerateStreamRequest(
            **self._request_fields(
                model_id, prompt, messages, system, temperature, top_p, max_tokens,
                stop_sequences, additional_model_request_fields, api,
            )
        )
        return Stream(self._stub.GenerateStream(request, timeout=timeout, metadata=metadata))

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
