import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config';
import { InputError, UnavailableError } from '../errors';
import { TenantKeyCache, authHook } from '../api/auth';
import { httpStatusOf } from '../api/errors';
import { feedbackRoutes } from '../api/routes-feedback';
import { identityForKey } from '../keys/store';
import { type ChatCompletion, StreamAssembler, answerText, completionId, estimateTokens, localCompletion, localStream, sse } from './completion';
import { contentText, ladderEligibility } from './eligibility';
import { toolCallCompletion, toolCallId, toolCallStream, toolLoopOf, toolLoopTurn } from './tool-loop';
import type { ScriptAction } from '../serving/toolscript';
import { normalizeQuery } from '../serving/normalize';
import { namedSlots } from '../serving/slots';
import type { Decision, Gateway } from './gateway';
import type { ModelTier } from './upstream';

/**
 * The gateway's HTTP face, OpenAI-compatible: POST /v1/chat/completions (JSON or SSE), GET /v1/models, POST
 * /v1/feedback (the API's own route), GET /metrics (Prometheus), GET /healthz. Authentication is the API's: a tenant
 * key (`Authorization: Bearer dk_…`, scope `ingest`) — the tenant decides which manifest serves.
 *
 * Response headers: `x-distillery-tier` (what served), `x-distillery-route` (the route, or `fallback`),
 * `x-distillery-manifest-version`, `x-distillery-reason`, and for teacher answers `x-distillery-interaction-key`
 * (the `interaction_key` for POST /v1/feedback). Request header `x-distillery-teacher: true` forces the teacher.
 */

export const FORCE_HEADER = 'x-distillery-teacher';

export interface GatewayServerOptions {
  gateway: Gateway;
  api: Config['api'];
  keyCache?: TenantKeyCache;
  /** Per key: requests per minute and tokens (prompt + completion, upstream-counted) per UTC day; 0 = unlimited. */
  limits: { requestsPerMinute: number; tokensPerDay: number };
  logLevel?: string;
}

interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null; field: string };
}

function openaiError(status: number, field: string, message: string): OpenAIError {
  const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error';
  return { error: { message, type, param: field, code: null, field } };
}

export class RateLimitError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Fixed windows per key: requests this minute, tokens today. */
export class KeyLimits {
  private readonly minute = new Map<number, { w: number; n: number }>();
  private readonly day = new Map<number, { d: number; tokens: number }>();
  constructor(private readonly l: GatewayServerOptions['limits']) {}

  admit(keyId: number): void {
    const now = Date.now();
    if (this.l.requestsPerMinute > 0) {
      const w = Math.floor(now / 60_000);
      const m = this.minute.get(keyId);
      if (!m || m.w !== w) this.minute.set(keyId, { w, n: 1 });
      else if (++m.n > this.l.requestsPerMinute)
        throw new RateLimitError('(rate)', `more than ${this.l.requestsPerMinute} requests a minute for this key: retry in the next minute`);
    }
    if (this.l.tokensPerDay > 0) {
      const d = this.day.get(keyId);
      if (d && d.d === Math.floor(now / 86_400_000) && d.tokens >= this.l.tokensPerDay)
        throw new RateLimitError('(budget)', `the key's budget of ${this.l.tokensPerDay} tokens a day is spent: it renews at 00:00 UTC`);
    }
  }

  spend(keyId: number, tokens: number): void {
    if (this.l.tokensPerDay <= 0 || tokens <= 0) return;
    const today = Math.floor(Date.now() / 86_400_000);
    const d = this.day.get(keyId);
    if (!d || d.d !== today) this.day.set(keyId, { d: today, tokens });
    else d.tokens += tokens;
  }
}

function headersOf(d: Decision, servedTier: string): Record<string, string> {
  return {
    'x-distillery-tier': servedTier,
    'x-distillery-route': d.routeId ?? 'fallback',
    'x-distillery-manifest-version': d.manifestVersion === null ? 'none' : String(d.manifestVersion),
    // Header values must be Latin-1: reasons are ours, but keep them to printable ASCII anyway.
    'x-distillery-reason': d.reason.replace(/[^\x20-\x7e]/g, '?'),
  };
}

function checkBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InputError('(body)', 'must be a JSON object (a chat completion request)');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || !b.model) throw new InputError('model', 'required: the model to ask (the teacher, when the frontier serves)');
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw new InputError('messages', 'required: a non-empty array of chat messages');
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (typeof m !== 'object' || m === null || typeof (m as { role?: unknown }).role !== 'string')
      throw new InputError(`messages[${i}].role`, 'each message needs a role');
  }
  if (b.stream !== undefined && typeof b.stream !== 'boolean') throw new InputError('stream', 'must be true or false');
  return b;
}

export async function buildGatewayServer(o: GatewayServerOptions): Promise<FastifyInstance> {
  const g = o.gateway;
  const app = Fastify({
    logger: { level: o.logLevel ?? 'warn' },
    bodyLimit: o.api.bodyLimitBytes,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  // Bodies are checked by our own code (as in the API), never by the schemas the shared routes carry for OpenAPI.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  const limits = new KeyLimits(o.limits);

  app.setErrorHandler((error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof RateLimitError)
      return reply
        .code(429)
        .header('retry-after', '60')
        .send(openaiError(429, error.field, error.message));
    if (error instanceof InputError) {
      const status = httpStatusOf(error);
      if (status === 401) reply.header('www-authenticate', 'Bearer');
      return reply.code(status).send(openaiError(status, error.field, error.reason));
    }
    const status = typeof (error as FastifyError).statusCode === 'number' ? (error as FastifyError).statusCode! : 500;
    if (status < 500) return reply.code(status).send(openaiError(status, '(request)', error.message));
    request.log.error({ err: error.message }, 'gateway request failed');
    return reply.code(502).send(openaiError(502, '(upstream)', `no tier could answer: ${error.message}`));
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(g.metrics.text()));

  const cache = o.keyCache ?? new TenantKeyCache((key) => identityForKey(g.opts.db, key), { ttlMs: 60_000 });
  await app.register(async (v1) => {
    v1.addHook('onRequest', authHook(cache));
    // Feedback may name an answer whose interaction is still being written (it is logged after the answer went out).
    v1.addHook('preHandler', async (request) => {
      if (request.routeOptions.url === '/v1/feedback') await g.settleLogs();
    });
    feedbackRoutes(v1, { db: g.opts.db, api: o.api });

    v1.get('/v1/models', { config: { scope: 'ingest' } }, async (request) => {
      const m = await g.manifest(request.tenantId);
      const created = m ? Math.floor(Date.parse(m.createdAt) / 1000) : 0;
      const ids = new Set<string>();
      if (m) {
        ids.add(m.models.frontier);
        ids.add(m.models.cheap);
        for (const r of m.routes) if (r.tier === 'adapter') ids.add((r.target as { adapter: string }).adapter);
      }
      return { object: 'list', data: [...ids].map((id) => ({ id, object: 'model', created, owned_by: 'distillery' })) };
    });

    v1.post('/v1/chat/completions', { config: { scope: 'ingest' } }, async (request, reply) => {
      const t0 = performance.now();
      limits.admit(request.apiKey.keyId);
      const body = checkBody(request.body);
      const tenant = request.tenantId;
      const forced = String(request.headers[FORCE_HEADER] ?? '').toLowerCase() === 'true';
      // A request that offers tools may be a tool loop a script serves; any other goes through the ladder's rules.
      const loop = Array.isArray(body.tools) ? toolLoopOf(body, { allowSystem: g.opts.allowSystem }) : null;
      const el = loop ? (loop.ok ? { ok: true as const, query: loop.query } : loop) : ladderEligibility(body, { allowSystem: g.opts.allowSystem });
      const requestId = String(request.headers['x-request-id'] ?? randomUUID());
      let d = await g.decide(tenant, requestId, el.ok ? el.query : null, el.ok ? '' : el.reason, forced);
      const stream = body.stream === true;
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const promptText = (body.messages as Array<{ content?: unknown }>).map((m) => contentText(m.content) ?? '').join('\n');

      // A tool-script route answers only a tool loop that offers its tools, and no other cheaper tier takes tools.
      if (d.tier !== 'frontier' && (loop || d.resolution?.toolScript)) {
        const script = d.resolution?.toolScript?.toolScript;
        const turn: ScriptAction =
          script && loop?.ok
            ? toolLoopTurn(script, { query: loop.query, slots: namedSlots(normalizeQuery(loop.query).slots) }, loop)
            : {
                kind: 'frontier',
                reason: script ? 'a tool-script route serves only requests that offer its tools' : `tools go to the frontier (a ${d.tier} route)`,
              };
        if (turn.kind === 'frontier') d = { ...d, tier: 'frontier', reason: turn.reason, shadow: false };
        else {
          const c =
            turn.kind === 'call'
              ? toolCallCompletion(completionId(), body.model as string, { id: toolCallId(el.ok ? el.query : '', turn.step), tool: turn.tool, args: turn.args })
              : localCompletion(completionId(), body.model as string, turn.answer);
          const headers = { ...headersOf(d, 'template'), 'x-distillery-script': turn.kind === 'call' ? `step ${turn.step}: ${turn.tool}` : 'answer' };
          if (stream) {
            reply.hijack();
            reply.raw.writeHead(200, { ...sseHeaders, ...headers });
            reply.raw.end(turn.kind === 'call' ? toolCallStream(c, includeUsage) : localStream(c, includeUsage));
          } else reply.headers(headers).send(c);
          g.metrics.request(tenant, 'template', 200, performance.now() - t0);
          // Each turn is a teacher call saved.
          const out = turn.kind === 'call' ? JSON.stringify(turn.args) : turn.answer;
          g.later('booking', () => g.book(tenant, d.routeId, 'template', estimateTokens(promptText), estimateTokens(out)));
          return reply;
        }
      }

      if (d.tier === 'template') {
        const c = localCompletion(completionId(), body.model as string, d.resolution!.answer!);
        if (stream) {
          reply.hijack();
          reply.raw.writeHead(200, { ...sseHeaders, ...headersOf(d, 'template') });
          reply.raw.end(localStream(c, includeUsage));
        } else reply.headers(headersOf(d, 'template')).send(c);
        const ms = performance.now() - t0;
        g.metrics.request(tenant, 'template', 200, ms);
        g.later('booking', () => g.book(tenant, d.routeId, 'template', estimateTokens(promptText), estimateTokens(d.resolution!.answer!)));
        if (d.shadow) g.later('shadow check', () => g.shadow(tenant, d, body, (el as { query: string }).query, d.resolution!.answer!));
        return reply;
      }

      const manifest = await g.manifest(tenant);
      const chain = g.upstreams.chain(d.tier as ModelTier);
      if (!chain.length) throw new UnavailableError('(upstream)', `no upstream configured for the ${d.tier} tier or above`);
      let lastErr: unknown;
      for (const tier of chain) {
        const upstreamBody = { ...body, model: g.modelFor(tier, d, body.model as string, manifest) };
        try {
          const served = stream
            ? await forwardStream(reply, g, tier, upstreamBody, { ...headersOf(d, tier), ...(tier !== d.tier ? { 'x-distillery-fallback-from': d.tier } : {}) })
            : await g.upstreams.complete(tier, upstreamBody);
          const ms = performance.now() - t0;
          const completion = served as ChatCompletion;
          const usage = completion.usage ?? null;
          const key = `response:${completion.id || `gw-${randomUUID()}`}`;
          if (!stream) {
            reply.headers(headersOf(d, tier));
            if (tier !== d.tier) reply.header('x-distillery-fallback-from', d.tier);
            if (tier === 'frontier') reply.header('x-distillery-interaction-key', key);
            reply.send(served);
          }
          g.metrics.request(tenant, tier, 200, ms);
          limits.spend(request.apiKey.keyId, (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
          g.later('booking', () =>
            g.book(
              tenant,
              d.routeId,
              tier,
              usage?.prompt_tokens ?? estimateTokens(promptText),
              usage?.completion_tokens ?? estimateTokens(answerText(completion)),
            ),
          );
          // Queued now, after the answer went out (normalised and written in a batch later), so feedback sent right
          // after the answer finds it.
          if (tier === 'frontier')
            g.logInteraction(
              tenant,
              { ...body, stream: undefined, stream_options: undefined },
              { ...completion, model: completion.model || (upstreamBody.model as string) },
              key,
              { tier, route: d.routeId, manifestVersion: d.manifestVersion, reason: d.reason },
              ms,
            ).catch(() => undefined); // the gateway logs what could not be written
          else if (d.shadow && tier === d.tier)
            g.later('shadow check', () => g.shadow(tenant, d, body, (el as { query: string }).query, answerText(completion)));
          return reply;
        } catch (err) {
          if (reply.raw.headersSent) return reply; // the stream broke midway: the caller saw the error event
          lastErr = err;
          request.log.warn({ tier, error: (err as Error).message }, 'upstream failed; trying the next tier up');
        }
      }
      g.metrics.request(tenant, d.tier, 502, performance.now() - t0);
      throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
    });
  });

  await app.ready();
  return app;
}

const sseHeaders = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

/**
 * Relays an upstream stream as SSE and returns the completion it amounted to. Throws before anything was written
 * when the upstream refuses (so the next tier can answer); a break midway ends the stream with an error event.
 */
async function forwardStream(
  reply: FastifyReply,
  g: Gateway,
  tier: ModelTier,
  body: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<ChatCompletion> {
  const upstream = await g.upstreams.stream(tier, body);
  const acc = new StreamAssembler();
  const iterator = upstream[Symbol.asyncIterator]();
  const first = await iterator.next(); // a failure here can still go to the next tier
  const key = (c: { id?: unknown }) => `response:${typeof c.id === 'string' && c.id ? c.id : 'unknown'}`;
  reply.hijack();
  const firstChunk = first.done ? {} : first.value;
  reply.raw.writeHead(200, { ...sseHeaders, ...headers, ...(tier === 'frontier' ? { 'x-distillery-interaction-key': key(firstChunk) } : {}) });
  try {
    if (!first.done) {
      acc.add(first.value);
      reply.raw.write(sse(first.value));
    }
    for (let n = await iterator.next(); !n.done; n = await iterator.next()) {
      acc.add(n.value);
      reply.raw.write(sse(n.value));
    }
    reply.raw.end('data: [DONE]\n\n');
  } catch (err) {
    reply.raw.end(sse({ error: { message: `upstream stream broke: ${(err as Error).message}`, type: 'api_error' } }));
    throw err;
  }
  return acc.completion();
}
