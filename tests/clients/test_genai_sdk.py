"""The official `google-genai` SDK against gcli2api's Gemini-native surface."""
import pytest
from conftest import API_KEY
from google import genai
from google.genai import types


@pytest.fixture(scope="module")
def client(gateway):
    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=gateway, api_version="v1beta"))


def test_generate_content(client):
    r = client.models.generate_content(model="gemini-2.5-flash", contents="native hello there")
    assert "native hello there" in r.text
    assert r.usage_metadata.total_token_count > 0


def test_stream(client):
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="native streaming please go on"))
    assert len(chunks) >= 2
    text = "".join(c.text or "" for c in chunks)
    assert "native streaming please go on" in text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_system_instruction(client):
    r = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="with a system prompt",
        config=types.GenerateContentConfig(system_instruction="be brief"),
    )
    assert "with a system prompt" in r.text


def test_count_tokens(client):
    r = client.models.count_tokens(model="gemini-2.5-flash", contents="count these tokens please")
    assert r.total_tokens > 0


def test_model_list(client):
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-pro" in names
    assert any(n.startswith("models/假流式/") for n in names)


def test_thoughts_native(client):
    r = client.models.generate_content(
        model="gemini-2.5-pro",
        contents="native thinking",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True)),
    )
    parts = r.candidates[0].content.parts
    assert any(p.thought for p in parts)
    assert "native thinking" in r.text


def test_wrong_key_is_a_google_shaped_error(gateway):
    bad = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=gateway, api_version="v1beta"))
    with pytest.raises(genai.errors.ClientError) as e:
        bad.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert e.value.code == 403
    assert e.value.status == "PERMISSION_DENIED"
