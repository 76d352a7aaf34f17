import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { RenderError, compileTemplate, escapeLiteral, renderAnswer, templateSlots } from '../../src/serving/render';
import { type ScriptSpec, parseScript, runScript, scriptSource } from '../../src/serving/script';
import { httpStatusOf } from '../../src/api/errors';

const caught = (f: () => unknown): unknown => {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
};

describe('compileTemplate', () => {
  it.each([
    ['an unclosed mustache', 'Order {{id ships tomorrow'],
    ['an unclosed block', 'Hello {{#if vip}}friend'],
    ['a helper that is not known', 'Hello {{shout name}}'],
    ['a block closed by the wrong name', '{{#if vip}}x{{/each}}'],
    ['an answer with raw anonymisation placeholders', 'Log into {{Website Name}} now'],
  ])('rejects %s with an InputError on field "template"', (_, template) => {
    const err = caught(() => compileTemplate(template));
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe('template');
    expect(httpStatusOf(err as InputError)).toBe(400);
    // The message tells a reviewer how to write literal braces.
    expect((err as InputError).message).toMatch(/^template: does not compile: .*\\\{\{/);
  });

  it('compiles once and reuses the compiled template', () => {
    expect(compileTemplate('Hi {{name}}')).toBe(compileTemplate('Hi {{name}}'));
  });
});

describe('renderAnswer', () => {
  it('fills slots', () => {
    expect(renderAnswer('Order {{id}} to {{email}}.', { query: 'q', slots: { id: '42', email: 'a@b.co' } })).toBe('Order 42 to a@b.co.');
  });

  it('strict mode: a missing slot is a RenderError naming it, never an empty hole', () => {
    const err = caught(() => renderAnswer('Order {{id}} to {{email}}.', { query: 'q', slots: { id: '42' } }));
    expect(err).toBeInstanceOf(RenderError);
    expect((err as Error).message).toMatch(/"email"/);
    expect((err as Error).message).not.toMatch(/"id"/);
  });

  it('does no HTML escaping: answers are plain text', () => {
    const literal = 'Terms & <conditions> apply: "quoted" and \'single\' = `tick`';
    expect(renderAnswer(escapeLiteral(literal), { query: 'q', slots: {} })).toBe(literal);
    expect(renderAnswer('Hello {{name}}!', { query: 'q', slots: { name: 'Tom & <Jerry>' } })).toBe('Hello Tom & <Jerry>!');
  });

  it('runs the script first and fills its values in beside the slots', () => {
    const script: ScriptSpec = { kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { premium: 'Premium', basic: 'Basic' } }] };
    expect(renderAnswer('{{plan}} for order {{id}}', { query: 'Premium for order 77', slots: { id: '77' } }, script)).toBe('Premium for order 77');
    expect(() => renderAnswer('{{plan}}', { query: 'gold please', slots: {} }, script)).toThrow(/plan/);
  });
});

describe('escapeLiteral', () => {
  it.each([
    'Log into {{Website Name}} and open {{Order Details}}',
    '{{{triple}}} and {{#if x}}block{{/if}} and {{! comment }} and {{> partial}}',
    'a backslash \\ alone, one before braces \\{{x}}, two before braces \\\\{{y}}, at the end \\',
    'stray }} and {{ braces',
    '{{',
    '\\{{',
    '',
  ])('renders %j back verbatim and adds no slot', (text) => {
    expect(renderAnswer(escapeLiteral(text), { query: 'q', slots: {} })).toBe(text);
    expect(templateSlots(escapeLiteral(text))).toEqual([]);
  });
});

describe('templateSlots', () => {
  it('lists slot names in order of first use, including inside blocks, not literal braces', () => {
    expect(templateSlots('Order {{id}} for {{email_2}} ({{id}}) \\{{literal}}')).toEqual(['id', 'email_2']);
    expect(templateSlots('{{#if vip}}{{name}}{{/if}}')).toEqual(['name']);
  });
});

describe('parseScript', () => {
  const valid = { kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { Premium: 'Premium', basic: 'Basic' } }] };
  const fieldOf = (value: unknown) => {
    const err = caught(() => parseScript(value));
    expect(err).toBeInstanceOf(InputError);
    return (err as InputError).field;
  };

  it('names the field at fault', () => {
    expect(fieldOf(null)).toBe('script');
    expect(fieldOf('derive()')).toBe('script');
    expect(fieldOf({ ...valid, kind: 'javascript' })).toBe('script.kind');
    expect(fieldOf({ kind: 'vocabulary' })).toBe('script.variables');
    expect(fieldOf({ kind: 'vocabulary', variables: [] })).toBe('script.variables');
    expect(fieldOf({ kind: 'vocabulary', variables: [valid.variables[0], { name: '1plan', vocabulary: {} }] })).toBe('script.variables[1].name');
    expect(fieldOf({ kind: 'vocabulary', variables: [{ name: 'x-y', vocabulary: {} }] })).toBe('script.variables[0].name');
    expect(fieldOf({ kind: 'vocabulary', variables: [{ name: 'plan' }] })).toBe('script.variables[0].vocabulary');
    expect(fieldOf({ kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { gold: 3 } }] })).toBe('script.variables[0].vocabulary.gold');
  });

  it('accepts a valid script and lower-cases its query words (queries are matched lower-cased)', () => {
    const spec = parseScript(valid);
    expect(spec).toEqual({ kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { premium: 'Premium', basic: 'Basic' } }] });
    expect(runScript(spec, { query: 'Go PREMIUM', slots: {} })).toEqual({ plan: 'Premium' });
  });
});

describe('runScript', () => {
  const spec: ScriptSpec = {
    kind: 'vocabulary',
    variables: [
      { name: 'plan', vocabulary: { premium: 'Premium', basic: 'Basic' } },
      { name: 'period', vocabulary: { monthly: 'month', yearly: 'year', annual: 'year' } },
    ],
  };

  it('gives each variable the value of the first vocabulary word of the query', () => {
    expect(runScript(spec, { query: 'Switch me to the basic plan, billed ANNUAL', slots: {} })).toEqual({ plan: 'Basic', period: 'year' });
    expect(runScript(spec, { query: 'basic or premium? monthly', slots: {} })).toEqual({ plan: 'Basic', period: 'month' });
  });

  it('throws, naming the variable, when no vocabulary word is in the query', () => {
    expect(() => runScript(spec, { query: 'premium please', slots: {} })).toThrow(/"period"/);
    // Words must match whole: "premiums" is not "premium"; inherited object keys are not vocabulary.
    expect(() => runScript(spec, { query: 'premiums monthly', slots: {} })).toThrow(/"plan"/);
    expect(() => runScript(spec, { query: 'constructor tostring monthly', slots: {} })).toThrow(/"plan"/);
  });

  it('reads as a small module a reviewer can check', () => {
    const src = scriptSource(spec);
    expect(src).toContain('export default function derive({ query })');
    expect(src).toContain(`plan: pick(words, ${JSON.stringify(spec.variables[0]!.vocabulary)})`);
    expect(src).toContain(`period: pick(words, ${JSON.stringify(spec.variables[1]!.vocabulary)})`);
  });
});
