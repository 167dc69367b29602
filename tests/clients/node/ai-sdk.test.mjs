// The Vercel AI SDK (`ai`) with its OpenAI, Google and Anthropic providers, each pointed at
// the gateway as the provider's documentation says: createOpenAI({ baseURL: '<gw>/v1' }) with
// `.chat()` (the documented factory for endpoints that serve Chat Completions) and with
// `.responses()` (its Responses API model, which validates every event against its schema),
// createGoogleGenerativeAI({ baseURL: '<gw>/v1beta' }), createAnthropic({ baseURL: '<gw>/v1' }).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { API_KEY, CLIENT_TIMEOUT_MS, prompt, startGateway } from './harness.mjs';

const MODEL = 'gemini-2.5-flash';
let gw;
before(async () => { gw = await startGateway('ai-sdk'); });
after(async () => { await gw?.stop(); });

const providers = {
  openai: () => createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: API_KEY }).chat(MODEL),
  'openai (responses)': () => createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: API_KEY }).responses(MODEL),
  google: () => createGoogleGenerativeAI({ baseURL: `${gw.url}/v1beta`, apiKey: API_KEY })(MODEL),
  anthropic: () => createAnthropic({ baseURL: `${gw.url}/v1`, apiKey: API_KEY })(MODEL),
};

for (const [name, model] of Object.entries(providers)) {
  describe(`@ai-sdk/${name}`, () => {
    test('generateText', { timeout: CLIENT_TIMEOUT_MS }, async () => {
      const { marker, text } = prompt(`ai-${name.replace(/\W+/g, '-')}`);
      const r = await generateText({ model: model(), prompt: text, maxOutputTokens: 1024, maxRetries: 0 });
      assert.equal(r.text.trim(), `Echo: ${text}`);
      assert.ok(r.text.includes(marker));
      assert.equal(r.finishReason, 'stop');
      assert.ok(r.usage.outputTokens > 0, JSON.stringify(r.usage));
    });

    test('streamText', { timeout: CLIENT_TIMEOUT_MS }, async () => {
      const { text } = prompt(`ai-${name.replace(/\W+/g, '-')}-stream`);
      const errors = [];
      const r = streamText({
        model: model(), prompt: text, maxOutputTokens: 1024, maxRetries: 0, onError: ({ error }) => errors.push(error),
      });
      let answer = '';
      for await (const delta of r.textStream) answer += delta;
      assert.deepEqual(errors, []);
      assert.equal(answer.trim(), `Echo: ${text}`);
      assert.equal(await r.finishReason, 'stop');
    });
  });
}
