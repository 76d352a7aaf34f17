CREATE TABLE "cheap_trials" (
	"tenant_id" text NOT NULL,
	"cluster_run_id" text NOT NULL,
	"route_id" text NOT NULL,
	"model" text NOT NULL,
	"answers" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cheap_trials_tenant_id_cluster_run_id_route_id_pk" PRIMARY KEY("tenant_id","cluster_run_id","route_id")
);
--> statement-breakpoint
CREATE TABLE "gateway_shadow_stats" (
	"tenant_id" text NOT NULL,
	"route_id" text NOT NULL,
	"entry" text NOT NULL,
	"tier" text NOT NULL,
	"judged" integer DEFAULT 0 NOT NULL,
	"errors" integer DEFAULT 0 NOT NULL,
	"examples" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"demoted_at" timestamp with time zone,
	CONSTRAINT "gateway_shadow_stats_tenant_id_route_id_entry_pk" PRIMARY KEY("tenant_id","route_id","entry")
);
--> statement-breakpoint
CREATE TABLE "gateway_usage" (
	"tenant_id" text NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"route_id" text NOT NULL,
	"tier" text NOT NULL,
	"requests" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" bigint DEFAULT 0 NOT NULL,
	"completion_tokens" bigint DEFAULT 0 NOT NULL,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"frontier_cost_usd" double precision DEFAULT 0 NOT NULL,
	CONSTRAINT "gateway_usage_tenant_id_hour_route_id_tier_pk" PRIMARY KEY("tenant_id","hour","route_id","tier")
);
--> statement-breakpoint
CREATE TABLE "judge_calibrations" (
	"tenant_id" text NOT NULL,
	"cluster_run_id" text NOT NULL,
	"calibration" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "judge_calibrations_tenant_id_cluster_run_id_pk" PRIMARY KEY("tenant_id","cluster_run_id")
);
--> statement-breakpoint
CREATE TABLE "publish_refusals" (
	"tenant_id" text NOT NULL,
	"run_id" text NOT NULL,
	"reasons" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "publish_refusals_tenant_id_run_id_pk" PRIMARY KEY("tenant_id","run_id")
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "error_budget" jsonb;--> statement-breakpoint
ALTER TABLE "cheap_trials" ADD CONSTRAINT "cheap_trials_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cheap_trials" ADD CONSTRAINT "cheap_trials_cluster_run_id_runs_id_fk" FOREIGN KEY ("cluster_run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gateway_shadow_stats" ADD CONSTRAINT "gateway_shadow_stats_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gateway_usage" ADD CONSTRAINT "gateway_usage_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "judge_calibrations" ADD CONSTRAINT "judge_calibrations_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "judge_calibrations" ADD CONSTRAINT "judge_calibrations_cluster_run_id_runs_id_fk" FOREIGN KEY ("cluster_run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "publish_refusals" ADD CONSTRAINT "publish_refusals_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "judge_calibrations_tenant_idx" ON "judge_calibrations" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "publish_refusals_tenant_idx" ON "publish_refusals" USING btree ("tenant_id","at");