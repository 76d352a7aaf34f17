import { describe, expect, it } from 'vitest';
import type { Example } from '../../src/graduation/induce';
import { type ClusterExamples, graduateClusters } from '../../src/graduation/propose';
import { renderAnswer } from '../../src/serving/render';
import { slotsOfQuery } from '../../src/serving/slots';
import { DEFAULT_POLICY, splitHoldout } from '../../src/graduation/verify';

const PASSWORD = "Click 'Forgot password' on the login page and follow the link we email you.";
const REFUND = 'Refunds reach your account within 5-7 business days.';

let nextId = 1;
/** A cluster of `n` accepted interactions; `answerOf(i)` gives the i-th accepted answer. */
function cluster(
  clusterId: string,
  n: number,
  answerOf: (i: number) => string,
  queryOf = (i: number) => `question ${clusterId} variant ${i}`,
): ClusterExamples {
  const examples: Example[] = Array.from({ length: n }, (_, i) => {
    const query = queryOf(i);
    return { id: nextId++, query, slots: slotsOfQuery(query), answer: answerOf(i) };
  });
  return { clusterId, examples };
}

describe('graduateClusters', () => {
  it('pools small clusters with the same answer into one candidate that passes where each alone would not', () => {
    const a = cluster(
      'forgot-password',
      50,
      () => PASSWORD,
      (i) => `i forgot my password ${i % 2 ? 'again' : ''}`,
    );
    const b = cluster(
      'reset-password',
      50,
      () => PASSWORD,
      (i) => `how do i reset my password${i % 3 ? '?' : ''}`,
    );
    const r = graduateClusters([a, b]);
    expect(r.failed).toEqual([]);
    expect(r.passed).toHaveLength(1);
    const c = r.passed[0]!;
    expect(c.clusterIds.sort()).toEqual(['forgot-password', 'reset-password']);
    expect(c.proposal).toMatchObject({ kind: 'constant', support: 1 });
    expect(renderAnswer(c.proposal.template, { query: 'anything', slots: {} })).toBe(PASSWORD);
    // The evidence is the union of both clusters' held-out examples, and per-cluster figures add up to it.
    expect(c.perCluster.map((m) => m.examples)).toEqual([50, 50]);
    expect(c.perCluster.reduce((s, m) => s + m.heldOut, 0)).toBe(c.evidence.heldOut);
    expect(c.perCluster.reduce((s, m) => s + m.agreed, 0)).toBe(c.evidence.agreed);
    expect(c.evidence.heldOut).toBe(
      splitHoldout(a.examples, DEFAULT_POLICY.holdoutFraction).holdout.length + splitHoldout(b.examples, DEFAULT_POLICY.holdoutFraction).holdout.length,
    );
    expect(r.clusters).toEqual([{ clusterId: 'forgot-password' }, { clusterId: 'reset-password' }]);

    // Alone, each has too little held-out evidence for the Wilson lower bound.
    for (const alone of [a, b]) {
      const s = graduateClusters([alone]);
      expect(s.passed).toEqual([]);
      expect(s.failed).toHaveLength(1);
      expect(s.failed[0]!.evidence.reasons.some((x) => x.startsWith('precision lower bound'))).toBe(true);
    }
  });

  it('keeps clusters with different answers in different candidates', () => {
    const r = graduateClusters([cluster('pw', 150, () => PASSWORD), cluster('refund', 120, () => REFUND)]);
    expect(r.passed.map((c) => c.clusterIds)).toEqual([['pw'], ['refund']]); // larger first
  });

  it('excludes an impure cluster (answers 60/40) with a reason and graduates the others', () => {
    const mixed = cluster('mixed', 100, (i) => (i % 5 < 3 ? PASSWORD : REFUND));
    const pure = cluster('pure', 150, () => REFUND);
    const r = graduateClusters([mixed, pure]);
    expect(r.passed.map((c) => c.clusterIds)).toEqual([['pure']]);
    expect(r.failed).toEqual([]);
    const verdict = r.clusters.find((v) => v.clusterId === 'mixed')!;
    // The reason says what the best proposal explains and what was required.
    const support = Number(/reproduces (\d+\.\d)% of its answers < 95%/.exec(verdict.reason ?? '')?.[1]);
    expect(support).toBeGreaterThan(45);
    expect(support).toBeLessThan(75);
    expect(r.clusters.find((v) => v.clusterId === 'pure')).toEqual({ clusterId: 'pure' });
  });

  it('excludes clusters whose answers are too varied, or with too few interactions', () => {
    const varied = cluster('varied', 40, (i) => `${'Answer number '.repeat(1 + (i % 7))}${i} ${'x '.repeat(i)}`);
    const tiny = cluster('tiny', 2, () => PASSWORD);
    const r = graduateClusters([varied, tiny]);
    expect(r.passed).toEqual([]);
    expect(r.failed).toEqual([]);
    expect(r.clusters.find((v) => v.clusterId === 'varied')!.reason).toMatch(/too varied/);
    expect(r.clusters.find((v) => v.clusterId === 'tiny')!.reason).toBe('2 accepted interactions < 3');
  });

  it('puts a candidate with too little evidence in `failed`, with its reasons', () => {
    const r = graduateClusters([cluster('small', 12, () => PASSWORD)]);
    expect(r.passed).toEqual([]);
    expect(r.failed).toHaveLength(1);
    const f = r.failed[0]!;
    expect(f.clusterIds).toEqual(['small']);
    expect(f.evidence.passed).toBe(false);
    expect(f.evidence.reasons).toContain(`12 accepted interactions < ${DEFAULT_POLICY.minExamples}`);
    expect(f.evidence.reasons.some((x) => x.startsWith('precision lower bound'))).toBe(true);
    // It is still a joined cluster: the candidate failed, not the cluster's purity.
    expect(r.clusters).toEqual([{ clusterId: 'small' }]);
  });

  it('fails a candidate whose neighbours routed here would get the wrong answer', () => {
    const target = cluster('pw', 100, () => PASSWORD);
    const other = cluster('refund', 100, () => REFUND);
    const seen: string[][] = [];
    const r = graduateClusters([target, other], {
      neighbours: (ids) => {
        seen.push(ids);
        // Half of the other cluster's queries are routed to it: the router confuses the two.
        const outside = ids.includes('pw') ? other : target;
        return outside.examples.map((e, i) => ({ ...e, routedHere: i % 2 === 0 }));
      },
    });
    expect(seen).toEqual([['pw'], ['refund']]);
    expect(r.passed).toEqual([]);
    expect(r.failed).toHaveLength(2);
    for (const f of r.failed) {
      expect(f.evidence.falsePositives).toMatchObject({ tested: 100, routedHere: 50, wrong: 50, rate: 0.5 });
      expect(f.evidence.reasons).toEqual(['false positives from neighbouring clusters 0.500 > 0.010']);
    }
  });

  it('pools template clusters and hands the reviewer warnings computed over all their examples', () => {
    const q = (i: number) => `where is order ${100000000 + i * 7919}`;
    const a = cluster('where', 60, (i) => `Order ${100000000 + i * 7919} ships tomorrow.`, q);
    const b = cluster(
      'status',
      40,
      (i) => `Order ${200000000 + i * 7919} ships tomorrow.`,
      (i) => `status of order ${200000000 + i * 7919}?`,
    );
    const warned: number[] = [];
    const r = graduateClusters([a, b], {
      warn: (proposal, examples) => {
        warned.push(examples.length);
        return [`check ${proposal.template}`];
      },
    });
    expect(r.passed).toHaveLength(1);
    const c = r.passed[0]!;
    expect(c.proposal).toMatchObject({ kind: 'template', template: 'Order {{id}} ships tomorrow.' });
    expect(c.clusterIds).toEqual(['where', 'status']);
    expect(warned).toEqual([100]);
    expect(c.evidence.warnings).toEqual(['check Order {{id}} ships tomorrow.']);
  });
});
