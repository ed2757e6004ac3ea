// What the HTTP API answers, as the end-to-end tests (test/cluster) and the
// fault suite (test/jepsen) read it: one type for every answer body, whose
// known fields are typed as docs/api.md defines them and optional (which
// appear depends on the endpoint), and whose other fields are unknown. No
// test reads an answer through `any`.

export interface ApiError {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** One item of a batch write's `results`. */
export interface ApiResult {
  readonly id?: string;
  readonly sku?: string;
  readonly status: string;
  readonly code?: string;
}

export interface ApiMember {
  readonly [field: string]: unknown;
  readonly id: string;
  readonly url: string;
  readonly voter: boolean;
}

export interface ApiAccount {
  readonly [field: string]: unknown;
  readonly id: string;
  readonly balance: string;
  readonly available: string;
  readonly debits_pending: string;
  readonly debits_posted: string;
  readonly credits_pending: string;
  readonly credits_posted: string;
}

export interface ApiTransfer {
  readonly [field: string]: unknown;
  readonly id: string;
  readonly seq: number;
  readonly status: string;
  readonly amount: string;
}

export interface ApiJson {
  readonly [field: string]: unknown;
  readonly error?: ApiError;
  /** The log index a write was applied at (writes, snapshots). */
  readonly index?: number;
  readonly results?: readonly ApiResult[];
  readonly id?: string;
  readonly status?: string;
  readonly amount?: string;
  readonly balance?: string;
  readonly available?: string | number;
  readonly credits_posted?: string;
  readonly credits_pending?: string;
  readonly debits_posted?: string;
  readonly debits_pending?: string;
  readonly created_at?: number;
  readonly on_hand?: number;
  readonly reserved?: number;
  readonly accounts?: readonly (ApiAccount | null)[];
  readonly transfers?: readonly ApiTransfer[];
  readonly next_after?: number | null;
  // GET /v1/cluster
  readonly role?: string;
  readonly term?: number;
  readonly leader?: string | null;
  readonly commit_index?: number;
  readonly applied_index?: number;
  readonly last_log_index?: number;
  readonly snapshot_index?: number;
  readonly members?: readonly ApiMember[];
}

export interface ApiAnswer {
  readonly status: number;
  /** The JSON object answered; empty when the answer was not one (see `text`). */
  readonly body: ApiJson;
  /** The body as sent. */
  readonly text: string;
  readonly headers: Record<string, string>;
}

/** Status, JSON body and string headers of an answer. */
export function apiAnswer(status: number, text: string, rawHeaders: Record<string, string | string[] | undefined>): ApiAnswer {
  let parsed: unknown;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the text stays in `text`
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawHeaders)) if (typeof v === 'string') headers[k] = v;
  const body = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as ApiJson) : {};
  return { status, body, text, headers };
}

/** The fields of GET /v1/cluster, all present. */
export interface ApiClusterStatus {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly last_log_index: number;
  readonly snapshot_index: number;
  readonly members: readonly ApiMember[];
  readonly leader_changes?: readonly { readonly leader: string; readonly term: number; readonly at_ms: number }[];
}

/** The answer's body as a cluster status; throws (with the answer) when it is not one. */
export function clusterStatusOf(answer: ApiAnswer): ApiClusterStatus {
  const { id, role, term, leader, commit_index, applied_index, last_log_index, snapshot_index, members } = answer.body;
  const numbers = [term, commit_index, applied_index, last_log_index, snapshot_index];
  if (typeof id !== 'string' || typeof role !== 'string' || leader === undefined || members === undefined || !numbers.every((n) => typeof n === 'number')) {
    throw new Error(`not a cluster status: ${answer.status} ${answer.text}`);
  }
  return answer.body as ApiClusterStatus;
}

/** `value`, which the answer must carry; throws naming `what` when it is absent. */
export function required<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) throw new Error(`the answer carries no ${what}`);
  return value;
}
