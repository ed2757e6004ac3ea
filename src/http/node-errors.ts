// How each NodeError the service answers with becomes an HTTP error. not_leader
// is not here: the routes forward or redirect it (forward.ts), and only a
// request that may not be forwarded again ends as a 503 (notLeaderError).

import { unreachable } from '../lib/assert.js';
import type { NodeError } from '../node/service.js';
import { apiError, type ApiError } from './errors.js';

/** Retry-After for 503s whose NodeError carries no hint. */
const DEFAULT_RETRY_AFTER_MS = 1000;
/** A node with a failed disk will not recover soon: send clients elsewhere for a while. */
const STORAGE_FAILED_RETRY_AFTER_MS = 5000;

export type ServedError = Exclude<NodeError, { code: 'not_leader' }>;

export function nodeErrorToApi(error: ServedError): ApiError {
  switch (error.code) {
    case 'no_leader':
      return apiError('no_leader', 'no leader is known (an election is under way or there is no quorum)', {
        retryAfterMs: error.retryAfterMs,
      });
    case 'commit_timeout':
      return apiError('commit_timeout', 'the write was proposed but not committed in time', {
        details: { index: error.index ?? null },
      });
    case 'overloaded':
      return apiError('overloaded', 'this node has too many requests in flight', { retryAfterMs: error.retryAfterMs });
    case 'staleness_bound_exceeded':
      return apiError('staleness_bound_exceeded', 'max_staleness_ms could not be proven within wait_ms', {
        retryAfterMs: error.retryAfterMs,
        details: { proven_staleness_ms: error.provenStalenessMs ?? null },
      });
    case 'index_not_reached':
      return apiError('index_not_reached', `min_index ${error.minIndex} was not applied within wait_ms (applied ${error.appliedIndex})`, {
        retryAfterMs: error.retryAfterMs,
        details: { min_index: error.minIndex, applied_index: error.appliedIndex },
      });
    case 'read_timeout':
      return apiError('read_timeout', 'the read could not confirm leadership in time', { retryAfterMs: error.retryAfterMs });
    case 'storage_failed':
      return apiError('storage_failed', `this node's storage failed (${error.message})`, { retryAfterMs: STORAGE_FAILED_RETRY_AFTER_MS });
    case 'shutting_down':
      return shuttingDownError();
    case 'cluster_change_refused':
      return apiError('cluster_change_refused', `the cluster refused the change: ${error.message}`);
    default:
      return unreachable(error, 'node error');
  }
}

export function shuttingDownError(): ApiError {
  return apiError('shutting_down', 'this node is shutting down', { retryAfterMs: DEFAULT_RETRY_AFTER_MS });
}

/** A not_leader that may not be forwarded (the request was forwarded once already). */
export function notLeaderError(leaderId: string, leaderUrl: string | undefined): ApiError {
  return apiError('not_leader', `this node is not the leader (leader: ${leaderId === '' ? 'unknown' : leaderId}) and a forwarded request is not forwarded again`, {
    retryAfterMs: DEFAULT_RETRY_AFTER_MS,
    details: { leader_id: leaderId, leader_url: leaderUrl ?? null },
  });
}

export function leaderUnknownError(leaderId: string): ApiError {
  const what = leaderId === '' ? 'no leader is known' : `the leader ${leaderId} is known but not its URL`;
  return apiError('no_leader', what, { retryAfterMs: DEFAULT_RETRY_AFTER_MS, details: { leader_id: leaderId } });
}
