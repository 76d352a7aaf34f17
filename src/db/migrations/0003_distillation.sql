CREATE TABLE "adapters" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"job_id" text NOT NULL,
	"dataset_id" text NOT NULL,
	"name" text NOT NULL,
	"base_model" text NOT NULL,
	"uri" text NOT NULL,
	"status" text NOT NULL,
	"evaluation" jsonb NOT NULL,
	"lineage" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "datasets" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"cluster_run_id" text NOT NULL,
	"cluster_ids" jsonb NOT NULL,
	"card" jsonb NOT NULL,
	"train_key" text NOT NULL,
	"eval_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "finetune_jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"dataset_id" text NOT NULL,
	"runner" text NOT NULL,
	"config" jsonb NOT NULL,
	"status" text NOT NULL,
	"workflow_id" text NOT NULL,
	"progress" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"metrics" jsonb,
	"adapter_key" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_job_id_finetune_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."finetune_jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datasets" ADD CONSTRAINT "datasets_cluster_run_id_runs_id_fk" FOREIGN KEY ("cluster_run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "finetune_jobs" ADD CONSTRAINT "finetune_jobs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "finetune_jobs" ADD CONSTRAINT "finetune_jobs_dataset_id_datasets_id_fk" FOREIGN KEY ("dataset_id") REFERENCES "public"."datasets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "adapters_tenant_status_idx" ON "adapters" USING btree ("tenant_id","status");--> statement-breakpoint
CREATE INDEX "datasets_tenant_idx" ON "datasets" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "finetune_jobs_tenant_idx" ON "finetune_jobs" USING btree ("tenant_id","created_at");