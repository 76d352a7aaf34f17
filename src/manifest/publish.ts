import type { BlobStore } from '../blob';
import { normalizeQuery } from '../serving/normalize';
import type { Db } from '../db/client';
import { adapterEvaluations } from '../distill/store';
import { embedWithCache, fromBytes } from '../embeddings/cache';
import type { Embedder } from '../embeddings/types';
import { InputError, NotFoundError } from '../errors';
import { type RouteSource, buildManifestDraft } from './build';
import { canonicalJson, sealManifest } from '../serving/manifest-hash';
import { type AnswerAgreement, type Prices, type ReplayPolicy, type ReplayReport, type ReplayRow, replayManifest, replayPolicyFor } from './replay';
import type { Calibration } from '../judge/calibration';
import { embeddedAnswer, judgeEmbedded } from '../judge/embedding';
import { latestCalibration } from '../judge/store';
import { studentAnswers } from '../adapters/student-answers';
import { tenantBudget } from '../tenants/store';
import { DEFAULT_POLICY, isHeldOut } from '../graduation/verify';
import {
  recordRefusal,
  getManifest,
  insertManifest,
  latestVersion,
  loadPrices,
  manifestOfRun,
  recordSwitch,
  replaySlice,
  routeRows,
  servedVersion,
} from './store';
import type { Manifest, ManifestJudge, Resolution } from '../serving/manifest';
import { validateManifest } from '../serving/manifest-validate';
import type { GateEvaluation } from '../distill/gate';
import { resolverFor } from '../serving/resolver';

export const manifestKey = (tenantId: string, version: number) => `manifests/${tenantId}/v${version}.json`;
export const pointerKey = (tenantId: string) => `manifests/${tenantId}/current.json`;

export interface PublishSettings {
  tenantId: string;
  /** The run this manifest belongs to: one version per run, however often the publish is retried. */
  runId: string;
  actor: string;
  threshold?: number;
  /** Share of the tenant's accepted traffic replayed (hash-selected, deterministic; at most heldOutFraction). Default 0.2. */
  replayShare?: number;
  /** Graduation's held-out fraction: only those rows are replayed (default: the graduation policy's, 0.3). */
  heldOutFraction?: number;
  policy?: Partial<ReplayPolicy>;
  models?: { cheap: string; frontier: string };
  hmacKey?: string;
  /** The adapter server: adapter routes' replay rows get the student's real answers, judged (else the gate's figure). */
  adapterServerUrl?: string;
  /** Most replay rows per adapter sent to the adapter server (default 100). */
  studentRows?: number;
}

export type PublishResult =
  { status: 'published'; version: number; key: string; replay: ReplayReport; reasons: [] } | { status: 'refused'; reasons: string[]; replay: ReplayReport };

/**
 * The manifest's routes: every active cluster of the tenant, on the tier its active tier entry names, or on the
 * frontier when it has none. Clusters without a cheaper tier still matter: a query must find its own cluster as the
 * nearest route, or it would be pulled into a neighbouring template route (a false positive).
 */
async function routeSources(db: Db, tenantId: string, model: string): Promise<RouteSource[]> {
  const rows = await routeRows(db, tenantId, model);
  return rows.map((r) => ({
    routeId: r.route_id,
    label: r.label,
    centroid: fromBytes(r.centroid),
    share: Number(r.share ?? 0),
    tier: r.tier ?? 'frontier',
    target: r.target ?? {},
    evidence: r.evidence ?? { reason: 'no cheaper tier has earned this route yet' },
  }));
}

/**
 * The replay slice: accepted interactions on graduation's held-out side (never seen by template induction; adapters
 * are judged on their own datasets' eval split at the gate), thinned by a second hash of the id so that `share` of
 * all accepted traffic is replayed (at most the held-out fraction), newest first. The same rows every time.
 */
async function replayRows(
  db: Db,
  embedder: Embedder,
  tenantId: string,
  share: number,
  heldOut = DEFAULT_POLICY.holdoutFraction,
  limit = 5000,
): Promise<ReplayRow[]> {
  const within = Math.min(1, share / heldOut);
  const rows: Awaited<ReturnType<typeof replaySlice>> = [];
  // The SQL side picks by the second hash; the held-out test is graduation's own function (one split, one place).
  for (const r of await replaySlice(db, tenantId, within, Math.ceil(limit / heldOut) + 100)) {
    if (isHeldOut(r.id, heldOut)) rows.push(r);
    if (rows.length >= limit) break;
  }
  const vectors = rows.length
    ? await embedWithCache(
        db,
        embedder,
        rows.map((r) => normalizeQuery(r.query_text).text),
      )
    : [];
  return rows.map((r, i) => ({
    query: r.query_text,
    vector: vectors[i]!,
    answer: r.answer,
    promptTokens: r.prompt_tokens ?? Math.ceil(r.query_text.length / 4),
    completionTokens: r.completion_tokens ?? Math.ceil(r.answer.length / 4),
  }));
}

/**
 * The object's bytes: keys in canonical order, indented. A retry writes them from the row's jsonb copy, whose key
 * order Postgres rewrites, so the order must not depend on how the object was built for the bytes to be the same.
 */
function manifestBytes(m: Manifest): string {
  return JSON.stringify(JSON.parse(canonicalJson(m)), null, 2);
}

async function writeAndSwitch(
  db: Db,
  blob: BlobStore,
  m: Manifest,
  key: string,
  actor: string,
  kind: 'publish' | 'rollback',
  fromVersion: number | null,
): Promise<void> {
  // The versioned object is complete before the pointer names it: a router never sees half a manifest.
  if (kind === 'publish') await blob.put(key, manifestBytes(m), { contentType: 'application/json' });
  await blob.put(pointerKey(m.tenant), JSON.stringify({ tenant: m.tenant, version: m.version, key, contentHash: m.contentHash }), {
    contentType: 'application/json',
  });
  await recordSwitch(db, { tenantId: m.tenant, version: m.version, kind, fromVersion, actor });
}

/**
 * Publishes the tenant's tier table as the next manifest version: build → seal → validate → replay the held-out
 * slice (refuse below policy) → write v<N> → switch the pointer → record. Idempotent per run: a retry finds the
 * run's row and finishes the same version with the same bytes.
 */
export async function publishManifest(db: Db, blob: BlobStore, embedder: Embedder, s: PublishSettings): Promise<PublishResult> {
  const mine = await manifestOfRun(db, s.tenantId, s.runId);
  if (mine) {
    const m = mine.manifest;
    if (mine.status === 'writing') await writeAndSwitch(db, blob, m, mine.key, s.actor, 'publish', m.previousVersion);
    return { status: 'published', version: mine.version, key: mine.key, replay: mine.replay, reasons: [] };
  }
  const served = await servedVersion(db, s.tenantId);
  const version = (await latestVersion(db, s.tenantId)) + 1;
  const routes = await routeSources(db, s.tenantId, embedder.id);
  const budget = await tenantBudget(db, s.tenantId);
  const calibration = await latestCalibration(db, s.tenantId);
  // The tenant's judge travels with the manifest: a gateway's shadow checks then judge on promotion's scale.
  const judge: ManifestJudge | undefined = calibration ? { kind: 'embedding', calibration, agreeAt: 1 - budget.maxErrorRate } : undefined;
  const draft = buildManifestDraft({
    judge,
    tenant: s.tenantId,
    version,
    previousVersion: served,
    createdAt: new Date().toISOString(),
    embedding: { model: embedder.id, dims: embedder.dims },
    models: s.models ?? { cheap: 'gpt-4o-mini', frontier: 'gpt-4o' },
    threshold: s.threshold ?? 0.7,
    routes,
    provenance: { runId: s.runId, routes: routes.length },
  });
  const manifest = validateManifest(sealManifest(draft, s.hmacKey));

  const quality = new Map((await adapterEvaluations(db, s.tenantId)).map((a) => [a.name, adapterQuality(a.evaluation)]));
  const inService = served === null ? null : ((await getManifest(db, s.tenantId, served))?.replay.quality.overall ?? null);
  const resolver = resolverFor(manifest);
  const rows = await replayRows(db, embedder, s.tenantId, s.replayShare ?? 0.2, s.heldOutFraction);
  const resolutions = rows.map((r) => resolver(r.vector, r.query));
  const cheapAgreement = new Map(
    routes.flatMap((r) => (r.tier === 'cheap' && typeof r.evidence.agreement === 'number' ? [[r.routeId, r.evidence.agreement]] : [])),
  );
  const student =
    judge && s.adapterServerUrl ? await studentAgreement(db, embedder, judge.calibration, rows, resolutions, s.adapterServerUrl, s.studentRows ?? 100) : null;
  const replay = replayManifest(rows, (_v, _q, i) => resolutions[i]!, await loadPrices(db), {
    adapterQuality: (name) => quality.get(name),
    ...(student ? { adapterAgreement: (i: number) => student.get(i) } : {}),
    cheapQuality: (routeId) => (routeId ? cheapAgreement.get(routeId) : undefined),
    ...(judge ? { agreement: await judgeAgreement(db, embedder, judge.calibration, rows, resolutions), judge: `embedding:${judge.calibration.id}` } : {}),
    policy: { ...replayPolicyFor(budget), ...s.policy },
    inServiceQuality: inService,
  });
  if (!replay.passed) {
    await recordRefusal(db, { tenantId: s.tenantId, runId: s.runId, reasons: replay.reasons });
    return { status: 'refused', reasons: replay.reasons, replay };
  }

  const key = manifestKey(s.tenantId, version);
  try {
    await insertManifest(db, { tenantId: s.tenantId, version, runId: s.runId, key, contentHash: manifest.contentHash, manifest, replay });
  } catch (err) {
    // Another publish took this version number (the single publisher workflow makes this rare): the caller retries.
    throw new Error(`manifest v${version} of ${s.tenantId} was taken concurrently; retry (${(err as Error).message})`);
  }
  await writeAndSwitch(db, blob, manifest, key, s.actor, 'publish', served);
  return { status: 'published', version, key, replay, reasons: [] };
}

/**
 * The judge's P(agree) for the replay's template answers against their accepted answers: both sides embedded once
 * (through the embedding cache), then the calibrated judge, as graduation judged them.
 */
async function judgeAgreement(db: Db, embedder: Embedder, calibration: Calibration, rows: ReplayRow[], resolutions: Resolution[]): Promise<AnswerAgreement> {
  const texts = [
    ...new Set(
      rows.flatMap((r, i) => (resolutions[i]!.tier === 'template' && resolutions[i]!.answer !== undefined ? [resolutions[i]!.answer!, r.answer] : [])),
    ),
  ];
  const vectors = texts.length ? await embedWithCache(db, embedder, texts) : [];
  const prepared = new Map(texts.map((t, i) => [t, embeddedAnswer(t, vectors[i]!)]));
  return (a, b) => {
    const x = prepared.get(a);
    const y = prepared.get(b);
    return x && y ? judgeEmbedded(calibration, x, y).pAgree : a === b ? 1 : 0;
  };
}

/**
 * The student's real answers for the adapter routes' replay rows (at most `perAdapter` each), from the adapter server
 * through the openai client, judged against the accepted answers: row index → P(agree).
 */
async function studentAgreement(
  db: Db,
  embedder: Embedder,
  calibration: Calibration,
  rows: ReplayRow[],
  resolutions: Resolution[],
  baseURL: string,
  perAdapter: number,
): Promise<Map<number, number>> {
  const byAdapter = new Map<string, number[]>();
  resolutions.forEach((r, i) => {
    if (r.tier !== 'adapter' || !r.adapter) return;
    const list = byAdapter.get(r.adapter.adapter) ?? [];
    if (list.length < perAdapter) byAdapter.set(r.adapter.adapter, [...list, i]);
  });
  const out = new Map<number, number>();
  for (const [model, idx] of byAdapter) {
    const answers = await studentAnswers({ baseURL, model, queries: idx.map((i) => rows[i]!.query) });
    const agree = await judgeAgreement(
      db,
      embedder,
      calibration,
      idx.map((i) => rows[i]!),
      idx.map((i, k) => ({ ...resolutions[i]!, tier: 'template' as const, answer: answers[k]!.answer })),
    );
    idx.forEach((i, k) => out.set(i, agree(answers[k]!.answer, rows[i]!.answer)));
  }
  return out;
}

/** Serves an earlier published version again: only the pointer moves (the version's object is already complete). */
export async function rollbackManifest(
  db: Db,
  blob: BlobStore,
  tenantId: string,
  toVersion: number,
  actor: string,
): Promise<{ version: number; from: number | null }> {
  const row = await getManifest(db, tenantId, toVersion);
  if (!row || row.status !== 'published')
    throw new NotFoundError('toVersion', `tenant ${tenantId} has no published manifest v${toVersion}: see \`distillery manifest list --tenant ${tenantId}\``);
  const from = await servedVersion(db, tenantId);
  if (from === toVersion) return { version: toVersion, from };
  await writeAndSwitch(db, blob, row.manifest, row.key, actor, 'rollback', from);
  return { version: toVersion, from };
}

/** An adapter's projected quality from its gate evaluation: match rate for classification-like tasks, else mean cosine. */
function adapterQuality(e: GateEvaluation): number {
  // Rows written before the gate recorded figures carry none: they project no quality.
  if (!e.student) return 0;
  return e.classificationLike ? e.student.normalisedRate : e.student.meanSimilarity;
}
