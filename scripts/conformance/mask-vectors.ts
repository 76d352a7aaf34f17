/**
 * Writes src/serving/mask-vectors.v1.json: the conformance vectors of the manifest's `distillery-mask-v1`
 * normalisation, slot naming, template rendering and route matching, produced by the project's own code (so the
 * file is what the router does, by construction). A router written elsewhere passes when it reproduces every vector;
 * test/unit/router-conformance.test.ts checks the project's router against the committed file.
 *
 *   npx tsx scripts/conformance/mask-vectors.ts          # rewrite the file
 *   npx tsx scripts/conformance/mask-vectors.ts --check  # exit 1 when the committed file is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { syntheticManifest } from '../../src/router/synthetic';
import { normalizeQuery } from '../../src/serving/normalize';
import { renderAnswer } from '../../src/serving/render';
import { resolverFor } from '../../src/serving/resolver';
import { namedSlots } from '../../src/serving/slots';

const OUT = fileURLToPath(new URL('../../src/serving/mask-vectors.v1.json', import.meta.url));

/** One or more queries per rule and per normalisation step (see src/serving/normalize.ts and masking-rules.ts). */
const QUERIES = [
  // normalisation: whitespace, case, punctuation runs, NFKC, quotes/dashes, invisible characters, emoji
  '  Where   IS my\tparcel\n ??! ',
  'Help!!! Now...',
  'yes,, no;; maybe',
  '“Hello” ‘world’ — it’s ﬁne – ok…',
  'ｏｒｄｅｒ １２３４５６',
  'zero\u200Bwidth\uFEFF soft\u00ADhyphen',
  'My order 😀 is late 👨‍👩‍👧 order 123456',
  '',
  '???',
  // one per slot type, in precedence order
  'email me at Ann.Lee+shop@example.co.uk please',
  'see https://shop.example.com/orders?id=7 for details',
  'transfer to GB82 WEST 1234 5698 7654 32 today',
  'refund $12.50 or 300 dollars or €1.200,00',
  'deliver on 2024-03-12, March 14th 2025 or 14/03/2025',
  'call me at 3:30 pm or at 10am',
  'is the 15% discount still on?',
  'where is my order 370795561790??',
  'invoice no. AB-1234 and ticket #00108',
  'card 4111 1111 1111 1111 was charged',
  'call +1 (415) 555-0132 tomorrow',
  'my name is Maria Lopez and I need help',
  'Dear Mr. Smith, my package is late',
  'code X7Y9Z2Q4 does not work',
  'I want 3 boxes',
  // precedence and overlap
  'order 4111111111111111',
  'invoice 500 dollars',
  'booking 2024-03-12',
  'mail a.b@shop.com, not www.shop.com',
  'two orders: order 111 and order 222',
  'Refund $12 to jo@x.com',
  'refunding$299',
  // look-alikes that must not mask as the type they resemble
  'card 4111 1111 1111 1112',
  'DE89 3704 0044 0532 0130 01',
  'on 45/45/2024',
  '24/7 support',
  // already-masked text is stable
  'where is my order <id>',
];

/** Rendering: strict Handlebars without HTML escaping; `\{{` is a literal; a missing slot fails (the router falls back). */
const RENDERS: Array<{
  template: string;
  query: string;
  script?: { kind: 'vocabulary'; variables: Array<{ name: string; vocabulary: Record<string, string> }> };
}> = [
  { template: 'Order {{id}} ships tomorrow.', query: 'Where is my order 48213?' },
  { template: 'Orders {{id}} and {{id_2}} ship together.', query: 'order 111 and order 222' },
  { template: 'We wrote to {{email}} about {{id}} & <b>that</b>.', query: 'order 4821 for bo@x.io' },
  { template: 'Type \\{{id}} literally, then {{id}}.', query: 'order 5150' },
  {
    template: 'You are on {{plan}}.',
    query: 'what does premium include',
    script: { kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { premium: 'Premium', basic: 'Basic' } }] },
  },
  { template: 'Order {{id}} ships tomorrow.', query: 'where is my parcel' },
  { template: 'Order {{id}} ships tomorrow.', query: 'order 42 (two digits after a cue are a number, not an id)' },
];

function mask() {
  return QUERIES.map((query) => {
    const n = normalizeQuery(query);
    const names = Object.keys(namedSlots(n.slots));
    return { query, text: n.text, slots: n.slots.map((s, i) => ({ name: names[i], type: s.type, value: s.value, start: s.start, end: s.end })) };
  });
}

function render() {
  return RENDERS.map((r) => {
    const slots = namedSlots(normalizeQuery(r.query).slots);
    let answer: string | null = null;
    let error: string | null = null;
    try {
      answer = renderAnswer(r.template, { query: r.query, slots }, r.script ?? null);
    } catch (err) {
      error = (err as Error).message;
    }
    return { ...r, script: r.script ?? null, slots, answer, ...(error ? { error: 'render fails: the router falls back' } : {}) };
  });
}

/**
 * Matching on explicit vectors (no embedding model needed): the nearest route by cosine takes the query iff the
 * cosine is >= its threshold and its keyword rules pass on the normalised text; otherwise the fallback.
 */
function matching() {
  const u = (v: number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const routes = [
    {
      id: 'r_order',
      tier: 'template' as const,
      centroid: [1, 0, 0, 0],
      threshold: 0.8,
      target: { template: 'Order {{id}} ships tomorrow.', script: null, candidateId: 'g1', version: 1 },
    },
    {
      id: 'r_refund',
      tier: 'cheap' as const,
      centroid: [0, 1, 0, 0],
      threshold: 0.8,
      keywords: { all: ['refund'], none: ['crypto'] },
      target: { model: 'gpt-4o-mini' },
    },
    { id: 'r_plan', tier: 'frontier' as const, centroid: u([0, 0.6, 0.8, 0]), threshold: 0.9, target: { model: 'gpt-4o' } },
  ];
  const manifest = syntheticManifest({
    dims: 4,
    routes: routes.map((r) => ({ ...r, centroid: new Float32Array(r.centroid), threshold: r.threshold, ...(r.keywords ? { keywords: r.keywords } : {}) })),
  });
  const resolve = resolverFor(manifest);
  const cases: Array<{ query: string; vector: number[]; note: string }> = [
    { query: 'where is my order 4242', vector: u([1, 0.1, 0, 0]), note: 'nearest route, cosine above its threshold' },
    { query: 'where is my order 4242', vector: u([0.7, 0.7, 0.1, 0]), note: 'below the nearest route’s threshold: fallback (a farther route is never taken)' },
    { query: 'I want a Refund now', vector: u([0, 1, 0.05, 0]), note: 'keyword all: "refund" present as a whole word' },
    { query: 'refunding please', vector: u([0, 1, 0.05, 0]), note: 'keyword all fails: "refunding" is not the word "refund"' },
    { query: 'refund my crypto', vector: u([0, 1, 0.05, 0]), note: 'keyword none: "crypto" present' },
    { query: 'which plan am i on', vector: u([0, 0.6, 0.8, 0]), note: 'a route on the frontier' },
    { query: 'order nothing', vector: [0, 0, 0, 0], note: 'zero vector: fallback' },
  ];
  return {
    manifest: {
      dims: 4,
      fallback: manifest.fallback,
      models: manifest.models,
      routes: routes.map((r) => ({ id: r.id, tier: r.tier, centroid: r.centroid, threshold: r.threshold, keywords: r.keywords ?? null, target: r.target })),
    },
    cases: cases.map((c) => {
      const r = resolve(new Float32Array(c.vector), c.query);
      return { ...c, expect: { tier: r.tier, routeId: r.routeId, answer: r.answer ?? null, reason: r.reason } };
    }),
  };
}

export function buildVectors() {
  return {
    schema: 'distillery.mask-vectors/v1',
    normalisation: 'distillery-mask-v1',
    note: 'Generated by scripts/conformance/mask-vectors.ts from src/serving (normalize.ts, masking-rules.ts, slots.ts, render.ts, resolver.ts). Offsets are UTF-16 code units in the original query, end exclusive.',
    mask: mask(),
    render: render(),
    matching: matching(),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = JSON.stringify(buildVectors(), null, 2) + '\n';
  if (process.argv.includes('--check')) {
    // Compared as data: the committed file is formatted by prettier.
    if (JSON.stringify(JSON.parse(readFileSync(OUT, 'utf8'))) !== JSON.stringify(JSON.parse(text))) {
      console.error(`${OUT} is stale: run npx tsx scripts/conformance/mask-vectors.ts`);
      process.exit(1);
    }
    console.log('conformance vectors up to date');
  } else {
    writeFileSync(OUT, text);
    console.log(`wrote ${OUT} (run prettier on it before committing)`);
  }
}
