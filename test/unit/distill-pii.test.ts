import { describe, expect, it } from 'vitest';
import { normalizeQuery } from '../../src/serving/normalize';
import { SHARED_DATASETS, loadSharedDataset } from '../../src/datasets/shared';
import { DEFAULT_PII_TYPES, cannotHoldPii, createPiiScrubber, scrubPii } from '../../src/distill/pii';

const PII = new Set<string>(DEFAULT_PII_TYPES);
const piiSlots = (t: string) => normalizeQuery(t).slots.filter((s) => PII.has(s.type));

describe('scrubPii', () => {
  it('replaces only the spans of PII values, in the original text (casing, spacing and newlines stay)', () => {
    const t = 'Hi Team,\n\nMy name is John Smith, mail  JOHN.SMITH@Example.COM or call (212) 555-0143.\nCard: 4111 1111 1111 1111.';
    expect(scrubPii(t)).toEqual({
      text: 'Hi Team,\n\nMy name is <name>, mail  <email> or call <phone>.\nCard: <card>.',
      counts: { name: 1, email: 1, phone: 1, card: 1 },
    });
  });

  it('a 16-digit number that fails the Luhn check is no card', () => {
    expect(scrubPii('use 4111 1111 1111 1112 instead')).toEqual({ text: 'use 4111 1111 1111 1112 instead', counts: {} });
    expect(scrubPii('use 4111-1111-1111-1111 instead').counts).toEqual({ card: 1 });
  });

  it('keeps money, dates, times and plain numbers by default; ids after a cue, URLs and IBANs go', () => {
    expect(scrubPii('Refund of $25.00 on 12/03/2024 at 10:30 for 2 items of order 12345, see https://acme.example/r?t=9').text).toBe(
      'Refund of $25.00 on 12/03/2024 at 10:30 for 2 items of order <id>, see <url>',
    );
    expect(scrubPii('IBAN GB82 WEST 1234 5698 7654 32 please').text).toBe('IBAN <iban> please');
  });

  it('scrubs the types asked for, leaves placeholders already there alone, and remembers texts', () => {
    const t = 'mail a@b.example or call +44 20 7946 0958 about <email>';
    expect(scrubPii(t, ['email'])).toEqual({ text: 'mail <email> or call +44 20 7946 0958 about <email>', counts: { email: 1 } });
    expect(scrubPii(t, ['money', 'date'])).toEqual({ text: t, counts: {} });
    const scrub = createPiiScrubber();
    expect(scrub(t)).toBe(scrub(t));
    expect(scrub(t).counts).toEqual({ email: 1, phone: 1 });
  });
});

describe('cannotHoldPii: the shortcut never skips a text with PII', () => {
  it('on the shared data sets (queries and answers)', () => {
    let skipped = 0;
    let total = 0;
    for (const name of SHARED_DATASETS) {
      for (const t of new Set(loadSharedDataset(name).flatMap((e) => [e.query, e.answer]))) {
        total++;
        if (!cannotHoldPii(t)) continue;
        skipped++;
        expect(piiSlots(t), t).toEqual([]);
      }
    }
    // It is worth having: most texts are skipped.
    expect(skipped / total).toBeGreaterThan(0.5);
  });

  it('on crafted cases near every trigger', () => {
    const cases = [
      'I am John',
      'i am John',
      'I`m Sam',
      "I'm Sam",
      'this is Maria',
      'for  Maria',
      'from\nAnna Freeman',
      'named Bob',
      'called Bob',
      'my name is bob',
      "name's bob",
      'dear anna',
      'Dear Anna',
      'regards,\nBob',
      'Sincerely,  Bob',
      'Mr.Smith',
      'Mr Smith',
      'mrs Jones',
      'Dr. Who',
      'Prof Xavier',
      'Dr    . Mr. my John',
      'Dr.. Smith',
      'a@b',
      'see www.example',
      'go to example.com',
      'http://x',
      'call 5551234',
      'order 12',
      'ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ',
      '１２３４５６７８',
      'café Anna',
      'for the Premium plan',
      'FOR ANNA',
      'for anna',
      'I am happy',
      'this is great',
      'Hello Support',
      'Thanks Jane',
      'plain words only',
    ];
    for (const t of cases) if (piiSlots(t).length) expect(cannotHoldPii(t), t).toBe(false);
    // And it does skip plain text.
    expect(cannotHoldPii('plain words only')).toBe(true);
    expect(cannotHoldPii('I am happy, this is great')).toBe(true);
  });

  it('on random ASCII texts made of cue words, capitals, names, digits and punctuation', () => {
    const parts = [
      'i',
      'am',
      "i'm",
      'I`m',
      'this',
      'is',
      'for',
      'from',
      'name',
      'dear',
      'Dear',
      'Mr',
      'Mr.',
      'Dr',
      'called',
      'regards,',
      'John',
      'anna',
      'Smith',
      'the',
      'plan',
      'Premium',
      'my',
      'My',
      ',',
      '.',
      '\n',
      '  ',
      'x',
      'Toronto',
      'a',
      'on',
      'ms',
      'Ms',
      'Prof',
      ' .',
      '..',
      '\t',
      '`',
      "'s",
      '-',
    ];
    let s = 7;
    const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
    let checked = 0;
    for (let n = 0; n < 20000; n++) {
      const t = Array.from({ length: 2 + Math.floor(rand() * 6) }, () => parts[Math.floor(rand() * parts.length)]).join(rand() < 0.8 ? ' ' : '');
      if (piiSlots(t).length) {
        checked++;
        expect(cannotHoldPii(t), t).toBe(false);
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
