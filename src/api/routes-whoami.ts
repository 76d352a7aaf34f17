import type { FastifyInstance } from 'fastify';
import { SCOPES } from '../keys/scopes';
import { err } from './schemas';

/**
 * GET /v1/whoami: the calling key's tenant, name and scopes. Any valid key may ask (the review page shows who its
 * decisions will be recorded as, and whether the key may review at all).
 */
export function whoamiRoute(app: FastifyInstance): void {
  app.get(
    '/v1/whoami',
    {
      // Any valid key: the answer says nothing its holder could not learn by trying the routes.
      config: { scope: 'any' },
      schema: {
        tags: ['meta'],
        summary: 'The calling API key: tenant, name (the reviewer its decisions are recorded as) and scopes',
        response: {
          200: {
            type: 'object',
            required: ['tenant', 'name', 'scopes'],
            properties: { tenant: { type: 'string' }, name: { type: 'string' }, scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] } } },
          },
          401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
        },
      },
    },
    async (request) => ({ tenant: request.apiKey.tenantId, name: request.apiKey.name, scopes: request.apiKey.scopes }),
  );
}
