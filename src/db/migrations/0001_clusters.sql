CREATE TABLE "cluster_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "cluster_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"run_id" text NOT NULL,
	"kind" text NOT NULL,
	"from_ids" jsonb NOT NULL,
	"to_ids" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cluster_members" (
	"run_id" text NOT NULL,
	"interaction_id" bigint NOT NULL,
	"cluster_id" text NOT NULL,
	CONSTRAINT "cluster_members_run_id_interaction_id_pk" PRIMARY KEY("run_id","interaction_id")
);
--> statement-breakpoint
CREATE TABLE "cluster_snapshots" (
	"run_id" text NOT NULL,
	"cluster_id" text NOT NULL,
	"size" integer NOT NULL,
	"distinct_queries" integer NOT NULL,
	"share" double precision NOT NULL,
	"cohesion" double precision NOT NULL,
	"label" text NOT NULL,
	"keywords" jsonb NOT NULL,
	"representatives" jsonb NOT NULL,
	"centroid" "bytea" NOT NULL,
	CONSTRAINT "cluster_snapshots_run_id_cluster_id_pk" PRIMARY KEY("run_id","cluster_id")
);
--> statement-breakpoint
CREATE TABLE "clusters" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"status" text NOT NULL,
	"label" text NOT NULL,
	"keywords" jsonb NOT NULL,
	"embedding_model" text NOT NULL,
	"centroid" "bytea" NOT NULL,
	"successor_ids" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"first_run_id" text NOT NULL,
	"last_run_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "embeddings" (
	"model" text NOT NULL,
	"text_hash" text NOT NULL,
	"dims" integer NOT NULL,
	"vector" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "embeddings_model_text_hash_pk" PRIMARY KEY("model","text_hash")
);
--> statement-breakpoint
ALTER TABLE "cluster_events" ADD CONSTRAINT "cluster_events_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cluster_members" ADD CONSTRAINT "cluster_members_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cluster_members" ADD CONSTRAINT "cluster_members_interaction_id_interactions_id_fk" FOREIGN KEY ("interaction_id") REFERENCES "public"."interactions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cluster_members" ADD CONSTRAINT "cluster_members_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cluster_snapshots" ADD CONSTRAINT "cluster_snapshots_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cluster_snapshots" ADD CONSTRAINT "cluster_snapshots_cluster_id_clusters_id_fk" FOREIGN KEY ("cluster_id") REFERENCES "public"."clusters"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "clusters" ADD CONSTRAINT "clusters_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "cluster_events_run_idx" ON "cluster_events" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "cluster_members_cluster_idx" ON "cluster_members" USING btree ("run_id","cluster_id");--> statement-breakpoint
CREATE INDEX "clusters_tenant_status_idx" ON "clusters" USING btree ("tenant_id","status");