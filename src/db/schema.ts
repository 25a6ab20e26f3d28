import type { Kysely, Transaction } from "kysely";

/**
 * Timestamps are ISO 8601 UTC strings with milliseconds written by the application, so both
 * dialects hand back the same text and it sorts chronologically. JSON columns hold JSON text.
 */
export interface CustomersTable {
  id: string;
  name: string;
  created_at: string;
}

export interface InstancesTable {
  id: string;
  customer_id: string;
  name: string;
  status: string;
  phone_number: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface ApiKeysTable {
  id: string;
  customer_id: string;
  instance_id: string | null;
  name: string;
  prefix: string;
  digest: string;
  scopes: string;
  last_used_at: string | null;
  expires_at: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface AuditEventsTable {
  id: string;
  customer_id: string;
  action: string;
  actor_type: string;
  actor_id: string | null;
  actor_prefix: string | null;
  target_type: string;
  target_id: string;
  metadata: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  created_at: string;
}

export interface Database {
  customers: CustomersTable;
  instances: InstancesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: what read and write functions run on. */
export type Executor = Db | Tx;
