"""The official `openai` SDK against gcli2api's OpenAI surface (backed by the simulator)."""
import base64
import json

import openai
import pytest
from conftest import API_KEY


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway + "/v1", api_key=API_KEY, max_retries=0, timeout=60)


def test_model_list_has_variants(client):
    ids = {m.id for m in client.models.list()}
    assert "gemini-2.5-pro" in ids
    assert "gemini-2.5-flash-high-search" in ids
    assert "假流式/gemini-2.5-pro" in ids
    assert "流式抗截断/gemini-2.5-pro" in ids


def test_model_retrieve(client):
    m = client.models.retrieve("gemini-2.5-pro")
    assert m.id == "gemini-2.5-pro"
    assert m.object == "model"
    assert m.owned_by == "google"
    # The SDK percent-encodes the '/' of a feature prefix.
    assert client.models.retrieve("假流式/gemini-2.5-pro").id == "假流式/gemini-2.5-pro"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("gpt-no-such-model")
    assert e.value.body["code"] == "model_not_found"


def test_unknown_endpoint_is_an_openai_shaped_404(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="gemini-2.5-flash", prompt="x")
    assert "/v1/completions" in e.value.body["message"]


def _close(a, b):
    return len(a) == len(b) and all(abs(x - y) < 1e-6 for x, y in zip(a, b))


def test_embeddings(client):
    # The SDK asks for base64 unless told otherwise, and decodes it.
    r = client.embeddings.create(model="gemini-embedding-001", input=["first text", "second text"], dimensions=8)
    assert [d.index for d in r.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in r.data)
    assert r.model == "gemini-embedding-001"
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens
    floats = client.embeddings.create(
        model="gemini-embedding-001", input="second text", dimensions=8, encoding_format="float"
    )
    assert _close(floats.data[0].embedding, r.data[1].embedding)
    assert not _close(r.data[0].embedding, r.data[1].embedding)
    assert "gemini-embedding-001" in {m.id for m in client.models.list()}


def test_embeddings_of_150_inputs_come_back_in_order(client):
    texts = [f"document number {i}" for i in range(150)]
    r = client.embeddings.create(model="gemini-embedding-001", input=texts, dimensions=4)
    assert [d.index for d in r.data] == list(range(150))
    for i in (0, 99, 100, 149):
        one = client.embeddings.create(model="gemini-embedding-001", input=texts[i], dimensions=4)
        assert _close(r.data[i].embedding, one.data[0].embedding), i


def test_embeddings_need_an_embedding_model(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="gemini-2.5-flash", input="x")
    assert "not an embedding model" in e.value.body["message"]


def test_embeddings_without_a_credential_that_embeds(gateway_without_embeddings):
    c = openai.OpenAI(base_url=gateway_without_embeddings + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        c.embeddings.create(model="gemini-embedding-001", input="x")
    assert "Gemini API keys and Vertex service accounts" in e.value.body["message"]


def test_chat_non_stream(client):
    r = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "say hello to the tests"}]
    )
    msg = r.choices[0].message
    assert msg.role == "assistant"
    assert "say hello to the tests" in msg.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens >= r.usage.prompt_tokens + r.usage.completion_tokens - 1


def test_chat_stream_assembles_and_ends_once(client):
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "stream me a fairly long answer please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finishes, usage, roles = "", [], None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            text += c.delta.content or ""
            if c.finish_reason:
                finishes.append(c.finish_reason)
    assert "stream me a fairly long answer please" in text
    assert finishes == ["stop"], "finish_reason must appear exactly once, on the last chunk"
    assert roles[:1] == ["assistant"]
    assert usage is not None and usage.total_tokens > 0


def test_multi_turn(client):
    r = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "second question"},
        ],
    )
    assert "second question" in r.choices[0].message.content


def test_reasoning_content_for_thinking_model(client):
    r = client.chat.completions.create(
        model="gemini-2.5-pro-high", messages=[{"role": "user", "content": "think about this"}]
    )
    msg = r.choices[0].message
    reasoning = getattr(msg, "reasoning_content", None) or (msg.model_extra or {}).get("reasoning_content")
    assert reasoning, "thought parts must arrive as reasoning_content"
    assert reasoning not in (msg.content or "")
    assert r.usage.completion_tokens_details.reasoning_tokens > 0


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_tool_round_trip(client):
    messages = [{"role": "user", "content": "call get_weather for Paris"}]
    r = client.chat.completions.create(model="gemini-3-flash-preview", messages=messages, tools=TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny and 21C"})
    r2 = client.chat.completions.create(model="gemini-3-flash-preview", messages=messages, tools=TOOLS)
    assert "sunny and 21C" in r2.choices[0].message.content
    assert r2.choices[0].finish_reason == "stop"


def test_tool_call_streamed(client):
    stream = client.chat.completions.create(
        model="gemini-3-flash-preview",
        messages=[{"role": "user", "content": "call get_weather for Rome"}],
        tools=TOOLS,
        stream=True,
    )
    calls, finishes = {}, []
    for chunk in stream:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"name": "", "args": ""})
                if tc.function.name:
                    entry["name"] = tc.function.name
                entry["args"] += tc.function.arguments or ""
            if c.finish_reason:
                finishes.append(c.finish_reason)
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather"
    json.loads(calls[0]["args"])
    assert finishes == ["tool_calls"]


def test_json_mode(client):
    r = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "give me json"}],
        response_format={"type": "json_object"},
    )
    json.loads(r.choices[0].message.content)


def test_image_input(client):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    r = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe the picture"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            }
        ],
    )
    content = r.choices[0].message.content
    assert "describe the picture" in content
    assert "image/png" in content, "the simulator reports the inline data it received"


def test_remote_image_url_on_an_internal_address_is_refused_clearly(client):
    # Remote URLs are fetched, but never from loopback or private addresses unless allowed.
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/a.png"}}]}],
        )
    assert "loopback address" in str(e.value)
    assert "data:" in str(e.value)


def test_wrong_key_is_an_openai_shaped_auth_error(gateway):
    bad = openai.OpenAI(base_url=gateway + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as e:
        bad.models.list()
    assert e.value.body["type"] == "authentication_error"


def test_fake_streaming_prefix(client):
    stream = client.chat.completions.create(
        model="假流式/gemini-2.5-flash",
        messages=[{"role": "user", "content": "fake stream this answer"}],
        stream=True,
    )
    text = "".join(c.delta.content or "" for chunk in stream for c in chunk.choices)
    assert "fake stream this answer" in text
