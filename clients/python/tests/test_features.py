"""Reasoning, prompt caching, guardrails, service tiers, latency, request
metadata and CountTokens through the client, against the real gateway binary
(simulated backend). The expected answers are the simulated backend's
documented behaviour: reasoning blocks with a signature (redacted ones when
the user text holds ``[[redacted]]``), a prompt cache that a first call writes
and an identical second call reads, a guardrail that intervenes on
``[[guardrail]]``, the tier and latency echoed, and CountTokens equal to
Generate's input."""

from __future__ import annotations

import uuid
from typing import List

import grpc
import pytest

from bedrock_gateway_client import (
    CachePoint,
    Client,
    Completion,
    GatewayError,
    GenerateResult,
    GuardrailConfig,
    Message,
    Reasoning,
    ReasoningConfig,
    ReasoningDelta,
    TextDelta,
    Tool,
    ToolConfig,
    Usage,
    gateway_pb2,
)
from bedrock_gateway_client.client import _block, _from_block

#: Reasoning, caching (5 minutes and 1 hour), guardrails and CountTokens,
#: through its US cross-region inference profile.
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
#: Priority and flex tiers and latency-optimized inference.
NOVA_PRO = "amazon.nova-pro-v1:0"
#: A model without token counting.
TITAN = "amazon.titan-text-express-v1"

GUARDRAIL_TEXT = "Sorry, the model cannot answer this question."


def long_system() -> str:
    """A system prompt well over the shortest cacheable prefix (about 1,024
    tokens), unique per call so tests never share a cache entry."""
    return f"Session {uuid.uuid4()}. " + "You answer questions about the weather, briefly. " * 250


def input_of(usage: Usage) -> int:
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_write_input_tokens


def assert_total(usage: Usage) -> None:
    assert usage.total_tokens == input_of(usage) + usage.output_tokens, usage


# --- Prompt caching -----------------------------------------------------------


def test_a_second_identical_call_reads_the_cache(client: Client) -> None:
    system = long_system()

    def call() -> GenerateResult:
        return client.generate(
            SONNET, system=system, system_cache_point=CachePoint(), prompt="Is it sunny in Paris?", max_tokens=50
        )

    first = call()
    assert first.usage.cache_write_input_tokens > 1000, first.usage
    assert first.usage.cache_read_input_tokens == 0, first.usage
    assert_total(first.usage)
    second = call()
    assert second.usage.cache_read_input_tokens == first.usage.cache_write_input_tokens, second.usage
    assert second.usage.cache_write_input_tokens == 0, second.usage
    # The counts are disjoint: the uncached rest is the same both times.
    assert second.usage.input_tokens == first.usage.input_tokens
    assert_total(second.usage)

    # A stream's final event counts the same way.
    stream = client.stream(
        SONNET, system=system, system_cache_point=CachePoint(), prompt="Is it sunny in Paris?", max_tokens=50
    )
    assert "".join(stream)
    assert stream.completion is not None
    assert stream.completion.usage.cache_read_input_tokens == first.usage.cache_write_input_tokens
    assert stream.completion.usage.input_tokens == first.usage.input_tokens
    assert_total(stream.completion.usage)


def test_cache_points_after_tools_and_in_turns_with_a_one_hour_ttl(client: Client) -> None:
    tool = Tool(
        name="get_weather",
        description="The current weather in a city. " + f"({uuid.uuid4()}) " + "Use it for any city. " * 300,
        input_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    config = ToolConfig([tool], cache_point=CachePoint("1h"))
    turn = Message("user", blocks=["Is it sunny in Paris?", CachePoint("1h")])
    first = client.generate(SONNET, messages=[turn], tool_config=config, max_tokens=50)
    assert first.usage.cache_write_input_tokens > 1000, first.usage
    second = client.generate(SONNET, messages=[turn], tool_config=config, max_tokens=50)
    assert second.usage.cache_read_input_tokens > 1000, second.usage
    assert_total(second.usage)


def test_increasing_ttls_are_refused_before_the_call(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(
            SONNET,
            system="Be brief.",
            system_cache_point=CachePoint("5m"),
            messages=[Message("user", blocks=["Hi", CachePoint("1h")])],
        )
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field_violations, caught.value


# --- Reasoning ------------------------------------------------------------------


def test_reasoning_comes_first_with_its_signature_and_replays(client: Client) -> None:
    question = Message("user", "Which is larger, 9.11 or 9.9?")
    first = client.generate(SONNET, messages=[question], reasoning=ReasoningConfig(1024), max_tokens=2048)
    assert isinstance(first.content[0], Reasoning), first.content
    reasoning = first.reasoning[0]
    assert reasoning.text and reasoning.signature and not reasoning.redacted, reasoning
    assert first.text
    assert first.usage.output_tokens > 0

    # The reasoning goes back unchanged in the assistant turn.
    second = client.generate(
        SONNET,
        messages=[question, Message("assistant", blocks=first.content), Message("user", "Why?")],
        reasoning=ReasoningConfig(1024),
        max_tokens=2048,
    )
    assert second.text and second.reasoning


def test_redacted_reasoning_is_kept_and_replays(client: Client) -> None:
    question = Message("user", "Think it over [[redacted]] and answer.")
    first = client.generate(SONNET, messages=[question], reasoning=ReasoningConfig(1024), max_tokens=2048)
    redacted = [r for r in first.reasoning if r.redacted]
    assert redacted, first.content
    again = client.generate(
        SONNET,
        messages=[question, Message("assistant", blocks=first.content), Message("user", "Go on.")],
        reasoning=ReasoningConfig(1024),
        max_tokens=2048,
    )
    assert again.text


def test_streamed_reasoning_keeps_a_signature_that_arrives_alone(client: Client) -> None:
    question = Message("user", "Which is larger, 9.11 or 9.9?")
    stream = client.stream(SONNET, messages=[question], reasoning=ReasoningConfig(1024), max_tokens=2048)
    events = list(stream.events())
    deltas = [e for e in events if isinstance(e, ReasoningDelta)]
    assert deltas, events
    texts = [e for e in events if isinstance(e, TextDelta)]
    # Reasoning comes before the answer's text.
    assert events.index(deltas[-1]) < events.index(texts[0])
    assert any(d.signature and not d.text for d in deltas), deltas
    assert isinstance(events[-1], Completion)

    reasoning = stream.content[0]
    assert isinstance(reasoning, Reasoning), stream.content
    assert reasoning.text == "".join(d.text for d in deltas if d.index == deltas[0].index)
    assert reasoning.signature
    assert stream.content[1] == stream.text

    # What the stream assembled replays like a generated answer.
    again = client.generate(
        SONNET,
        messages=[question, Message("assistant", blocks=stream.content), Message("user", "Why?")],
        reasoning=ReasoningConfig(1024),
        max_tokens=2048,
    )
    assert again.text


def test_a_budget_below_1024_is_refused_naming_the_field(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(SONNET, prompt="Hi", reasoning=ReasoningConfig(500), max_tokens=2048)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f == "reasoning.budget_tokens" for f, _ in caught.value.field_violations), caught.value


# --- CountTokens ------------------------------------------------------------------


def test_count_tokens_equals_generates_input(client: Client) -> None:
    assert client.count_tokens(SONNET, prompt="Write a poem about sky") == input_of(
        client.generate(SONNET, prompt="Write a poem about sky", max_tokens=20).usage
    )
    # With a cached system prompt: input + cache read + cache write.
    system = long_system()
    counted = client.count_tokens(SONNET, system=system, prompt="Is it sunny?")
    for _ in range(2):
        usage = client.generate(
            SONNET, system=system, system_cache_point=CachePoint(), prompt="Is it sunny?", max_tokens=20
        ).usage
        assert counted == input_of(usage), usage
    # Messages and tools count too.
    config = ToolConfig([Tool("get_weather", {"type": "object"}, "The weather in a city.")])
    turns = [Message("user", "Hello"), Message("assistant", "Hi!"), Message("user", "Weather in Paris?")]
    assert client.count_tokens(SONNET, messages=turns, tool_config=config) == input_of(
        client.generate(SONNET, messages=turns, tool_config=config, max_tokens=20).usage
    )


def test_count_tokens_on_a_model_without_it_is_failed_precondition(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.count_tokens(TITAN, prompt="Hi")
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert TITAN in caught.value.message


# --- Guardrails ----------------------------------------------------------------------


def test_a_guardrail_intervenes_with_its_trace(client: Client) -> None:
    guardrail = GuardrailConfig("examplegr1", "1", trace="enabled")
    result = client.generate(SONNET, prompt="Tell me about [[guardrail]] things.", guardrail=guardrail)
    assert result.stop_reason == "STOP_REASON_GUARDRAIL_INTERVENED"
    assert result.text == GUARDRAIL_TEXT
    assert isinstance(result.guardrail_trace, dict) and result.guardrail_trace, result

    # Without the trigger word it does not intervene; without trace, no trace.
    calm = client.generate(SONNET, prompt="Tell me about clouds.", guardrail=GuardrailConfig("examplegr1", "1"))
    assert calm.stop_reason != "STOP_REASON_GUARDRAIL_INTERVENED"
    assert calm.guardrail_trace is None


def test_a_guardrail_intervenes_on_a_stream(client: Client) -> None:
    guardrail = GuardrailConfig("examplegr1", "DRAFT", trace="enabled", stream_mode="async")
    stream = client.stream(SONNET, prompt="Tell me about [[guardrail]] things.", guardrail=guardrail)
    text = "".join(stream)
    assert stream.completion is not None
    assert stream.completion.stop_reason == "STOP_REASON_GUARDRAIL_INTERVENED"
    assert GUARDRAIL_TEXT in text
    assert stream.completion.guardrail_trace


def test_a_stream_mode_on_generate_is_refused_before_the_call(client: Client) -> None:
    with pytest.raises(ValueError):
        client.generate(SONNET, prompt="Hi", guardrail=GuardrailConfig("g", "1", stream_mode="sync"))


# --- Service tiers, latency and request metadata ----------------------------------------


def test_tier_and_latency_are_served_and_reported(client: Client) -> None:
    result = client.generate(
        NOVA_PRO,
        prompt="Write a poem about sky",
        service_tier="flex",
        latency="optimized",
        request_metadata={"team": "search", "run": "7"},
        max_tokens=20,
    )
    assert (result.service_tier, result.latency) == ("flex", "optimized")
    stream = client.stream(NOVA_PRO, prompt="Write a poem about sky", service_tier="priority", max_tokens=20)
    list(stream)
    assert stream.completion is not None
    assert stream.completion.service_tier == "priority"
    plain = client.generate(NOVA_PRO, prompt="Hi", max_tokens=5)
    assert plain.guardrail_trace is None


def test_a_tier_the_model_lacks_is_refused(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(SONNET, prompt="Hi", service_tier="flex")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f == "service_tier" for f, _ in caught.value.field_violations), caught.value


def test_too_much_request_metadata_is_refused(client: Client) -> None:
    with pytest.raises(GatewayError) as caught:
        client.generate(NOVA_PRO, prompt="Hi", request_metadata={f"k{i}": "v" for i in range(17)})
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f.startswith("request_metadata") for f, _ in caught.value.field_violations), caught.value


# --- Conversions ------------------------------------------------------------------------


def test_new_blocks_convert_both_ways() -> None:
    blocks: List[object] = [
        Reasoning("Think.", "sig"),
        Reasoning(redacted=b"\x00\xff"),
        CachePoint(),
        CachePoint("1h"),
    ]
    for block in blocks:
        assert _from_block(_block(block)) == block  # type: ignore[arg-type]
    assert _block(CachePoint("5m")).cache_point.ttl == gateway_pb2.CACHE_TTL_5_MINUTES
    with pytest.raises(ValueError):
        _block(CachePoint("2h"))  # type: ignore[arg-type]


def test_unknown_option_values_are_refused_before_any_call(client: Client) -> None:
    with pytest.raises(ValueError):
        client.generate(NOVA_PRO, prompt="Hi", service_tier="cheap")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.generate(NOVA_PRO, prompt="Hi", latency="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.generate(NOVA_PRO, prompt="Hi", guardrail=GuardrailConfig("g", "1", trace="on"))  # type: ignore[arg-type]
