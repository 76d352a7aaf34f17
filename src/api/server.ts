import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { InputError } from '../errors';
import { tenantForKey } from '../tenants/store';
import { TenantKeyCache, authHook } from './auth';
import { feedbackRoutes } from './routes-feedback';
import { bareMessage, interactionRoutes } from './routes-interactions';
import { reviewPageRoute, reviewRoutes } from './routes-review';
import { errorSchema } from './schemas';

export interface ApiDeps {
  db: Db;
  api: Config['api'];
  logLevel?: string;
  /** Override the API-key cache (tests); defaults to a 60 s cache over tenantForKey. */
  keyCache?: TenantKeyCache;
  /** Where log lines go (default stdout). */
  logStream?: { write(line: string): void };
  /**
   * Temporal, for review decisions (each goes to the candidate's review workflow). Without it the review routes still
   * list and show candidates, and a decision answers 503.
   */
  temporal?: { client: Client; taskQueue: string };
}

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
  app.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply, api));
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody('(path)', `no route ${request.method} ${request.url.split('?')[0]}; see GET /openapi.json`));
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Distillery API',
        version: '1',
        description:
          'Log a teacher LLM\'s chat completions and whether each was accepted, and review the templates graduated from ' +
          'frequent queries. Authenticate with ' +
          '`Authorization: Bearer <api key>`; a key only ever reads or writes its own tenant\'s data. Bodies are JSON ' +
          `(application/json, UTF-8, at most ${api.bodyLimitBytes} bytes). Every error is \`{ "error": { "field", "message" } }\`.`,
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'A tenant API key (dk_…).' } },
        schemas: { Error: errorSchema as unknown as Record<string, unknown> },
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
    { schema: { tags: ['meta'], summary: 'Liveness', security: [], response: { 200: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean', const: true } } } } } },
    async () => ({ ok: true }),
  );
  app.get(
    '/openapi.json',
    { schema: { tags: ['meta'], summary: 'This OpenAPI document', security: [], response: { 200: { type: 'object', additionalProperties: true } } } },
    async () => app.swagger(),
  );
  reviewPageRoute(app);

  const cache = deps.keyCache ?? new TenantKeyCache((key) => tenantForKey(db, key), { ttlMs: 60_000 });
  await app.register(async (v1) => {
    v1.addHook('onRequest', authHook(cache));
    interactionRoutes(v1, { db, api });
    feedbackRoutes(v1, { db, api });
    reviewRoutes(v1, { db, temporal: deps.temporal });
  });

  await app.ready();
  return app;
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
const SUSPECT_PROTO = /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR = /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

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
    if (error.status === 401) reply.header('www-authenticate', 'Bearer');
    reply.code(error.status).send(errorBody(error.field, bareMessage(error)));
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
  request.log.error({ err: error, method: request.method, url: request.url }, 'request failed');
  reply.code(500).send(errorBody('(server)', 'internal error'));
}
