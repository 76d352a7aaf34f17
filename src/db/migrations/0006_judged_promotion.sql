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
ALTER TABLE "judge_calibrations" ADD CONSTRAINT "judge_calibrations_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "judge_calibrations" ADD CONSTRAINT "judge_calibrations_cluster_run_id_runs_id_fk" FOREIGN KEY ("cluster_run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "publish_refusals" ADD CONSTRAINT "publish_refusals_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "judge_calibrations_tenant_idx" ON "judge_calibrations" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "publish_refusals_tenant_idx" ON "publish_refusals" USING btree ("tenant_id","at");