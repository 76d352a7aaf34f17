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
ALTER TABLE "gateway_shadow_stats" ADD CONSTRAINT "gateway_shadow_stats_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "gateway_usage" ADD CONSTRAINT "gateway_usage_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;