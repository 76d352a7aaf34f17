import { PLACEHOLDER_SRC, type SlotType } from './slot-types';

/**
 * The masking rules of normalizeQuery, most specific first: each finds one kind of volatile value. Kept apart from
 * the normalisation pipeline so the rule table can be read (and grown) on its own.
 */
// ---------------------------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------------------------

/** A case-insensitive spelling of a literal for regexes that must stay case-sensitive elsewhere (Node 20: no (?i:)). */
function ci(word: string): string {
  return word.replace(/[a-z]/gi, (ch) => `[${ch.toUpperCase()}${ch.toLowerCase()}]`);
}

const B = '(?<![\\p{L}\\p{N}_])'; // token start
const E = '(?![\\p{L}\\p{N}_])'; // token end

// Money
const CUR_SYM = '(?:US\\$|USD\\$|AU?\\$|CA?\\$|NZ\\$|HK\\$|S\\$|R\\$|[$€£¥₹₩₽₺₪฿₫₴₦₱¢])';
const CODES = 'USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|INR|CNY|RMB|SEK|NOK|DKK|PLN|CZK|HUF|MXN|BRL|ZAR|SGD|HKD|KRW|RUB|AED|SAR|BTC|ETH';
const CUR_WORD =
  'dollars?|bucks?|euros?|pounds?|quid|cents?|pence|yen|yuan|rupees?|pesos?|francs?|kronor|kroner|krona|rubles?|roubles?|dirhams?|shekels?|zlotys?|zloty|lira|liras|reais|rand';
const AMT = '(?:\\d{1,3}(?:,\\d{3})+(?:\\.\\d{1,2})?|\\d{1,3}(?:\\.\\d{3})+(?:,\\d{1,2})?|\\d{1,12}(?:[.,]\\d{1,2})?)';
const AMT_SUFFIX = '(?: ?(?:[kK]|[mM]n?|bn|million|billion|thousand|grand)(?![\\p{L}]))?';

// Dates
const MONTH = '(?:january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)';
const WEEKDAY = '(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)';
const DAY = '(?:3[01]|[12]\\d|0?[1-9])(?:st|nd|rd|th)?(?![\\p{L}\\p{N}])';
const YEAR = '(?:,? \\d{4}(?![\\p{N}]))';

// Spelled-out days ("march fourteenth", "twenty two march", "feb four"), as speech transcripts write them.
const DAY_UNIT = '(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|one|two|three|four|five|six|seven|eight|nine)';
const DAY_WORD = `(?:(?:twenty|thirty)(?:[ -]?${DAY_UNIT})?|twentieth|thirtieth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|${DAY_UNIT})`;
// "may" is left out of the spelled-out forms: "may one" is more often a verb than a date.
const MONTH_NOT_MAY = MONTH.replace('|may|', '|');

// Times
const AMPM = "(?:[aApP]\\.?[mM]\\.?|o'clock)";
const HOUR_WORD = '(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)';
const UNIT_WORD = '(?:one|two|three|four|five|six|seven|eight|nine)';
const MIN_WORD = `(?:fifteen|thirty|forty[ -]five|o[ -]?${UNIT_WORD}|(?:twenty|thirty|forty|fifty)(?:[ -]${UNIT_WORD})?)`;

// Ids after cue words: "order 123", "invoice no. AB-1234", "tracking number is 1Z999...", "#00108"
const ID_CUE =
  '(?:order|invoice|ticket|tracking|account|acct|reference|ref|case|booking|confirmation|transaction|purchase|shipment|parcel|package|claim|policy|customer|member(?:ship)?|receipt|bill|reservation|incident|subscription|contract|serial|rma)s?(?![\\p{L}])';
const ID_CONNECT = '(?: (?:number|num|no\\.?|nr\\.?|id|code|ref))?(?: ?(?:is|was|:|=))?';
const ID_TOKEN = '[\\p{L}\\p{N}](?:[\\p{L}\\p{N}]|[-_](?=[\\p{L}\\p{N}])){0,63}';
const ID_END = '(?![\\p{L}\\p{N}_\\-/:]|[.,]\\p{N})';

const PHONE_CUE = /(?:call|phone|mobile|cell|tel|telephone|whatsapp|sms|text|fax|dial|ring|reach)\b[^\p{N}]{0,20}$/iu;

/** What claimed text is replaced with in the working copy (same length, so offsets hold). */
export const CLAIMED = '\uFFFC';

export interface Rule {
  type: SlotType | null; // null: protected text (existing placeholders), not a slot
  re: RegExp;
  /** Narrows or rejects a match: returns [start, end) within the working text, or null. */
  accept?: (m: RegExpExecArray, w: string) => [number, number] | null;
}

const digitsOf = (s: string) => s.replace(/\D+/g, '');

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function ibanValid(raw: string): boolean {
  const s = raw.replace(/ /g, '').toUpperCase();
  if (s.length < 15 || s.length > 34) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    rem = v > 9 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

/** Card-number grouping: none, 4-4-4-4(-1..3), or Amex 4-6-5 / Diners 4-6-4; one kind of separator. */
function cardShape(s: string): boolean {
  if (/^\d+$/.test(s)) return true;
  const sep = s.includes(' ') ? ' ' : '-';
  if (s.includes(' ') && s.includes('-')) return false;
  const groups = s.split(sep).map((g) => g.length);
  if (groups.slice(0, -1).every((g) => g === 4) && groups[groups.length - 1]! >= 1 && groups[groups.length - 1]! <= 4) return true;
  return groups.length === 3 && groups[0] === 4 && groups[1] === 6 && (groups[2] === 5 || groups[2] === 4);
}

const ORDINAL_OR_UNIT = /^\d+(?:st|nd|rd|th|k|m|b|km|kg|mg|ml|mb|gb|tb|kb|hz|px|mm|cm|am|pm|hrs?|mins?|secs?|yrs?|x)$/i;

function genericId(tok: string): boolean {
  const digits = tok.replace(/\D/g, '').length;
  if (digits === 0) return false;
  const alnum = tok.replace(/[-_]/g, '');
  if (digits === alnum.length) return digits >= 6;
  if (alnum.length < 6 || digits < 2) return false;
  if (ORDINAL_OR_UNIT.test(alnum)) return false;
  // A word with a short version number ("iphone12", "windows10", "covid19") names a thing, not an instance.
  if (/^\p{L}+\d{1,2}$/u.test(alnum)) return false;
  return true;
}

function validDayMonth(a: number, b: number): boolean {
  return a >= 1 && b >= 1 && a <= 31 && b <= 31 && Math.min(a, b) <= 12;
}

// Names ----------------------------------------------------------------------------------------------------------

/** Capitalised words that are not names after a weak cue ("for", "I am", "this is", "from"). Lower-case keys. */
const NOT_NAMES = new Set(
  (
    'i me my mine you your yours he him his she her hers we us our ours they them their it its this that these those the a an ' +
    'and or but so not no yes ok okay hello hi hey dear thanks thank please sorry welcome here there what why how when where who whom which ' +
    'can could would should will shall may might must is are was were be been being do does did have has had am ' +
    'just still also very really now then today tomorrow yesterday tonight morning evening afternoon night week weekend month year ' +
    'monday tuesday wednesday thursday friday saturday sunday january february march april june july august september october november december ' +
    'going trying looking calling writing having getting asking wondering waiting hoping unable able sure happy glad interested new old good bad great fine ' +
    'afraid confused worried concerned annoyed angry upset frustrated disappointed done finished ready sick tired ' +
    'order orders account accounts invoice invoices bill bills ticket tickets customer customers support service services team help desk ' +
    'sir madam madame mister miss all everyone everybody someone somebody anyone anybody nobody manager admin staff agent example ' +
    'free gold silver platinum premium pro standard basic business personal plus family student enterprise ' +
    'visa mastercard amex maestro apple google android paypal amazon netflix uber facebook instagram twitter whatsapp microsoft windows samsung bitcoin ' +
    'europe america africa asia canada usa uk london paris berlin germany france spain italy japan china india mexico australia switzerland ' +
    'american canadian british english french german spanish italian mexican indian chinese japanese european ' +
    'new san los las saint st north south east west united great hong ' +
    'christmas easter xmas black cyber prime'
  ).split(' '),
);

/** Extra common lower-case words that never follow "my name is" as a name. */
const NOT_LOWER_NAMES = new Set(
  (
    'wrong incorrect incorrectly right correct spelled spelt misspelled misspelt missing different changed showing shown listed displayed ' +
    'on in at of to from with without by as into onto still also already same unknown blank empty invalid removed deleted gone printed written ' +
    'not never too being stuck blocked locked registered linked attached used taken there here under above below over like such'
  ).split(' '),
);

/**
 * Common given names: after a weak cue a single capitalised word is a name only if it is one of these ("charged for
 * Transaction" is no name); two capitalised words ("from Anna Freeman") need no list.
 */
const GIVEN_NAMES = new Set(
  (
    'aaron adam adrian ahmed aisha alan albert alex alexander alexandra alice alicia ali alison amanda amber amelia amy ana andrea andreas andrew andy angela anita ' +
    'ann anna anne annie anthony antonio arthur ashley barbara ben benjamin beth betty bill billy bob bobby brandon brenda brian bruce carl carla carlos carol ' +
    'caroline catherine charles charlie charlotte chen chris christian christina christine christopher claire claudia craig daniel danielle david deborah debra dennis diana diane ' +
    'diego donald donna doris dorothy douglas dylan ed edward elena elizabeth ella ellen emily emma eric erik eva evelyn fatima fernando frank fred gabriel gary george ' +
    'gerald gloria grace greg gregory hannah harold harry heather helen henry hiroshi holly ian isabel isabella jack jacob james jamie jane janet janice jason javier ' +
    'jean jeff jeffrey jennifer jenny jeremy jerry jessica jim jimmy joan joe joel john johnny jonathan jorge jose joseph joshua joyce juan judith judy julia julie justin ' +
    'karen kate katherine kathleen kathy katie keith kelly ken kenneth kevin kim kyle larry laura lauren leo li liam linda lisa logan lucas lucy luis luke lynn ' +
    'maria marie mark martha martin mary matt matthew megan melissa michael michelle mike mohammed mohammad muhammad nancy natalie nathan nicholas nicole noah olivia oliver ' +
    'omar pamela patricia patrick paul paula peter philip priya rachel rahul ralph randy raymond rebecca richard rita rob robert roger ronald rose roy russell ruth ryan ' +
    'sam samantha samuel sandra sara sarah scott sean sharon shirley sophia sophie stephanie stephen steve steven susan tammy teresa terry thomas tim timothy tina tom ' +
    'tony tyler victoria vincent virginia walter wang wayne wei william yuki zachary zoe'
  ).split(' '),
);

/** John, McDonald, O'Brien, O'Brien-Smith, Jean-Luc, D'Angelo. */
const NAME_WORD = /^(?:\p{Lu}'(?=\p{Lu}))?\p{Lu}\p{Ll}+(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}?\p{Ll}+)*$/u;
const isCapName = (w: string | undefined) => !!w && NAME_WORD.test(w) && !NOT_NAMES.has(w.toLowerCase());

const STRONG_CUES = ['my name is', "my name's", "name's", 'name is', 'dear', 'i am called', "i'm called", 'regards,', 'sincerely,'];
const LOWER_OK_CUES = new Set(['my name is', "my name's", "name's", 'name is']);
const WEAK_CUES = ['i am', "i'm", 'this is', 'for', 'named', 'called', 'from'];
const NAME_CUE_RE = new RegExp(
  `(?<![\\p{L}\\p{N}'])(${[...STRONG_CUES, ...WEAK_CUES].map(ci).join('|')}) ([\\p{L}][\\p{L}'-]{0,40})(?: ([\\p{L}][\\p{L}'-]{0,40}))?`,
  'gu',
);
const HONORIFIC_RE = new RegExp(
  `(?<![\\p{L}\\p{N}])(?:Mrs|Mr|Ms|Miss|Mx|Dr|Prof|mrs|mr|ms|dr)\\.? ?(\\p{Lu}[\\p{L}'-]{0,40})(?: (\\p{Lu}[\\p{L}'-]{0,40}))?`,
  'gu',
);

/** A name word without a possessive ending: "Smith's" -> "Smith". */
const core = (w: string | undefined) => w?.replace(/'s?$/, '');

function acceptCueName(m: RegExpExecArray): [number, number] | null {
  const cue = m[1]!.toLowerCase();
  const full1 = m[2]!;
  const w1 = core(full1)!;
  const w2 = full1 === w1 ? core(m[3]) : undefined; // "for John's mother": the name ends at the possessive
  const nameStart = m.index + m[1]!.length + 1;
  const weak = WEAK_CUES.includes(cue);
  let end: number;
  if (isCapName(w1)) {
    // After a weak cue one capitalised word must be a known given name ("for Transaction", "from Toronto" are not).
    if (weak && !isCapName(w2) && (cue === 'from' || !GIVEN_NAMES.has(w1.toLowerCase()))) return null;
    end = nameStart + w1.length + (isCapName(w2) ? 1 + w2!.length : 0);
  } else if (!weak && LOWER_OK_CUES.has(cue) && /^\p{L}{2,}$/u.test(w1) && !NOT_NAMES.has(w1.toLowerCase()) && !NOT_LOWER_NAMES.has(w1.toLowerCase())) {
    // "my name is john": the strong cue makes a lower-case word a name (the decision ignores case: idempotent).
    const second = w2 && /^\p{L}{2,}$/u.test(w2) && !NOT_NAMES.has(w2.toLowerCase()) && !NOT_LOWER_NAMES.has(w2.toLowerCase());
    end = nameStart + w1.length + (second ? 1 + w2!.length : 0);
  } else return null;
  return [nameStart, end];
}

function acceptHonorific(m: RegExpExecArray): [number, number] | null {
  const w1 = core(m[1])!;
  if (!NAME_WORD.test(w1) && !/^\p{Lu}{2,}$/u.test(w1)) return null;
  const w1End = m.index + m[0].length - (m[2] === undefined ? 0 : m[2].length + 1) - (m[1]!.length - w1.length);
  const w2 = w1 === m[1] ? core(m[2]) : undefined;
  return [m.index, isCapName(w2) ? w1End + 1 + w2!.length : w1End];
}

// Phones ---------------------------------------------------------------------------------------------------------

function phoneDigits(min: number, max: number) {
  return (m: RegExpExecArray): [number, number] | null => {
    const d = digitsOf(m[0]).length;
    return d >= min && d <= max ? [m.index, m.index + m[0].length] : null;
  };
}

function phoneWithCue(m: RegExpExecArray, w: string): [number, number] | null {
  return PHONE_CUE.test(w.slice(Math.max(0, m.index - 32), m.index)) ? [m.index, m.index + m[0].length] : null;
}

// The rule list, in precedence order ------------------------------------------------------------------------------

function rules(maskNames: boolean): Rule[] {
  const list: Rule[] = [
    // Placeholders already in the text (a normalised query normalised again) stay as they are.
    { type: null, re: new RegExp(PLACEHOLDER_SRC, 'g') },
    // Email, including the spoken "sam@gmail dot com".
    {
      type: 'email',
      re: /(?<![\p{L}\p{N}_.+-])[\p{L}\p{N}_.+-]{1,64}@[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62})(?:\.[\p{L}\p{N}-]{1,63}){0,6}(?: dot (?:com|net|org|edu|gov|co|io|uk|de|fr|es|it|nl|ca|au|info|biz))?(?![\p{L}\p{N}_@-])/gu,
    },
    // URLs with a scheme or www., trailing sentence punctuation left out.
    {
      type: 'url',
      re: /(?<![\p{L}\p{N}_])(?:[a-zA-Z][a-zA-Z0-9+.-]{0,15}:\/\/|www\.)[\p{L}\p{N}][^\s<>"'\uFFFC]{0,2000}/gu,
      accept: (m) => {
        let e = m[0].length;
        while (e > 1 && /[.,;:!?)\]}'"]/.test(m[0][e - 1]!)) {
          if (m[0][e - 1] === ')' && m[0].lastIndexOf('(', e - 1) > m[0].lastIndexOf(')', e - 2)) break;
          e--;
        }
        return [m.index, m.index + e];
      },
    },
    // Bare domains: "amazon.com", "help.example.co.uk/returns".
    {
      type: 'url',
      re: /(?<![\p{L}\p{N}_@.\-/])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,6}(?:com|net|org|io|co|edu|gov|uk|de|fr|es|nl|ca|au|info|biz|app|dev|ai|ly|tv|eu|ch|se|dk|fi|pl|jp|cn|br|ru)(?::\d{1,5})?(?:\/[^\s<>"'\uFFFC]{0,2000})?(?![\p{L}\p{N}_@-])/giu,
      accept: (m) => {
        let e = m[0].length;
        while (e > 1 && /[.,;:!?)\]}'"]/.test(m[0][e - 1]!)) e--;
        return [m.index, m.index + e];
      },
    },
    // IBAN (mod-97 checked).
    {
      type: 'iban',
      re: new RegExp(`${B}[A-Za-z]{2}\\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?${E}`, 'gu'),
      accept: (m) => (ibanValid(m[0]) ? [m.index, m.index + m[0].length] : null),
    },
    // Money: a currency symbol, code or word beside an amount.
    { type: 'money', re: new RegExp(`(?<![\\p{L}])(?:${CODES}) ?${AMT}${AMT_SUFFIX}(?![\\p{N}])`, 'gu') },
    { type: 'money', re: new RegExp(`${CUR_SYM} ?${AMT}${AMT_SUFFIX}(?![\\p{N}])`, 'gu') },
    { type: 'money', re: new RegExp(`${B}${AMT}${AMT_SUFFIX} ?(?:${CODES}|${CUR_WORD})(?![\\p{L}])`, 'giu') },
    { type: 'money', re: new RegExp(`${B}${AMT}${AMT_SUFFIX} ?${CUR_SYM}`, 'gu') },
    // Dates: ISO (optionally with a time), numeric, and with month names.
    {
      type: 'date',
      re: /(?<![\p{L}\p{N}])\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\p{N}])/gu,
    },
    {
      type: 'date',
      re: /(?<![\p{L}\p{N}/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\p{N}]|[/.-]\p{N})/gu,
      accept: (m) => (validDayMonth(+m[1]!, +m[3]!) ? [m.index, m.index + m[0].length] : null),
    },
    {
      type: 'date',
      re: /(?<![\p{L}\p{N}/.-])\d{4}([/.])(\d{1,2})\1(\d{1,2})(?![\p{N}]|[/.-]\p{N})/gu,
      accept: (m) => (+m[2]! >= 1 && +m[2]! <= 12 && +m[3]! >= 1 && +m[3]! <= 31 ? [m.index, m.index + m[0].length] : null),
    },
    {
      // "12/03" without a year: two digits each ("24/7" is not a date).
      type: 'date',
      re: /(?<![\p{L}\p{N}/.-])(\d{2})\/(\d{2})(?![\p{N}]|[/.-]\p{N})/gu,
      accept: (m) => (validDayMonth(+m[1]!, +m[2]!) ? [m.index, m.index + m[0].length] : null),
    },
    {
      // "3 March 2024", "the 3rd of March"
      type: 'date',
      re: new RegExp(`(?<![\\p{L}\\p{N}])(?:the )?(?:3[01]|[12]\\d|0?[1-9])(?:st|nd|rd|th)?(?: of)? ${MONTH}\\.?(?![\\p{L}])${YEAR}?`, 'giu'),
    },
    {
      // "March 3rd", "Mon, March 3, 2024", "March 2024"
      type: 'date',
      re: new RegExp(`(?<![\\p{L}])(?:${WEEKDAY},? )?${MONTH}\\.? ?(?:(?:the )?${DAY}${YEAR}?|\\d{4}(?![\\p{N}]))`, 'giu'),
    },
    {
      type: 'date',
      re: new RegExp(`(?<![\\p{L}])(?:${MONTH_NOT_MAY}\\.? (?:the )?${DAY_WORD}|(?:the )?${DAY_WORD}(?: of)? ${MONTH_NOT_MAY})(?![\\p{L}])`, 'giu'),
    },
    // Times: "10:30", "7pm", "7.30 a.m.", "ten am", "six thirty pm".
    { type: 'time', re: /(?<![\p{L}\p{N}:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?: ?(?:[aApP]\.?[mM]\.?|h|hrs)(?![\p{L}\p{N}]))?(?![\p{N}:])/gu },
    { type: 'time', re: new RegExp(`(?<![\\p{L}\\p{N}:.])(?:1[0-2]|0?[1-9])(?:[.:][0-5]\\d)? ?${AMPM}(?![\\p{L}\\p{N}])`, 'gu') },
    { type: 'time', re: new RegExp(`(?<![\\p{L}])${HOUR_WORD}(?:[ -]${MIN_WORD})? ?${AMPM}(?![\\p{L}\\p{N}])`, 'giu') },
    // Percentages.
    { type: 'percent', re: /(?<![\p{L}\p{N}_])\d{1,12}(?:[.,]\d{1,6})? ?(?:%|percent(?![\p{L}])|per cent(?![\p{L}])|pct(?![\p{L}]))/giu },
    // Ids after a cue word or '#': "order 123", "invoice #00108", "tracking number is 1Z999AA1".
    {
      type: 'id',
      re: new RegExp(`(?<![\\p{L}\\p{N}_])${ID_CUE}${ID_CONNECT} ?(#)? ?(${ID_TOKEN})${ID_END}`, 'giu'),
      accept: (m) => {
        const tok = m[2]!;
        if (!/\p{N}/u.test(tok) || (tok.length < 3 && !m[1])) return null;
        const end = m.index + m[0].length;
        const start = m[1] ? m.index + m[0].lastIndexOf('#', m[0].length - tok.length) : end - tok.length;
        return [start, end];
      },
    },
    {
      type: 'id',
      re: new RegExp(`(?<![\\p{L}\\p{N}_&#])# ?(${ID_TOKEN})${ID_END}`, 'gu'),
      accept: (m) => (/\p{N}/u.test(m[1]!) && m[1]!.length >= 3 ? [m.index, m.index + m[0].length] : null),
    },
    // Card-like numbers: 13-19 digits, grouped like a card, a payment-network first digit (2-6), Luhn-valid.
    {
      type: 'card',
      re: /(?<![\p{L}\p{N}_])\d(?:[ -]?\d){12,18}(?![\p{L}\p{N}_])/gu,
      accept: (m) => (/^[2-6]/.test(m[0]) && cardShape(m[0]) && luhn(digitsOf(m[0])) ? [m.index, m.index + m[0].length] : null),
    },
    // Phones: international, North American, national with a trunk 0, and bare digits after "call"/"phone"/...
    {
      type: 'phone',
      re: /(?<![\p{L}\p{N}_+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]\d{1,12}){1,5}(?![\p{L}\p{N}_])|(?<![\p{L}\p{N}_+])\+\d{7,15}(?![\p{L}\p{N}_])/gu,
      accept: phoneDigits(7, 15),
    },
    { type: 'phone', re: /(?<![\p{L}\p{N}_+])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\p{L}\p{N}_])/gu },
    { type: 'phone', re: /(?<![\p{L}\p{N}_+])(?:\(0\d{1,4}\) ?|0\d{1,4}[ .-])\d{2,8}(?:[ .-]\d{2,4}){0,3}(?![\p{L}\p{N}_])/gu, accept: phoneDigits(9, 12) },
    { type: 'phone', re: /(?<![\p{L}\p{N}_+.,-])(?:\+?\d{7,15}|\d{3}[.-]\d{4})(?![\p{L}\p{N}_]|[.,-]\p{N})/gu, accept: phoneWithCue },
  ];
  if (maskNames) {
    list.push({ type: 'name', re: HONORIFIC_RE, accept: acceptHonorific });
    list.push({ type: 'name', re: NAME_CUE_RE, accept: acceptCueName });
  }
  list.push(
    // Other ids: alphanumeric tokens with letters and digits (length >= 6), or digit runs >= 6.
    {
      type: 'id',
      // The lookaheads skip tokens without a digit, and digit-only tokens shorter than 6, without a match object.
      re: new RegExp(`(?<![\\p{L}\\p{N}_\\-])(?=[\\p{L}_-]{0,63}\\p{N})(?=[\\p{N}_-]{0,63}\\p{L}|\\p{N}{6})${ID_TOKEN}(?![\\p{L}\\p{N}_\\-]|[.,]\\p{N})`, 'gu'),
      accept: (m) => (genericId(m[0]) ? [m.index, m.index + m[0].length] : null),
    },
    // Other numbers (ordinals included): "2 tickets", "1,000", "3.5", "5th". Digits glued to letters ("s1", "2fa",
    // "covid-19") are part of a word and stay.
    { type: 'number', re: /(?<![\p{L}\p{N}_])(?<!\p{L}-)\d{1,40}(?:[.,]\d{1,40}){0,8}(?:st|nd|rd|th)?(?![\p{L}\p{N}_])/gu },
  );
  return list;
}

/**
 * Claimed text (a slot found by an earlier rule, or a placeholder already in the input) reads as part of a word to
 * every boundary check: a value glued to it is not matched. Normalising again then finds nothing new, because in the
 * normalised text every placeholder is claimed text, and what was glued to a value stays glued to its placeholder.
 */
function claimedIsWordy(rule: Rule): Rule {
  const src = rule.re.source
    .replaceAll('(?<![', `(?<![${CLAIMED}`)
    .replaceAll('(?![', `(?![${CLAIMED}`)
    // "...|[.,]\p{N})": not before a decimal part, claimed or not.
    .replace(/\|\[([^\]]*)\]\\p\{N\}\)/g, `|[$1][\\p{N}${CLAIMED}])`);
  return { ...rule, re: new RegExp(src, rule.re.flags) };
}

export const RULES_WITH_NAMES = rules(true).map(claimedIsWordy);
export const RULES_WITHOUT_NAMES = rules(false).map(claimedIsWordy);
