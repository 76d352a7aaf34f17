import { describe, expect, it } from 'vitest';
import { loadSharedDataset } from '../../src/datasets/shared';
import { answerFitWarnings } from '../../src/graduation/fit';
import { type Example, induceProposals } from '../../src/graduation/induce';
import { type Candidate, graduateClusters } from '../../src/graduation/propose';
import { escapeLiteral, renderAnswer, templateSlots } from '../../src/serving/render';
import { slotsOfQuery } from '../../src/serving/slots';

// The shared data sets are part of the project's environment (../shared/data or DISTILLERY_SHARED_DATA): without
// them loadSharedDataset fails with a message saying so, rather than these tests silently skipping.

describe('graduation on bitext v1 (clusters = intent labels)', () => {
  // Labels stand in for a perfect clustering here: what is tested is graduation, not clustering.
  const data = loadSharedDataset('bitext-v1');
  const byLabel = new Map<string, Example[]>();
  data.forEach((e, id) => {
    const list = byLabel.get(e.label) ?? [];
    list.push({ id, query: e.query, slots: slotsOfQuery(e.query), answer: e.answer });
    byLabel.set(e.label, list);
  });
  const result = graduateClusters(
    [...byLabel].map(([clusterId, examples]) => ({ clusterId, examples })),
    {
      warn: (proposal, examples) =>
        answerFitWarnings(
          proposal.template,
          examples.map((e) => e.query),
        ),
    },
  );
  const candidateOf = (label: string): Candidate | undefined => [...result.passed, ...result.failed].find((c) => c.clusterIds.includes(label));
  /** The intent's canned answer: the most common accepted answer of its examples. */
  const cannedAnswer = (label: string) => {
    const counts = new Map<string, number>();
    for (const e of byLabel.get(label)!) counts.set(e.answer, (counts.get(e.answer) ?? 0) + 1);
    return [...counts].sort((x, y) => y[1] - x[1])[0]![0];
  };

  it('graduates cancel_order to a passing constant whose answer is the intent’s canned answer', () => {
    expect(byLabel.get('cancel_order')!.length).toBeGreaterThan(100);
    const c = candidateOf('cancel_order');
    expect(c).toBeDefined();
    expect(result.passed).toContain(c);
    expect(c!.clusterIds).toEqual(['cancel_order']);
    expect(c!.proposal.kind).toBe('constant');
    expect(c!.evidence).toMatchObject({ passed: true, precision: 1, coverage: 1 });
    expect(c!.evidence.heldOut).toBeGreaterThan(30);
    const answer = cannedAnswer('cancel_order');
    expect(answer).toMatch(/cancel your order/);
    // Served for a query it never saw, with an order number it never saw, it gives exactly the canned answer.
    expect(
      renderAnswer(
        c!.proposal.template,
        { query: 'please cancel order 998877665544', slots: slotsOfQuery('please cancel order 998877665544') },
        c!.proposal.script,
      ),
    ).toBe(answer);
  });

  it('graduates every intent of v1 (one canned answer each) to its own constant', () => {
    expect(result.clusters.filter((v) => v.reason)).toEqual([]);
    expect(result.failed).toEqual([]);
    expect(result.passed).toHaveLength(byLabel.size);
    for (const c of result.passed) {
      expect(c.clusterIds).toHaveLength(1);
      expect(c.proposal.kind).toBe('constant');
      expect(renderAnswer(c.proposal.template, { query: 'q', slots: {} })).toBe(cannedAnswer(c.clusterIds[0]!));
    }
  });

  it('warns the reviewer that newsletter_subscription answers unsubscribe requests with how to subscribe', () => {
    const c = candidateOf('newsletter_subscription')!;
    expect(cannedAnswer('newsletter_subscription')).toMatch(/^To subscribe to our newsletter/);
    expect(c.evidence.warnings).toHaveLength(1);
    expect(c.evidence.warnings[0]).toMatch(/ask to unsubscribe \/ cancel \/ stop/);
    // A sanity check of the data: many of its queries really do ask to unsubscribe or cancel.
    const undo = byLabel.get('newsletter_subscription')!.filter((e) => /unsubscri|cancel/i.test(e.query)).length;
    expect(undo / byLabel.get('newsletter_subscription')!.length).toBeGreaterThan(0.2);
    // An intent whose answer fits its queries carries no warning.
    expect(candidateOf('track_order')!.evidence.warnings).toEqual([]);
  });
});

describe('bitext v2 answers with literal {{Placeholders}}', () => {
  const v2 = loadSharedDataset('bitext-v2');

  it('every answer renders back verbatim from its escaped form', () => {
    const withBraces = v2.filter((e) => e.answer.includes('{{'));
    expect(withBraces.length).toBeGreaterThan(1000);
    for (const e of v2) {
      const t = escapeLiteral(e.answer);
      expect(templateSlots(t)).toEqual([]);
      expect(renderAnswer(t, { query: e.query, slots: {} })).toBe(e.answer);
    }
  });

  it('an answer repeated across a cluster induces a constant that renders back verbatim', () => {
    const answer = v2.find((e) => /\{\{[^}]+ [^}]+\}\}/.test(e.answer))!.answer;
    const train: Example[] = v2.slice(0, 8).map((e, id) => ({ id, query: e.query, slots: slotsOfQuery(e.query), answer }));
    const [p] = induceProposals(train);
    expect(p).toBeDefined();
    expect(renderAnswer(p!.template, { query: 'new query', slots: slotsOfQuery('new query') }, p!.script)).toBe(answer);
  });
});
