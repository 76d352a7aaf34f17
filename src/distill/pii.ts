import { type SlotType, normalizeQuery } from '../serving/normalize';
import { placeholder } from '../serving/slot-types';

/**
 * PII scrubbing of training text (pure). It reuses the masking of clustering (normalizeQuery and its rule table, one
 * definition of what an email, phone, card (Luhn-checked), IBAN (mod-97), id or name is), but only for the slots'
 * OFFSETS: the spans of the chosen types are replaced in the ORIGINAL text by typed placeholders (`<email>`), and
 * everything else (casing, whitespace, punctuation, the other values) stays as it was, since it is what the student
 * model learns to write.
 *
 * Default types: the values that identify a person or an account: email, phone, card, iban, id, name, url. Money,
 * dates, times, percentages and plain numbers are kept: they are rarely personal on their own and masking them
 * would teach the student to answer "<number> business days".
 */

export const DEFAULT_PII_TYPES: readonly SlotType[] = ['email', 'phone', 'card', 'iban', 'id', 'name', 'url'];

export interface ScrubResult {
  text: string;
  /** Values replaced, per type; only types that occurred. */
  counts: Partial<Record<SlotType, number>>;
}

const NONE: Partial<Record<SlotType, number>> = Object.freeze({});

/** Replaces the values of the given types in `text` by their placeholders. */
export function scrubPii(text: string, types: ReadonlyArray<SlotType> = DEFAULT_PII_TYPES): ScrubResult {
  return scrubWith(text, new Set(types));
}

function scrubWith(text: string, wanted: ReadonlySet<SlotType>): ScrubResult {
  if (text === '' || (prefilterApplies(wanted) && cannotHoldPii(text))) return { text, counts: NONE };
  const slots = normalizeQuery(text).slots;
  let counts: Partial<Record<SlotType, number>> | null = null;
  const parts: string[] = [];
  let pos = 0;
  for (const s of slots) {
    if (!wanted.has(s.type)) continue;
    parts.push(text.slice(pos, s.start), placeholder(s.type));
    pos = s.end;
    counts ??= {};
    counts[s.type] = (counts[s.type] ?? 0) + 1;
  }
  if (counts === null) return { text, counts: NONE };
  parts.push(text.slice(pos));
  return { text: parts.join(''), counts };
}

/**
 * A scrubber that remembers its results: repeated texts (a shared system prompt, a canned answer, a popular query)
 * are scrubbed once. The memo lives as long as the returned function.
 */
export function createPiiScrubber(types: ReadonlyArray<SlotType> = DEFAULT_PII_TYPES): (text: string) => ScrubResult {
  const wanted = new Set(types);
  const memo = new Map<string, ScrubResult>();
  return (text: string) => {
    let r = memo.get(text);
    if (r === undefined) {
      r = scrubWith(text, wanted);
      memo.set(text, r);
    }
    return r;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Prefilter
// ---------------------------------------------------------------------------------------------------------------

/**
 * Most short texts hold no PII at all, and running every masking rule over them is most of the builder's time. This
 * is a conservative shortcut, never a second definition: it says "nothing to find" only for pure-ASCII text (so that
 * NFKC cannot turn a fullwidth digit or '＠' into a real one) in which every rule of the default types is impossible:
 * - email needs '@'; url needs '://', 'www.' or a dot before a letter (a bare domain's TLD); iban, card, phone and
 *   id all need a digit;
 * - name needs an honorific before a capital ("Mr. Smith"), a strong cue ("my name is", "dear", "called",
 *   "regards", "sincerely"; "name" covers "name's" and "named"), or a weak cue ("for", "from", "i am", "i'm",
 *   "this is") before a capital: after a weak cue a lower-case word is never a name.
 * Whitespace runs count as one space, and a space before punctuation as none ("Dr  . Smith" is "Dr. Smith"), as
 * they do once normalizeQuery has collapsed and squeezed them. Unit tests check the shortcut against normalizeQuery
 * on the shared data sets, crafted cases and random cue-word texts. It depends on masking-rules.ts: a rule that can
 * match without these triggers (a new cue, a digit-free id) must be reflected here; a type not in PREFILTER_TYPES
 * turns the shortcut off.
 */
const PREFILTER_TYPES: ReadonlySet<SlotType> = new Set(['email', 'url', 'phone', 'card', 'iban', 'id', 'name']);
const ASCII_ONLY = /^[\x00-\x7f]*$/;
const VALUE_TRIGGER = /[0-9@]|:\/\/|www\.|\.[a-z]/i;
const NAME_TRIGGER =
  /[Nn][Aa][Mm][Ee]|[Dd][Ee][Aa][Rr]|[Cc][Aa][Ll][Ll][Ee][Dd]|[Rr][Ee][Gg][Aa][Rr][Dd][Ss]|[Ss][Ii][Nn][Cc][Ee][Rr][Ee][Ll][Yy]|(?:Mrs|Mr|Ms|Miss|Mx|Dr|Prof|mrs|mr|ms|dr)[\s.]*[A-Z]|(?:[Ff][Oo][Rr]|[Ff][Rr][Oo][Mm]|[Aa][Mm]|[Ii]['`][Mm]|[Ii][Ss])\s+[A-Z]/;

const prefilterCache = new WeakMap<ReadonlySet<SlotType>, boolean>();
function prefilterApplies(wanted: ReadonlySet<SlotType>): boolean {
  let ok = prefilterCache.get(wanted);
  if (ok === undefined) {
    ok = [...wanted].every((t) => PREFILTER_TYPES.has(t));
    prefilterCache.set(wanted, ok);
  }
  return ok;
}

/** True only when no value of the prefilter's types can be in `text` (see above); false means "maybe". */
export function cannotHoldPii(text: string): boolean {
  return ASCII_ONLY.test(text) && !VALUE_TRIGGER.test(text) && !NAME_TRIGGER.test(text);
}

/** Adds scrub counts into a total. */
export function addCounts(total: Partial<Record<SlotType, number>>, counts: Partial<Record<SlotType, number>>): void {
  for (const k in counts) {
    const t = k as SlotType;
    total[t] = (total[t] ?? 0) + counts[t]!;
  }
}
