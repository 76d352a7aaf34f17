import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';

interface ToolCallParts {
  id?: string;
  type?: string;
  name?: string;
  arguments: string;
  custom?: { name?: string; input: string };
}

interface ChoiceParts {
  content: string[] | null;
  refusal: string[] | null;
  finishReason: ChatCompletionChunk.Choice['finish_reason'] | undefined;
  toolCalls: Map<number, ToolCallParts>;
  functionCall?: { name?: string; arguments: string };
}

/**
 * Folds streamed `chat.completion.chunk`s into the ChatCompletion the same request would have returned without
 * `stream: true`: content, refusal, tool calls and the legacy function_call are concatenated per choice index,
 * the last finish_reason and usage (sent on the final chunk with `stream_options.include_usage`) are kept.
 * Not reconstructed: logprobs, audio, and any provider-specific delta fields.
 */
export class ChunkAccumulator {
  id: string | undefined;
  private created: number | undefined;
  private model: string | undefined;
  private systemFingerprint: string | undefined;
  private serviceTier: ChatCompletionChunk['service_tier'] | undefined;
  private usage: ChatCompletionChunk['usage'] | undefined;
  private readonly choices = new Map<number, ChoiceParts>();

  add(chunk: ChatCompletionChunk): void {
    if (!chunk || typeof chunk !== 'object') return;
    if (typeof chunk.id === 'string' && chunk.id) this.id ??= chunk.id;
    if (typeof chunk.created === 'number') this.created ??= chunk.created;
    if (typeof chunk.model === 'string' && chunk.model) this.model ??= chunk.model;
    if (chunk.system_fingerprint) this.systemFingerprint = chunk.system_fingerprint;
    if (chunk.service_tier) this.serviceTier = chunk.service_tier;
    if (chunk.usage) this.usage = chunk.usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const c of chunk.choices) {
      const index = typeof c.index === 'number' ? c.index : 0;
      let parts = this.choices.get(index);
      if (!parts) {
        parts = { content: null, refusal: null, finishReason: undefined, toolCalls: new Map() };
        this.choices.set(index, parts);
      }
      const d = c.delta ?? {};
      if (typeof d.content === 'string') (parts.content ??= []).push(d.content);
      if (typeof d.refusal === 'string') (parts.refusal ??= []).push(d.refusal);
      if (d.function_call) {
        const fc = (parts.functionCall ??= { arguments: '' });
        if (d.function_call.name) fc.name = (fc.name ?? '') + d.function_call.name;
        if (d.function_call.arguments) fc.arguments += d.function_call.arguments;
      }
      for (const tc of d.tool_calls ?? []) {
        const i = typeof tc.index === 'number' ? tc.index : parts.toolCalls.size;
        let call = parts.toolCalls.get(i);
        if (!call) {
          call = { arguments: '' };
          parts.toolCalls.set(i, call);
        }
        if (tc.id) call.id = tc.id;
        if (tc.type) call.type = tc.type;
        if (tc.function?.name) call.name = (call.name ?? '') + tc.function.name;
        if (tc.function?.arguments) call.arguments += tc.function.arguments;
        if (tc.custom) {
          const custom = (call.custom ??= { input: '' });
          if (tc.custom.name) custom.name = (custom.name ?? '') + tc.custom.name;
          if (tc.custom.input) custom.input += tc.custom.input;
        }
      }
      if (c.finish_reason) parts.finishReason = c.finish_reason;
    }
  }

  get choiceCount(): number {
    return this.choices.size;
  }

  /** True when every choice seen so far has a finish_reason: the answer is complete even if [DONE] was not read. */
  get finished(): boolean {
    if (this.choices.size === 0) return false;
    for (const c of this.choices.values()) if (!c.finishReason) return false;
    return true;
  }

  build(): ChatCompletion {
    const choices = [...this.choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, p]) => {
        const toolCalls = [...p.toolCalls.entries()]
          .sort(([a], [b]) => a - b)
          .map(([, t]) =>
            t.custom || t.type === 'custom'
              ? { id: t.id ?? '', type: 'custom' as const, custom: { name: t.custom?.name ?? '', input: t.custom?.input ?? '' } }
              : { id: t.id ?? '', type: 'function' as const, function: { name: t.name ?? '', arguments: t.arguments } },
          );
        const message: ChatCompletion.Choice['message'] = {
          role: 'assistant',
          content: p.content ? p.content.join('') : null,
          refusal: p.refusal ? p.refusal.join('') : null,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
          ...(p.functionCall ? { function_call: { name: p.functionCall.name ?? '', arguments: p.functionCall.arguments } } : {}),
        };
        return {
          index,
          message,
          // A stream cut short has no finish_reason; null says so rather than pretending it stopped normally.
          finish_reason: (p.finishReason ?? null) as ChatCompletion.Choice['finish_reason'],
          logprobs: null,
        };
      });
    return {
      id: this.id ?? '',
      object: 'chat.completion',
      created: this.created ?? Math.floor(Date.now() / 1000),
      model: this.model ?? '',
      choices,
      ...(this.usage ? { usage: this.usage } : {}),
      ...(this.systemFingerprint ? { system_fingerprint: this.systemFingerprint } : {}),
      ...(this.serviceTier ? { service_tier: this.serviceTier } : {}),
    };
  }
}

/**
 * Makes `stream` report its chunks to `acc` as the caller consumes them, then call `onEnd(true)` once when the stream
 * is read to its end (or `onEnd(false)` if it is abandoned or fails). The caller gets the very same Stream object back.
 *
 * openai v7's `Stream` reads its chunks through an `iterator` factory that `[Symbol.asyncIterator]`, `tee()` and
 * `toReadableStream()` all go through, so wrapping that factory covers every way of consuming the stream. `iterator` is
 * declared `private` in the typings (a TypeScript-only restriction), which is why it is reached through a cast; if a
 * future release drops it, we fall back to wrapping `[Symbol.asyncIterator]` (then `tee()` would bypass logging).
 */
export function tapStream<S extends AsyncIterable<ChatCompletionChunk>>(stream: S, acc: ChunkAccumulator, onEnd: (complete: boolean) => void): S {
  let ended = false;
  const end = (complete: boolean) => {
    if (ended) return;
    ended = true;
    onEnd(complete);
  };
  const tap = (it: AsyncIterator<ChatCompletionChunk>): AsyncIterator<ChatCompletionChunk> => ({
    async next(...args: [] | [undefined]) {
      let r: IteratorResult<ChatCompletionChunk>;
      try {
        r = await it.next(...args);
      } catch (err) {
        end(false);
        throw err;
      }
      if (r.done) end(true);
      else {
        try {
          acc.add(r.value);
        } catch {
          /* a malformed chunk must never break the caller's stream; the log is then best-effort */
        }
      }
      return r;
    },
    async return(value?: unknown) {
      // A consumer that stops after every choice's finish_reason (before [DONE]) still read the whole answer.
      end(acc.finished);
      return it.return ? it.return(value) : { done: true, value: undefined };
    },
    async throw(err?: unknown) {
      end(false);
      if (it.throw) return it.throw(err);
      throw err;
    },
  });

  const internal = stream as unknown as { iterator?: unknown };
  if (typeof internal.iterator === 'function') {
    const original = (internal.iterator as () => AsyncIterator<ChatCompletionChunk>).bind(stream);
    internal.iterator = () => tap(original());
  } else {
    const original = stream[Symbol.asyncIterator].bind(stream);
    Object.defineProperty(stream, Symbol.asyncIterator, { value: () => tap(original()), configurable: true, writable: true });
  }
  return stream;
}
