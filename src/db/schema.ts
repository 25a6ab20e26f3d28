import type { Generated, Kysely, Transaction } from "kysely";

/**
 * Timestamps are ISO 8601 UTC strings with milliseconds written by the application, so both
 * dialects hand back the same text and it sorts chronologically. JSON columns hold JSON text.
 */
export interface CustomersTable {
  id: string;
  name: string;
  created_at: string;
  /** How many of the customer's keys are not revoked, expired ones included (see `insertApiKey`). */
  unrevoked_keys: Generated<number>;
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
  transport: string;
  provider_phone_number_id: string | null;
}

export interface ApiKeysTable {
  id: string;
  customer_id: string;
  instance_id: string | null;
  name: string;
  prefix: string;
  digest: string;
  scopes: string;
  expires_at: string | null;
  created_at: string;
  revoked_at: string | null;
  /** JSON: a list of addresses and CIDR blocks, or null for anywhere. */
  allowed_ips: string | null;
  expiring_notice_at: string | null;
  expired_notice_at: string | null;
  /** When the key was replaced by a roll; null: never rolled. */
  rolled_at: string | null;
}

/** The latest request that passed authentication with a key, written behind; no row: never used. */
export interface ApiKeyLastUsedTable {
  key_id: string;
  last_used_at: string;
}

/** Requests made with a key in one hour (`period_start`), as the nodes' flushes add them up. */
export interface ApiKeyUsageTable {
  key_id: string;
  customer_id: string;
  period_start: string;
  requests: number;
  rejected: number;
  rate_limited: number;
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

export interface MessagesTable {
  id: string;
  customer_id: string;
  instance_id: string;
  /** `outbound` (sent through the API) or `inbound` (received by the instance). */
  direction: string;
  /** Inbound: the sender. Outbound: the instance's number when it was sent, if known. */
  from: string | null;
  /** Outbound: the recipient. Inbound: the instance's number, if known. */
  to: string | null;
  type: string;
  /** Null for media and template messages. */
  text: string | null;
  /** JSON: the media of an image, document, audio or video message. */
  media: string | null;
  /** JSON: the template of a template message. */
  template: string | null;
  /** The message of ours that an inbound message quotes. */
  reply_to: string | null;
  client_ref: string | null;
  status: string;
  /**
   * Its instance's transport when it was sent: the workers' indexes each hold the messages of one
   * transport only (20261206020000_message_transport).
   */
  transport: string;
  /** The transport's id for the message (the Cloud API's wamid), once it has one. */
  provider_message_id: string | null;
  error: string | null;
  /** Lease of the worker handing the message to its transport. */
  claimed_until: string | null;
  sent_at: string | null;
  delivered_at: string | null;
  read_at: string | null;
  failed_at: string | null;
  received_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookEndpointsTable {
  id: string;
  customer_id: string;
  instance_id: string | null;
  url: string;
  events: string;
  /** The signing secret, encrypted under a key derived from the pepper (never plaintext). */
  sealed_secret: string;
  created_at: string;
  deleted_at: string | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  customer_id: string;
  endpoint_id: string;
  instance_id: string | null;
  event: string;
  event_id: string;
  /** The exact JSON text sent (and signed) on every attempt. */
  payload: string;
  status: string;
  attempt_count: number;
  last_error: string | null;
  last_response_status: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  /** Lease: the node holding the attempt and until when; another node may take it after. */
  claimed_until: string | null;
  claimed_by: string | null;
  created_at: string;
  updated_at: string;
}

/** One attempt of a delivery: its attempt log, written with the attempt's result on the delivery. */
export interface WebhookDeliveryAttemptsTable {
  id: string;
  delivery_id: string;
  customer_id: string;
  /** 1-based: the delivery's `attempt_count` once this attempt was recorded. */
  number: number;
  started_at: string;
  finished_at: string;
  response_status: number | null;
  error: string | null;
  outcome: "success" | "failure";
}

/** One customer's `Idempotency-Key` (20261206130000_idempotency_keys, docs/idempotency.md). */
export interface IdempotencyKeysTable {
  customer_id: string;
  key: string;
  /** sha256 of the method, route, path parameters and canonical body of the first request. */
  fingerprint: string;
  status: "running" | "done";
  /** The holder's lock token: only its holder completes or releases the record. */
  token: string;
  /** Until when a `running` record is its holder's; null once `done`. */
  lease_until: string | null;
  response_status: number | null;
  /** The JSON the route answered, without any one-time secret. */
  response_body: string | null;
  created_at: string;
}

export interface Database {
  customers: CustomersTable;
  instances: InstancesTable;
  api_keys: ApiKeysTable;
  api_key_last_used: ApiKeyLastUsedTable;
  api_key_usage: ApiKeyUsageTable;
  audit_events: AuditEventsTable;
  messages: MessagesTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_delivery_attempts: WebhookDeliveryAttemptsTable;
  idempotency_keys: IdempotencyKeysTable;
}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: what read and write functions run on. */
export type Executor = Db | Tx;
