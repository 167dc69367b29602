"""The official `openai` SDK's Responses API (`client.responses`) against gcli2api."""
import json

import openai
import pytest
from conftest import API_KEY

MODEL = "gemini-2.5-flash"

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway + "/v1", api_key=API_KEY, max_retries=0, timeout=60)


def test_create_non_stream(client):
    r = client.responses.create(model=MODEL, input="hello from the python sdk", instructions="Be brief.")
    assert r.object == "response"
    assert r.status == "completed"
    assert r.output_text == "Echo: hello from the python sdk"
    assert r.output[0].type == "message"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_create_stream(client):
    stream = client.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "stream me a longer answer please"}]}],
        stream=True,
    )
    types, text, final = [], "", None
    for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        if event.type == "response.completed":
            final = event.response
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.output_item.added" in types and "response.output_item.done" in types
    assert text == "Echo: stream me a longer answer please"
    assert final.output_text == text
    assert final.usage.output_tokens > 0


def test_stream_helper_accumulates(client):
    with client.responses.stream(model=MODEL, input="through the stream helper") as s:
        for _ in s:
            pass
        final = s.get_final_response()
    assert final.output_text == "Echo: through the stream helper"


def test_function_tool_loop(client):
    first = client.responses.create(
        model="gemini-3-flash-preview",
        input="call:get_weather please",
        tools=[WEATHER],
        include=["reasoning.encrypted_content"],
    )
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "city-value"}
    # Continue from the stored response with only the tool's result.
    second = client.responses.create(
        model="gemini-3-flash-preview",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": json.dumps({"temp": 21})}],
        tools=[WEATHER],
    )
    assert second.output_text == 'Result of get_weather: {"temp":21}'
    # The stateless way: send everything back, reasoning items included.
    third = client.responses.create(
        model="gemini-3-flash-preview",
        input=[{"role": "user", "content": "call:get_weather please"}]
        + [o.model_dump(exclude_none=True) for o in first.output]
        + [{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=[WEATHER],
        store=False,
    )
    assert third.output_text == 'Result of get_weather: {"result":"sunny"}'


def test_json_schema(client):
    schema = {
        "type": "object",
        "properties": {"echo": {"type": "string"}, "media": {"type": "array", "items": {"type": "string"}}},
        "required": ["echo", "media"],
        "additionalProperties": False,
    }
    r = client.responses.create(
        model=MODEL,
        input="structured please",
        text={"format": {"type": "json_schema", "name": "echo", "schema": schema, "strict": True}},
    )
    assert json.loads(r.output_text) == {"echo": "structured please", "media": []}


def test_previous_response_id_retrieve_and_delete(client):
    first = client.responses.create(model=MODEL, input="remember the word kiwi")
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input="what was it?")
    assert second.previous_response_id == first.id
    assert second.output_text == "Echo: what was it?"
    got = client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=MODEL, previous_response_id=first.id, input="again")
    assert e.value.body["param"] == "previous_response_id"


def test_unservable_requests_are_named(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=MODEL, input="x", background=True)
    assert e.value.body["param"] == "background"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(
            model=MODEL, input="x", tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}]
        )
    assert e.value.body["param"] == "tools[0].type"
