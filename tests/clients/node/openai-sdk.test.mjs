// The `openai` Node SDK against the gateway's OpenAI surface: baseURL `<gateway>/v1`, the key
// as apiKey (sent as `Authorization: Bearer`), Chat Completions with and without streaming.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { API_KEY, CLIENT_TIMEOUT_MS, prompt, startGateway } from './harness.mjs';

const MODEL = 'gemini-2.5-flash';
let gw;
let client;
before(async () => {
  gw = await startGateway('openai-sdk');
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: CLIENT_TIMEOUT_MS });
});
after(async () => { await gw?.stop(); });

test('chat.completions.create', { timeout: CLIENT_TIMEOUT_MS }, async () => {
  const { marker, text } = prompt('openai');
  const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: text }] });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, `Echo: ${text}`);
  assert.ok(r.choices[0].message.content.includes(marker));
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0, JSON.stringify(r.usage));
});

test('chat.completions.create with stream: true', { timeout: CLIENT_TIMEOUT_MS }, async () => {
  const { text } = prompt('openai-stream');
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: text }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let answer = '';
  let chunks = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    chunks += 1;
    for (const c of chunk.choices) {
      answer += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  assert.equal(answer, `Echo: ${text}`);
  assert.ok(chunks > 1, `${chunks} chunk(s)`);
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens > 0, JSON.stringify(usage));
});

test('responses.create', { timeout: CLIENT_TIMEOUT_MS }, async () => {
  const { marker, text } = prompt('openai-responses');
  const r = await client.responses.create({ model: MODEL, input: text, instructions: 'Answer briefly.' });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, `Echo: ${text}`);
  assert.ok(r.output_text.includes(marker));
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0, JSON.stringify(r.usage));
  const again = await client.responses.retrieve(r.id);
  assert.equal(again.output_text, r.output_text);
});

test('responses.create with stream: true', { timeout: CLIENT_TIMEOUT_MS }, async () => {
  const { text } = prompt('openai-responses-stream');
  const stream = await client.responses.create({ model: MODEL, input: text, stream: true });
  let answer = '';
  const types = [];
  let completed = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') answer += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.equal(answer, `Echo: ${text}`);
  assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(completed.output_text ?? completed.output[0].content[0].text, `Echo: ${text}`);
});
