"""The official `anthropic` SDK against gcli2api's Anthropic Messages surface (backed by the simulator)."""
import anthropic
import pytest
from conftest import API_KEY

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def client(gateway):
    return anthropic.Anthropic(base_url=gateway, api_key=API_KEY, max_retries=0, timeout=60)


def test_messages_create(client):
    r = client.messages.create(
        model="gemini-2.5-flash",
        max_tokens=512,
        system="You are terse.",
        messages=[{"role": "user", "content": "say hello to the anthropic tests"}],
    )
    assert r.type == "message"
    assert r.role == "assistant"
    assert r.id.startswith("msg_")
    texts = [b.text for b in r.content if b.type == "text"]
    assert texts and "say hello to the anthropic tests" in texts[0]
    assert r.stop_reason == "end_turn"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


def test_thinking_blocks(client):
    r = client.messages.create(
        model="gemini-2.5-flash",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think about this"}],
    )
    kinds = [b.type for b in r.content]
    assert kinds == ["thinking", "text"], kinds
    assert r.content[0].thinking
    assert "think about this" in r.content[1].text


def test_streaming_text(client):
    with client.messages.stream(
        model="gemini-2.5-flash",
        max_tokens=512,
        messages=[{"role": "user", "content": "stream me a fairly long answer please"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "stream me a fairly long answer please" in text
    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_tool_round_trip(client):
    messages = [{"role": "user", "content": "call get_weather for Paris"}]
    r = client.messages.create(
        model="gemini-3-flash-preview", max_tokens=1024, tools=[WEATHER_TOOL], messages=messages
    )
    assert r.stop_reason == "tool_use"
    call = next(b for b in r.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"city": "city-value"}
    # The SDK's own content objects are sent back as they are, signature included.
    messages.append({"role": "assistant", "content": r.content})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "21C and sunny"}]}
    )
    r = client.messages.create(
        model="gemini-3-flash-preview", max_tokens=1024, tools=[WEATHER_TOOL], messages=messages
    )
    text = "".join(b.text for b in r.content if b.type == "text")
    assert "Result of get_weather" in text and "21C and sunny" in text
    assert r.stop_reason == "end_turn"


def test_streamed_tool_use(client):
    with client.messages.stream(
        model="gemini-2.5-flash",
        max_tokens=1024,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": 'call:get_weather{"city":"Oslo"}'}],
    ) as stream:
        final = stream.get_final_message()
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.input == {"city": "Oslo"}
    assert final.stop_reason == "tool_use"


def test_count_tokens(client):
    r = client.messages.count_tokens(
        model="gemini-2.5-flash",
        system="sys",
        messages=[{"role": "user", "content": "count these words please"}],
    )
    assert r.input_tokens == 7


def test_model_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert "gemini-2.5-pro" in ids
    assert len(ids) == len(set(ids))
    page = client.models.list(limit=5)
    assert len(page.data) == 5
    assert page.has_more
    assert len(list(client.models.list(limit=7))) == len(ids), "auto-paging covers the list"
    m = client.models.retrieve("gemini-2.5-flash")
    assert m.id == "gemini-2.5-flash"
    assert m.type == "model"
    assert m.display_name
    assert m.created_at.year >= 2023
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-no-such-model")


def test_auth_error(gateway):
    bad = anthropic.Anthropic(base_url=gateway, api_key="wrong-key", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as e:
        bad.messages.create(
            model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == 403
    assert e.value.body["error"]["type"] == "authentication_error"


def test_bad_request_error(client):
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(
            model="gemini-2.5-flash",
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "http://169.254.169.254/x.png"}}]}],
        )
    # The cloud metadata address is never fetched from.
    assert "link-local address" in e.value.body["error"]["message"]
    assert "base64" in e.value.body["error"]["message"]
