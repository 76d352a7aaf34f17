import { type Example, type InduceOptions, type Proposal, induceProposals } from './induce';
import { DEFAULT_POLICY, type Evidence, type GraduationPolicy, type VerifyInput, splitHoldout, verifyCandidate } from './verify';

/** One cluster's accepted interactions, as graduation sees them. */
export interface ClusterExamples {
  clusterId: string;
  examples: ReadonlyArray<Example>;
}

/** A candidate: one answer (constant, template or script) serving one or more clusters, with replay evidence. */
export interface Candidate {
  proposal: Proposal;
  clusterIds: string[];
  evidence: Evidence;
  /** Per cluster: training support of the answer and held-out agreement, for the reviewer. */
  perCluster: Array<{ clusterId: string; examples: number; support: number; heldOut: number; agreed: number }>;
}

export interface ClusterVerdict {
  clusterId: string;
  /** Why the cluster is in no candidate; absent when it is. */
  reason?: string;
}

export interface GraduationResult {
  /** Candidates that passed replay (for review) and those that did not (kept with their evidence). */
  passed: Candidate[];
  failed: Candidate[];
  clusters: ClusterVerdict[];
}

export interface GraduateOptions {
  policy?: GraduationPolicy;
  induce?: InduceOptions;
  /** Share of a cluster's training answers its proposal must reproduce for the cluster to join a candidate. */
  minClusterSupport?: number;
  /** Fewest accepted interactions a cluster needs to be considered at all. */
  minClusterExamples?: number;
  /** Queries outside a candidate's clusters, flagged with whether the router would send them to one of them. */
  neighbours?: (clusterIds: string[]) => VerifyInput['neighbours'];
  answerSimilarity?: VerifyInput['answerSimilarity'];
  /** Warnings for the reviewer about an answer (e.g. it may not fit its queries). */
  warn?: (proposal: Proposal, examples: Example[]) => string[];
  seed?: string;
}

const proposalKey = (p: Proposal) => `${p.kind}\u0000${p.template}\u0000${JSON.stringify(p.script)}`;

/**
 * Graduation of a run's clusters:
 * 1. per cluster, split its accepted interactions (train / held out) and induce proposals from the train side;
 *    a cluster whose best proposal reproduces nearly all of its train answers is answer-pure and may join;
 * 2. clusters whose best proposal is the same answer form one candidate (one answer, several routes), so small
 *    clusters pool their evidence instead of each failing for lack of it;
 * 3. each candidate is replayed on the pooled held-out interactions and on neighbour queries and judged by policy.
 */
export function graduateClusters(clusters: ReadonlyArray<ClusterExamples>, opts: GraduateOptions = {}): GraduationResult {
  const policy = opts.policy ?? DEFAULT_POLICY;
  const minSupport = opts.minClusterSupport ?? 0.95;
  const minExamples = opts.minClusterExamples ?? 3;
  const verdicts: ClusterVerdict[] = [];
  const families = new Map<string, { proposal: Proposal; members: Array<{ clusterId: string; train: Example[]; holdout: Example[]; support: number }> }>();

  for (const c of clusters) {
    if (c.examples.length < minExamples) {
      verdicts.push({ clusterId: c.clusterId, reason: `${c.examples.length} accepted interactions < ${minExamples}` });
      continue;
    }
    const { train, holdout } = splitHoldout(c.examples, policy.holdoutFraction, opts.seed);
    const best = induceProposals(train, opts.induce)[0];
    if (!best) {
      verdicts.push({ clusterId: c.clusterId, reason: 'answers too varied: no constant, template or script explains most of them' });
      continue;
    }
    if (best.support < minSupport) {
      verdicts.push({
        clusterId: c.clusterId,
        reason: `best ${best.kind} reproduces ${(100 * best.support).toFixed(1)}% of its answers < ${(100 * minSupport).toFixed(0)}%`,
      });
      continue;
    }
    const key = proposalKey(best);
    const f = families.get(key) ?? { proposal: best, members: [] };
    f.members.push({ clusterId: c.clusterId, train, holdout, support: best.support });
    families.set(key, f);
    verdicts.push({ clusterId: c.clusterId });
  }

  const passed: Candidate[] = [];
  const failed: Candidate[] = [];
  for (const f of families.values()) {
    const clusterIds = f.members.map((m) => m.clusterId);
    const trainCount = f.members.reduce((a, m) => a + m.train.length, 0);
    const proposal = { ...f.proposal, support: f.members.reduce((a, m) => a + m.support * m.train.length, 0) / trainCount };
    const holdout = f.members.flatMap((m) => m.holdout);
    const evidence = verifyCandidate(
      {
        proposal,
        holdout,
        neighbours: opts.neighbours?.(clusterIds),
        answerSimilarity: opts.answerSimilarity,
        warnings: opts.warn?.(
          proposal,
          f.members.flatMap((m) => [...m.train, ...m.holdout]),
        ),
      },
      policy,
    );
    if (trainCount + holdout.length < policy.minExamples) {
      evidence.passed = false;
      evidence.reasons.push(`${trainCount + holdout.length} accepted interactions < ${policy.minExamples}`);
    }
    const perCluster = f.members.map((m) => ({
      clusterId: m.clusterId,
      examples: m.train.length + m.holdout.length,
      support: m.support,
      heldOut: m.holdout.length,
      agreed: verifyCandidate({ proposal, holdout: m.holdout }, policy.match === 'semantic' ? { ...policy, match: 'normalised' } : policy).agreed,
    }));
    (evidence.passed ? passed : failed).push({ proposal, clusterIds, evidence, perCluster });
  }
  const bySize = (a: Candidate, b: Candidate) => b.perCluster.reduce((s, m) => s + m.examples, 0) - a.perCluster.reduce((s, m) => s + m.examples, 0);
  return { passed: passed.sort(bySize), failed: failed.sort(bySize), clusters: verdicts };
}
