// Who may speak Raft to this node. With a shared cluster secret, every peer
// request carries an HMAC-SHA256 over its operation, sender, recipient,
// sender incarnation and sequence, a timestamp, a nonce and the SHA-256 of
// its body; the receiver checks it in constant time, refuses timestamps
// outside the allowed clock skew and nonces it has already seen. Without a
// secret, the headers name the sender but prove nothing: only a loopback
// (or otherwise private) network is safe then.
//
// The signature covers the operation name, not the URL path, so a proxy
// that rewrites a path prefix does not break it.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { NodeId } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import { MAX_ID_BYTES } from './peer-codec.js';

export const MIN_PEER_SECRET_BYTES = 16;
const SIGNATURE_CONTEXT = 'raft-ledger-peer-v1';

export const PEER_HEADERS = Object.freeze({
  from: 'x-raft-from',
  to: 'x-raft-to',
  /** The sender's incarnation: random per transport instance, so sequences restart safely. */
  epoch: 'x-raft-epoch',
  /** Message batches: strictly increasing per epoch; the receiver drops any batch older than one it delivered. */
  seq: 'x-raft-seq',
  timestamp: 'x-raft-timestamp',
  nonce: 'x-raft-nonce',
  bodyDigest: 'x-raft-body-sha256',
  signature: 'x-raft-signature',
});

export type PeerOperation = 'messages' | 'snapshot';

const decimal = (maxDigits: number) => z.string().regex(new RegExp(`^[0-9]{1,${maxDigits}}$`)).transform(Number);
const hex = (length: number) => z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`));
const nodeIdHeader = z.string().min(1).refine((id) => Buffer.byteLength(id, 'utf8') <= MAX_ID_BYTES, `at most ${MAX_ID_BYTES} bytes`);

/** The headers every peer request carries. */
export const peerIdentityHeadersSchema = z.object({
  [PEER_HEADERS.from]: nodeIdHeader,
  [PEER_HEADERS.to]: nodeIdHeader,
  [PEER_HEADERS.epoch]: hex(16),
  [PEER_HEADERS.seq]: decimal(15),
});

/** The headers a signed request adds. */
export const peerSignatureHeadersSchema = z.object({
  [PEER_HEADERS.timestamp]: decimal(15),
  [PEER_HEADERS.nonce]: hex(32),
  [PEER_HEADERS.bodyDigest]: hex(64),
  [PEER_HEADERS.signature]: hex(64),
});

export type PeerSecret = string | Uint8Array;

export function secretBytes(secret: PeerSecret | undefined): Buffer | undefined {
  if (secret === undefined) return undefined;
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  // The configuration validates the length for the operator; here it is a programmer error.
  assert(bytes.length >= MIN_PEER_SECRET_BYTES, `the cluster secret must have at least ${MIN_PEER_SECRET_BYTES} bytes`);
  return bytes;
}

export function newEpoch(): string {
  return randomBytes(8).toString('hex');
}

export function sha256Hex(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

interface SignedFields {
  readonly operation: PeerOperation;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly epoch: string;
  readonly seq: number;
  readonly timestampMs: number;
  readonly nonce: string;
  readonly bodySha256: string;
}

function signature(secret: Buffer, fields: SignedFields): Buffer {
  const canonical = [SIGNATURE_CONTEXT, 'POST', fields.operation, fields.from, fields.to, fields.epoch,
    String(fields.seq), String(fields.timestampMs), fields.nonce, fields.bodySha256].join('\n');
  return createHmac('sha256', secret).update(canonical, 'utf8').digest();
}

export interface OutgoingRequest {
  readonly operation: PeerOperation;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly epoch: string;
  readonly seq: number;
  readonly body: Uint8Array;
  readonly nowMs: number;
}

/** The identity headers, and with a secret the signature headers, of one request. */
export function peerRequestHeaders(secret: Buffer | undefined, request: OutgoingRequest): Record<string, string> {
  const headers: Record<string, string> = {
    [PEER_HEADERS.from]: request.from,
    [PEER_HEADERS.to]: request.to,
    [PEER_HEADERS.epoch]: request.epoch,
    [PEER_HEADERS.seq]: String(request.seq),
  };
  if (secret === undefined) return headers;
  const fields: SignedFields = { ...request, timestampMs: request.nowMs, nonce: randomBytes(16).toString('hex'), bodySha256: sha256Hex(request.body) };
  headers[PEER_HEADERS.timestamp] = String(fields.timestampMs);
  headers[PEER_HEADERS.nonce] = fields.nonce;
  headers[PEER_HEADERS.bodyDigest] = fields.bodySha256;
  headers[PEER_HEADERS.signature] = signature(secret, fields).toString('hex');
  return headers;
}

export type PeerAuthCode = 'peer_unauthenticated' | 'peer_bad_headers' | 'peer_wrong_recipient';

export type PeerAuthResult =
  | {
    readonly ok: true;
    readonly sender: NodeId;
    readonly epoch: string;
    readonly seq: number;
    /** With a secret: the body must hash to this before it is believed. */
    readonly bodySha256: string | undefined;
    /**
     * A validly signed request seen before: undici re-sends pipelined
     * requests after a connection reset, and an eavesdropper may replay one.
     * Either way it is answered as done and not delivered again.
     */
    readonly replayed: boolean;
  }
  | { readonly ok: false; readonly status: 400 | 401 | 421; readonly code: PeerAuthCode; readonly message: string };

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Checks the headers of incoming peer requests before their bodies are read,
 * so that an outsider cannot make the node buffer large bodies.
 */
export class PeerAuthenticator {
  /** nonce -> when it may be forgotten; insertion order is roughly expiry order. */
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly nodeId: NodeId,
    private readonly secret: Buffer | undefined,
    private readonly limits: { readonly maxClockSkewMs: number; readonly maxRememberedNonces: number },
    private readonly nowMs: () => number = Date.now,
  ) {}

  check(operation: PeerOperation, headers: Headers): PeerAuthResult {
    const signed = this.secret === undefined ? undefined : peerSignatureHeadersSchema.safeParse(headers);
    if (signed !== undefined && !signed.success) {
      return refuse(401, 'peer_unauthenticated', `peer request without a valid signature (${describeIssues(signed.error)}): ` +
        'every node of the cluster must be configured with the same cluster secret');
    }
    const identity = peerIdentityHeadersSchema.safeParse(headers);
    if (!identity.success) {
      return refuse(signed === undefined ? 400 : 401, signed === undefined ? 'peer_bad_headers' : 'peer_unauthenticated',
        `peer request headers are invalid: ${describeIssues(identity.error)}`);
    }
    const fields = {
      operation,
      from: identity.data[PEER_HEADERS.from],
      to: identity.data[PEER_HEADERS.to],
      epoch: identity.data[PEER_HEADERS.epoch],
      seq: identity.data[PEER_HEADERS.seq],
    };
    let bodySha256: string | undefined;
    let replayed = false;
    if (signed !== undefined && signed.success && this.secret !== undefined) {
      const verdict = this.verifySignature(this.secret, {
        ...fields,
        timestampMs: signed.data[PEER_HEADERS.timestamp],
        nonce: signed.data[PEER_HEADERS.nonce],
        bodySha256: signed.data[PEER_HEADERS.bodyDigest],
      }, signed.data[PEER_HEADERS.signature]);
      if (verdict !== 'fresh' && verdict !== 'replayed') return verdict;
      replayed = verdict === 'replayed';
      bodySha256 = signed.data[PEER_HEADERS.bodyDigest];
    }
    // Checked after the signature so that an outsider learns nothing about this node's id.
    if (fields.to !== this.nodeId) {
      return refuse(421, 'peer_wrong_recipient', `this is node ${JSON.stringify(this.nodeId)}, not ${JSON.stringify(fields.to)}: ` +
        `fix the URL node ${JSON.stringify(fields.from)} uses for it in --peers or the membership`);
    }
    return { ok: true, sender: fields.from, epoch: fields.epoch, seq: fields.seq, bodySha256, replayed };
  }

  private verifySignature(secret: Buffer, fields: SignedFields, presented: string): PeerAuthResult | 'fresh' | 'replayed' {
    const expected = signature(secret, fields);
    if (!timingSafeEqual(expected, Buffer.from(presented, 'hex'))) {
      return refuse(401, 'peer_unauthenticated', 'peer request signature does not match: every node of the cluster must be configured with the same cluster secret');
    }
    const now = this.nowMs();
    const skewMs = Math.abs(now - fields.timestampMs);
    if (skewMs > this.limits.maxClockSkewMs) {
      return refuse(401, 'peer_unauthenticated', `peer request timestamp is ${skewMs} ms away from this node's clock (at most ` +
        `${this.limits.maxClockSkewMs} ms allowed): synchronise the clocks of nodes ${JSON.stringify(fields.from)} and ${JSON.stringify(this.nodeId)}`);
    }
    this.forgetExpiredNonces(now);
    if (this.nonces.has(fields.nonce)) return 'replayed';
    this.nonces.set(fields.nonce, now + 2 * this.limits.maxClockSkewMs);
    return 'fresh';
  }

  private forgetExpiredNonces(now: number): void {
    for (const [nonce, forgetAtMs] of this.nonces) {
      if (forgetAtMs > now && this.nonces.size < this.limits.maxRememberedNonces) break;
      this.nonces.delete(nonce);
    }
  }
}

/** True when `body` hashes to what the verified headers declared (always true without a secret). */
export function bodyMatchesDigest(body: Uint8Array, declaredSha256: string | undefined): boolean {
  if (declaredSha256 === undefined) return true;
  return timingSafeEqual(Buffer.from(sha256Hex(body), 'hex'), Buffer.from(declaredSha256, 'hex'));
}

function refuse(status: 400 | 401 | 421, code: PeerAuthCode, message: string): PeerAuthResult {
  return { ok: false, status, code, message };
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'headers'}: ${issue.message}`).join('; ');
}
