"""bedrock-gateway-client against the real gateway binary (simulated backend)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Dict

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bedrock_gateway_client import (
    SERVICE_NAME,
    Client,
    GatewayError,
    Message,
    gateway_pb2,
    gateway_pb2_grpc,
)

from .conftest import Gateway

TITAN = "amazon.titan-text-express-v1"
POEM = "Write a poem about sky"


def simulate(**behaviour: Any) -> Dict[str, Any]:
    """additional_model_request_fields that make the simulated backend misbehave."""
    return {"gateway_simulation": behaviour}


# --- Generate ---------------------------------------------------------------


def test_generate_returns_a_whole_completion(client: Client) -> None:
    result = client.generate(TITAN, prompt=POEM, temperature=0, top_p=1, max_tokens=50)
    assert result.text.strip()
    assert result.stop_reason == "STOP_REASON_MAX_TOKENS"
    assert result.raw_stop_reason
    assert result.usage.output_tokens == 50
    assert result.usage.input_tokens > 0
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    assert result.invoked_model_id == TITAN
    assert result.request_id
    assert result.backend == "simulated"
    assert result.backend_latency is not None


def test_generate_is_deterministic_at_temperature_zero(client: Client) -> None:
    first = client.generate(TITAN, prompt=POEM, temperature=0, max_tokens=40)
    second = client.generate(TITAN, prompt=POEM, temperature=0, max_tokens=40)
    assert first.text == second.text
    assert first.request_id != second.request_id


def test_generate_with_messages_system_and_stop_sequence(client: Client) -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    args: Dict[str, Any] = dict(
        system="You are a poet.",
        messages=[
            Message("user", "Hello"),
            ("assistant", "Hello! What shall I write?"),
            ("user", POEM),
        ],
        temperature=0,
        max_tokens=80,
    )
    free = client.generate(model, **args)
    assert free.backend == "simulated"
    # A stop sequence taken from the free text cuts it just before itself.
    words = free.text.split()
    stop = words[len(words) // 2]
    cut = client.generate(model, stop_sequences=[stop], **args)
    assert cut.stop_reason == "STOP_REASON_STOP_SEQUENCE"
    assert cut.text == free.text[: free.text.index(stop)]


def test_unknown_role_is_refused_before_any_call(client: Client) -> None:
    with pytest.raises(ValueError, match="role"):
        client.generate(TITAN, messages=[("system", "hi")])


# --- GenerateStream ---------------------------------------------------------


def test_stream_chunks_concatenate_to_generates_text(client: Client) -> None:
    args: Dict[str, Any] = dict(prompt=POEM, temperature=0, top_p=1, max_tokens=60)
    whole = client.generate(TITAN, **args)
    stream = client.stream(TITAN, **args)
    chunks = list(stream)
    assert len(chunks) > 1, chunks
    assert all(isinstance(c, str) for c in chunks)
    assert "".join(chunks) == whole.text
    assert stream.text == whole.text
    completion = stream.completion
    assert completion is not None
    assert completion.stop_reason == whole.stop_reason == "STOP_REASON_MAX_TOKENS"
    assert completion.usage == whole.usage
    assert completion.invoked_model_id == TITAN
    assert completion.resolved_model_id == whole.resolved_model_id == TITAN
    assert completion.backend == "simulated"
    assert completion.request_id
    assert completion.time_to_first_token is not None


def test_stream_stops_at_a_stop_sequence(client: Client) -> None:
    # Titan takes only "User:" or a run of '|' as a stop sequence (on every
    # backend, as on Bedrock); Claude takes any.
    stream = client.stream("anthropic.claude-3-haiku-20240307-v1:0", prompt=POEM, stop_sequences=["\n\n"])
    text = "".join(stream)
    assert text
    assert "\n\n" not in text
    assert stream.completion is not None
    assert stream.completion.stop_reason == "STOP_REASON_STOP_SEQUENCE"


def test_cancelling_a_stream_mid_way_ends_it_at_once(client: Client, gateway: Gateway) -> None:
    # 2000 tokens at 50 ms each would take 100 s; the session's teardown also
    # checks that the server stops quickly, i.e. it did not keep this call.
    stream = client.stream(
        TITAN, prompt=POEM, max_tokens=2000, additional_model_request_fields=simulate(token_delay_ms=50)
    )
    received = []
    started = time.monotonic()
    for chunk in stream:
        received.append(chunk)
        if len(received) == 3:
            stream.cancel()
    elapsed = time.monotonic() - started
    assert len(received) == 3
    assert stream.cancelled
    assert stream.completion is None
    assert elapsed < 5, f"cancel took {elapsed:.1f}s"
    # The gateway goes on serving.
    assert client.health(SERVICE_NAME) == "SERVING"
    assert client.generate(TITAN, prompt="hi", max_tokens=5).usage.output_tokens == 5


def test_leaving_a_stream_context_cancels_it(client: Client) -> None:
    with client.stream(
        TITAN, prompt=POEM, max_tokens=2000, additional_model_request_fields=simulate(token_delay_ms=50)
    ) as stream:
        assert next(stream)
    assert stream.cancelled
    assert list(stream) == []


def test_a_stream_failing_after_text_keeps_the_text(client: Client) -> None:
    stream = client.stream(
        TITAN,
        prompt=POEM,
        additional_model_request_fields=simulate(fail_with="ServiceUnavailableException", fail_after_tokens=5),
    )
    received = []
    with pytest.raises(GatewayError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 5
    assert stream.text == "".join(received)
    assert stream.completion is None
    error = caught.value
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.error_info is not None
    assert error.error_info.reason == "ServiceUnavailableException"
    assert error.retry_delay is not None and error.retry_delay > timedelta(0)


def test_an_invalid_stream_request_raises_while_iterating(client: Client) -> None:
    stream = client.stream(TITAN, prompt=POEM, max_tokens=0)
    with pytest.raises(GatewayError) as caught:
        next(stream)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in caught.value.field_violations] == ["parameters.max_tokens"]


# --- Errors -----------------------------------------------------------------


def test_invalid_argument_names_each_field(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(TITAN, prompt="hi", temperature=1.5)
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.field_violations) == 1
    field, description = error.field_violations[0]
    assert field == "parameters.temperature"
    assert "1.5" in description
    assert "parameters.temperature" in str(error)


def test_every_broken_rule_is_reported_at_once(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate("", prompt="hi", messages=[("user", "hi")], temperature=1.5, top_p=2)
    fields = {f for f, _ in caught.value.field_violations}
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"model_id", "parameters.temperature", "parameters.top_p"} <= fields, fields
    assert len(fields) >= 4, fields  # and prompt/messages exclusivity


def test_throttling_is_resource_exhausted_with_retry_info(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(
            TITAN, prompt="hi", additional_model_request_fields=simulate(fail_with="ThrottlingException")
        )
    error = caught.value
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.retry_delay is not None and error.retry_delay > timedelta(0)
    assert error.error_info is not None
    assert error.error_info.reason == "ThrottlingException"
    assert error.error_info.domain == "bedrock.amazonaws.com"
    assert error.error_info.metadata.get("request_id")
    assert error.field_violations == []


def test_deadline_exceeded(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(
            TITAN, prompt="hi", timeout=0.3, additional_model_request_fields=simulate(latency_ms=3000)
        )
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


# --- ListModels and GetModel ------------------------------------------------


def test_list_models_without_filters(client: Client) -> None:
    models = client.list_models()
    assert len(models) > 50
    ids = [m.model_id for m in models]
    assert len(ids) == len(set(ids))
    assert TITAN in ids


def test_list_models_filters(client: Client) -> None:
    models = client.list_models(provider="Amazon", output_modality="TEXT", inference_type="ON_DEMAND")
    assert TITAN in [m.model_id for m in models]
    for model in models:
        assert model.provider_name == "Amazon"
        assert "TEXT" in model.output_modalities
        assert "ON_DEMAND" in model.inference_types_supported
    streaming = client.list_models(streaming=True)
    assert streaming and all(m.response_streaming_supported is True for m in streaming)
    not_streaming = client.list_models(streaming=False)
    # Models that do not say whether they stream match `false`, never `true`.
    assert not_streaming and all(m.response_streaming_supported is not True for m in not_streaming)
    assert len(streaming) + len(not_streaming) == len(client.list_models())
    assert client.list_models(provider="No Such Provider") == []


def test_get_model(client: Client) -> None:
    model = client.get_model(TITAN)
    assert model.model_id == TITAN
    assert model.model_name == "Titan Text G1 - Express"
    assert model.provider_name == "Amazon"
    assert model.model_arn.endswith(TITAN)
    assert model.lifecycle_status


def test_get_model_not_found(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.get_model("no.such-model-v1")
    error = caught.value
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert "no.such-model-v1" in error.message
    assert error.resource_info is not None
    assert error.resource_info.resource_name == "no.such-model-v1"


# --- Health (grpcio-health-checking) and the raw stubs ----------------------


@pytest.mark.parametrize("service", ["", SERVICE_NAME])
def test_health_check_serving(gateway: Gateway, service: str) -> None:
    with grpc.insecure_channel(gateway.addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_watch_sends_the_current_status(gateway: Gateway) -> None:
    with grpc.insecure_channel(gateway.addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        first = next(watch)
        watch.cancel()
        assert first.status == health_pb2.HealthCheckResponse.SERVING


def test_health_through_the_client(client: Client) -> None:
    assert client.health() == "SERVING"
    assert client.health(SERVICE_NAME) == "SERVING"
    with pytest.raises(GatewayError) as caught:
        client.health("no.such.Service")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_generated_stubs_work_directly_and_carry_the_headers(gateway: Gateway) -> None:
    with grpc.insecure_channel(gateway.addr) as channel:
        stub = gateway_pb2_grpc.TextGenerationServiceStub(channel)
        response, call = stub.Generate.with_call(
            gateway_pb2.GenerateRequest(
                model_id=TITAN,
                prompt=POEM,
                parameters=gateway_pb2.GenerationParameters(temperature=0, max_tokens=10),
            ),
            timeout=10,
        )
        headers = dict(call.initial_metadata())
        assert response.stop_reason == gateway_pb2.STOP_REASON_MAX_TOKENS
        assert headers["x-bedrock-gateway-backend"] == "simulated"
        assert headers["x-amzn-requestid"] == response.request_id
