CREATE TABLE "manifest_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "manifest_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"version" integer NOT NULL,
	"from_version" integer,
	"actor" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "manifests" (
	"tenant_id" text NOT NULL,
	"version" integer NOT NULL,
	"run_id" text NOT NULL,
	"key" text NOT NULL,
	"content_hash" text NOT NULL,
	"manifest" jsonb NOT NULL,
	"replay" jsonb NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "manifests_tenant_id_version_pk" PRIMARY KEY("tenant_id","version")
);
--> statement-breakpoint
CREATE TABLE "tier_prices" (
	"tier" text PRIMARY KEY NOT NULL,
	"model" text NOT NULL,
	"input_per_mtok" double precision NOT NULL,
	"output_per_mtok" double precision NOT NULL,
	"per_call" double precision DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "manifest_events" ADD CONSTRAINT "manifest_events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "manifests" ADD CONSTRAINT "manifests_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "manifest_events_tenant_idx" ON "manifest_events" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "manifests_run_uq" ON "manifests" USING btree ("tenant_id","run_id");--> statement-breakpoint
-- Default prices (USD per million tokens), in the spirit of late-2025 list prices: frontier = gpt-4o, cheap =
-- gpt-4o-mini, adapter = a self-hosted ~1B model with a LoRA adapter (GPU time amortised), template = nothing.
INSERT INTO "tier_prices" ("tier", "model", "input_per_mtok", "output_per_mtok", "per_call") VALUES
  ('frontier', 'gpt-4o', 2.5, 10, 0),
  ('cheap', 'gpt-4o-mini', 0.15, 0.6, 0),
  ('adapter', 'lora-small', 0.05, 0.2, 0),
  ('template', 'template', 0, 0, 0)
ON CONFLICT DO NOTHING;
