import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/client';
import { InputError } from '../errors';
import { savingsReport } from '../gateway/savings';
import { ISO_TIME_PATTERN } from '../interactions/record';
import { err } from './schemas';

const DAY_MS = 86_400_000;

/**
 * GET /v1/savings: what the gateway served for the key's tenant per route and tier, and the USD avoided against
 * all-frontier at the tier prices (the review page's savings section; `distillery savings` prints the same).
 */
export function savingsRoute(app: FastifyInstance, deps: { db: Db }): void {
  const row = {
    type: 'object',
    required: ['routeId', 'tier', 'requests', 'promptTokens', 'completionTokens', 'costUsd', 'frontierCostUsd', 'avoidedUsd'],
    properties: {
      routeId: { type: 'string', description: "'' for the fallback" },
      tier: { type: 'string', enum: ['template', 'adapter', 'cheap', 'frontier'] },
      requests: { type: 'integer' },
      promptTokens: { type: 'number' },
      completionTokens: { type: 'number' },
      costUsd: { type: 'number' },
      frontierCostUsd: { type: 'number' },
      avoidedUsd: { type: 'number' },
    },
  };
  app.get(
    '/v1/savings',
    {
      config: { scope: 'review' },
      schema: {
        tags: ['review'],
        summary: 'Gateway savings per route and tier over a period (default: the last 30 days)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', pattern: ISO_TIME_PATTERN, description: 'RFC 3339 time with offset, default 30 days before `to`' },
            to: { type: 'string', pattern: ISO_TIME_PATTERN, description: 'RFC 3339 time with offset, default now' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['tenant', 'from', 'to', 'rows', 'totals'],
            properties: {
              tenant: { type: 'string' },
              from: { type: 'string' },
              to: { type: 'string' },
              rows: { type: 'array', items: row },
              totals: { type: 'object', additionalProperties: true },
            },
          },
          400: err('`from` or `to` is not an RFC 3339 time (an empty window, `to` not after `from`, reports nothing).'),
          401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
          403: err('The key lacks the `review` scope.'),
        },
      },
    },
    async (request) => {
      const q = (request.query ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(q)) if (k !== 'from' && k !== 'to') throw new InputError(k, 'unknown parameter: use from and to');
      const time = (field: 'from' | 'to', dflt: Date) => {
        const v = q[field];
        if (v === undefined) return dflt;
        if (typeof v !== 'string' || !new RegExp(ISO_TIME_PATTERN).test(v))
          throw new InputError(field, 'must be an RFC 3339 time with offset, e.g. 2026-12-01T00:00:00Z');
        const d = new Date(v);
        if (Number.isNaN(d.getTime())) throw new InputError(field, `is not a valid time: ${v}`);
        return d;
      };
      const to = time('to', new Date());
      const from = time('from', new Date(to.getTime() - 30 * DAY_MS));
      // A window that ends before it starts holds no traffic: it reports nothing rather than failing (the two times
      // are independent parameters; only their values relate them).
      return savingsReport(deps.db, request.tenantId, from, to < from ? from : to);
    },
  );
}
