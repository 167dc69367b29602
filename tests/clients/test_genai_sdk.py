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


@pytest.fixture(scope="module", params=["v1beta", "v1"])
def any_version_client(gateway, request):
    return genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=gateway, api_version=request.param))


def test_model_list(any_version_client):
    names = [m.name for m in any_version_client.models.list()]
    assert "models/gemini-2.5-pro" in names
    assert any(n.startswith("models/假流式/") for n in names)


def test_model_list_pages(any_version_client):
    pager = any_version_client.models.list(config=types.ListModelsConfig(page_size=10))
    assert len(pager.page) == 10
    names = [m.name for m in pager]
    assert len(names) > 10, "the pager followed nextPageToken"
    assert len(set(names)) == len(names)


def test_model_get(any_version_client):
    m = any_version_client.models.get(model="gemini-2.5-flash")
    assert m.name == "models/gemini-2.5-flash"
    assert m.input_token_limit > 0
    assert "generateContent" in m.supported_actions
    with pytest.raises(genai.errors.ClientError) as e:
        any_version_client.models.get(model="gemini-no-such-model")
    assert e.value.code == 404
    assert e.value.status == "NOT_FOUND"


def test_unsupported_method_is_a_404_naming_it(any_version_client):
    # The SDK sends `:batchEmbedContents`, which this gateway does not serve yet.
    with pytest.raises(genai.errors.ClientError) as e:
        any_version_client.models.embed_content(model="gemini-2.5-flash", contents="x")
    assert e.value.code == 404
    assert "'batchEmbedContents'" in e.value.message


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
