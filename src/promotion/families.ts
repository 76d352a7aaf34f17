import { escapeLiteral } from '../serving/render';
import { DEFAULT_BUDGET, type ErrorBudget } from './budget';

/**
 * Answer families: a cluster's accepted answers grouped by meaning, so that a teacher who words one answer many ways
 * (or a user who rewords it a little) still yields one candidate. What serves is a family's canonical answer, an
 * answer the teacher gave and users accepted, with the query's slots bound.
 */

/** One distinct answer form of a cluster: the accepted text with the query's slot values abstracted to `{{name}}`. */
export interface AnswerForm {
  /** Handlebars template (literal braces escaped): the form, ready to render. */
  template: string;
  /** Slot names the form refers to, sorted. */
  slots: string[];
  /** How many accepted answers had this form. */
  count: number;
  /** Example answer ids with this form (for the reviewer and the audit). */
  ids: number[];
}

/** P(agree) between two forms of the same or different clusters; forms carry no values, only slot names. */
export type FormAgreement = (a: number, b: number) => number;

export interface Family {
  /** Indices into the forms given to groupFamilies. */
  members: number[];
  /** Index of the canonical form: the most central member, weighted by how often each form was accepted. */
  canonical: number;
  /** Accepted answers in the family, plus edits that only reworded one of its members. */
  support: number;
  /** Edits that corrected one of its members into something that does not agree. */
  against: number;
  /** support / all accepted answers of the cluster (and its edits). */
  share: number;
}

/** Whole-token occurrences only: "123" in "order 123" but not in "12345"; longer values first. */
export function answerForm(answer: string, slots: Record<string, string>): { template: string; slots: string[] } {
  const values = Object.entries(slots)
    .map(([name, value]) => ({ name, value: value.trim() }))
    .filter((v) => v.value.length >= 2)
    .sort((a, b) => b.value.length - a.value.length || a.name.localeCompare(b.name));
  type Piece = { literal: string } | { slot: string };
  let pieces: Piece[] = [{ literal: answer.trim() }];
  for (const v of values) {
    const re = new RegExp(`(?<![\\p{L}\\p{N}_])${v.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}_])`, 'gu');
    pieces = pieces.flatMap((p): Piece[] => {
      if (!('literal' in p)) return [p];
      const parts = p.literal.split(re);
      return parts.flatMap((lit, i): Piece[] => (i === 0 ? [{ literal: lit }] : [{ slot: v.name }, { literal: lit }]));
    });
  }
  const used = new Set<string>();
  let template = '';
  for (const p of pieces) {
    if ('slot' in p) {
      used.add(p.slot);
      // A backslash right before a slot would escape its "{{"; doubled, Handlebars reads one literal backslash.
      if (template.endsWith('\\')) template += '\\';
      template += `{{${p.slot}}}`;
    } else template += escapeLiteral(p.literal);
  }
  return { template, slots: [...used].sort() };
}

/** A cluster's accepted answers as distinct forms, most frequent first (ties by first id: deterministic). */
export function distinctForms(answers: ReadonlyArray<{ id: number; answer: string; slots: Record<string, string> }>): AnswerForm[] {
  const byTemplate = new Map<string, AnswerForm>();
  for (const a of answers) {
    const f = answerForm(a.answer, a.slots);
    const hit = byTemplate.get(f.template);
    if (hit) {
      hit.count++;
      hit.ids.push(a.id);
    } else byTemplate.set(f.template, { ...f, count: 1, ids: [a.id] });
  }
  return [...byTemplate.values()].sort((a, b) => b.count - a.count || a.ids[0]! - b.ids[0]!);
}

/**
 * The P(agree) at which a form joins a family: the budget's own rate. Serving a family's canonical answer to a
 * member's query is wrong with probability 1 - P(agree), so a member admitted at this level cannot by itself push
 * the served error rate past the budget.
 */
export function familyJoinThreshold(budget: ErrorBudget = DEFAULT_BUDGET): number {
  return 1 - budget.maxErrorRate;
}

export interface GroupOptions {
  /** P(agree) with a family's leader needed to join it (default: familyJoinThreshold of the budget). */
  joinAt?: number;
  budget?: ErrorBudget;
  /** Edits of this cluster: the form the teacher gave and the form the user turned it into (indices into forms). */
  edits?: ReadonlyArray<{ original: number; edited: number }>;
}

/**
 * Groups a cluster's distinct forms into families (leader clustering, most central forms first, so the leader of
 * each family is its most typical answer and grouping does not depend on log order), then picks each family's
 * canonical form (highest count-weighted agreement with the other members) and counts edits: an edit that agrees
 * with the teacher's answer supports that answer's family; one that does not counts against it.
 * Families are returned by support, largest first. O(forms²) agreement calls: forms are distinct texts, few per cluster.
 */
export function groupFamilies(forms: ReadonlyArray<AnswerForm>, agree: FormAgreement, opts: GroupOptions = {}): Family[] {
  const joinAt = opts.joinAt ?? familyJoinThreshold(opts.budget);
  const n = forms.length;
  if (n === 0) return [];
  const p: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    p[i]![i] = 1;
    for (let j = i + 1; j < n; j++) p[i]![j] = p[j]![i] = agree(i, j);
  }
  const centrality = (i: number, among: ReadonlyArray<number>) => among.reduce((s, j) => s + forms[j]!.count * p[i]![j]!, 0);
  // Ties (common when agreement is all-or-nothing) go to the more frequent form, then by text: never by log order.
  const tie = (a: number, b: number) =>
    forms[b]!.count - forms[a]!.count || (forms[a]!.template < forms[b]!.template ? -1 : forms[a]!.template > forms[b]!.template ? 1 : 0);
  const all = forms.map((_, i) => i);
  const order = [...all].sort((a, b) => centrality(b, all) - centrality(a, all) || tie(a, b));
  const groups: number[][] = [];
  for (const i of order) {
    let best = -1;
    let bestP = -1;
    groups.forEach((g, k) => {
      const q = p[i]![g[0]!]!;
      if (q > bestP) [best, bestP] = [k, q];
    });
    if (best >= 0 && bestP >= joinAt) groups[best]!.push(i);
    else groups.push([i]);
  }
  const familyOf = new Map<number, number>();
  groups.forEach((g, k) => g.forEach((i) => familyOf.set(i, k)));
  const support = groups.map((g) => g.reduce((s, i) => s + forms[i]!.count, 0));
  const against = groups.map(() => 0);
  for (const e of opts.edits ?? []) {
    const k = familyOf.get(e.original);
    if (k === undefined) continue;
    if (p[e.original]![e.edited]! >= joinAt) support[k]!++;
    else against[k]!++;
  }
  const total = support.reduce((a, b) => a + b, 0) + against.reduce((a, b) => a + b, 0);
  return groups
    .map((g, k) => ({
      members: g,
      canonical: [...g].sort((a, b) => centrality(b, g) - centrality(a, g) || tie(a, b))[0]!,
      support: support[k]!,
      against: against[k]!,
      share: total ? support[k]! / total : 0,
    }))
    .sort((a, b) => b.support - a.support || tie(a.canonical, b.canonical));
}

/** A cluster's proposal for pooling: its largest family's canonical form. */
export interface ClusterCanonical {
  clusterId: string;
  form: AnswerForm;
  /** The family's support in its cluster (accepted answers it explains). */
  support: number;
}

/** One served answer in several forms: the form is chosen by which slots a query binds. */
export interface PooledCandidate {
  clusterIds: string[];
  /** Distinct forms, most slots first, then most support. */
  forms: Array<{ template: string; slots: string[]; support: number; clusterIds: string[] }>;
}

/**
 * Pools clusters whose canonical forms agree in meaning into one candidate (P(agree) >= joinAt with the pool's
 * leader), so evidence of small clusters adds up. `agree` compares forms with their slot references set aside, so
 * the slotted form of an intent ("Your order {{id}} has shipped") and its constant form ("Your order has shipped") pool: one
 * candidate with both forms.
 */
export function poolCanonicals(
  canonicals: ReadonlyArray<ClusterCanonical>,
  agree: FormAgreement,
  opts: { joinAt?: number; budget?: ErrorBudget } = {},
): PooledCandidate[] {
  const joinAt = opts.joinAt ?? familyJoinThreshold(opts.budget);
  // Leader pooling, best-supported canonical first: a cluster joins a pool only if it agrees with the pool's leader,
  // the answer that would serve it. Single linkage would chain A~B~C and serve A's answer for C.
  const order = canonicals
    .map((_, i) => i)
    .sort((a, b) => canonicals[b]!.support - canonicals[a]!.support || (canonicals[a]!.clusterId < canonicals[b]!.clusterId ? -1 : 1));
  const leaders: number[] = [];
  const leaderOf = canonicals.map((_, i) => i);
  for (const i of order) {
    let best = -1;
    let bestP = -1;
    for (const l of leaders) {
      const p = agree(i, l);
      if (p > bestP) [best, bestP] = [l, p];
    }
    if (best >= 0 && bestP >= joinAt) leaderOf[i] = best;
    else leaders.push(i);
  }
  const groups = new Map<number, number[]>();
  canonicals.forEach((_, i) => groups.set(leaderOf[i]!, [...(groups.get(leaderOf[i]!) ?? []), i]));
  return [...groups.values()].map((g) => {
    const forms = new Map<string, PooledCandidate['forms'][number]>();
    for (const i of g) {
      const c = canonicals[i]!;
      const key = c.form.slots.join(',');
      const hit = forms.get(key);
      // One form per slot signature: the best-supported canonical speaks for the others with the same slots.
      if (!hit) forms.set(key, { template: c.form.template, slots: c.form.slots, support: c.support, clusterIds: [c.clusterId] });
      else {
        if (c.support > hit.support) [hit.template, hit.support] = [c.form.template, c.support];
        else hit.support = Math.max(hit.support, c.support);
        hit.clusterIds.push(c.clusterId);
      }
    }
    return {
      clusterIds: g.map((i) => canonicals[i]!.clusterId),
      forms: [...forms.values()].sort((a, b) => b.slots.length - a.slots.length || b.support - a.support),
    };
  });
}

/** The form a query gets: the one with the most slots that the query binds all of; null (frontier) when none fits. */
export function chooseForm<F extends { slots: string[] }>(forms: ReadonlyArray<F>, bound: ReadonlySet<string> | Record<string, string>): F | null {
  const has = bound instanceof Set ? (s: string) => bound.has(s) : (s: string) => Object.hasOwn(bound as Record<string, string>, s);
  let best: F | null = null;
  for (const f of forms) if (f.slots.every(has) && (!best || f.slots.length > best.slots.length)) best = f;
  return best;
}

/** A form's text with slot references removed: what pooling compares, so slotted and constant forms can agree. */
export function withoutSlots(template: string): string {
  return template
    .replace(/(?<!\\)\{\{[a-z_0-9]+\}\}/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Share of a cluster's accepted answers (count-weighted forms) whose judged verdict agrees with a given canonical
 * form: what serving the canonical to the cluster's own logged traffic would have got right. 1 minus this is the
 * in-sample error rate; a cluster whose in-sample error already exceeds the budget (two intents in one cluster, a
 * teacher who answers one query in different ways) is not promoted, however its held-out replay turns out.
 */
export function canonicalAgreement(forms: ReadonlyArray<AnswerForm>, canonical: number, agree: FormAgreement, agreeAt = 0.5): number {
  let agreed = 0;
  let total = 0;
  forms.forEach((f, i) => {
    total += f.count;
    if (i === canonical || agree(canonical, i) >= agreeAt) agreed += f.count;
  });
  return total ? agreed / total : 0;
}
