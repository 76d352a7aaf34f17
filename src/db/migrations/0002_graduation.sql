CREATE TABLE "candidate_versions" (
	"candidate_id" text NOT NULL,
	"version" integer NOT NULL,
	"template" text NOT NULL,
	"script" jsonb,
	"evidence" jsonb NOT NULL,
	"passed" integer NOT NULL,
	"author" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "candidate_versions_candidate_id_version_pk" PRIMARY KEY("candidate_id","version")
);
--> statement-breakpoint
CREATE TABLE "candidates" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"cluster_run_id" text NOT NULL,
	"cluster_ids" jsonb NOT NULL,
	"kind" text NOT NULL,
	"status" text NOT NULL,
	"traffic_share" double precision NOT NULL,
	"label" text NOT NULL,
	"current_version" integer DEFAULT 1 NOT NULL,
	"reminders" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "review_decisions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "review_decisions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"candidate_id" text NOT NULL,
	"version" integer NOT NULL,
	"decision" text NOT NULL,
	"reviewer" text NOT NULL,
	"comment" text,
	"decided_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tier_entries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "tier_entries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tenant_id" text NOT NULL,
	"route_id" text NOT NULL,
	"tier" text NOT NULL,
	"target" jsonb NOT NULL,
	"evidence" jsonb NOT NULL,
	"status" text NOT NULL,
	"valid_from" timestamp with time zone DEFAULT now() NOT NULL,
	"valid_to" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "candidate_versions" ADD CONSTRAINT "candidate_versions_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_cluster_run_id_runs_id_fk" FOREIGN KEY ("cluster_run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "review_decisions" ADD CONSTRAINT "review_decisions_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_entries" ADD CONSTRAINT "tier_entries_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tier_entries" ADD CONSTRAINT "tier_entries_route_id_clusters_id_fk" FOREIGN KEY ("route_id") REFERENCES "public"."clusters"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "candidates_tenant_status_idx" ON "candidates" USING btree ("tenant_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "review_decisions_candidate_uq" ON "review_decisions" USING btree ("candidate_id");--> statement-breakpoint
CREATE INDEX "tier_entries_tenant_route_idx" ON "tier_entries" USING btree ("tenant_id","route_id");--> statement-breakpoint
CREATE UNIQUE INDEX "tier_entries_one_active_uq" ON "tier_entries" USING btree ("tenant_id","route_id") WHERE "tier_entries"."status" = 'active';