import { describe, expect, it } from 'vitest';
import { renderAnswer } from '../../src/serving/render';
import { DEFAULT_BUDGET } from '../../src/promotion/budget';
import {
  type AnswerForm,
  answerForm,
  canonicalAgreement,
  chooseForm,
  distinctForms,
  familyJoinThreshold,
  groupFamilies,
  poolCanonicals,
  withoutSlots,
} from '../../src/promotion/families';

/** A stand-in judge over forms: word overlap, so tests can say exactly which answers agree. */
const words = (t: string) =>
  new Set(
    withoutSlots(t)
      .toLowerCase()
      .match(/[a-z0-9]+/g) ?? [],
  );
function overlap(a: string, b: string): number {
  const x = words(a);
  const y = words(b);
  let i = 0;
  for (const w of x) if (y.has(w)) i++;
  return i / (x.size + y.size - i || 1);
}
/** P(agree) = 1 for overlap >= 0.6, else 0: any joinAt in between gives the same families. */
const agreeOf = (forms: ReadonlyArray<{ template: string }>) => (a: number, b: number) => (overlap(forms[a]!.template, forms[b]!.template) >= 0.6 ? 1 : 0);

const form = (template: string, count: number, slots: string[] = []): AnswerForm => ({ template, slots, count, ids: [count] });

describe('answerForm', () => {
  it("abstracts the query's slot values as whole tokens and escapes the answer's literal braces", () => {
    const f = answerForm('Order 12345 ships soon; 123456 is not yours. See {{Order Details}}.', { id: '12345' });
    expect(f).toEqual({ template: 'Order {{id}} ships soon; 123456 is not yours. See \\{{Order Details}}.', slots: ['id'] });
    expect(renderAnswer(f.template, { query: '', slots: { id: '999' } })).toBe('Order 999 ships soon; 123456 is not yours. See {{Order Details}}.');
    expect(answerForm('Your order has shipped.', { id: '12345' })).toEqual({ template: 'Your order has shipped.', slots: [] });
  });

  it('collapses answers that differ only in their slot values into one form with a count', () => {
    const forms = distinctForms([
      { id: 1, answer: 'Order 111 has shipped.', slots: { id: '111' } },
      { id: 2, answer: 'Order 222 has shipped.', slots: { id: '222' } },
      { id: 3, answer: 'Sorry, no idea.', slots: {} },
    ]);
    expect(forms.map((f) => [f.template, f.count, f.ids])).toEqual([
      ['Order {{id}} has shipped.', 2, [1, 2]],
      ['Sorry, no idea.', 1, [3]],
    ]);
  });
});

describe('groupFamilies', () => {
  const forms = [
    form('You can cancel your order from the Orders page in your account.', 5),
    form('You can cancel your order from the Orders page of your account.', 3),
    form('Cancel your order from the Orders page in your account, please.', 2),
    form('Refunds take five to seven business days to reach your card.', 4),
    form('Refunds take five to seven business days to arrive on your card.', 1),
  ];

  it('groups answers by meaning, largest family first, with the most central answer as canonical', () => {
    const fams = groupFamilies(forms, agreeOf(forms));
    expect(fams.map((f) => [...f.members].sort())).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
    expect(fams[0]).toMatchObject({ canonical: 0, support: 10, against: 0 });
    expect(fams[0]!.share).toBeCloseTo(10 / 15, 12);
    expect(fams[1]!.canonical).toBe(3);
    // Log order does not matter: the same answers in reverse give the same families.
    const rev = [...forms].reverse();
    expect(groupFamilies(rev, agreeOf(rev)).map((f) => rev[f.canonical]!.template)).toEqual(fams.map((f) => forms[f.canonical]!.template));
  });

  it('joins at the budget: a 1% budget needs P(agree) >= 0.99, so a 0.95 look-alike starts its own family', () => {
    expect(familyJoinThreshold(DEFAULT_BUDGET)).toBeCloseTo(0.99, 12);
    const two = [form('A', 3), form('B', 1)];
    expect(groupFamilies(two, () => 0.95)).toHaveLength(2);
    expect(groupFamilies(two, () => 0.995)).toHaveLength(1);
    expect(groupFamilies(two, () => 0.95, { budget: { ...DEFAULT_BUDGET, maxErrorRate: 0.1 } })).toHaveLength(1);
  });

  it('edits that reword support the family, edits that correct count against it', () => {
    const withEdits = [...forms, form('Orders cannot be cancelled once shipped; contact support for a return.', 1)];
    const fams = groupFamilies(withEdits, agreeOf(withEdits), {
      edits: [
        { original: 0, edited: 1 },
        { original: 0, edited: 5 },
        { original: 3, edited: 4 },
      ],
    });
    const cancel = fams.find((f) => f.members.includes(0))!;
    expect(cancel).toMatchObject({ support: 11, against: 1 });
    expect(fams.find((f) => f.members.includes(3))).toMatchObject({ support: 6, against: 0 });
  });
});

describe('poolCanonicals and chooseForm', () => {
  const canon = [
    { clusterId: 'c1', form: form('Your order {{id}} has shipped and arrives in two days.', 40, ['id']), support: 40 },
    { clusterId: 'c2', form: form('Your order has shipped and arrives in two days.', 90), support: 90 },
    { clusterId: 'c3', form: form('Your order has shipped and it arrives in two days.', 30), support: 30 },
    { clusterId: 'c4', form: form('Refunds take five to seven business days.', 50), support: 50 },
  ];
  const agree = agreeOf(canon.map((c) => c.form));

  it('pools a slotted and a constant form of one intent into one candidate; other intents stay apart', () => {
    const pooled = poolCanonicals(canon, agree);
    expect(pooled.map((p) => p.clusterIds)).toEqual([['c1', 'c2', 'c3'], ['c4']]);
    const shipped = pooled[0]!;
    expect(shipped.forms.map((f) => [f.template, f.slots, f.clusterIds])).toEqual([
      ['Your order {{id}} has shipped and arrives in two days.', ['id'], ['c1']],
      ['Your order has shipped and arrives in two days.', [], ['c2', 'c3']],
    ]);
  });

  it('serves the slotted form when the query binds its slots and the constant form otherwise', () => {
    const forms = poolCanonicals(canon, agree)[0]!.forms;
    expect(chooseForm(forms, { id: '12345' })!.slots).toEqual(['id']);
    expect(chooseForm(forms, {})!.slots).toEqual([]);
    expect(chooseForm([forms[0]!], { email: 'a@b.co' })).toBeNull();
  });
});

describe('canonicalAgreement', () => {
  it('is the count-weighted share of answers whose verdict agrees with the canonical', () => {
    const forms = [form('Cancel from the Orders page.', 8), form('Cancel from the Orders page, please.', 1), form('Track under Order Details.', 1)];
    const agree = (a: number, b: number) => (Math.min(a, b) === 0 && Math.max(a, b) === 1 ? 0.9 : 0.1);
    expect(canonicalAgreement(forms, 0, agree)).toBeCloseTo(0.9, 12);
    expect(canonicalAgreement(forms, 2, agree)).toBeCloseTo(0.1, 12);
    expect(canonicalAgreement(forms, 0, agree, 0.95)).toBeCloseTo(0.8, 12);
  });
});
