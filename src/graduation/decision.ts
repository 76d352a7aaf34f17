/**
 * A reviewer's decision on a candidate, as the review workflow's `decide` Update takes it. Plain data and a pure
 * validator: the workflow runs the validator before accepting the Update, and the API and CLI run it first to give
 * the same message without a round trip. No Node imports: this file is bundled into workflow code.
 */
import { codePointLength } from '../interactions/storable';

export type DecisionAction = 'approve' | 'approve_with_edits' | 'reject';

export interface Decision {
  action: DecisionAction;
  reviewer: string;
  comment?: string;
  /** For approve_with_edits: the edited template (Handlebars). */
  template?: string;
  /** For approve_with_edits on a script: the edited script spec. */
  script?: unknown;
}

export interface DecisionResult {
  candidateId: string;
  status: 'approved' | 'rejected';
  version: number;
  /** Routes (cluster ids) that now have a tier entry. */
  routes: string[];
}

/** Throws an Error whose message names the field and the fix; returns the decision trimmed. */
export function validateDecision(input: unknown): Decision {
  if (!input || typeof input !== 'object') throw new Error('decision: must be an object {action, reviewer, comment?, template?}');
  const d = input as Record<string, unknown>;
  if (d.action !== 'approve' && d.action !== 'approve_with_edits' && d.action !== 'reject') {
    throw new Error(`action: must be approve, approve_with_edits or reject, got ${JSON.stringify(d.action)}`);
  }
  if (typeof d.reviewer !== 'string' || !d.reviewer.trim()) throw new Error('reviewer: say who decides (a name or email)');
  if (codePointLength(d.reviewer) > 200) throw new Error('reviewer: at most 200 characters');
  if (d.comment !== undefined && typeof d.comment !== 'string') throw new Error('comment: must be text');
  if (d.action === 'reject' && !(typeof d.comment === 'string' && d.comment.trim())) throw new Error('comment: say why the candidate is rejected');
  if (d.action === 'approve_with_edits') {
    if (typeof d.template !== 'string' || !d.template.trim()) throw new Error('template: approve_with_edits needs the edited template');
    if (codePointLength(d.template) > 20_000) throw new Error('template: at most 20000 characters');
  } else if (d.template !== undefined || d.script !== undefined) {
    throw new Error(`template: only approve_with_edits takes an edited template; use that action or drop the field`);
  }
  return {
    action: d.action,
    reviewer: d.reviewer.trim(),
    ...(typeof d.comment === 'string' && d.comment.trim() ? { comment: d.comment.trim() } : {}),
    ...(d.action === 'approve_with_edits' ? { template: d.template as string, ...(d.script !== undefined ? { script: d.script } : {}) } : {}),
  };
}
