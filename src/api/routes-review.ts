import { type Client, ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError, isGrpcServiceError } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/client';
import { CANDIDATE_STATUSES, type CandidateStatus } from '../vocabulary';
import { InputError, NotFoundError, UnavailableError } from '../errors';
import { candidateClusters, getCandidate, listCandidates } from '../graduation/store';
import { withServing } from '../graduation/serving';
import { NONBLANK_PATTERN, STORABLE_PATTERN, JSON_VALUE_REF, err, unavailable } from './schemas';
import { decideCandidate, parseDecision } from '../temporal/starters';

export interface ReviewDeps {
  db: Db;
  /** The Temporal client decisions go through (each candidate's review workflow); absent, decisions answer 503. */
  temporal?: { client: Client; taskQueue: string };
}

export const NO_TEMPORAL_MESSAGE = 'the review service needs Temporal: start the api with a worker / distillery dev (TEMPORAL_ADDRESS must reach the server)';

const STATUS_FILTERS = [...CANDIDATE_STATUSES, 'all'] as const;
type StatusFilter = CandidateStatus | 'all';

/**
 * Reviewing graduation candidates: the queue (largest traffic first), one candidate with its versions and evidence,
 * and a decision, which goes to the candidate's review workflow as a Temporal Update (src/temporal/starters.ts). A key
 * only ever sees its own tenant's candidates; another tenant's id is a 404, decision included.
 */
export function reviewRoutes(app: FastifyInstance, deps: ReviewDeps): void {
  const { db } = deps;

  app.get(
    '/v1/review/candidates',
    {
      config: { scope: 'review' },
      schema: {
        tags: ['review'],
        summary: 'List graduation candidates, largest traffic share first',
        description: 'Default `status` is `pending_review` (the review queue); `all` lists every status. At most `limit` (default 200, at most 1000).',
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...STATUS_FILTERS], default: 'pending_review' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 200 },
          },
        },
        response: {
          200: { type: 'object', required: ['candidates'], properties: { candidates: { type: 'array', items: candidateSummarySchema } } },
          400: err('Unknown `status` or bad `limit`.'),
          401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
          403: err('The API key lacks the `review` scope (`field` is `authorization`).'),
          500: err('Unexpected server error.'),
          503: unavailable,
        },
      },
    },
    async (request) => {
      const q = (request.query ?? {}) as Record<string, unknown>;
      const status = parseStatus(q.status);
      const limit = parseLimit(q.limit);
      return { candidates: await withServing(db, request.tenantId, await listCandidates(db, request.tenantId, { status, limit })) };
    },
  );

  app.get(
    '/v1/review/candidates/:id',
    {
      config: { scope: 'review' },
      schema: {
        tags: ['review'],
        summary: 'One candidate: its versions with their replay evidence, its clusters (label, example queries), and its decision if any',
        params: idParams,
        response: {
          200: candidateDetailSchema,
          401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
          403: err('The API key lacks the `review` scope (`field` is `authorization`).'),
          404: err('No candidate with this id for your tenant (`field` is `candidate`).'),
          500: err('Unexpected server error.'),
          503: unavailable,
        },
      },
    },
    async (request) => {
      const detail = await getCandidate(db, request.tenantId, candidateIdParam(request.params));
      return { ...withoutInteractionIds(detail), clusters: await candidateClusters(db, detail) };
    },
  );

  app.post(
    '/v1/review/candidates/:id/decision',
    {
      config: { scope: 'review' },
      schema: {
        tags: ['review'],
        summary: 'Approve, approve with edits, or reject a candidate awaiting review',
        description:
          "The decision goes to the candidate's review workflow and the answer waits for its outcome. The first accepted " +
          'decision is final. An approval with edits replays the edited template on the held-out interactions first; if it ' +
          'fails verification the answer is a 400 with the reasons and the candidate stays pending. An approval makes the ' +
          'template the serving tier of every cluster of the candidate.',
        params: idParams,
        body: decisionBodySchema,
        response: {
          200: { type: 'object', required: ['result'], properties: { result: decisionResultSchema } },
          400: err(
            'Invalid decision (e.g. `comment` missing on a reject, `template` on a plain approve, a `reviewer` field), or an edit that fails verification.',
          ),
          401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
          403: err('The API key lacks the `review` scope (`field` is `authorization`).'),
          404: err('No candidate with this id for your tenant, or it has no review (it failed verification).'),
          409: err('The candidate is not awaiting review any more (decided, expired) or someone else is deciding it.'),
          415: err('Content-Type is not application/json.'),
          500: err('Unexpected server error.'),
          503: {
            ...unavailable,
            description:
              'The api runs without Temporal, cannot reach it, no worker answered in time, or the database is away (`field` is `(service)`). Retry after `Retry-After` seconds.',
          },
        },
      },
    },
    async (request) => {
      const id = candidateIdParam(request.params);
      // Input first, then the candidate (only this tenant's: the review workflow id alone does not say whose it is),
      // then the service: a bad decision is a 400 and an unknown candidate a 404 whether or not Temporal is up.
      const decision = withKeyReviewer(request.body, request.apiKey.name);
      parseDecision(decision);
      await getCandidate(db, request.tenantId, id);
      if (!deps.temporal) throw new UnavailableError('(service)', NO_TEMPORAL_MESSAGE);
      try {
        return { result: await decideCandidate(deps.temporal.client, id, decision) };
      } catch (e) {
        if (e instanceof InputError) throw e;
        if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
          throw new UnavailableError('(service)', 'the review workflow did not answer in time: is a worker polling the task queue? Retry the same decision');
        }
        if (e instanceof ServiceError || isGrpcServiceError(e)) {
          throw new UnavailableError('(service)', `cannot reach Temporal: ${(e as Error).message}. Retry the same decision`);
        }
        throw e;
      }
    },
  );
}

/**
 * The decision as the review workflow takes it, with the reviewer set to the API key's name: the audit trail records
 * the key that decided, never a name the caller typed. A `reviewer` in the body is refused rather than ignored, so a
 * client that thinks it is choosing the name learns it is not.
 */
export function withKeyReviewer(body: unknown, keyName: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body; // validateDecision says what is wrong
  if ('reviewer' in body) {
    throw new InputError('reviewer', `not accepted: the reviewer is the name of your API key ("${keyName}"); drop the field`);
  }
  return { ...body, reviewer: keyName };
}

/**
 * The candidate as the API shows it: replay rows lose their interaction `id` (internal ids come from one global
 * sequence, so they would tell a tenant the platform's volume). The stored evidence keeps them for operators.
 */
export function withoutInteractionIds<T extends { versions: Array<{ evidence: unknown }> }>(detail: T): T {
  const strip = (rows: unknown) =>
    Array.isArray(rows) ? rows.map((r) => (r && typeof r === 'object' ? (({ id: _id, ...rest }) => rest)(r as Record<string, unknown>) : r)) : rows;
  return {
    ...detail,
    versions: detail.versions.map((v) => {
      const e = v.evidence as Record<string, unknown> | null;
      if (!e || typeof e !== 'object') return v;
      const fp = e.falsePositives as Record<string, unknown> | undefined;
      return {
        ...v,
        evidence: { ...e, examples: strip(e.examples), ...(fp && typeof fp === 'object' ? { falsePositives: { ...fp, examples: strip(fp.examples) } } : {}) },
      };
    }),
  };
}

function parseStatus(raw: unknown): StatusFilter {
  if (raw === undefined) return 'pending_review';
  if (typeof raw === 'string' && (STATUS_FILTERS as readonly string[]).includes(raw)) return raw as StatusFilter;
  throw new InputError('status', `must be one of ${STATUS_FILTERS.join(', ')}, got ${JSON.stringify(raw)}`);
}

function parseLimit(raw: unknown): number {
  if (raw === undefined) return 200;
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InputError('limit', `must be an integer from 1 to 1000, got ${JSON.stringify(raw)}`);
  return n;
}

function candidateIdParam(params: unknown): string {
  const id = (params as { id?: unknown } | undefined)?.id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_:.-]{1,100}$/.test(id)) throw new NotFoundError('candidate', `no candidate "${String(id)}" for this tenant`);
  return id;
}

// --- OpenAPI schemas (documentation only, as for the other routes) ---------------------------------------------------

/** Ids outside this pattern name no candidate: a 404, like an unknown one (candidateIdParam). */
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_:.-]{1,100}$', description: 'Candidate id (g_…).' } },
} as const;

const statusSchema = { type: 'string', enum: [...CANDIDATE_STATUSES] } as const;

const candidateSummarySchema = {
  type: 'object',
  required: [
    'id',
    'kind',
    'status',
    'label',
    'trafficShare',
    'clusterIds',
    'version',
    'template',
    'precision',
    'precisionLowerBound',
    'coverage',
    'heldOut',
    'warnings',
    'createdAt',
  ],
  properties: {
    id: { type: 'string' },
    tenantId: { type: 'string' },
    kind: { type: 'string', enum: ['constant', 'template', 'script', 'toolscript'] },
    status: statusSchema,
    label: { type: 'string', description: 'Label of its (first) cluster.' },
    trafficShare: { type: 'number', description: "Share of the clustering run's traffic its clusters hold (0–1)." },
    clusterIds: { type: 'array', items: { type: 'string' } },
    version: { type: 'integer', description: 'The version under review.' },
    template: { type: 'string', description: 'Handlebars template of that version.' },
    serving: {
      type: 'object',
      description: 'Approved candidates only: whether the manifest in service serves it, and if not, why not.',
      required: ['served', 'version'],
      properties: { served: { type: 'boolean' }, version: { type: ['integer', 'null'] }, reason: { type: 'string' } },
    },
    precision: { type: 'number' },
    precisionLowerBound: { type: 'number', description: 'Lower end of the 95% Wilson interval of precision.' },
    coverage: { type: 'number' },
    heldOut: { type: 'integer', description: 'Held-out interactions replayed.' },
    warnings: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

const replayRowSchema = {
  type: 'object',
  properties: {
    query: { type: 'string' },
    accepted: { type: 'string', description: 'The accepted teacher answer.' },
    rendered: { type: 'string', description: 'What the candidate rendered; absent when it could not render.' },
    error: { type: 'string' },
    exact: { type: 'boolean' },
    normalised: { type: 'boolean' },
    semantic: { type: 'number', description: "Judged evidence: the judge's P(agree) of rendered and accepted answer; else the answers' cosine." },
    agrees: { type: 'boolean', description: "The verdict (judged evidence: P(agree) at least 1 − the budget's error rate)." },
    // Tool-script replays (src/toolscripts/verify.ts TraceReplay): the teacher's trace beside the script's.
    teacher: { type: 'object', additionalProperties: true, description: 'Tool scripts: the teacher trace {calls, answer}.' },
    script: { type: 'object', additionalProperties: true, description: "Tool scripts: the script's trace {calls, answer | frontier}." },
    callsAgree: { type: 'boolean' },
    answerAgrees: { type: 'boolean' },
  },
} as const;

const budgetSchema = {
  type: 'object',
  description: "The tenant's error budget: served answers wrong at most `maxErrorRate` as a `confidence` upper bound.",
  properties: { maxErrorRate: { type: 'number' }, confidence: { type: 'number' }, method: { type: 'string' } },
} as const;

/** Evidence.judged (src/graduation/verify.ts): present when the candidate was judged (graduation's default). */
const judgedEvidenceSchema = {
  type: 'object',
  additionalProperties: true,
  description: 'Judged graduation: the judge, the error budget, the answer forms, the pooled clusters and the per-route thresholds.',
  properties: {
    judge: { type: 'string', description: 'The judge and its calibration, e.g. `embedding:<calibration id>`.' },
    calibrationAuc: { type: 'number' },
    budget: budgetSchema,
    forms: {
      type: 'array',
      description: 'The forms of the answer; a query is served the form with the most slots it binds.',
      items: {
        type: 'object',
        properties: {
          template: { type: 'string' },
          slots: { type: 'array', items: { type: 'string' } },
          support: { type: 'number' },
          clusterIds: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    pooled: { type: 'array', items: { type: 'string' }, description: 'Every cluster pooled into the candidate.' },
    routes: {
      type: 'array',
      description: 'Routes the candidate serves, each with its calibrated similarity threshold and the held-out replays that certified it.',
      items: {
        type: 'object',
        properties: { clusterId: { type: 'string' }, threshold: { type: 'number' }, n: { type: 'integer' }, errors: { type: 'integer' } },
      },
    },
    admission: { type: 'object', additionalProperties: true },
  },
} as const;

const evidenceSchema = {
  type: 'object',
  additionalProperties: true,
  description: 'Replay evidence of a version (src/graduation/verify.ts Evidence, plus perCluster and support).',
  properties: {
    match: { type: 'string', enum: ['exact', 'normalised', 'semantic', 'judged'] },
    heldOut: { type: 'integer' },
    covered: { type: 'integer' },
    agreed: { type: 'integer' },
    precision: { type: 'number' },
    precisionLowerBound: { type: 'number' },
    coverage: { type: 'number' },
    falsePositives: {
      type: 'object',
      properties: {
        tested: { type: 'integer' },
        routedHere: { type: 'integer' },
        wrong: { type: 'integer' },
        rate: { type: 'number' },
        examples: { type: 'array', items: replayRowSchema },
      },
    },
    examples: { type: 'array', items: replayRowSchema, description: 'Held-out replays, disagreements first (at most 25).' },
    passed: { type: 'boolean' },
    reasons: { type: 'array', items: { type: 'string' } },
    warnings: { type: 'array', items: { type: 'string' } },
    judged: judgedEvidenceSchema,
    perCluster: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          clusterId: { type: 'string' },
          examples: { type: 'integer' },
          support: { type: 'number' },
          heldOut: { type: 'integer' },
          agreed: { type: 'integer' },
        },
      },
    },
  },
} as const;

const candidateDetailSchema = {
  type: 'object',
  required: ['candidate', 'versions', 'decision', 'clusters'],
  properties: {
    clusters: {
      type: 'array',
      description: 'Every cluster of the candidate (judged: every cluster pooled into it), with its label and up to 3 example queries.',
      items: {
        type: 'object',
        required: ['clusterId', 'label', 'share', 'examples', 'serves'],
        properties: {
          clusterId: { type: 'string' },
          label: { type: 'string' },
          share: { type: 'number', description: "Share of the run's traffic." },
          examples: { type: 'array', items: { type: 'string' }, maxItems: 3 },
          serves: { type: 'boolean', description: 'Whether the candidate serves this cluster (admission may pool a cluster it does not serve).' },
        },
      },
    },
    candidate: {
      type: 'object',
      additionalProperties: true,
      properties: {
        id: { type: 'string' },
        tenantId: { type: 'string' },
        clusterRunId: { type: 'string' },
        clusterIds: { type: 'array', items: { type: 'string' } },
        kind: { type: 'string', enum: ['constant', 'template', 'script', 'toolscript'] },
        status: statusSchema,
        trafficShare: { type: 'number' },
        label: { type: 'string' },
        currentVersion: { type: 'integer' },
        reminders: { type: 'integer' },
        createdAt: { type: 'string', format: 'date-time' },
        updatedAt: { type: 'string', format: 'date-time' },
      },
    },
    versions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          candidateId: { type: 'string' },
          version: { type: 'integer' },
          template: { type: 'string' },
          script: { description: 'Script spec for kind script, else null.' },
          evidence: evidenceSchema,
          passed: { type: 'integer', enum: [0, 1] },
          author: { type: 'string' },
          createdAt: { type: 'string', format: 'date-time' },
        },
      },
    },
    decision: {
      description: 'The decision, once taken (null while pending).',
      anyOf: [
        {
          type: 'object',
          properties: {
            candidateId: { type: 'string' },
            version: { type: 'integer' },
            decision: { type: 'string', enum: ['approve', 'approve_with_edits', 'reject', 'expire'] },
            reviewer: { type: 'string' },
            comment: { type: ['string', 'null'] },
            decidedAt: { type: 'string', format: 'date-time' },
          },
        },
        { type: 'null' },
      ],
    },
  },
} as const;

/** Mirrors validateDecision (src/graduation/decision.ts); other fields are ignored but must be storable JSON. */
const storable = (extra: Record<string, unknown> = {}) => ({ type: 'string', pattern: STORABLE_PATTERN, ...extra });
const nonBlank = (extra: Record<string, unknown> = {}) => ({ type: 'string', allOf: [{ pattern: STORABLE_PATTERN }, { pattern: NONBLANK_PATTERN }], ...extra });
const decisionBodySchema = {
  type: 'object',
  required: ['action'],
  description: 'The reviewer recorded is the name of the API key (see GET /v1/whoami); a `reviewer` field is a 400.',
  not: { required: ['reviewer'] },
  propertyNames: { pattern: STORABLE_PATTERN, not: { const: '__proto__' } },
  additionalProperties: { $ref: JSON_VALUE_REF },
  properties: {
    action: { type: 'string', enum: ['approve', 'approve_with_edits', 'reject'] },
    comment: storable({ description: 'Required (not blank) for reject.' }),
    template: nonBlank({ maxLength: 20_000, description: 'approve_with_edits only (required there): the edited Handlebars template.' }),
    script: {
      $ref: JSON_VALUE_REF,
      description: 'approve_with_edits on a script candidate only: the edited script spec (a tool-script candidate: the whole edited recipe).',
    },
  },
  oneOf: [
    { properties: { action: { const: 'approve' } }, not: { anyOf: [{ required: ['template'] }, { required: ['script'] }] } },
    {
      properties: { action: { const: 'reject' }, comment: nonBlank() },
      required: ['comment'],
      not: { anyOf: [{ required: ['template'] }, { required: ['script'] }] },
    },
    { properties: { action: { const: 'approve_with_edits' } }, required: ['template'] },
  ],
} as const;

const decisionResultSchema = {
  type: 'object',
  required: ['candidateId', 'status', 'version', 'routes'],
  properties: {
    candidateId: { type: 'string' },
    status: { type: 'string', enum: ['approved', 'rejected'] },
    version: { type: 'integer', description: 'The version decided on (a new one for an approval with edits).' },
    routes: { type: 'array', items: { type: 'string' }, description: 'Cluster ids now served by the template.' },
  },
} as const;

// --- the review page ---------------------------------------------------------------------------------------------------

let page: { html: string; csp: string } | undefined;

/** The page, read once; its CSP allows exactly its own inline script and style (by hash), and fetches to this origin. */
function reviewPage(): { html: string; csp: string } {
  if (page) return page;
  const html = readFileSync(new URL('./review-page.html', import.meta.url), 'utf8');
  const hashes = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
      .map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`)
      .join(' ');
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  page = { html, csp };
  return page;
}

/**
 * GET /review: the reviewers' page (one self-contained HTML file, no build step). The page itself is public; it asks
 * for an API key and calls the /v1/review routes with it, so it shows nothing without one.
 */
export function reviewPageRoute(app: FastifyInstance): void {
  const { html, csp } = reviewPage();
  app.get('/review', { schema: { hide: true } }, async (_request, reply) => {
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store');
    return html;
  });
}
