import { describe, expect, it } from 'vitest';
import { type Example, abstractAnswer, induceProposals } from '../../src/graduation/induce';
import { RenderError, renderAnswer, templateSlots } from '../../src/serving/render';
import { slotsOfQuery } from '../../src/serving/slots';

/** Examples built the way graduation builds them: slots come from masking the raw query. */
const examples = (rows: Array<[query: string, answer: string]>): Example[] =>
  rows.map(([query, answer], id) => ({ id, query, slots: slotsOfQuery(query), answer }));

/** Renders a proposal for a raw query, binding its slots as the router would. */
const renderFor = (p: { template: string; script: Parameters<typeof renderAnswer>[2] }, query: string) =>
  renderAnswer(p.template, { query, slots: slotsOfQuery(query) }, p.script);

describe('induceProposals: constant answers', () => {
  it('proposes one constant, with support 1, when every answer is the same text', () => {
    const answer = "We're sorry to hear you want to cancel your order. Go to 'My Orders' and click 'Cancel'.";
    const train = examples([
      ['how do i cancel my order', answer],
      ['cancel purchase please', answer],
      ['I want to cancel an order', answer],
      ['help me cancel what I bought', answer],
      ['can I still cancel?', answer],
    ]);
    const proposals = induceProposals(train);
    expect(proposals).toHaveLength(1);
    expect(proposals[0]).toMatchObject({ kind: 'constant', script: null, support: 1 });
    expect(templateSlots(proposals[0]!.template)).toEqual([]);
    // A constant answers any query with the answer itself, whatever its slots.
    expect(renderFor(proposals[0]!, 'cancel order 123456789 now')).toBe(answer);
  });

  it('counts answers that differ only in surrounding or repeated whitespace as the same answer', () => {
    const train = examples([
      ['q1', 'Your refund is on its way.'],
      ['q2', '  Your refund is on its way.  '],
      ['q3', 'Your refund  is on its\nway.'],
      ['q4', 'Your refund is on its way.'],
    ]);
    const [p] = induceProposals(train);
    expect(p).toMatchObject({ kind: 'constant', support: 1 });
  });
});

describe('induceProposals: slotted templates', () => {
  const ids = ['123456789', '987654321', '555123987', '246813579', '135792468', '112233445'];
  const rows = ids.map((id, i): [string, string] => [i % 2 ? `where is order ${id}?` : `Where is order ${id}`, `Order ${id} ships tomorrow.`]);

  it('binds the order id masked from the query (normalizeQuery names it "id")', () => {
    // The slot name is whatever the clustering's masking calls an order number: the template must use that name.
    expect(slotsOfQuery('where is order 123456789')).toEqual({ id: '123456789' });
    const proposals = induceProposals(examples(rows));
    expect(proposals[0]).toMatchObject({ kind: 'template', template: 'Order {{id}} ships tomorrow.', script: null, support: 1 });
    expect(templateSlots(proposals[0]!.template)).toEqual(['id']);
  });

  it('renders correctly for a new query with a different id, and refuses a query with no id', () => {
    const [p] = induceProposals(examples(rows));
    expect(renderFor(p!, 'where is order 777000111')).toBe('Order 777000111 ships tomorrow.');
    expect(() => renderFor(p!, 'where is my order')).toThrow(RenderError);
  });

  it('without the slot in the answers the same cluster is a constant, not a template', () => {
    const [p] = induceProposals(examples(ids.map((id) => [`where is order ${id}`, 'Your order ships tomorrow.'])));
    expect(p).toMatchObject({ kind: 'constant', template: 'Your order ships tomorrow.' });
  });

  it('a value counts only where it stands as whole tokens, and longer values win', () => {
    const marked = (toks: string[]) => toks.map((t) => t.replace('\u0001', '<') + (t.startsWith('\u0001') ? '>' : '')).join('');
    // "123" inside "1234" is not the value; "12345" is abstracted before the shorter "123" can claim part of it.
    expect(marked(abstractAnswer('Ref 12345, old 1234, new 123.', { id: '12345', number: '123' }))).toBe('Ref <id>, old 1234, new <number>.');
    // One-character values would match stray tokens everywhere: they are never abstracted.
    expect(marked(abstractAnswer('Plan 7 of 7', { number: '7' }))).toBe('Plan 7 of 7');
  });
});

describe('induceProposals: literal braces in answers', () => {
  // Bitext v2 answers carry anonymisation placeholders such as {{Order Number}} as literal text.
  const literal = (id: string) => `To cancel order ${id}, log into {{Website Name}} and open {{Order Details}}.`;
  const ids = ['123456789', '987654321', '555123987', '246813579'];

  it('escapes {{Placeholder}} text so it is not a slot, and renders it back verbatim', () => {
    const [p] = induceProposals(examples(ids.map((id) => [`cancel order ${id}`, literal(id)])));
    expect(p!.kind).toBe('template');
    // Only the masked id is a slot; the placeholders are literal text.
    expect(templateSlots(p!.template)).toEqual(['id']);
    expect(renderFor(p!, 'please cancel order 444555666')).toBe(literal('444555666'));
  });

  it('keeps backslashes next to braces and slots literal', () => {
    const answer = (id: string) => `Type \\{{code}} then \\${id} and C:\\\\{{dir}}`;
    const [p] = induceProposals(examples(ids.map((id) => [`order ${id}`, answer(id)])));
    expect(p!.kind).toBe('template');
    expect(templateSlots(p!.template)).toEqual(['id']);
    expect(renderFor(p!, 'order 444555666')).toBe(answer('444555666'));
  });

  it('a constant answer with placeholders renders back verbatim', () => {
    const answer = 'Visit {{Customer Support Hours}} or {{Website URL}} -- {{#if x}}no helpers{{/if}}';
    const [p] = induceProposals(
      examples([
        ['a', answer],
        ['b', answer],
        ['c', answer],
      ]),
    );
    expect(p!.kind).toBe('constant');
    expect(templateSlots(p!.template)).toEqual([]);
    expect(renderFor(p!, 'anything')).toBe(answer);
  });
});

describe('induceProposals: scripts', () => {
  const rows: Array<[string, string]> = [
    ['switch to premium account', 'Your Premium plan is ready.'],
    ['i want the basic plan', 'Your Basic plan is ready.'],
    ['upgrade me to gold', 'Your Gold plan is ready.'],
    ['please move my account to premium', 'Your Premium plan is ready.'],
    ['downgrade to basic', 'Your Basic plan is ready.'],
    ['can I get GOLD tier', 'Your Gold plan is ready.'],
    ['premium please', 'Your Premium plan is ready.'],
    ['change plan to basic', 'Your Basic plan is ready.'],
  ];

  it('binds an answer word that varies with a word of the query through a vocabulary', () => {
    const proposals = induceProposals(examples(rows));
    // No single answer reaches half the examples, so the script is the only (and best) proposal.
    expect(proposals).toHaveLength(1);
    const p = proposals[0]!;
    expect(p.kind).toBe('script');
    expect(p.support).toBe(1);
    expect(p.script).toEqual({ kind: 'vocabulary', variables: [{ name: 'word_1', vocabulary: { basic: 'Basic', gold: 'Gold', premium: 'Premium' } }] });
    expect(p.template).toBe('Your {{word_1}} plan is ready.');
  });

  it('answers a new query from the vocabulary and refuses one with no vocabulary word', () => {
    const [p] = induceProposals(examples(rows));
    expect(renderFor(p!, 'Upgrade to PREMIUM today')).toBe('Your Premium plan is ready.');
    expect(renderFor(p!, 'gold plan for me')).toBe('Your Gold plan is ready.');
    expect(() => renderFor(p!, 'switch to platinum')).toThrow(/word_1/);
  });

  it('proposes no script when the varying word is not taken from the query', () => {
    // The plan is named in the answer but not in the query: nothing a reviewer can read explains it.
    const unexplained = rows.map(([, a], i): [string, string] => [`change my plan please (${i})`, a]);
    expect(induceProposals(examples(unexplained)).filter((p) => p.kind === 'script')).toEqual([]);
  });

  it('proposes no script when too many positions vary', () => {
    expect(induceProposals(examples(rows), { maxScriptVariables: 0 })).toEqual([]);
  });
});

describe('induceProposals: too varied', () => {
  it('proposes nothing when no answer or shape explains minSupport of the examples', () => {
    const train = examples([
      ['a', 'Sure.'],
      ['b', 'You can find it under Settings.'],
      ['c', 'Please contact support at the number on your card.'],
      ['d', 'Refunds take 5-7 days.'],
      ['e', 'I am sorry about that!'],
      ['f', 'Yes, we ship to Canada and Mexico.'],
    ]);
    expect(induceProposals(train)).toEqual([]);
    expect(induceProposals([])).toEqual([]);
  });

  it('an answer explaining 60% is proposed at the default minSupport (0.5) but not at 0.7', () => {
    const train = examples([
      ...Array.from({ length: 6 }, (_, i): [string, string] => [`q${i}`, 'Your refund is on its way.']),
      ['x', 'Please wait.'],
      ['y', 'Something else entirely, sorry.'],
      ['z', 'Contact us.'],
      ['w', 'We have no idea what happened here.'],
    ]);
    const [p] = induceProposals(train);
    expect(p).toMatchObject({ kind: 'constant', template: 'Your refund is on its way.', support: 0.6 });
    expect(induceProposals(train, { minSupport: 0.7 })).toEqual([]);
  });
});
