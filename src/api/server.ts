import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { sql } from 'drizzle-orm';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { InputError } from '../errors';
import { httpStatusOf } from './errors';
import { identityForKey } from '../keys/store';
import { TenantKeyCache, authHook } from './auth';
import { classifyFailure, logSummary } from './failures';
import { feedbackRoutes } from './routes-feedback';
import { interactionRoutes } from './routes-interactions';
import { reviewPageRoute, reviewRoutes } from './routes-review';
import { savingsRoute } from './routes-savings';
import { whoamiRoute } from './routes-whoami';
import { errorSchema, jsonValueSchema, readinessSchema } from './schemas';

export interface ApiDeps {
  db: Db;
  api: Config['api'];
  logLevel?: string;
  /** Override the API-key cache (tests); defaults to a 60 s cache over identityForKey. */
  keyCache?: TenantKeyCache;
  /** Where log lines go (default stdout). */
  logStream?: { write(line: string): void };
  /**
   * Temporal, for review decisions (each goes to the candidate's review workflow). Without it the review routes still
   * list and show candidates, and a decision answers 503.
   */
  temporal?: { client: Client; taskQueue: string };
  /**
   * Further dependencies `/readyz` checks besides the database and Temporal (when given), by name: e.g.
   * `{ blob: () => blob.stat('readyz') }`. Each must settle (resolve = up) within READY_TIMEOUT_MS.
   */
  readiness?: Record<string, () => Promise<unknown>>;
}

/** How long a caller should wait before retrying a 503 (database or Temporal away). */
export const RETRY_AFTER_SECONDS = 5;
/** Bound on each /readyz probe: a load balancer polls it and must get an answer, not a hang. */
export const READY_TIMEOUT_MS = 2_000;

export interface ErrorBody {
  error: { field: string; message: string };
}

/**
 * The HTTP API, built and ready but not listening (the caller calls listen). Bodies are described with JSON schema
 * for the OpenAPI document only; the real validation is the zod-based code shared with the SDK and file import, so
 * messages are the same everywhere. Every error response is `{ error: { field, message } }`.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const { db, api } = deps;
  const app = Fastify({
    logger: { level: deps.logLevel ?? 'info', ...(deps.logStream ? { stream: deps.logStream } : {}) },
    bodyLimit: api.bodyLimitBytes,
    // Two log lines per request cost more than the insert at high rates; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });

  // Schemas document; they never validate (see above) nor filter responses.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  registerJsonParser(app);
  const routes = routeTable(app);
  const noRoute = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routes.methodsFor(path);
    // A known path with another method is a 405 naming the methods (RFC 9110), not a 404.
    if (allowed.length) {
      reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(errorBody('(method)', `${request.method} is not supported on ${path}: use ${allowed.join(' or ')}`));
      return;
    }
    reply.code(404).send(errorBody('(path)', `no route ${request.method} ${path}; see GET /openapi.json`));
  };
  app.setErrorHandler((error: FastifyError, request, reply) => (request.is404 ? noRoute(request, reply) : sendError(error, request, reply, api)));
  app.setNotFoundHandler(noRoute);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Distillery API',
        version: '1',
        description:
          "Log a teacher LLM's chat completions and whether each was accepted, and review the templates graduated from " +
          'frequent queries. Authenticate with ' +
          "`Authorization: Bearer <api key>`; a key only ever reads or writes its own tenant's data, and only what its " +
          'scopes allow: `ingest` (interactions, feedback), `review` (review candidates and decisions), `admin` (all); a ' +
          'route it lacks the scope for is a 403 naming the scope. Bodies are JSON ' +
          `(application/json, UTF-8, at most ${api.bodyLimitBytes} bytes). Every error is \`{ "error": { "field", "message" } }\`.`,
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'A tenant API key (dk_…).' } },
        schemas: { Error: errorSchema as unknown as Record<string, unknown>, JsonValue: jsonValueSchema as unknown as Record<string, unknown> },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'interactions', description: 'Teacher calls' },
        { name: 'feedback', description: 'Acceptance signals' },
        { name: 'review', description: 'Graduation candidates awaiting a reviewer (the page at GET /review uses these)' },
        { name: 'meta', description: 'Health and documentation' },
      ],
    },
  });

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['meta'],
        summary: 'Liveness',
        security: [],
        response: { 200: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean', const: true } } } },
      },
    },
    async () => ({ ok: true }),
  );
  const probes: Record<string, () => Promise<unknown>> = {
    database: () => db.execute(sql`select 1`),
    // getSystemInfo is the cheapest call every Temporal frontend answers; the deadline bounds the gRPC call itself.
    ...(deps.temporal
      ? {
          temporal: () => {
            const c = deps.temporal!.client.connection;
            return c.withDeadline(Date.now() + READY_TIMEOUT_MS, () => c.workflowService.getSystemInfo({}));
          },
        }
      : {}),
    ...deps.readiness,
  };
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['meta'],
        summary: 'Readiness: the database, Temporal (when configured) and further dependencies answer',
        description: `Each dependency is probed with a ${READY_TIMEOUT_MS} ms bound. 200 when all are up; 503 (with Retry-After) naming each one that is down. /healthz only says the process is up.`,
        security: [],
        response: {
          200: { ...readinessSchema, description: 'Every dependency answered.' },
          503: { ...readinessSchema, description: 'At least one dependency is down; `error.field` names the first.' },
        },
      },
    },
    async (_request, reply) => {
      const names = Object.keys(probes);
      const results = await Promise.all(names.map((n) => probe(probes[n]!)));
      const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
      const down = names.filter((n) => checks[n] !== 'ok');
      if (down.length === 0) return { ok: true, checks };
      reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS));
      return { ok: false, checks, error: { field: down[0]!, message: down.map((n) => `${n} ${checks[n]}`).join('; ') } };
    },
  );
  app.get(
    '/openapi.json',
    { schema: { tags: ['meta'], summary: 'This OpenAPI document', security: [], response: { 200: { type: 'object', additionalProperties: true } } } },
    async () => app.swagger(),
  );
  reviewPageRoute(app);

  const cache = deps.keyCache ?? new TenantKeyCache((key) => identityForKey(db, key), { ttlMs: 60_000 });
  await app.register(async (v1) => {
    v1.addHook('onRequest', authHook(cache));
    whoamiRoute(v1);
    interactionRoutes(v1, { db, api });
    feedbackRoutes(v1, { db, api });
    reviewRoutes(v1, { db, temporal: deps.temporal });
    savingsRoute(v1, { db });
  });

  await app.ready();
  return app;
}

/** Methods per route pattern, filled as routes register (fastify's router cannot be asked "which methods here?"). */
function routeTable(app: FastifyInstance): { methodsFor(path: string): string[] } {
  const table: Array<{ re: RegExp; methods: Set<string> }> = [];
  app.addHook('onRoute', (route) => {
    const pattern = '^' + route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+') + '/?$';
    let entry = table.find((e) => e.re.source === new RegExp(pattern).source);
    if (!entry) table.push((entry = { re: new RegExp(pattern), methods: new Set() }));
    for (const m of [route.method].flat()) entry.methods.add(m);
  });
  return {
    methodsFor: (path) => [...new Set(table.filter((e) => e.re.test(path)).flatMap((e) => [...e.methods]))].sort(),
  };
}

/** 'ok', or 'down: <short reason>' (no stack, no connection string). */
async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (e) {
    const f = classifyFailure(e);
    return `down: ${f.kind === 'internal' ? (logSummary(e).reason ?? 'error') : f.reason}`;
  } finally {
    clearTimeout(timer);
  }
}

function errorBody(field: string, message: string): ErrorBody {
  return { error: { field, message } };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Our own application/json parser: fastify's replaces invalid UTF-8 with U+FFFD silently and hides JSON.parse's
 * message. Also the only parser, so any other content type is a 415. Prototype-poisoning keys are refused as
 * fastify does by default.
 */
function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      done(new InputError('(body)', 'body is not valid UTF-8'), undefined);
      return;
    }
    if (text.trim() === '') {
      done(new InputError('(body)', 'empty body: send a JSON object'), undefined);
      return;
    }
    try {
      done(null, parseJson(text));
    } catch (e) {
      done(e instanceof InputError ? e : new InputError('(body)', `malformed JSON: ${(e as Error).message}`), undefined);
    }
  });
}

// From secure-json-parse: only bodies that might hold such keys pay for the slower checked parse.
const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

export function parseJson(text: string): unknown {
  if (!SUSPECT_PROTO.test(text) && !SUSPECT_CONSTRUCTOR.test(text)) return JSON.parse(text);
  return JSON.parse(text, function (this: unknown, key: string, value: unknown) {
    if (key === '__proto__') throw new InputError('(body)', 'the key "__proto__" is not allowed');
    if (key === 'constructor' && typeof value === 'object' && value !== null && Object.prototype.hasOwnProperty.call(value, 'prototype')) {
      throw new InputError('(body)', 'the key "constructor.prototype" is not allowed');
    }
    return value;
  });
}

function sendError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, api: Config['api']): void {
  if (error instanceof InputError) {
    const status = httpStatusOf(error);
    if (status === 401) reply.header('www-authenticate', 'Bearer');
    if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    reply.code(status).send(errorBody(error.field, error.reason));
    return;
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      reply
        .code(413)
        .send(
          errorBody(
            '(body)',
            `body is larger than the limit of ${api.bodyLimitBytes} bytes: split the records over several ` +
              `POST /v1/interactions/batch requests (at most ${api.batchMaxItems} items each, each under the limit)`,
          ),
        );
      return;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const ct = request.headers['content-type'];
      reply.code(415).send(errorBody('content-type', `${ct ? `unsupported content type "${ct}"` : 'missing content type'}: send the body as application/json`));
      return;
    }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      reply.code(400).send(errorBody('(body)', 'the body length does not match the Content-Length header'));
      return;
  }
  const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status >= 400 && status < 500) {
    reply.code(status).send(errorBody('(request)', error.message));
    return;
  }
  // Ids and sizes, never the body: a failed batch used to log its whole payload (and the SQL holding it).
  const context = {
    tenant: request.tenantId,
    method: request.method,
    route: request.routeOptions?.url ?? request.url.split('?')[0],
    bodyBytes: Number(request.headers['content-length'] ?? 0) || undefined,
  };
  const failure = classifyFailure(error);
  if (failure.kind === 'unavailable') {
    request.log.warn({ ...context, error: logSummary(error) }, 'request failed: dependency unavailable');
    reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .send(errorBody('(service)', `${failure.reason}: retry in ${RETRY_AFTER_SECONDS} s (writes are idempotent: resend the same request)`));
    return;
  }
  if (failure.kind === 'refused') {
    request.log.info({ ...context, error: logSummary(error) }, 'request refused by the database');
    reply.code(400).send(errorBody('(body)', `${failure.reason}: check the values' ranges and text`));
    return;
  }
  request.log.error({ ...context, error: logSummary(error) }, 'request failed');
  reply.code(500).send(errorBody('(server)', 'internal error'));
}
