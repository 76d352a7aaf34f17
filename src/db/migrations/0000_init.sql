CREATE TABLE "api_keys" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "api_keys_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tenant_id" text NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "feedback" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "feedback_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tenant_id" text NOT NULL,
	"interaction_id" bigint NOT NULL,
	"idempotency_key" text NOT NULL,
	"content_hash" text NOT NULL,
	"kind" text NOT NULL,
	"corrected_answer" text,
	"score" real,
	"source" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "feedback_kind_ck" CHECK ("feedback"."kind" in ('accepted','rejected','edited','score')),
	CONSTRAINT "feedback_edited_ck" CHECK ("feedback"."kind" <> 'edited' or "feedback"."corrected_answer" is not null),
	CONSTRAINT "feedback_score_ck" CHECK ("feedback"."score" is null or ("feedback"."score" >= 0 and "feedback"."score" <= 1))
);
--> statement-breakpoint
CREATE TABLE "ingest_chunks" (
	"run_id" text NOT NULL,
	"source_uri" text NOT NULL,
	"start_offset" bigint NOT NULL,
	"end_offset" bigint NOT NULL,
	"start_line" integer NOT NULL,
	"lines" integer NOT NULL,
	"stored" integer NOT NULL,
	"duplicates" integer NOT NULL,
	"rejected" integer NOT NULL,
	"committed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ingest_chunks_run_id_source_uri_start_offset_pk" PRIMARY KEY("run_id","source_uri","start_offset")
);
--> statement-breakpoint
CREATE TABLE "ingest_rejections" (
	"run_id" text NOT NULL,
	"source_uri" text NOT NULL,
	"line_no" integer NOT NULL,
	"reason" text NOT NULL,
	"excerpt" text NOT NULL,
	CONSTRAINT "ingest_rejections_run_id_source_uri_line_no_pk" PRIMARY KEY("run_id","source_uri","line_no")
);
--> statement-breakpoint
CREATE TABLE "interactions" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "interactions_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"tenant_id" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"content_hash" text NOT NULL,
	"source" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"teacher_model" text NOT NULL,
	"messages" jsonb NOT NULL,
	"request_params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"response" jsonb NOT NULL,
	"query_text" text NOT NULL,
	"answer_text" text NOT NULL,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"cost_usd" double precision,
	"latency_ms" integer,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"tenant_id" text,
	"workflow_id" text NOT NULL,
	"status" text NOT NULL,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"stats" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_interaction_id_interactions_id_fk" FOREIGN KEY ("interaction_id") REFERENCES "public"."interactions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ingest_chunks" ADD CONSTRAINT "ingest_chunks_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ingest_rejections" ADD CONSTRAINT "ingest_rejections_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "interactions" ADD CONSTRAINT "interactions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_hash_uq" ON "api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "feedback_tenant_key_uq" ON "feedback" USING btree ("tenant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "feedback_interaction_idx" ON "feedback" USING btree ("interaction_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "interactions_tenant_key_uq" ON "interactions" USING btree ("tenant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "interactions_tenant_time_idx" ON "interactions" USING btree ("tenant_id","occurred_at");--> statement-breakpoint
CREATE INDEX "runs_kind_started_idx" ON "runs" USING btree ("kind","started_at");