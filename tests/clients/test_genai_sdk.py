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


def test_embed_content(any_version_client):
    # The SDK sends `:batchEmbedContents`, whatever the number of contents.
    r = any_version_client.models.embed_content(
        model="gemini-embedding-001",
        contents=["a text to embed", "another one"],
        config=types.EmbedContentConfig(output_dimensionality=8, task_type="RETRIEVAL_DOCUMENT", title="Docs"),
    )
    assert len(r.embeddings) == 2
    assert all(len(e.values) == 8 for e in r.embeddings)
    assert r.embeddings[0].values != r.embeddings[1].values
    again = any_version_client.models.embed_content(
        model="gemini-embedding-001",
        contents="another one",
        config=types.EmbedContentConfig(output_dimensionality=8, task_type="RETRIEVAL_DOCUMENT", title="Docs"),
    )
    assert again.embeddings[0].values == r.embeddings[1].values
    full = any_version_client.models.embed_content(model="gemini-embedding-2", contents="full size")
    assert len(full.embeddings[0].values) == 3072


def test_embed_content_of_150_contents(client):
    texts = [f"passage {i}" for i in range(150)]
    r = client.models.embed_content(
        model="gemini-embedding-001", contents=texts, config=types.EmbedContentConfig(output_dimensionality=4)
    )
    assert len(r.embeddings) == 150
    last = client.models.embed_content(
        model="gemini-embedding-001", contents=texts[149], config=types.EmbedContentConfig(output_dimensionality=4)
    )
    assert r.embeddings[149].values == last.embeddings[0].values


def test_embed_content_needs_an_embedding_model(client):
    with pytest.raises(genai.errors.ClientError) as e:
        client.models.embed_content(model="gemini-2.5-flash", contents="x")
    assert e.value.code == 400
    assert "not an embedding model" in e.value.message


def test_embed_content_without_a_credential_that_embeds(gateway_without_embeddings):
    c = genai.Client(
        api_key=API_KEY, http_options=types.HttpOptions(base_url=gateway_without_embeddings, api_version="v1beta")
    )
    with pytest.raises(genai.errors.ClientError) as e:
        c.models.embed_content(model="gemini-embedding-001", contents="x")
    assert e.value.code == 400
    assert e.value.status == "FAILED_PRECONDITION"
    assert "Gemini API keys and Vertex service accounts" in e.value.message


def test_unsupported_method_is_a_404_naming_it(gateway):
    # Google's asynchronous batch embedding is not served: a 404 that names the method.
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        gateway + "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        data=b"{}",
        headers={"x-goog-api-key": API_KEY, "content-type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 404
    assert "'asyncBatchEmbedContent'" in e.value.read().decode()


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
