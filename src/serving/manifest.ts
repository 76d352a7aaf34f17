/**
 * The tier manifest: one versioned JSON document that tells a router where each query goes. Its JSON Schema is
 * src/serving/manifest.schema.json (also in the README); every published manifest is validated against it.
 * Plain data, no imports but the tool-script recipe's types: the router client depends on nothing else of Distillery.
 */
import type { ToolScript } from './toolscript';

/** The serving tiers, cheapest first: the one list (the database's tier columns and the CLI use it too). */
export const TIERS = ['template', 'adapter', 'cheap', 'frontier'] as const;
export type TierName = (typeof TIERS)[number];

export interface TemplateTarget {
  /** Handlebars (strict, no HTML escaping); slots named as the masking names them (`id`, `email`, `id_2`, …). */
  template: string;
  /** Optional deterministic step (src/serving/script.ts ScriptSpec). */
  script: { kind: 'vocabulary'; variables: Array<{ name: string; vocabulary: Record<string, string> }> } | null;
  candidateId: string;
  version: number;
}

/** A tool script (src/serving/toolscript.ts): served on the template tier, no model call; the router client runs it. */
export interface ToolScriptTarget {
  toolScript: ToolScript;
  candidateId: string;
  version: number;
}

/**
 * How to call an adapter route: POST /v1/chat/completions with `model` = `adapter` on an OpenAI-compatible server
 * that serves `baseModel` (`distillery adapter-server --base <baseModel>`, or vLLM / LoRAX from
 * `distillery adapters export`). The digests pin the exact bytes: a server loads the adapter whose folder has
 * `adapterDigest`, over the base whose folder has `baseModelDigest`. Both are absent for hosted (fine-tuned API) models.
 */
export interface AdapterTarget {
  /** The OpenAI `model` name on the adapter server: vLLM `--lora-modules <name>=<dir>`, LoRAX `adapter_id`. */
  adapter: string;
  /** The base by its portable (registered) name, e.g. smollm2-135m-instruct; or a hosted model id. */
  baseModel: string;
  /** sha256:… of the base model folder (models/base-models.json). */
  baseModelDigest?: string;
  /** sha256:… of the PEFT adapter folder: what the adapter server fetches and caches it by. */
  adapterDigest?: string;
  /** Where the PEFT directory (or hosted model) lives, e.g. s3://bucket/adapters/ft_…/ */
  uri: string;
}

export interface ModelTarget {
  model: string;
}

export interface ManifestRoute {
  /** Stable route id: the cluster id, kept from month to month. */
  id: string;
  label: string;
  /** How the router recognises the route. */
  recognise: {
    /** Unit-length centroid, Float32 little-endian, base64. */
    centroid: string;
    /** Cosine a query needs to the centroid (and it must be the nearest route). */
    threshold: number;
    /** Optional keyword rules on the normalised query: all of `all`, none of `none`. */
    keywords?: { all?: string[]; none?: string[] };
  };
  tier: TierName;
  target: TemplateTarget | ToolScriptTarget | AdapterTarget | ModelTarget;
  /** Why the route is on its tier (precision, gate figures, reviewer, …). */
  evidence: Record<string, unknown>;
  /** Share of traffic the route held in the clustering run it came from. */
  share: number;
}

export interface Manifest {
  schema: 'distillery.manifest/v1';
  tenant: string;
  /** Monotonic per tenant; previousVersion is null for the first. */
  version: number;
  previousVersion: number | null;
  createdAt: string;
  /** The model queries must be embedded with, and how they are normalised before embedding. */
  embedding: { model: string; dims: number; normalisation: 'distillery-mask-v1' };
  /** Where a query goes when no route takes it. */
  fallback: { tier: 'frontier' | 'cheap'; model: string };
  /** Models by tier, for routes on `cheap` / `frontier` and for the fallback. */
  models: { cheap: string; frontier: string };
  routes: ManifestRoute[];
  /** What produced it: retrain run, clustering run, replay figures. */
  provenance: Record<string, unknown>;
  /**
   * The tenant's calibrated answer judge (src/judge), so a gateway's shadow checks judge on the scale promotion
   * used: features of an (answer, reference) pair, a non-negative logistic score, isotonic steps to P(agree).
   */
  judge?: ManifestJudge;
  /** `sha256:<hex>` of the canonical JSON of the manifest without `contentHash` and `signature`. */
  contentHash: string;
  /** Optional `hmac-sha256:<hex>` of the same canonical JSON, with a shared key. */
  signature?: string;
}

/** The embedding judge's calibration as published (structurally src/judge/calibration.ts Calibration). */
export interface ManifestJudge {
  kind: 'embedding';
  calibration: {
    id: string;
    features: string[];
    weights: number[];
    bias: number;
    steps: { score: number[]; p: number[] };
    counts: { positives: number; negatives: number; bySource: Record<string, number> };
    auc: number;
  };
  /** P(agree) from which a judgement is a verdict of agreement. */
  agreeAt: number;
}

/** What the router decided for one query. */
export interface Resolution {
  tier: TierName;
  /** The route taken, or null for the fallback. */
  routeId: string | null;
  /** Cosine to the nearest route's centroid (NaN when the manifest has no routes). */
  similarity: number;
  /** The rendered answer (template tier). */
  answer?: string;
  /** A tool-script route: the script to run against the application's tools (Router.run runs it). */
  toolScript?: ToolScriptTarget;
  /** The adapter to call (adapter tier). */
  adapter?: AdapterTarget;
  /** The model to call (cheap, frontier, fallback). */
  model?: string;
  /** Why: "route", "below threshold", "keyword rule", "render failed: …". */
  reason: string;
}
